import type { NormalizedUsageFilters } from '../../interfaces/usage-query.interface';
import { SqlParams, type RollupLayout } from './usage-sql.builder';
import { ROLLUP_SOURCE_COLUMNS, rollupAggregateSql, rollupUpsertSql } from './rollup-aggregate.sql';
import { ledgerWhere } from './usage-sql.where';

/**
 * Deletes matching ledger rows and subtracts exactly what they contributed from every rollup, in one
 * statement (rollup keys locked in the same order as writes do). Its row: `deleted`, and the first and last
 * day touched (`min_day`, `max_day`) for `emptyRollupRowsSql`.
 */
export function ledgerClearSql(
  ledger: string,
  rollupTable: ReadonlyMap<RollupLayout, string>,
  filters: NormalizedUsageFilters,
  timeZone: string,
): { sql: string; params: unknown[] } {
  const p = new SqlParams();
  const where = ledgerWhere(filters, p);
  const tz = p.add(timeZone, 'text');
  const ctes = [`del AS (DELETE FROM ${ledger} ${where} RETURNING ${ROLLUP_SOURCE_COLUMNS})`];
  const counts = [`(SELECT count(*) FROM del)::text AS deleted`];
  [...rollupTable].forEach(([layout, table], i) => {
    ctes.push(`agg${i} AS (${rollupAggregateSql('del', tz, layout)})`, `up${i} AS (${rollupUpsertSql(table, layout, `agg${i}`, -1)})`);
    counts.push(`(SELECT count(*) FROM up${i})::int AS ${layout.kind}_rows`);
  });
  counts.push(`(SELECT to_char(min(day), 'YYYY-MM-DD') FROM agg0) AS min_day`, `(SELECT to_char(max(day), 'YYYY-MM-DD') FROM agg0) AS max_day`);
  return { sql: `WITH ${ctes.join(',\n')}\nSELECT ${counts.join(', ')}`, params: p.values };
}

/** Removes the rows of rollup `table` left with no record between days `$1` and `$2` (both included). */
export function emptyRollupRowsSql(table: string, layout: RollupLayout): string {
  // The hours of local day d are [d 00:00, d+1 00:00) in the hourly rollup's local timestamps.
  const range = layout.time === 'hour' ? `hour >= $1::date AND hour < $2::date + 1` : `day >= $1::date AND day <= $2::date`;
  return `WITH d AS (DELETE FROM ${table} WHERE ${range} AND record_count <= 0 RETURNING 1)
             SELECT count(*)::int AS n FROM d`;
}
