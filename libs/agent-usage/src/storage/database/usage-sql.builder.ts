/**
 * SQL text shared by the driver, the migration and the query helpers. Only identifiers that passed
 * `SQL_IDENTIFIER_RE` and fixed column names ever reach SQL text; every value is a `$n` parameter.
 */
import { createHash } from 'node:crypto';
import type { NormalizedUsageFilters, UsageDimension } from '../../interfaces/usage-query.interface';
import type { UsageRecord } from '../../interfaces/usage-record.interface';
import { resolveTableNames, type UsageTableNames } from './database-storage.options';

export const quoteIdent = (name: string): string => `"${name.replace(/"/g, '""')}"`;

/** `"schema"."table"` or `"table"`. */
export function qualifiedName(table: string, schema?: string): string {
  return schema ? `${quoteIdent(schema)}.${quoteIdent(table)}` : quoteIdent(table);
}


/**
 * Signed 64-bit PostgreSQL advisory lock key of one table for one kind of DDL (`namespace`), so concurrent
 * boots, timers and migrations run it one at a time.
 */
export function advisoryLockKey(namespace: string, table: string, schema: string | undefined): string {
  return createHash('sha1').update(`${namespace}:${schema ?? ''}.${table}`).digest().readBigInt64BE(0).toString();
}
/**
 * Index names are per schema and PostgreSQL silently truncates identifiers at 63 bytes, which would
 * make two long index names collide (and `IF NOT EXISTS` then skip the second): shorten with a hash.
 */
export function indexName(table: string, suffix: string): string {
  const full = `${table}_${suffix}`;
  if (full.length <= 63) return full;
  const hash = createHash('sha1').update(table).digest('hex').slice(0, 8);
  return `${table.slice(0, 63 - suffix.length - 10)}_${hash}_${suffix}`;
}

/** Collects parameter values and hands out their `$n` placeholders. */
export class SqlParams {
  readonly values: unknown[] = [];
  add(value: unknown, cast?: string): string {
    this.values.push(value);
    return cast ? `$${this.values.length}::${cast}` : `$${this.values.length}`;
  }
}

/** Ledger columns in insert order, with the record field and the array type used by `unnest`. */
export const LEDGER_COLUMNS = [
  { field: 'id', column: 'record_id', type: 'varchar' },
  { field: 'agentName', column: 'agent_name', type: 'varchar' },
  { field: 'userId', column: 'user_id', type: 'varchar' },
  { field: 'group', column: 'group_name', type: 'varchar' },
  { field: 'chatName', column: 'chat_name', type: 'varchar' },
  { field: 'modelName', column: 'model_name', type: 'varchar' },
  { field: 'providerName', column: 'provider_name', type: 'varchar' },
  { field: 'category', column: 'category', type: 'varchar' },
  { field: 'units', column: 'units', type: 'int8' },
  { field: 'inputTokens', column: 'input_tokens', type: 'int8' },
  { field: 'cachedInputTokens', column: 'cached_input_tokens', type: 'int8' },
  { field: 'cacheWriteTokens', column: 'cache_write_tokens', type: 'int8' },
  { field: 'outputTokens', column: 'output_tokens', type: 'int8' },
  { field: 'reasoningTokens', column: 'reasoning_tokens', type: 'int8' },
  { field: 'totalTokens', column: 'total_tokens', type: 'int8' },
  { field: 'requests', column: 'requests', type: 'int8' },
  { field: 'success', column: 'success', type: 'bool' },
  { field: 'usageMissing', column: 'usage_missing', type: 'bool' },
  { field: 'runId', column: 'run_id', type: 'varchar' },
  { field: 'runStart', column: 'run_start', type: 'bool' },
  { field: 'agentRunStart', column: 'agent_run_start', type: 'bool' },
  { field: 'errorType', column: 'error_type', type: 'varchar' },
  { field: 'costNanoUsd', column: 'cost_nano_usd', type: 'int8' },
  { field: 'priceSource', column: 'price_source', type: 'varchar' },
  { field: 'recordedAt', column: 'recorded_at', type: 'timestamptz' },
  // Sent as text and cast per row: pg would otherwise turn a JSON array value into a SQL array.
  { field: 'metadata', column: 'metadata', type: 'text' },
] as const satisfies ReadonlyArray<{ field: keyof UsageRecord; column: string; type: string }>;

export const TOKEN_COLUMNS = [
  ['inputTokens', 'input_tokens'],
  ['cachedInputTokens', 'cached_input_tokens'],
  ['cacheWriteTokens', 'cache_write_tokens'],
  ['outputTokens', 'output_tokens'],
  ['reasoningTokens', 'reasoning_tokens'],
  ['totalTokens', 'total_tokens'],
] as const;

