import {
  USAGE_DIMENSIONS,
  type NormalizedUsageFilters,
  type UsageDimension,
  type UsageGroup,
  type UsageTotals,
} from '../../interfaces/usage-query.interface';
import type { UsageRecord } from '../../interfaces/usage-record.interface';
import { dayKey, endOfDayExclusive, isValidTimeZone, parseDay, startOfDay } from '../../query/time-zone';
import { InvalidUsageInputError } from '../../common/usage.errors';
import { toTotals } from '../../query/usage-totals';
import { resolveTableNames, type UsageTableNames } from './database-storage.options';
import { SqlParams, SqlQueryable, ledgerDimensionSql, qualifiedName } from './usage-sql.builder';
import { LEDGER_SELECT_SQL, rowToRawTotals, rowToRecord, rowsOf } from './usage-sql.rows';
import { LEDGER_TOTALS_SQL } from './usage-sql.totals';
import { ledgerWhere } from './usage-sql.where';

export interface UsageQueryOptions extends Partial<Pick<UsageTableNames, 'tableName' | 'schema'>> {
  /** Time zone of `betweenDates`/`onDate` days and of `day`/`hour` groups. Default `UTC`. */
  timeZone?: string;
}

/** Accepted by `groupByColumn`: the dimensions, plus the ledger's column names LarAgent users know. */
const GROUP_COLUMNS: Readonly<Record<string, UsageDimension>> = Object.freeze({
  ...Object.fromEntries(USAGE_DIMENSIONS.map((d) => [d, d])),
  agent_name: 'agentName',
  user_id: 'userId',
  group_name: 'group',
  chat_name: 'chatName',
  model_name: 'modelName',
  provider_name: 'providerName',
  run_id: 'runId',
  error_type: 'errorType',
});
type AttributionKey = 'agentName' | 'userId' | 'group' | 'chatName' | 'modelName' | 'providerName' | 'runId' | 'errorType' | 'category';

/**
 * Chainable, immutable queries over the usage ledger for host apps (reports, admin endpoints), e.g.
 *
 *   const q = UsageQuery.on(dataSource).forAgent('support').betweenDates('2026-11-01', '2026-11-30');
 *   const totals = await q.aggregate();                // one SQL statement
 *   const perModel = await q.groupByColumn('modelName');
 *
 * Every value is a bound parameter; a group-by column outside the whitelist throws. Chained filters
 * combine with AND; the values given to one call match any of them. `betweenDates` includes the whole
 * end day, in `timeZone`.
 */
export class UsageQuery {
  private constructor(
    private readonly db: SqlQueryable,
    private readonly table: string,
    private readonly timeZone: string,
    private readonly filters: Readonly<NormalizedUsageFilters>,
  ) {}

  /** `db`: a TypeORM DataSource, EntityManager or QueryRunner (or anything with `query(sql, params)`). */
  static on(db: SqlQueryable, options: UsageQueryOptions = {}): UsageQuery {
    if (!db || typeof db.query !== 'function') throw new InvalidUsageInputError('db', 'a DataSource, EntityManager or QueryRunner', db);
    const timeZone = options.timeZone ?? 'UTC';
    if (!isValidTimeZone(timeZone)) throw new InvalidUsageInputError('timeZone', "an IANA time zone such as 'UTC' or 'Europe/Paris'", timeZone);
    const names = resolveTableNames({ tableName: options.tableName, schema: options.schema });
    return new UsageQuery(db, qualifiedName(names.tableName, names.schema), timeZone, {});
  }

  private with(patch: NormalizedUsageFilters): UsageQuery {
    return new UsageQuery(this.db, this.table, this.timeZone, { ...this.filters, ...patch });
  }

  private attribution(field: AttributionKey, values: (string | readonly string[])[]): UsageQuery {
    const list = values.flat();
    if (list.length === 0) throw new InvalidUsageInputError(field, 'at least one value');
    for (const v of list) if (typeof v !== 'string' || v.length === 0) throw new InvalidUsageInputError(field, 'non-empty strings', v);
    const previous = this.filters[field];
    // Chained calls narrow: a second forAgent() keeps only names both calls allow.
    const next = previous ? previous.filter((v) => list.includes(v)) : [...new Set(list)];
    return this.with({ [field]: next });
  }

  forAgent(...names: (string | readonly string[])[]): UsageQuery {
    return this.attribution('agentName', names);
  }
  forUser(...ids: (string | readonly string[])[]): UsageQuery {
    return this.attribution('userId', ids);
  }
  forGroup(...groups: (string | readonly string[])[]): UsageQuery {
    return this.attribution('group', groups);
  }
  forChat(...chats: (string | readonly string[])[]): UsageQuery {
    return this.attribution('chatName', chats);
  }
  forModel(...models: (string | readonly string[])[]): UsageQuery {
    return this.attribution('modelName', models);
  }
  forProvider(...providers: (string | readonly string[])[]): UsageQuery {
    return this.attribution('providerName', providers);
  }
  forRun(...runIds: (string | readonly string[])[]): UsageQuery {
    return this.attribution('runId', runIds);
  }
  /** Failed calls whose error has one of these class names (e.g. `RateLimitError`). */
  forErrorType(...errorTypes: (string | readonly string[])[]): UsageQuery {
    return this.attribution('errorType', errorTypes);
  }

