import { createHash } from 'node:crypto';
import type { MigrationInterface, QueryRunner } from 'typeorm';
import { InvalidUsageOptionsError } from '../../../usage.errors';
import { DEFAULT_ROLLUP_TABLE, DEFAULT_USAGE_TABLE, resolveTableNames, type UsageTableNames } from '../database-storage.options';
import {
  ROLLUP_KEY_COLUMNS,
  ROLLUP_SUM_COLUMNS,
  SqlQueryable,
  indexName,
  qualifiedName,
  quoteIdent,
  rollupAggregateSql,
  rowsOf,
} from '../usage-sql.builder';

const MIGRATION_TIMESTAMP = 1795377442016;
/**
 * The comment on the rollup's primary key index records the time zone its days are in. On the index,
 * not the table: TypeORM's `synchronize` resets table comments to the entity's, but ignores index comments.
 */
const ROLLUP_COMMENT_PREFIX = 'nestjs-agent-usage daily rollup; timeZone=';
/** IANA names only: the zone goes into a COMMENT literal, which cannot take a parameter. */
const TIME_ZONE_RE = /^[A-Za-z0-9_+\-/]{1,64}$/;

export interface AgentUsageMigrationOptions extends Partial<UsageTableNames> {
  /** Time zone of the rollup's days, recorded on the new rollup table. Default `UTC` (match the module's `timeZone`). */
  timeZone?: string;
  /** Migration name (must end in a 13-digit timestamp). Default derived from the table names. */
  name?: string;
}

/** Signed 64-bit advisory lock key per table pair, so concurrent boots run the DDL one at a time. */
function lockKey(names: UsageTableNames): string {
  const h = createHash('sha1').update(`nestjs-agent-usage:${names.schema ?? ''}.${names.tableName}`).digest();
  return h.readBigInt64BE(0).toString();
}

