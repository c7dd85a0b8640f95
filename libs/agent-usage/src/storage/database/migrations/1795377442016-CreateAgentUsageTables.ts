import { createHash } from 'node:crypto';
import type { MigrationInterface, QueryRunner } from 'typeorm';
import { InvalidUsageOptionsError } from '../../../common/usage.errors';
import {
  DEFAULT_ROLLUP_TABLE,
  DEFAULT_USAGE_TABLE,
  defaultUserRollupTableName,
  resolveTableNames,
  type UsageTableNames,
} from '../database-storage.options';
import {
  AGENT_ROLLUP,
  ROLLUP_SUM_COLUMNS,
  USER_ROLLUP,
  SqlQueryable,
  indexName,
  qualifiedName,
  quoteIdent,
  rollupAggregateSql,
  rowsOf,
  type RollupLayout,
} from '../usage-sql.builder';

const MIGRATION_TIMESTAMP = 1795377442016;
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

export interface AgentUsageMigrationOptions extends Partial<UsageTableNames> {
  /** Time zone of the rollups' days, recorded on new rollup tables. Default `UTC` (match the module's `timeZone`). */
  timeZone?: string;
  /** Migration name (must end in a 13-digit timestamp). Default derived from the table names. */
  name?: string;
}

/** Signed 64-bit advisory lock key per table set, so concurrent boots run the DDL one at a time. */
function lockKey(names: UsageTableNames): string {
  const h = createHash('sha1').update(`nestjs-agent-usage:${names.schema ?? ''}.${names.tableName}`).digest();
  return h.readBigInt64BE(0).toString();
}

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

/** Rollup sums added by the runs upgrade (also in ROLLUP_SUM_COLUMNS, so new tables have them). */
const RUN_SUM_COLUMNS = ['run_count', 'agent_run_count'];
/** Ledger columns added by the runs-and-failures upgrade. */
const RUN_LEDGER_COLUMNS = [
  'run_id varchar(255) COLLATE "C" NULL',
  'run_start boolean NOT NULL DEFAULT false',
  'agent_run_start boolean NOT NULL DEFAULT false',
  'error_type varchar(255) COLLATE "C" NULL',
];
const TOKEN_SQL_COLUMNS = ['input_tokens', 'cached_input_tokens', 'cache_write_tokens', 'output_tokens', 'reasoning_tokens', 'total_tokens'];
/**
 * Attribution values are identifiers: compared as bytes (COLLATE "C"), which keeps every index insert,
 * lookup and sort of the write path off the database locale's comparison (measurably cheaper); equality
 * is the same under any deterministic collation.
 */
const ATTRIBUTION = `varchar(255) COLLATE "C"`;
const KEY_COLUMN_SQL: Readonly<Record<string, string>> = {
  day: 'day date NOT NULL',
  agent_name: `agent_name ${ATTRIBUTION} NOT NULL DEFAULT ''`,
  user_id: `user_id ${ATTRIBUTION} NOT NULL DEFAULT ''`,
  group_name: `group_name ${ATTRIBUTION} NOT NULL DEFAULT ''`,
  model_name: `model_name ${ATTRIBUTION} NOT NULL DEFAULT ''`,
  provider_name: `provider_name ${ATTRIBUTION} NOT NULL DEFAULT ''`,
};

