import { InvalidUsageOptionsError } from '../../../common/usage.errors';
import { resolveTableNames, type UsageTableNames } from '../database-storage.options';
import {
  AGENT_ROLLUP,
  ROLLUP_SUM_COLUMNS,
  USER_ROLLUP,
  SqlQueryable,
  indexName,
  qualifiedName,
  quoteIdent,
  rollupAggregateSql,
  type RollupLayout,
} from '../usage-sql.builder';
import { rowsOf } from '../usage-sql.rows';
import { ATTRIBUTION } from './ledger.schema';

/**
 * The comment on each rollup's primary key index records the time zone its days are in. On the index,
 * not the table: TypeORM's `synchronize` resets table comments to the entity's, but ignores index comments.
 */
const ROLLUP_COMMENT_PREFIX = 'nestjs-agent-usage daily rollup; timeZone=';
/** IANA names only: the zone goes into a COMMENT literal, which cannot take a parameter. */
const TIME_ZONE_RE = /^[A-Za-z0-9_+\-/]{1,64}$/;
/**
 * Rollup rows are updated in place by every batch: pages keep room for the new row versions, so most
 * updates are HOT (no index entries written, pages pruned without VACUUM).
 */
const ROLLUP_FILLFACTOR = 70;
/** Rollup sums added by the runs upgrade (also in ROLLUP_SUM_COLUMNS, so new tables have them). */
const RUN_SUM_COLUMNS = ['run_count', 'agent_run_count'];
const KEY_COLUMN_SQL: Readonly<Record<string, string>> = {
  day: 'day date NOT NULL',
  agent_name: `agent_name ${ATTRIBUTION} NOT NULL DEFAULT ''`,
  user_id: `user_id ${ATTRIBUTION} NOT NULL DEFAULT ''`,
  group_name: `group_name ${ATTRIBUTION} NOT NULL DEFAULT ''`,
  model_name: `model_name ${ATTRIBUTION} NOT NULL DEFAULT ''`,
  provider_name: `provider_name ${ATTRIBUTION} NOT NULL DEFAULT ''`,
};

