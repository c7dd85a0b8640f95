import { Logger, type LoggerService } from '@nestjs/common';
import type { DataSource, QueryRunner } from 'typeorm';
import {
  USAGE_DIMENSIONS,
  type NormalizedUsageFilters,
  type RawUsageGroup,
  type RawUsageTotals,
  type UsageDimension,
  type UsageIdentity,
} from '../../interfaces/usage-query.interface';
import type { UsageRecord } from '../../interfaces/usage-record.interface';
import type { UsageStorage, UsageStorageContext } from '../../interfaces/usage-storage.interface';
import { dayKey, isStartOfDay, isUtc } from '../../query/time-zone';
import { InvalidUsageInputError, InvalidUsageOptionsError } from '../../common/usage.errors';
import {
  tableNameProblems,
  resolveTableNames,
  type DatabaseStorageOptions,
  type ResolvedUsageTableNames,
} from './database-storage.options';
import { createAgentUsageTables } from './schema/agent-usage.schema';
import { fillRollups, readRollupTimeZone, rollupTables, writeRollupTimeZone } from './schema/rollup.schema';
import { UsageDatabaseConnection } from '../../connections/database.connection';
import { getUsageConnectionToken } from '../../connections/usage-connection.tokens';
import {
  LEDGER_COLUMNS,
  LEDGER_SELECT_SQL,
  LEDGER_TOTALS_SQL,
  ROLLUP_SOURCE_COLUMNS,
  ROLLUP_TOTALS_SQL,
  SqlParams,
  isUsageDimension,
  ledgerDimensionSql,
  ledgerWhere,
  qualifiedName,
  rollupAggregateSql,
  rollupDimensionSql,
  rollupFor,
  rollupUpsertSql,
  rollupWhere,
  rowToRawTotals,
  rowToRecord,
  rowsOf,
  type RollupLayout,
} from './usage-sql.builder';
import { sleep } from '../../common/sleep';

/** Attempts of one write or clear when PostgreSQL aborts it as a deadlock victim or serialization failure. */
const MAX_CONFLICT_ATTEMPTS = 5;
const CONFLICT_CODES = new Set(['40P01', '40001']);
/** Errors that mean "the server is not reachable now", as opposed to a configuration mistake. */
const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'EPIPE', '57P01', '57P02', '57P03']);

const errorCode = (err: unknown): string | undefined => {
  const e = err as { code?: unknown; driverError?: { code?: unknown } } | null;
  const code = e?.code ?? e?.driverError?.code;
  return typeof code === 'string' ? code : undefined;
};
const isConflict = (err: unknown) => CONFLICT_CODES.has(errorCode(err) ?? '');
function isConnectionError(err: unknown): boolean {
  const code = errorCode(err) ?? '';
  if (CONNECTION_CODES.has(code) || code.startsWith('08')) return true;
  return /connection terminated|timeout exceeded when trying to connect|connect ECONNREFUSED|Connection refused/i.test(String((err as Error)?.message));
}
/**
 * SQLSTATE classes that mean "this data is refused" (22 data exception, e.g. a date out of range or an
 * invalid JSON escape; 23 integrity constraint violation): retrying the same rows fails the same way.
 * Connection classes (08, 57P0x) and resources (53) are outages, retried; conflicts (40) are retried here.
 */
const DATA_ERROR_CLASSES = new Set(['22', '23']);

/** JSON for jsonb: PostgreSQL rejects the NUL character (\u0000) in jsonb strings, which would poison a batch forever. */
function metadataJson(metadata: Record<string, unknown> | null): string | null {
  if (metadata === null || metadata === undefined) return null;
  return JSON.stringify(metadata, (_k, v) => (typeof v === 'string' && v.includes('\u0000') ? v.split('\u0000').join('\uFFFD') : v));
}