/** Idempotent DDL of one rollup table: key columns, sums, primary key, the index for "one agent/user over days". */
function rollupTableSql(table: string, rollup: RollupLayout, schema: string | undefined): string[] {
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

/**
 * Idempotent DDL for the three tables; table names come from validated options only. `rollup` is the
 * (agent) daily rollup, `userRollup` the per-user one.
 */
export function agentUsageTablesSql(names: UsageTableNames): { ledger: string[]; rollup: string[]; userRollup: string[] } {
  const n = resolveTableNames(names);
  const t = n.tableName;
  const ledger = qualifiedName(t, n.schema);
  const idx = (table: string, suffix: string) => quoteIdent(indexName(table, suffix));
  return {
    ledger: [
      `CREATE TABLE IF NOT EXISTS ${ledger} (
        record_id varchar(128) COLLATE "C" NOT NULL,
        agent_name ${ATTRIBUTION} NULL,
        user_id ${ATTRIBUTION} NULL,
        group_name ${ATTRIBUTION} NULL,
        chat_name ${ATTRIBUTION} NULL,
        model_name ${ATTRIBUTION} NULL,
        provider_name ${ATTRIBUTION} NULL,
        ${TOKEN_SQL_COLUMNS.map((c) => `${c} bigint NULL`).join(',\n        ')},
        requests bigint NOT NULL DEFAULT 1,
        success boolean NOT NULL DEFAULT true,
        usage_missing boolean NOT NULL DEFAULT false,
        ${RUN_LEDGER_COLUMNS.join(',\n        ')},
        cost_nano_usd bigint NULL,
        price_source varchar(255) NULL,
        recorded_at timestamptz NOT NULL,
        metadata jsonb NULL,
        CONSTRAINT ${idx(t, 'pkey')} PRIMARY KEY (record_id)
      )`,
      `CREATE INDEX IF NOT EXISTS ${idx(t, 'agent_recorded_idx')} ON ${ledger} (agent_name, recorded_at)`,
      `CREATE INDEX IF NOT EXISTS ${idx(t, 'user_recorded_idx')} ON ${ledger} (user_id, recorded_at)`,
      `CREATE INDEX IF NOT EXISTS ${idx(t, 'model_recorded_idx')} ON ${ledger} (model_name, recorded_at)`,
      // Time ranges, and list()'s ORDER BY recorded_at DESC, record_id DESC (ties, rare, sorted after).
      `CREATE INDEX IF NOT EXISTS ${idx(t, 'recorded_idx')} ON ${ledger} (recorded_at)`,
      // Upgrade of a ledger made before runs and error types: existing rows are in no run, and succeeded
      // or failed without a recorded error class. Constant defaults: no table rewrite.
      `ALTER TABLE ${ledger} ${RUN_LEDGER_COLUMNS.map((c) => `ADD COLUMN IF NOT EXISTS ${c}`).join(', ')}`,
      // One run's records (filter by runId); most lookups are for recent runs, rows outside runs are left out.
      `CREATE INDEX IF NOT EXISTS ${idx(t, 'run_idx')} ON ${ledger} (run_id) WHERE run_id IS NOT NULL`,
    ],
    rollup: rollupTableSql(n.rollupTableName, AGENT_ROLLUP, n.schema),
    userRollup: rollupTableSql(n.userRollupTableName, USER_ROLLUP, n.schema),
  };
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

/**
 * Creates the three tables and their indexes when missing. Safe to run any number of times and from
 * several processes at once (an advisory lock serializes them inside the caller's transaction).
 * A rollup created next to an existing ledger is filled from it; a daily rollup left by an earlier
 * version (keyed by user too) is replaced by the two narrow ones.
 */
export async function createAgentUsageTables(q: SqlQueryable, names: UsageTableNames, timeZone = 'UTC'): Promise<void> {
  const n = resolveTableNames(names);
  rollupComment(timeZone);
  await q.query(`SELECT pg_advisory_xact_lock($1::bigint)`, [lockKey(n)]);
  if (n.schema) await q.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(n.schema)}`);
  const rollup = qualifiedName(n.rollupTableName, n.schema);
  const [state] = rowsOf(
    await q.query(
      `SELECT to_regclass($1::text) IS NOT NULL AS rollup, to_regclass($2::text) IS NOT NULL AS user_rollup,
         EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($1::text) AND attname = 'user_id' AND NOT attisdropped) AS wide`,
      [rollup, qualifiedName(n.userRollupTableName, n.schema)],
    ),
  );
  // The single wide rollup of earlier versions: derived data only, rebuilt below from the ledger (in the
  // time zone it was kept in, which is the one the app uses).
  const wideZone = state?.wide ? await readMarker(q, n.rollupTableName, n.schema) : null;
  if (state?.wide) await q.query(`DROP TABLE ${rollup}`);
  const sql = agentUsageTablesSql(n);
  for (const statement of [...sql.ledger, ...sql.rollup, ...sql.userRollup]) await q.query(statement);
  const created = [
    ...(state?.rollup && !state?.wide ? [] : [n.rollupTableName]),
    ...(state?.user_rollup ? [] : [n.userRollupTableName]),
  ];
  if (created.length) {
    // A new rollup next to an existing ledger (e.g. dropped, or added by an upgrade) must start from the
    // ledger's sums, in the zone of a rollup that is kept (so the two agree) or of the one it replaces;
    // SHARE keeps inserts out until the transaction commits.
    const kept = rollupTables(n).find(({ table }) => !created.includes(table));
    const zone = (kept && (await readMarker(q, kept.table, n.schema))) || wideZone || timeZone;
    await q.query(`LOCK TABLE ${qualifiedName(n.tableName, n.schema)} IN SHARE MODE`);
    await fillRollups(q, n, zone, created);
    await writeRollupTimeZone(q, n, zone, created);
  }
}

/** The time zone a rollup marker comment names, or null. */
function zoneOf(comment: unknown): string | null {
  if (typeof comment !== 'string' || !comment.startsWith(ROLLUP_COMMENT_PREFIX)) return null;
  const zone = comment.slice(ROLLUP_COMMENT_PREFIX.length);
  return TIME_ZONE_RE.test(zone) ? zone : null;
}

async function readMarker(q: SqlQueryable, table: string, schema: string | undefined): Promise<string | null> {
  const rows = rowsOf(await q.query(`SELECT obj_description(to_regclass($1::text), 'pg_class') AS c`, [markerTarget(table, schema)]));
  return zoneOf(rows[0]?.c);
}

export async function dropAgentUsageTables(q: SqlQueryable, names: UsageTableNames): Promise<void> {
  const n = resolveTableNames(names);
  for (const { table } of rollupTables(n)) await q.query(`DROP TABLE IF EXISTS ${qualifiedName(table, n.schema)}`);
  await q.query(`DROP TABLE IF EXISTS ${qualifiedName(n.tableName, n.schema)}`);
}

/**
 * A TypeORM migration class for the ledger and the two rollup tables with your names, e.g.
 * `migrations: [createAgentUsageMigration({ tableName: 'ai_usage' })]`. Its DDL is idempotent, so it
 * is harmless where the driver's `autoMigrate` already created the tables.
 */
export function createAgentUsageMigration(options: AgentUsageMigrationOptions = {}): new () => MigrationInterface {
  const names = resolveTableNames(options);
  const timeZone = options.timeZone ?? 'UTC';
  rollupComment(timeZone);
  const defaultUser = names.userRollupTableName === defaultUserRollupTableName(names.rollupTableName);
  const isDefault = !names.schema && names.tableName === DEFAULT_USAGE_TABLE && names.rollupTableName === DEFAULT_ROLLUP_TABLE && defaultUser;
  // TypeORM keys executed migrations by name: distinct table sets need distinct names.
  const tables = [names.tableName, names.rollupTableName, ...(defaultUser ? [] : [names.userRollupTableName])].join('_');
  const name = options.name ?? `CreateAgentUsageTables${isDefault ? '' : `_${names.schema ? `${names.schema}_` : ''}${tables}_`}${MIGRATION_TIMESTAMP}`;
  if (!/\d{13}$/.test(name)) throw new InvalidUsageOptionsError([`migration name must end in a 13-digit timestamp; got "${name}"`]);
  return class implements MigrationInterface {
    readonly name = name;
    async up(queryRunner: QueryRunner): Promise<void> {
      // The advisory lock and the table lock need a transaction; open one if the runner has none
      // (migrationsTransactionMode 'none', or a hand-run migration).
      const own = !queryRunner.isTransactionActive;
      if (own) await queryRunner.startTransaction();
      try {
        await createAgentUsageTables(queryRunner, names, timeZone);
        if (own) await queryRunner.commitTransaction();
      } catch (err) {
        if (own) await queryRunner.rollbackTransaction().catch(() => undefined);
        throw err;
      }
    }
    async down(queryRunner: QueryRunner): Promise<void> {
      await dropAgentUsageTables(queryRunner, names);
    }
  };
}

/** The migration for the default table names (`agent_usage_records`, `agent_usage_daily`, `agent_usage_daily_users`, UTC days). */
export class CreateAgentUsageTables1795377442016 extends createAgentUsageMigration() {}

/**
 * The same idempotent DDL under a new name, for databases where `CreateAgentUsageTables1795377442016`
 * already ran (TypeORM runs a migration name once): adds the run and error columns to the ledger and the
 * run counters to the rollups. With other table names: `createAgentUsageMigration({ ...names, name:
 * 'UpgradeAgentUsageRuns1796400000000' })`.
 */
export class UpgradeAgentUsageRuns1796400000000 extends createAgentUsageMigration({ name: 'UpgradeAgentUsageRuns1796400000000' }) {}