function literal(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

/** Each rollup with its table name. */
export function rollupTables(names: UsageTableNames): { layout: RollupLayout; table: string }[] {
  const n = resolveTableNames(names);
  return [
    { layout: AGENT_ROLLUP, table: n.rollupTableName },
    { layout: USER_ROLLUP, table: n.userRollupTableName },
  ];
}

/** Idempotent DDL of one rollup table: key columns, sums, primary key, the index for "one agent/user over days". */
export function rollupTableSql(table: string, rollup: RollupLayout, schema: string | undefined): string[] {
  const q = qualifiedName(table, schema);
  const idx = (suffix: string) => quoteIdent(indexName(table, suffix));
  // The second key column (agent_name or user_id) with day: serves one agent (user) over a range of days.
  const lead = rollup.keyColumns[1];
  const leadSuffix = rollup.kind === 'agent' ? 'agent_day_idx' : 'user_day_idx';
  return [
    `CREATE TABLE IF NOT EXISTS ${q} (
        ${rollup.keyColumns.map((c) => KEY_COLUMN_SQL[c]).join(',\n        ')},
        ${ROLLUP_SUM_COLUMNS.map((c) => `${c} bigint NOT NULL DEFAULT 0`).join(',\n        ')},
        CONSTRAINT ${idx('pkey')} PRIMARY KEY (${rollup.keyColumns.join(', ')})
      ) WITH (fillfactor = ${ROLLUP_FILLFACTOR})`,
    `CREATE INDEX IF NOT EXISTS ${idx(leadSuffix)} ON ${q} (${lead}, day)`,
    // Upgrade of a rollup made before runs were counted: its rows hold no run (0 is exact for them).
    `ALTER TABLE ${q} ${RUN_SUM_COLUMNS.map((c) => `ADD COLUMN IF NOT EXISTS ${c} bigint NOT NULL DEFAULT 0`).join(', ')}`,
  ];
}

export function rollupComment(timeZone: string): string {
  if (!TIME_ZONE_RE.test(timeZone)) {
    throw new InvalidUsageOptionsError([`timeZone must be an IANA time zone name; got ${JSON.stringify(timeZone)}`]);
  }
  return `${ROLLUP_COMMENT_PREFIX}${timeZone}`;
}

/** Where a rollup's marker lives: its primary key index. */
function markerTarget(table: string, schema: string | undefined): string {
  return qualifiedName(indexName(table, 'pkey'), schema);
}

/**
 * The time zone the rollups' days are in, or null when unknown: a rollup missing, created elsewhere,
 * or the two rollups in different zones.
 */
export async function readRollupTimeZone(q: SqlQueryable, names: UsageTableNames): Promise<string | null> {
  const [a, u] = rollupTables(names).map(({ table }) => markerTarget(table, names.schema));
  const [row] = rowsOf(
    await q.query(`SELECT obj_description(to_regclass($1::text), 'pg_class') AS a, obj_description(to_regclass($2::text), 'pg_class') AS u`, [a, u]),
  );
  const zone = zoneOf(row?.a);
  return zone !== null && zone === zoneOf(row?.u) ? zone : null;
}

export async function writeRollupTimeZone(q: SqlQueryable, names: UsageTableNames, timeZone: string, tables?: readonly string[]): Promise<void> {
  const comment = literal(rollupComment(timeZone));
  for (const { table } of rollupTables(names)) {
    if (!tables || tables.includes(table)) await q.query(`COMMENT ON INDEX ${markerTarget(table, names.schema)} IS ${comment}`);
  }
}

/** The time zone a rollup marker comment names, or null. */
function zoneOf(comment: unknown): string | null {
  if (typeof comment !== 'string' || !comment.startsWith(ROLLUP_COMMENT_PREFIX)) return null;
  const zone = comment.slice(ROLLUP_COMMENT_PREFIX.length);
  return TIME_ZONE_RE.test(zone) ? zone : null;
}

export async function readMarker(q: SqlQueryable, table: string, schema: string | undefined): Promise<string | null> {
  const rows = rowsOf(await q.query(`SELECT obj_description(to_regclass($1::text), 'pg_class') AS c`, [markerTarget(table, schema)]));
  return zoneOf(rows[0]?.c);
}

/**
 * Adds the ledger's sums to the rollup `tables` (all by default), with days in `timeZone`. The caller
 * holds a lock that keeps ledger inserts out (SHARE on the ledger) and has emptied those rollups.
 * Rows go in key order (day first), so the table is clustered by day as one filled by daily writes is,
 * and a range of days reads only its own pages.
 */
export async function fillRollups(q: SqlQueryable, names: UsageTableNames, timeZone: string, tables?: readonly string[]): Promise<void> {
  const ledger = qualifiedName(names.tableName, names.schema);
  for (const { layout, table } of rollupTables(names)) {
    if (tables && !tables.includes(table)) continue;
    await q.query(
      `INSERT INTO ${qualifiedName(table, names.schema)} (${[...layout.keyColumns, ...ROLLUP_SUM_COLUMNS].join(', ')}) ` +
        `${rollupAggregateSql(ledger, '$1::text', layout)} ORDER BY ${layout.keyColumns.join(', ')}`,
      [timeZone],
    );
  }
}

/**
 * Recomputes both rollups from the ledger with days in `timeZone` (after loading the ledger by other
 * means, e.g. COPY, or to repair them), in the caller's transaction: inserts wait meanwhile.
 */
export async function rebuildAgentUsageRollups(q: SqlQueryable, names: UsageTableNames, timeZone = 'UTC'): Promise<void> {
  const n = resolveTableNames(names);
  rollupComment(timeZone);
  await q.query(`LOCK TABLE ${qualifiedName(n.tableName, n.schema)} IN SHARE MODE`);
  for (const { table } of rollupTables(n)) await q.query(`DELETE FROM ${qualifiedName(table, n.schema)}`);
  await fillRollups(q, n, timeZone);
  await writeRollupTimeZone(q, n, timeZone);
}