const NEEDS_ESCAPE = /["\\]/;
const ESCAPE = /["\\]/g;

/**
 * A PostgreSQL array literal of one ledger column (`{"a","b",NULL}`, `{1,NULL}`, `{t,f}`), sent as one
 * text parameter: much cheaper than pg's generic array serialization (a regex escape per element).
 * Strings are always quoted (so 'NULL' stays a string); a value of an unexpected type is quoted too, so
 * a bad record fails the cast instead of shifting the elements of a column.
 */
function arrayLiteral(batch: readonly UsageRecord[], column: (typeof LEDGER_COLUMNS)[number]): string {
  const scalar = column.type === 'int8' || column.type === 'bool';
  const parts = new Array<string>(batch.length);
  for (let i = 0; i < batch.length; i++) {
    const r = batch[i];
    let v: unknown = r[column.field];
    if (column.field === 'recordedAt') v = (v instanceof Date ? v : new Date(v as string)).toISOString();
    else if (column.field === 'metadata') v = metadataJson(r.metadata);
    if (v === null || v === undefined) parts[i] = 'NULL';
    else if (scalar && typeof v === 'number' && Number.isFinite(v)) parts[i] = String(v);
    else if (scalar && typeof v === 'boolean') parts[i] = v ? 't' : 'f';
    else {
      const text = String(v);
      parts[i] = NEEDS_ESCAPE.test(text) ? `"${text.replace(ESCAPE, '\\$&')}"` : `"${text}"`;
    }
  }
  return `{${parts.join(',')}}`;
}

/**
 * PostgreSQL driver (TypeORM 0.3 or 1.x, pg 8). Three tables:
 * - the ledger, one row per record, unique on `record_id`;
 * - two daily rollups, narrow enough to be much smaller than the ledger: (day, agent, group, model,
 *   provider) and (day, user, agent, model, provider). Both are maintained in the same statement as the
 *   ledger insert, only for rows that insert actually added (a retried batch never counts twice).
 *
 * Reads are single SQL statements; a whole-day query reads the first rollup that holds every attribution
 * it filters or groups on, else the ledger. Sums come back as exact integer strings. See
 * `DatabaseStorageOptions` for the connection.
 */
export class DatabaseUsageStorage implements UsageStorage {
  /** One statement per batch: 5,000 rows amortize its fixed cost (measured: ~50-84% of COPY vs 26-42% at 500). */
  readonly writeBatchSize = 5000;
  private options: DatabaseStorageOptions = {};
  private names: ResolvedUsageTableNames = resolveTableNames();
  private ledger = qualifiedName(this.names.tableName);
  /** Qualified table name of each rollup layout. */
  private rollupTable = new Map<RollupLayout, string>();
  private insertSql = '';
  private timeZone = 'UTC';
  private logger: LoggerService = new Logger('DatabaseUsageStorage');
  private context?: UsageStorageContext;
  /** The module's shared connection owner, or one of this driver's own (then closed with the driver). */
  private connection: UsageDatabaseConnection | null = null;
  private ownsConnection = false;
  /** Create the alerts table too (the module has budgets: the threshold job may de-duplicate in it). */
  private withAlerts = false;
  private dataSource: DataSource | null = null;
  private connecting: Promise<DataSource> | null = null;
  private initialized = false;
  private closed = false;
  /** False while the rollups' days are in another time zone than ours (then every read uses the ledger). */
  private rollupsReadable = false;
  /** Writes or clears PostgreSQL aborted as deadlock victims / serialization failures and that were retried. */
  conflictRetries = 0;

  /**
   * @param connection the module's connection owner (the registry passes it to the `'database'` alias);
   *   without it the driver uses the module's when its own options name no connection, else opens its own.
   */
  constructor(
    private readonly constructorOptions: DatabaseStorageOptions = {},
    connection?: UsageDatabaseConnection,
  ) {
    this.connection = connection ?? null;
  }

  async init(context: UsageStorageContext): Promise<void> {
    this.context = context;
    this.timeZone = context.timeZone ?? 'UTC';
    if (context.logger) this.logger = context.logger;
    // Constructor options are the more specific ones (an instance passed as `storage`).
    const o: DatabaseStorageOptions = { ...((context.options?.database ?? {}) as DatabaseStorageOptions), ...this.constructorOptions };
    const problems = tableNameProblems(o).map((p) => `database.${p}`);
    if (o.dataSource && o.url) problems.push('database: give either dataSource or url, not both');
    if (o.dataSource && (typeof o.dataSource !== 'object' || typeof (o.dataSource as DataSource).query !== 'function')) {
      problems.push('database.dataSource must be a TypeORM DataSource');
    }
    if (problems.length) throw new InvalidUsageOptionsError(problems);
    this.options = o;
    this.names = resolveTableNames({ ...o, alertsTableName: context.options?.scheduler?.alertsTable });
    this.withAlerts = (context.options?.budgets?.length ?? 0) > 0;
    this.ledger = qualifiedName(this.names.tableName, this.names.schema);
    this.rollupTable = new Map(rollupTables(this.names).map(({ layout, table }) => [layout, qualifiedName(table, this.names.schema)]));
    this.insertSql = this.buildInsertSql();
    this.connection ??= this.sharedConnection(context);
    if (!this.connection) {
      this.connection = new UsageDatabaseConnection(o, context.moduleRef, this.logger);
      this.ownsConnection = true;
    }
    this.initialized = true;
    try {
      await this.db();
    } catch (err) {
      // A server that is down at boot must not stop the app: the writer buffers, spools and retries.
      if (!isConnectionError(err)) throw err;
      this.logger.error(
        `[${context.name}] PostgreSQL usage storage is unreachable at startup (${(err as Error).message}); records are buffered and the connection is retried`,
      );
    }
  }

  /** The DataSource, connected and with the tables checked; a failed attempt is retried by the next call. */
  private db(): Promise<DataSource> {
    if (this.closed) return Promise.reject(new Error('DatabaseUsageStorage is closed'));
    if (!this.initialized) return Promise.reject(new Error('DatabaseUsageStorage: call init(context) first'));
    if (this.dataSource) return Promise.resolve(this.dataSource);
    this.connecting ??= this.connect().finally(() => (this.connecting = null));
    return this.connecting;
  }

  private async connect(): Promise<DataSource> {
    const ds = (await this.connection!.get()) as unknown as DataSource;
    await this.prepareSchema(ds);
    if (this.closed) throw new Error('DatabaseUsageStorage is closed');
    this.dataSource = ds;
    return ds;
  }

  /** The module's owner, for a driver instance whose own options name no connection of their own. */
  private sharedConnection(context: UsageStorageContext): UsageDatabaseConnection | null {
    const own = this.constructorOptions;
    if (own.dataSource || own.url || own.connectionName || !context.moduleRef) return null;
    try {
      return context.moduleRef.get(getUsageConnectionToken('database'), { strict: true });
    } catch {
      return null; // used outside the module
    }
  }

  private get autoMigrate(): boolean {
    return this.options.autoMigrate ?? this.connection?.source === 'url';
  }

  private async prepareSchema(ds: DataSource): Promise<void> {
    if (this.autoMigrate) {
      await this.transaction(ds, (q) => createAgentUsageTables(q, this.names, this.timeZone, { alerts: this.withAlerts }));
    } else {
      const [rollup, userRollup] = [...this.rollupTable.values()];
      const [row] = rowsOf(
        await ds.query(
          `SELECT to_regclass($1::text) IS NOT NULL AS ledger, to_regclass($2::text) IS NOT NULL AS rollup,
             to_regclass($3::text) IS NOT NULL AS user_rollup,
             EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($2::text) AND attname = 'user_id' AND NOT attisdropped) AS wide,
             (SELECT count(*) FROM pg_attribute WHERE NOT attisdropped AND (
               (attrelid = to_regclass($1::text) AND attname = 'run_id') OR
               (attrelid IN (to_regclass($2::text), to_regclass($3::text)) AND attname = 'agent_run_count')))::int = 3 AS runs`,
          [this.ledger, rollup, userRollup],
        ),
      );
      // An earlier version's wide rollup comes with no user rollup: say "upgrade", not "missing".
      const wide = row?.ledger && row?.wide;
      const missing = !row?.ledger ? this.ledger : wide ? null : !row?.rollup ? rollup : !row?.user_rollup ? userRollup : null;
      // Tables made before runs and error types: every write would fail on the missing columns.
      const old = !missing && !wide && !row?.runs;
      if (missing || wide || old) {
        const migration = `createAgentUsageMigration(${JSON.stringify({
          tableName: this.names.tableName,
          rollupTableName: this.names.rollupTableName,
          ...(this.options.userRollupTableName ? { userRollupTableName: this.names.userRollupTableName } : {}),
          ...(this.names.schema ? { schema: this.names.schema } : {}),
        })})`;
        throw new InvalidUsageOptionsError([
          missing
            ? `database: table ${missing} does not exist. Add ${migration} to your TypeORM migrations, or set database.autoMigrate: true`
            : old
              ? `database: ${this.ledger} and its rollups predate runs and error types (no run_id / run_count columns). ` +
                `Add UpgradeAgentUsageRuns1796400000000 to your TypeORM migrations (other table names: ${migration.replace(/\}\)$/, `,"name":"UpgradeAgentUsageRuns1796400000000"})`)}), ` +
                `or set database.autoMigrate: true: either adds them in place (no table rewrite)`
              : `database: ${rollup} is the daily rollup of an earlier version (keyed by user too). Run ${migration} again ` +
              `(under a new name: { name: 'UpgradeAgentUsageRollups<13-digit timestamp>' }), or set database.autoMigrate: true: ` +
              `either replaces it by the two narrower rollups, filled from the ledger`,
        ]);
      }
    }
    const rollupZone = await readRollupTimeZone(ds, this.names);
    if (rollupZone !== null && sameZone(rollupZone, this.timeZone)) {
      this.rollupsReadable = true;
    } else if (this.autoMigrate || (await this.ledgerIsEmpty(ds).catch(() => false))) {
      // Nothing to recount on an empty ledger (a fresh install whose migration used another zone): cheap.
      await this.rebuildRollups(ds).catch((err: Error) => {
        if (this.autoMigrate) throw err;
        this.logger.warn(`could not set the daily rollups' time zone (${err.message}); reads use the ledger only`);
      });
    } else {
      this.rollupsReadable = false;
      this.logger.warn(
        `daily rollups ${[...this.rollupTable.values()].join(', ')} are kept in time zone ${rollupZone ?? '(unknown)'} ` +
          `but this app uses ${this.timeZone}: ` +
          `reads use the ledger only. Call rebuildRollups() once (or set database.autoMigrate: true) to switch them.`,
      );
    }
  }

  private async ledgerIsEmpty(ds: DataSource): Promise<boolean> {
    return rowsOf(await ds.query(`SELECT NOT EXISTS (SELECT 1 FROM ${this.ledger}) AS empty`))[0]?.empty === true;
  }

  /**
   * Recomputes both daily rollups from the ledger in this app's time zone (needed after changing
   * `timeZone`, or to repair a rollup edited by hand). Writers wait meanwhile; readers do not.
   */
  async rebuildRollups(dataSource?: DataSource): Promise<void> {
    const ds = dataSource ?? (await this.db());
    await this.transaction(ds, async (q) => {
      // SHARE blocks inserts into the ledger (so no write slips between the recount and the commit).
      await q.query(`LOCK TABLE ${this.ledger} IN SHARE MODE`);
      const zone = await readRollupTimeZone(q, this.names);
      if (zone !== null && sameZone(zone, this.timeZone)) return; // another process just did it
      for (const table of this.rollupTable.values()) await q.query(`DELETE FROM ${table}`);
      await fillRollups(q, this.names, this.timeZone);
      await writeRollupTimeZone(q, this.names, this.timeZone);
      this.logger.warn(
        `rebuilt daily rollups ${[...this.rollupTable.values()].join(', ')} from ${this.ledger} for time zone ${this.timeZone} (was ${zone ?? 'unknown'})`,
      );
    });
    this.rollupsReadable = true;
  }

  /** Runs `work` in one transaction, retried a few times when PostgreSQL picks it as a deadlock victim. */
  private async transaction<T>(ds: DataSource, work: (q: QueryRunner) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const q = ds.createQueryRunner();
      try {
        await q.connect();
        await q.startTransaction();
        const result = await work(q);
        await q.commitTransaction();
        return result;
      } catch (err) {
        if (q.isTransactionActive) await q.rollbackTransaction().catch(() => undefined);
        if (await this.backOffOnConflict(err, attempt)) continue;
        throw err;
      } finally {
        await q.release().catch(() => undefined);
      }
    }
  }

  /** One statement (its own transaction), retried on deadlock / serialization failure. */
  private async statement(ds: DataSource, sql: string, params: unknown[]): Promise<Record<string, any>[]> {
    for (let attempt = 1; ; attempt++) {
      try {
        return rowsOf(await ds.query(sql, params));
      } catch (err) {
        if (await this.backOffOnConflict(err, attempt)) continue;
        throw err;
      }
    }
  }

  /** A deadlock / serialization failure with attempts left: waits (growing, jittered) and says "retry". */
  private async backOffOnConflict(err: unknown, attempt: number): Promise<boolean> {
    if (attempt >= MAX_CONFLICT_ATTEMPTS || !isConflict(err)) return false;
    this.conflictRetries++;
    await sleep(conflictBackoff(attempt));
    return true;
  }

  /**
   * Ledger insert and both rollup upserts in ONE statement (so one transaction, one round trip):
   * rows arrive as one array per column (`unnest`), `ON CONFLICT DO NOTHING RETURNING` yields only the
   * rows really added, and only those are summed per rollup key and upserted. Locks are taken in one
   * global order by every writer: ledger ids (the batch is sorted by id), then the agent rollup's keys in
   * key order, then the user rollup's (the final SELECT reads the CTEs in that order), so concurrent
   * writers wait on each other instead of deadlocking.
   */
  private buildInsertSql(): string {
    const cols = LEDGER_COLUMNS.map((c) => c.column);
    const tz = `$${LEDGER_COLUMNS.length + 1}::text`;
    const ctes = [
      `input AS (
        SELECT * FROM unnest(${LEDGER_COLUMNS.map((c, i) => `$${i + 1}::${c.type}[]`).join(', ')}) AS u(${cols.join(', ')})
      )`,
      `ins AS (
        INSERT INTO ${this.ledger} (${cols.join(', ')})
        SELECT ${cols.map((c) => (c === 'metadata' ? 'metadata::jsonb' : c)).join(', ')} FROM input
        ON CONFLICT (record_id) DO NOTHING
        RETURNING ${ROLLUP_SOURCE_COLUMNS}
      )`,
    ];
    const counts = [`(SELECT count(*) FROM ins)::int AS inserted`];
    [...this.rollupTable].forEach(([layout, table], i) => {
      ctes.push(`agg${i} AS (${rollupAggregateSql('ins', tz, layout)})`, `up${i} AS (${rollupUpsertSql(table, layout, `agg${i}`)})`);
      counts.push(`(SELECT count(*) FROM up${i})::int AS ${layout.kind}_rows`);
    });
    return `WITH ${ctes.join(',\n      ')}\n      SELECT ${counts.join(', ')}`;
  }

  isDataError(error: unknown): boolean {
    const code = errorCode(error);
    return code !== undefined && code.length === 5 && DATA_ERROR_CLASSES.has(code.slice(0, 2)) && !isConnectionError(error);
  }

  target(): string | undefined {
    // Before the first connection the configured URL names the same target.
    const o = (this.dataSource?.options ?? (this.options.url ? { url: this.options.url } : undefined)) as
      | { url?: string; host?: string; port?: number; database?: string }
      | undefined;
    if (!o) return undefined;
    let where = `${o.host ?? 'localhost'}:${o.port ?? 5432}/${o.database ?? ''}`;
    if (o.url) {
      const u = new URL(o.url);
      where = `${u.hostname}:${u.port || 5432}${u.pathname}`;
    }
    return `postgres://${where}#${this.ledger}`;
  }

  async write(records: readonly UsageRecord[]): Promise<void> {
    if (records.length === 0) return;
    const ds = await this.db();
    // First occurrence of an id wins (as in the memory driver); id order makes concurrent writers of
    // the same ids wait on each other in the same order instead of deadlocking.
    const byId = new Map<string, UsageRecord>();
    for (const r of records) if (!byId.has(r.id)) byId.set(r.id, r);
    const batch = [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    await this.statement(ds, this.insertSql, [...LEDGER_COLUMNS.map((c) => arrayLiteral(batch, c)), this.timeZone]);
  }

  /** The rollup that can answer these filters exactly, with its day bounds; null: read the ledger. */
  private rollupRange(
    f: NormalizedUsageFilters,
    dimension?: UsageDimension,
  ): { table: string; layout: RollupLayout; fromDay?: string; toDay?: string } | null {
    if (this.options.useRollups === false || !this.rollupsReadable) return null;
    const layout = rollupFor(f, dimension);
    if (!layout) return null;
    if (f.from && !isStartOfDay(f.from, this.timeZone)) return null;
    if (f.to && !isStartOfDay(f.to, this.timeZone)) return null;
    return {
      table: this.rollupTable.get(layout) as string,
      layout,
      fromDay: f.from ? dayKey(f.from, this.timeZone) : undefined,
      toDay: f.to ? dayKey(f.to, this.timeZone) : undefined,
    };
  }

  async aggregate(filters: NormalizedUsageFilters): Promise<RawUsageTotals> {
    const ds = await this.db();
    const p = new SqlParams();
    const r = this.rollupRange(filters);
    const sql = r
      ? `SELECT ${ROLLUP_TOTALS_SQL} FROM ${r.table} ${rollupWhere(r.layout, filters, r.fromDay, r.toDay, p)}`
      : `SELECT ${LEDGER_TOTALS_SQL} FROM ${this.ledger} ${ledgerWhere(filters, p)}`;
    return rowToRawTotals((await this.statement(ds, sql, p.values))[0]);
  }

  async groupBy(dimension: UsageDimension, filters: NormalizedUsageFilters): Promise<RawUsageGroup[]> {
    // The dimension only selects one of a fixed set of SQL expressions; anything else stops here.
    if (!isUsageDimension(dimension)) throw new InvalidUsageInputError('dimension', `one of ${USAGE_DIMENSIONS.join(', ')}`, dimension);
    const ds = await this.db();
    const p = new SqlParams();
    const r = this.rollupRange(filters, dimension);
    const dim = r ? rollupDimensionSql(dimension, r.layout) : undefined;
    let sql: string;
    if (r && dim) {
      sql = `SELECT ${dim.key} AS key, ${ROLLUP_TOTALS_SQL} FROM ${r.table} ${rollupWhere(r.layout, filters, r.fromDay, r.toDay, p)}
        GROUP BY ${dim.group} ORDER BY ${dim.group}`;
    } else {
      const ledgerKey = ledgerDimensionSql(dimension, () => p.add(this.timeZone, 'text'));
      sql = `SELECT ${ledgerKey} AS key, ${LEDGER_TOTALS_SQL} FROM ${this.ledger} ${ledgerWhere(filters, p)} GROUP BY 1 ORDER BY 1`;
    }
    return (await this.statement(ds, sql, p.values)).map((row) => ({ key: row.key ?? null, ...rowToRawTotals(row) }));
  }

  async identities(filters: NormalizedUsageFilters): Promise<UsageIdentity[]> {
    const ds = await this.db();
    const p = new SqlParams();
    const rows = await this.statement(
      ds,
      `SELECT DISTINCT agent_name, user_id, group_name, chat_name FROM ${this.ledger} ${ledgerWhere(filters, p)} ORDER BY 1, 2, 3, 4`,
      p.values,
    );
    return rows.map((r) => ({ agentName: r.agent_name ?? null, userId: r.user_id ?? null, group: r.group_name ?? null, chatName: r.chat_name ?? null }));
  }

  async list(filters: NormalizedUsageFilters, limit: number, offset: number): Promise<UsageRecord[]> {
    const ds = await this.db();
    const p = new SqlParams();
    const where = ledgerWhere(filters, p);
    const rows = await this.statement(
      ds,
      `SELECT ${LEDGER_SELECT_SQL} FROM ${this.ledger} ${where}
       ORDER BY recorded_at DESC, record_id DESC LIMIT ${p.add(Math.max(0, Math.floor(limit)), 'bigint')} OFFSET ${p.add(Math.max(0, Math.floor(offset)), 'bigint')}`,
      p.values,
    );
    return rows.map(rowToRecord);
  }

  /**
   * Deletes matching ledger rows and subtracts exactly what they contributed from both rollups, in one
   * transaction (rollup keys locked in the same order as writes do); rollup rows left with no record are
   * removed.
   */
  async clear(filters: NormalizedUsageFilters): Promise<number> {
    const ds = await this.db();
    return this.transaction(ds, async (q) => {
      const p = new SqlParams();
      const where = ledgerWhere(filters, p);
      const tz = p.add(this.timeZone, 'text');
      const ctes = [`del AS (DELETE FROM ${this.ledger} ${where} RETURNING ${ROLLUP_SOURCE_COLUMNS})`];
      const counts = [`(SELECT count(*) FROM del)::text AS deleted`];
      [...this.rollupTable].forEach(([layout, table], i) => {
        ctes.push(`agg${i} AS (${rollupAggregateSql('del', tz, layout)})`, `up${i} AS (${rollupUpsertSql(table, layout, `agg${i}`, -1)})`);
        counts.push(`(SELECT count(*) FROM up${i})::int AS ${layout.kind}_rows`);
      });
      counts.push(`(SELECT to_char(min(day), 'YYYY-MM-DD') FROM agg0) AS min_day`, `(SELECT to_char(max(day), 'YYYY-MM-DD') FROM agg0) AS max_day`);
      const [row] = rowsOf(await q.query(`WITH ${ctes.join(',\n')}\nSELECT ${counts.join(', ')}`, p.values));
      if (row?.min_day) {
        for (const table of this.rollupTable.values()) {
          await q.query(
            `WITH d AS (DELETE FROM ${table} WHERE day >= $1::date AND day <= $2::date AND record_count <= 0 RETURNING 1)
             SELECT count(*)::int AS n FROM d`,
            [row.min_day, row.max_day],
          );
        }
      }
      return Number(row?.deleted ?? 0);
    });
  }

  /** Closes the connection only when this driver opened it; the module's shared one closes at app shutdown. */
  async close(): Promise<void> {
    this.closed = true;
    const pending = this.connecting;
    if (pending) await pending.catch(() => undefined);
    this.dataSource = null;
    if (this.ownsConnection) await this.connection?.close();
  }
}

function sameZone(a: string, b: string): boolean {
  return a === b || (isUtc(a) && isUtc(b));
}

function conflictBackoff(attempt: number): number {
  return 10 * 2 ** attempt + Math.floor(Math.random() * 25);
}
