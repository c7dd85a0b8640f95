import { InvalidUsageOptionsError } from '../../../common/usage.errors';
import { resolveTableNames, type UsageTableNames } from '../database-storage.options';
import { AGENT_ROLLUP, HOUR_ROLLUP, HOUR_TOTAL_ROLLUP, ROLLUP_SUM_COLUMNS, USER_ROLLUP, SqlQueryable, indexName, qualifiedName, quoteIdent, type RollupLayout } from '../usage-sql.builder';
import { rollupAggregateSql } from '../rollup-aggregate.sql';
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
/**
 * No parallel scans of a rollup: a month of one is tens of thousands of rows, summed in a few ms by one
 * process, while starting parallel workers costs more than the scan (measured: 47-80 ms with 2 workers,
 * 15-25 ms without, on a month of the 10M bench set). The ledger keeps the planner's choice.
 */
const ROLLUP_PARALLEL_WORKERS = 0;
/** Rollup sums added by the runs upgrade (also in ROLLUP_SUM_COLUMNS, so new tables have them). */
const RUN_SUM_COLUMNS = ['run_count', 'agent_run_count'];
/** The category of rows made before categories: every one of them was a model call. */
const CATEGORY_SQL = `category ${ATTRIBUTION} NOT NULL DEFAULT 'chat'`;
const KEY_COLUMN_SQL: Readonly<Record<string, string>> = {
  day: 'day date NOT NULL',
  // Wall-clock hour in the rollup's time zone: the bucket the ledger's hour key names.
  hour: 'hour timestamp NOT NULL',
  category: CATEGORY_SQL,
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
    { layout: HOUR_ROLLUP, table: n.hourRollupTableName },
    { layout: HOUR_TOTAL_ROLLUP, table: n.hourTotalRollupTableName },
  ];
}

/** Idempotent DDL of one rollup table: key columns, sums, primary key, the index for "one agent/user over days". */
export function rollupTableSql(table: string, rollup: RollupLayout, schema: string | undefined): string[] {
  const q = qualifiedName(table, schema);
  const idx = (suffix: string) => quoteIdent(indexName(table, suffix));
  // The second key column (agent_name or user_id) with the time bucket: serves one agent (user) over a range.
  const lead = rollup.keyColumns[1];
  const leadSuffix = { agent: 'agent_day_idx', user: 'user_day_idx', hour: 'agent_hour_idx', hourTotal: 'category_hour_idx' }[rollup.kind];
  return [
    `CREATE TABLE IF NOT EXISTS ${q} (
        ${rollup.keyColumns.map((c) => KEY_COLUMN_SQL[c]).join(',\n        ')},
        ${ROLLUP_SUM_COLUMNS.map((c) => `${c} bigint NOT NULL DEFAULT 0`).join(',\n        ')},
        CONSTRAINT ${idx('pkey')} PRIMARY KEY (${rollup.keyColumns.join(', ')})
      ) WITH (fillfactor = ${ROLLUP_FILLFACTOR}, parallel_workers = ${ROLLUP_PARALLEL_WORKERS})`,
    `ALTER TABLE ${q} SET (parallel_workers = ${ROLLUP_PARALLEL_WORKERS})`,
    `CREATE INDEX IF NOT EXISTS ${idx(leadSuffix)} ON ${q} (${lead}, ${rollup.time})`,
    // Upgrade of a rollup made before runs were counted: its rows hold no run (0 is exact for them); made
    // before categories: every row was "chat" with no units (the key is widened by rollupKeyUpgradeSql).
    `ALTER TABLE ${q} ${[...RUN_SUM_COLUMNS, 'units'].map((c) => `ADD COLUMN IF NOT EXISTS ${c} bigint NOT NULL DEFAULT 0`).join(', ')}, ` +
      `ADD COLUMN IF NOT EXISTS ${CATEGORY_SQL}`,
  ];
}

/**
 * Rebuilds a rollup's primary key to this version's key (a daily rollup made before categories lacks
 * `category`), or returns null when it already is. The key names the columns writers' upserts conflict
 * on, so it must match exactly. Rows stay as they are: before categories each key held one "chat" row.
 * The time zone marker lives on the key's index: the caller writes it again.
 */
export async function rollupKeyUpgradeSql(q: SqlQueryable, table: string, rollup: RollupLayout, schema: string | undefined): Promise<string | null> {
  const [row] = rowsOf(await q.query(`SELECT pg_get_indexdef(to_regclass($1::text)) AS def`, [markerTarget(table, schema)]));
  const want = `(${rollup.keyColumns.join(', ')})`;
  if (typeof row?.def !== 'string' || row.def.endsWith(want)) return null;
  const pk = quoteIdent(indexName(table, 'pkey'));
  return `ALTER TABLE ${qualifiedName(table, schema)} DROP CONSTRAINT ${pk}, ADD CONSTRAINT ${pk} PRIMARY KEY ${want}`;
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
 * The time zone the rollups' days and hours are in, or null when unknown: a rollup missing, created
 * elsewhere, or the rollups in different zones.
 */
export async function readRollupTimeZone(q: SqlQueryable, names: UsageTableNames): Promise<string | null> {
  const targets = rollupTables(names).map(({ table }) => markerTarget(table, names.schema));
  const [row] = rowsOf(
    await q.query(`SELECT ${targets.map((_t, i) => `obj_description(to_regclass($${i + 1}::text), 'pg_class') AS m${i}`).join(', ')}`, targets),
  );
  const zone = zoneOf(row?.m0);
  return zone !== null && targets.every((_t, i) => zoneOf(row?.[`m${i}`]) === zone) ? zone : null;
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
 * Recomputes every rollup from the ledger with days in `timeZone` (after loading the ledger by other
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