function literal(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

/** Idempotent DDL for both tables; table names come from validated options only. */
export function agentUsageTablesSql(names: UsageTableNames): { ledger: string[]; rollup: string[] } {
  const t = names.tableName;
  const r = names.rollupTableName;
  const ledger = qualifiedName(t, names.schema);
  const rollup = qualifiedName(r, names.schema);
  const idx = (table: string, suffix: string) => quoteIdent(indexName(table, suffix));
  const tokenCols = ['input_tokens', 'cached_input_tokens', 'cache_write_tokens', 'output_tokens', 'reasoning_tokens', 'total_tokens'];
  return {
    ledger: [
      `CREATE TABLE IF NOT EXISTS ${ledger} (
        record_id varchar(128) COLLATE "C" NOT NULL,
        agent_name varchar(255) NULL,
        user_id varchar(255) NULL,
        group_name varchar(255) NULL,
        chat_name varchar(255) NULL,
        model_name varchar(255) NULL,
        provider_name varchar(255) NULL,
        ${tokenCols.map((c) => `${c} bigint NULL`).join(',\n        ')},
        requests bigint NOT NULL DEFAULT 1,
        success boolean NOT NULL DEFAULT true,
        usage_missing boolean NOT NULL DEFAULT false,
        cost_nano_usd bigint NULL,
        price_source varchar(255) NULL,
        recorded_at timestamptz NOT NULL,
        metadata jsonb NULL,
        CONSTRAINT ${idx(t, 'pkey')} PRIMARY KEY (record_id)
      )`,
      `CREATE INDEX IF NOT EXISTS ${idx(t, 'agent_recorded_idx')} ON ${ledger} (agent_name, recorded_at)`,
      `CREATE INDEX IF NOT EXISTS ${idx(t, 'user_recorded_idx')} ON ${ledger} (user_id, recorded_at)`,
      `CREATE INDEX IF NOT EXISTS ${idx(t, 'model_recorded_idx')} ON ${ledger} (model_name, recorded_at)`,
      // (recorded_at, record_id): serves time ranges and list()'s ORDER BY recorded_at DESC, record_id DESC.
      `CREATE INDEX IF NOT EXISTS ${idx(t, 'recorded_idx')} ON ${ledger} (recorded_at, record_id)`,
    ],
    rollup: [
      `CREATE TABLE IF NOT EXISTS ${rollup} (
        day date NOT NULL,
        agent_name varchar(255) NOT NULL DEFAULT '',
        user_id varchar(255) NOT NULL DEFAULT '',
        group_name varchar(255) NOT NULL DEFAULT '',
        model_name varchar(255) NOT NULL DEFAULT '',
        provider_name varchar(255) NOT NULL DEFAULT '',
        record_count bigint NOT NULL DEFAULT 0,
        requests bigint NOT NULL DEFAULT 0,
        ${tokenCols.map((c) => `${c} bigint NOT NULL DEFAULT 0`).join(',\n        ')},
        failed_count bigint NOT NULL DEFAULT 0,
        usage_missing_count bigint NOT NULL DEFAULT 0,
        cost_nano_usd bigint NOT NULL DEFAULT 0,
        unpriced_count bigint NOT NULL DEFAULT 0,
        CONSTRAINT ${idx(r, 'pkey')} PRIMARY KEY (day, agent_name, user_id, group_name, model_name, provider_name)
      )`,
      `CREATE INDEX IF NOT EXISTS ${idx(r, 'agent_day_idx')} ON ${rollup} (agent_name, day)`,
      `CREATE INDEX IF NOT EXISTS ${idx(r, 'user_day_idx')} ON ${rollup} (user_id, day)`,
      `CREATE INDEX IF NOT EXISTS ${idx(r, 'model_day_idx')} ON ${rollup} (model_name, day)`,
    ],
  };
}

export function rollupComment(timeZone: string): string {
  if (!TIME_ZONE_RE.test(timeZone)) {
    throw new InvalidUsageOptionsError([`timeZone must be an IANA time zone name; got ${JSON.stringify(timeZone)}`]);
  }
  return `${ROLLUP_COMMENT_PREFIX}${timeZone}`;
}

/** Where the marker lives: the rollup's primary key index. */
function markerTarget(names: UsageTableNames): string {
  return qualifiedName(indexName(names.rollupTableName, 'pkey'), names.schema);
}

/** The time zone the rollup's days are in, or null when unknown (table missing or created elsewhere). */
export async function readRollupTimeZone(q: SqlQueryable, names: UsageTableNames): Promise<string | null> {
  const rows = rowsOf(await q.query(`SELECT obj_description(to_regclass($1::text), 'pg_class') AS c`, [markerTarget(names)]));
  const c: unknown = rows[0]?.c;
  return typeof c === 'string' && c.startsWith(ROLLUP_COMMENT_PREFIX) ? c.slice(ROLLUP_COMMENT_PREFIX.length) : null;
}

export async function writeRollupTimeZone(q: SqlQueryable, names: UsageTableNames, timeZone: string): Promise<void> {
  await q.query(`COMMENT ON INDEX ${markerTarget(names)} IS ${literal(rollupComment(timeZone))}`);
}

/**
 * Creates both tables and their indexes when missing. Safe to run any number of times and from several
 * processes at once (an advisory lock serializes them inside the caller's transaction).
 */
export async function createAgentUsageTables(q: SqlQueryable, names: UsageTableNames, timeZone = 'UTC'): Promise<void> {
  const comment = rollupComment(timeZone);
  await q.query(`SELECT pg_advisory_xact_lock($1::bigint)`, [lockKey(names)]);
  if (names.schema) await q.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(names.schema)}`);
  const existed = rowsOf(
    await q.query(`SELECT to_regclass($1::text) IS NOT NULL AS e`, [qualifiedName(names.rollupTableName, names.schema)]),
  )[0]?.e;
  const sql = agentUsageTablesSql(names);
  for (const statement of [...sql.ledger, ...sql.rollup]) await q.query(statement);
  if (!existed) {
    // A new rollup next to an existing ledger (e.g. the rollup was dropped) must start from the ledger's
    // sums; SHARE keeps inserts out until the transaction commits.
    await q.query(`LOCK TABLE ${qualifiedName(names.tableName, names.schema)} IN SHARE MODE`);
    await q.query(
      `INSERT INTO ${qualifiedName(names.rollupTableName, names.schema)} (${[...ROLLUP_KEY_COLUMNS, ...ROLLUP_SUM_COLUMNS].join(', ')}) ` +
        rollupAggregateSql(qualifiedName(names.tableName, names.schema), '$1::text'),
      [timeZone],
    );
    await q.query(`COMMENT ON INDEX ${markerTarget(names)} IS ${literal(comment)}`);
  }
}

export async function dropAgentUsageTables(q: SqlQueryable, names: UsageTableNames): Promise<void> {
  await q.query(`DROP TABLE IF EXISTS ${qualifiedName(names.rollupTableName, names.schema)}`);
  await q.query(`DROP TABLE IF EXISTS ${qualifiedName(names.tableName, names.schema)}`);
}

/**
 * A TypeORM migration class for the ledger and rollup tables with your names, e.g.
 * `migrations: [createAgentUsageMigration({ tableName: 'ai_usage' })]`. Its DDL is idempotent, so it
 * is harmless where the driver's `autoMigrate` already created the tables.
 */
export function createAgentUsageMigration(options: AgentUsageMigrationOptions = {}): new () => MigrationInterface {
  const names = resolveTableNames(options);
  const timeZone = options.timeZone ?? 'UTC';
  rollupComment(timeZone);
  const isDefault = !names.schema && names.tableName === DEFAULT_USAGE_TABLE && names.rollupTableName === DEFAULT_ROLLUP_TABLE;
  // TypeORM keys executed migrations by name: distinct table sets need distinct names.
  const name =
    options.name ??
    `CreateAgentUsageTables${isDefault ? '' : `_${names.schema ? `${names.schema}_` : ''}${names.tableName}_${names.rollupTableName}_`}${MIGRATION_TIMESTAMP}`;
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

/** The migration for the default table names (`agent_usage_records`, `agent_usage_daily`, UTC days). */
export class CreateAgentUsageTables1795377442016 extends createAgentUsageMigration() {}