type AttributionField = 'agentName' | 'userId' | 'group' | 'chatName' | 'modelName' | 'providerName' | 'runId' | 'errorType' | 'category';

/** Attribution filters and the ledger column each one matches. */
export const FILTER_COLUMNS: ReadonlyArray<readonly [AttributionField, string]> = [
  ['agentName', 'agent_name'],
  ['userId', 'user_id'],
  ['group', 'group_name'],
  ['chatName', 'chat_name'],
  ['modelName', 'model_name'],
  ['providerName', 'provider_name'],
  // In no rollup: a filter or group on these reads the ledger (run_id has its own index).
  ['runId', 'run_id'],
  ['errorType', 'error_type'],
  ['category', 'category'],
];
export const COLUMN_OF: Readonly<Record<AttributionField, string>> = Object.freeze(
  Object.fromEntries(FILTER_COLUMNS) as Record<AttributionField, string>,
);

export const ROLLUP_SUM_COLUMNS = [
  'record_count',
  'requests',
  ...TOKEN_COLUMNS.map(([, c]) => c),
  'failed_count',
  'usage_missing_count',
  'cost_nano_usd',
  'unpriced_count',
  'run_count',
  'agent_run_count',
  'units',
] as const;

/**
 * One rollup: a time bucket (`day`, or the local `hour`) plus some attribution columns as its key (NOT
 * NULL, '' for a null attribution), the sums of `ROLLUP_SUM_COLUMNS` per key. A rollup answers a whole-day
 * query when every attribution the query filters or groups on is one of its `fields` (then summing its
 * rows over the days is exact).
 */
export interface RollupLayout {
  readonly kind: 'agent' | 'user' | 'hour' | 'hourTotal';
  /** The time bucket: the key's first column. */
  readonly time: 'day' | 'hour';
  /** Attribution fields in key order (after the time bucket). */
  readonly fields: readonly AttributionField[];
  /** The time bucket then the attribution columns: the primary key, in this order. */
  readonly keyColumns: readonly string[];
}

function layout(kind: RollupLayout['kind'], fields: AttributionField[]): RollupLayout {
  const time = kind === 'hour' || kind === 'hourTotal' ? 'hour' : 'day';
  return Object.freeze({ kind, time, fields: Object.freeze(fields), keyColumns: Object.freeze([time, ...fields.map((f) => COLUMN_OF[f])]) });
}

/**
 * (day, agent, group, model, provider, category): no user, so one row per day and agent/model pair rather
 * than per record. Serves queries with no attribution filter or filters on agent/group/model/provider/category.
 */
export const AGENT_ROLLUP: RollupLayout = layout('agent', ['agentName', 'group', 'modelName', 'providerName', 'category']);
/** (day, user, agent, model, provider, category): serves queries that filter or group by user. */
export const USER_ROLLUP: RollupLayout = layout('user', ['userId', 'agentName', 'modelName', 'providerName', 'category']);
/**
 * (local hour, agent, model, provider, category): serves `hour` groups over whole days. The hour is the
 * wall-clock hour in the rollup's time zone (a `timestamp`), the same bucket as the ledger's hour key, so
 * the hour repeated when clocks go back is one bucket on both paths.
 */
export const HOUR_ROLLUP: RollupLayout = layout('hour', ['agentName', 'modelName', 'providerName', 'category']);
/**
 * (local hour, category): a few rows per hour, so `hour` groups over everything (or by category) stay
 * O(hours) however many agents there are; the wide hourly rollup serves the agent/model/provider filters.
 */
export const HOUR_TOTAL_ROLLUP: RollupLayout = layout('hourTotal', ['category']);
/** The hourly rollups, smallest first. */
export const HOUR_ROLLUPS: readonly RollupLayout[] = Object.freeze([HOUR_TOTAL_ROLLUP, HOUR_ROLLUP]);
/** The daily rollups, smallest first: a query uses the first one that can answer it. */
export const ROLLUPS: readonly RollupLayout[] = Object.freeze([AGENT_ROLLUP, USER_ROLLUP]);

/** Key columns of the (agent) daily rollup, `rollupTableName`. */
export const ROLLUP_KEY_COLUMNS = AGENT_ROLLUP.keyColumns;

/**
 * The rollup that can answer a whole-day query on `filters` (grouped by `dimension`), or undefined when
 * only the ledger can (chatName, success, or a mix no rollup holds, such as group with user). `hour` groups
 * use the hourly rollup.
 */
