import { EntitySchema, type EntitySchemaColumnOptions } from 'typeorm';
import { resolveTableNames, type UsageTableNames } from './database-storage.options';
import { indexName } from './usage-sql.builder';
import type { UsageExactTotals } from '../../interfaces/usage-query.interface';

/**
 * The sums every rollup row holds, one per `USAGE_SUM_FIELDS` entry (bigint columns come back as strings:
 * exact), so a new sum reaches the entities with the list.
 */
export type UsageDailySums = UsageExactTotals;

/**
 * A row of the daily rollup (`rollupTableName`): sums of the ledger per day (in the module's time zone),
 * agent, group, model and provider. Key columns hold '' where the records' attribution is null (a primary
 * key cannot hold NULL).
 */
export interface UsageDailyRow extends UsageDailySums {
  day: string;
  agentName: string;
  groupName: string;
  modelName: string;
  providerName: string;
  /** "chat" for model calls. */
  category: string;
}

/** A row of the per-user daily rollup (`userRollupTableName`): sums per day, user, agent, model and provider. */
export interface UsageDailyUserRow extends UsageDailySums {
  day: string;
  userId: string;
  agentName: string;
  modelName: string;
  providerName: string;
  /** "chat" for model calls. */
  category: string;
}

const key = (name: string, pk: string, defaultValue = ''): EntitySchemaColumnOptions => ({
  name,
  type: 'varchar',
  length: 255,
  collation: 'C',
  primary: true,
  default: defaultValue,
  primaryKeyConstraintName: pk,
});
const sum = (name: string): EntitySchemaColumnOptions => ({ name, type: 'bigint', default: 0 });
const SUMS = {
  recordCount: sum('record_count'),
  requests: sum('requests'),
  inputTokens: sum('input_tokens'),
  cachedInputTokens: sum('cached_input_tokens'),
  cacheWriteTokens: sum('cache_write_tokens'),
  outputTokens: sum('output_tokens'),
  reasoningTokens: sum('reasoning_tokens'),
  totalTokens: sum('total_tokens'),
  failedCount: sum('failed_count'),
  usageMissingCount: sum('usage_missing_count'),
  costNanoUsd: sum('cost_nano_usd'),
  unpricedCount: sum('unpriced_count'),
  runCount: sum('run_count'),
  agentRunCount: sum('agent_run_count'),
  units: sum('units'),
} satisfies Record<keyof UsageDailySums, EntitySchemaColumnOptions>;

type EntityOptions = Partial<UsageTableNames> & { entityName?: string };

/**
 * One rollup table as an EntitySchema: its time bucket and key columns (in primary key order, category
 * defaulting to "chat", the others to ''), the sums, and its lead index (`index` columns).
 */
function rollupEntity<T>(
  table: string,
  schema: string | undefined,
  entityName: string,
  time: 'day' | 'hour',
  keys: Record<string, string>,
  index: { suffix: string; columns: string[] },
): EntitySchema<T> {
  const pk = indexName(table, 'pkey');
  const columns: Record<string, EntitySchemaColumnOptions> = {
    [time]: { name: time, type: time === 'day' ? 'date' : 'timestamp', primary: true, primaryKeyConstraintName: pk },
  };
  for (const [property, column] of Object.entries(keys)) columns[property] = key(column, pk, column === 'category' ? 'chat' : '');
  return new EntitySchema<T>({
    name: entityName,
    tableName: table,
    schema,
    columns: { ...columns, ...SUMS } as EntitySchemaOptionsColumns<T>,
    indices: [{ name: indexName(table, index.suffix), columns: index.columns }],
  });
}
type EntitySchemaOptionsColumns<T> = ConstructorParameters<typeof EntitySchema<T>>[0]['columns'];

/** `AgentUsageX` for the default table name, `AgentUsageX_<table>` otherwise (entity names must be unique). */
const nameOf = (options: EntityOptions, base: string, table: string, defaultTable: string) =>
  options.entityName ?? (table === defaultTable ? base : `${base}_${table}`);

/** The daily rollup table as a TypeORM entity (read-only for hosts: the driver maintains it). */
export function createUsageDailyEntity(options: EntityOptions = {}): EntitySchema<UsageDailyRow> {
  const { rollupTableName: t, schema } = resolveTableNames(options);
  const keys = { agentName: 'agent_name', groupName: 'group_name', modelName: 'model_name', providerName: 'provider_name', category: 'category' };
  return rollupEntity(t, schema, nameOf(options, 'AgentUsageDaily', t, 'agent_usage_daily'), 'day', keys, { suffix: 'agent_day_idx', columns: ['agentName', 'day'] });
}

/** The per-user daily rollup table as a TypeORM entity (read-only for hosts: the driver maintains it). */
export function createUsageDailyUserEntity(options: EntityOptions = {}): EntitySchema<UsageDailyUserRow> {
  const { userRollupTableName: t, schema } = resolveTableNames(options);
  const keys = { userId: 'user_id', agentName: 'agent_name', modelName: 'model_name', providerName: 'provider_name', category: 'category' };
  return rollupEntity(t, schema, nameOf(options, 'AgentUsageDailyUser', t, 'agent_usage_daily_users'), 'day', keys, { suffix: 'user_day_idx', columns: ['userId', 'day'] });
}

/** A row of the hourly rollup (`hourRollupTableName`): sums per local hour, agent, model, provider and category. */
export interface UsageHourlyRow extends UsageDailySums {
  /** The wall-clock hour in the rollup's time zone (a `timestamp` without zone). */
  hour: Date;
  agentName: string;
  modelName: string;
  providerName: string;
  category: string;
}

/** The hourly rollup table as a TypeORM entity (read-only for hosts: the driver maintains it). */
export function createUsageHourlyEntity(options: EntityOptions = {}): EntitySchema<UsageHourlyRow> {
  const { hourRollupTableName: t, schema } = resolveTableNames(options);
  const keys = { agentName: 'agent_name', modelName: 'model_name', providerName: 'provider_name', category: 'category' };
  return rollupEntity(t, schema, nameOf(options, 'AgentUsageHourly', t, 'agent_usage_daily_hours'), 'hour', keys, { suffix: 'agent_hour_idx', columns: ['agentName', 'hour'] });
}

/** A row of the hourly totals rollup (`<rollupTableName>_hour_totals`): sums per local hour and category. */
export interface UsageHourTotalRow extends UsageDailySums {
  hour: Date;
  category: string;
}

/** The hourly totals rollup table as a TypeORM entity (read-only for hosts: the driver maintains it). */
export function createUsageHourTotalEntity(options: EntityOptions = {}): EntitySchema<UsageHourTotalRow> {
  const { hourTotalRollupTableName: t, schema } = resolveTableNames(options);
  const name = nameOf(options, 'AgentUsageHourTotal', t, 'agent_usage_daily_hour_totals');
  return rollupEntity(t, schema, name, 'hour', { category: 'category' }, { suffix: 'category_hour_idx', columns: ['category', 'hour'] });
}

/** The rollup entity with the default table name `agent_usage_daily`. */
export const UsageDailyEntity = createUsageDailyEntity();
/** The per-user rollup entity with the default table name `agent_usage_daily_users`. */
export const UsageDailyUserEntity = createUsageDailyUserEntity();
/** The hourly rollup entity with the default table name `agent_usage_daily_hours`. */
export const UsageHourlyEntity = createUsageHourlyEntity();
/** The hourly totals rollup entity with the default table name `agent_usage_daily_hour_totals`. */
export const UsageHourTotalEntity = createUsageHourTotalEntity();
