import type { NormalizedUsageFilters } from '../../interfaces/usage-query.interface';
import { ROLLUP_SOURCE_COLUMNS, SqlParams, rollupAggregateSql, rollupUpsertSql, type RollupLayout } from './usage-sql.builder';
import { ledgerWhere } from './usage-sql.where';

/**
 * Deletes matching ledger rows and subtracts exactly what they contributed from both rollups, in one
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

/** Removes the rows of rollup `table` left with no record between days `$1` and `$2`. */
export function emptyRollupRowsSql(table: string): string {
  return `WITH d AS (DELETE FROM ${table} WHERE day >= $1::date AND day <= $2::date AND record_count <= 0 RETURNING 1)
             SELECT count(*)::int AS n FROM d`;
}