export function rollupFor(f: NormalizedUsageFilters, dimension?: UsageDimension): RollupLayout | undefined {
  if (f.success !== undefined) return undefined;
  const needed: AttributionField[] = [];
  for (const [field] of FILTER_COLUMNS) {
    const values = f[field];
    if (values === undefined) continue;
    // '' is how the rollups store a null attribution; the ledger never matches it (no filter can hold it).
    if (values.some((v) => v === '')) return undefined;
    needed.push(field);
  }
  if (dimension === 'hour') return HOUR_ROLLUPS.find((r) => needed.every((field) => r.fields.includes(field)));
  if (dimension !== undefined && dimension !== 'day') {
    if (!Object.hasOwn(COLUMN_OF, dimension)) return undefined;
    needed.push(dimension as AttributionField);
  }
  return ROLLUPS.find((r) => needed.every((field) => r.fields.includes(field)));
}

/**
 * Group key expressions, looked up by own property only: the caller's dimension selects one of these
 * fixed strings and never reaches SQL text itself. `tz` is a `$n` placeholder.
 */
const LEDGER_DIMENSIONS: Readonly<Record<UsageDimension, (tz: string) => string>> = Object.freeze({
  agentName: () => 'agent_name',
  userId: () => 'user_id',
  group: () => 'group_name',
  chatName: () => 'chat_name',
  modelName: () => 'model_name',
  providerName: () => 'provider_name',
  runId: () => 'run_id',
  errorType: () => 'error_type',
  category: () => 'category',
  day: (tz: string) => `to_char(recorded_at AT TIME ZONE ${tz}, 'YYYY-MM-DD')`,
  hour: (tz: string) => `to_char(recorded_at AT TIME ZONE ${tz}, 'YYYY-MM-DD"T"HH24')`,
});

/**
 * Group keys over a rollup: rows are grouped on the stored column (`group`, cheap to hash) and only the
 * groups are turned into keys ('' back to null, days as text).
 */
const ROLLUP_DIMENSIONS: Readonly<Partial<Record<UsageDimension, { key: string; group: string }>>> = Object.freeze({
  ...Object.fromEntries(FILTER_COLUMNS.map(([field, column]) => [field, { key: `NULLIF(${column}, '')`, group: column }])),
  day: { key: `to_char(day, 'YYYY-MM-DD')`, group: 'day' },
  hour: { key: `to_char(hour, 'YYYY-MM-DD"T"HH24')`, group: 'hour' },
});

export function isUsageDimension(dimension: unknown): dimension is UsageDimension {
  return typeof dimension === 'string' && Object.hasOwn(LEDGER_DIMENSIONS, dimension);
}

export function ledgerDimensionSql(dimension: UsageDimension, tzPlaceholder: () => string): string {
  if (!isUsageDimension(dimension)) throw new TypeError(`Not a usage dimension: ${String(dimension)}`);
  const build = LEDGER_DIMENSIONS[dimension];
  return build.length ? build(tzPlaceholder()) : build('');
}

/**
 * The group-by of `dimension` over `rollup` (`SELECT <key> ... GROUP BY <group>`), or undefined when it
 * cannot answer it (chatName, a time bucket or a column it lacks).
 */
export function rollupDimensionSql(
  dimension: UsageDimension,
  rollup: RollupLayout = AGENT_ROLLUP,
): { key: string; group: string } | undefined {
  if (!Object.hasOwn(ROLLUP_DIMENSIONS, dimension)) return undefined;
  if (dimension === 'day' || dimension === 'hour') return dimension === rollup.time ? ROLLUP_DIMENSIONS[dimension] : undefined;
  if (!rollup.fields.includes(dimension as AttributionField)) return undefined;
  return ROLLUP_DIMENSIONS[dimension];
}

/** Anything with `query(sql, params)`: a DataSource, an EntityManager, a QueryRunner or a pg Pool. */
export interface SqlQueryable {
  query(sql: string, parameters?: unknown[]): Promise<unknown>;
}

export function tableNamesSql(names: UsageTableNames): { ledger: string; rollup: string; userRollup: string; hourRollup: string; hourTotalRollup: string } {
  const n = resolveTableNames(names);
  return {
    ledger: qualifiedName(n.tableName, n.schema),
    rollup: qualifiedName(n.rollupTableName, n.schema),
    userRollup: qualifiedName(n.userRollupTableName, n.schema),
    hourRollup: qualifiedName(n.hourRollupTableName, n.schema),
    hourTotalRollup: qualifiedName(n.hourTotalRollupTableName, n.schema),
  };
}
