import type { NormalizedUsageFilters, UsageDimension, UsageIdentity } from '../../interfaces/usage-query.interface';
import { dayKey, isStartOfDay } from '../../query/time-zone';
import { SqlParams, ledgerDimensionSql, rollupDimensionSql, rollupFor, type RollupLayout } from './usage-sql.builder';
import { LEDGER_SELECT_SQL } from './usage-sql.rows';
import { LEDGER_TOTALS_SQL, ROLLUP_TOTALS_SQL } from './usage-sql.totals';
import { ledgerWhere, rollupWhere } from './usage-sql.where';

/** A whole-day read on one rollup: its table, its layout and the day bounds of the filters. */
export interface RollupRange {
  table: string;
  layout: RollupLayout;
  fromDay?: string;
  toDay?: string;
}

/** One read statement and its parameters. */
export interface ReadStatement {
  sql: string;
  params: unknown[];
}

/** The rollup that can answer these filters exactly, with its day bounds; null: read the ledger. */
export function rollupRange(
  f: NormalizedUsageFilters,
  dimension: UsageDimension | undefined,
  timeZone: string,
  rollupTable: ReadonlyMap<RollupLayout, string>,
): RollupRange | null {
  const layout = rollupFor(f, dimension);
  if (!layout) return null;
  if (f.from && !isStartOfDay(f.from, timeZone)) return null;
  if (f.to && !isStartOfDay(f.to, timeZone)) return null;
  return {
    table: rollupTable.get(layout) as string,
    layout,
    fromDay: f.from ? dayKey(f.from, timeZone) : undefined,
    toDay: f.to ? dayKey(f.to, timeZone) : undefined,
  };
}

/** Totals over the rollup `r` when there is one, else over the ledger. */
export function aggregateSql(ledger: string, r: RollupRange | null, filters: NormalizedUsageFilters): ReadStatement {
  const p = new SqlParams();
  const sql = r
    ? `SELECT ${ROLLUP_TOTALS_SQL} FROM ${r.table} ${rollupWhere(r.layout, filters, r.fromDay, r.toDay, p)}`
    : `SELECT ${LEDGER_TOTALS_SQL} FROM ${ledger} ${ledgerWhere(filters, p)}`;
  return { sql, params: p.values };
}

/** Totals per `key` of `dimension`, over the rollup `r` when it holds the dimension, else over the ledger. */
export function groupBySql(
  dimension: UsageDimension,
  ledger: string,
  r: RollupRange | null,
  filters: NormalizedUsageFilters,
  timeZone: string,
): ReadStatement {
  const p = new SqlParams();
  const dim = r ? rollupDimensionSql(dimension, r.layout) : undefined;
  let sql: string;
  if (r && dim) {
    sql = `SELECT ${dim.key} AS key, ${ROLLUP_TOTALS_SQL} FROM ${r.table} ${rollupWhere(r.layout, filters, r.fromDay, r.toDay, p)}
        GROUP BY ${dim.group} ORDER BY ${dim.group}`;
  } else {
    const ledgerKey = ledgerDimensionSql(dimension, () => p.add(timeZone, 'text'));
    sql = `SELECT ${ledgerKey} AS key, ${LEDGER_TOTALS_SQL} FROM ${ledger} ${ledgerWhere(filters, p)} GROUP BY 1 ORDER BY 1`;
  }
  return { sql, params: p.values };
}

export function identitiesSql(ledger: string, filters: NormalizedUsageFilters): ReadStatement {
  const p = new SqlParams();
  const sql = `SELECT DISTINCT agent_name, user_id, group_name, chat_name FROM ${ledger} ${ledgerWhere(filters, p)} ORDER BY 1, 2, 3, 4`;
  return { sql, params: p.values };
}

export function rowToIdentity(r: Record<string, any>): UsageIdentity {
  return { agentName: r.agent_name ?? null, userId: r.user_id ?? null, group: r.group_name ?? null, chatName: r.chat_name ?? null };
}

/** A page of ledger rows (read by `rowToRecord`), newest first. */
export function listSql(ledger: string, filters: NormalizedUsageFilters, limit: number, offset: number): ReadStatement {
  const p = new SqlParams();
  const where = ledgerWhere(filters, p);
  const sql = `SELECT ${LEDGER_SELECT_SQL} FROM ${ledger} ${where}
       ORDER BY recorded_at DESC, record_id DESC LIMIT ${p.add(Math.max(0, Math.floor(limit)), 'bigint')} OFFSET ${p.add(Math.max(0, Math.floor(offset)), 'bigint')}`;
  return { sql, params: p.values };
}