  /** Records of these operation categories ("chat" for model calls). */
  forCategory(...categories: (string | readonly string[])[]): UsageQuery {
    return this.attribution('category', categories);
  }

  /** Only successful (true) or failed (false) calls. */
  withSuccess(success: boolean): UsageQuery {
    if (typeof success !== 'boolean') throw new InvalidUsageInputError('success', 'a boolean', success);
    return this.with({ success });
  }

  private day(field: string, value: string | Date): string {
    if (value instanceof Date && !isNaN(value.getTime())) return dayKey(value, this.timeZone);
    if (typeof value === 'string' && parseDay(value)) return value;
    throw new InvalidUsageInputError(field, 'a "YYYY-MM-DD" day or a Date', value);
  }

  /** Whole days `from` to `to`, both included, in the query's time zone. */
  betweenDates(from: string | Date, to: string | Date): UsageQuery {
    const start = startOfDay(this.day('from', from), this.timeZone);
    const end = endOfDayExclusive(this.day('to', to), this.timeZone);
    const f = this.filters;
    return this.with({
      from: f.from && f.from > start ? f.from : start,
      to: f.to && f.to < end ? f.to : end,
    });
  }

  /** One whole day in the query's time zone. */
  onDate(day: string | Date): UsageQuery {
    return this.betweenDates(day, day);
  }

  /** The filters as the library's drivers take them (e.g. for `UsageService` reads on another driver). */
  toFilters(): NormalizedUsageFilters {
    return { ...this.filters };
  }

  /** Sums over the matching records, in one SQL statement. `costUsd` is exact. */
  async aggregate(): Promise<UsageTotals> {
    const p = new SqlParams();
    const rows = rowsOf(await this.db.query(`SELECT ${LEDGER_TOTALS_SQL} FROM ${this.table} ${ledgerWhere(this.filters, p)}`, p.values));
    return toTotals(rowToRawTotals(rows[0]));
  }

  /**
   * Sums per value of one column, in one SQL statement, ordered by key (null last). `dimension` must be
   * one of the usage dimensions (agentName, userId, group, chatName, modelName, providerName, day, hour)
   * or a ledger column name such as `model_name`; anything else throws before any SQL is built.
   */
  async groupByColumn(dimension: string): Promise<UsageGroup[]> {
    const dim = typeof dimension === 'string' && Object.hasOwn(GROUP_COLUMNS, dimension) ? GROUP_COLUMNS[dimension] : undefined;
    if (!dim) {
      throw new InvalidUsageInputError(
        'dimension',
        `one of ${USAGE_DIMENSIONS.join(', ')} (or the column names agent_name, user_id, group_name, chat_name, model_name, provider_name, run_id, error_type, category)`,
        dimension,
      );
    }
    const p = new SqlParams();
    const key = ledgerDimensionSql(dim, () => p.add(this.timeZone, 'text'));
    const rows = rowsOf(
      await this.db.query(
        `SELECT ${key} AS key, ${LEDGER_TOTALS_SQL} FROM ${this.table} ${ledgerWhere(this.filters, p)} GROUP BY 1`,
        p.values,
      ),
    );
    // Ordered here (by key, null last, as UsageService does), not by the column's collation.
    return rows
      .map((row) => ({ key: (row.key ?? null) as string | null, ...toTotals(rowToRawTotals(row)) }))
      .sort(byKeyNullLast);
  }

  /** Matching records, newest first (then id descending). */
  async list(limit = 100, offset = 0): Promise<UsageRecord[]> {
    if (!Number.isSafeInteger(limit) || limit < 1) throw new InvalidUsageInputError('limit', 'a positive integer', limit);
    if (!Number.isSafeInteger(offset) || offset < 0) throw new InvalidUsageInputError('offset', 'a non-negative integer', offset);
    const p = new SqlParams();
    const where = ledgerWhere(this.filters, p);
    const rows = rowsOf(
      await this.db.query(
        `SELECT ${LEDGER_SELECT_SQL} FROM ${this.table} ${where} ORDER BY recorded_at DESC, record_id DESC LIMIT ${p.add(limit, 'bigint')} OFFSET ${p.add(offset, 'bigint')}`,
        p.values,
      ),
    );
    return rows.map(rowToRecord);
  }
}

function byKeyNullLast(a: { key: string | null }, b: { key: string | null }): number {
  if (a.key === b.key) return 0;
  if (a.key === null) return 1;
  if (b.key === null) return -1;
  return a.key < b.key ? -1 : 1;
}

/** Same as `UsageQuery.on(db, options)`. */
export function usageQuery(db: SqlQueryable, options?: UsageQueryOptions): UsageQuery {
  return UsageQuery.on(db, options);
}
