import type { NormalizedUsageFilters } from '../../interfaces/usage-query.interface';
import { FILTER_COLUMNS, type RollupLayout, type SqlParams } from './usage-sql.builder';

/**
 * WHERE clause over the ledger. Attribution lists use `= ANY(array)` (a NULL column never matches,
 * as in the memory driver); `[from, to)` is half-open.
 */
export function ledgerWhere(f: NormalizedUsageFilters, p: SqlParams): string {
  const clauses: string[] = [];
  for (const [field, column] of FILTER_COLUMNS) {
    const values = f[field];
    if (values !== undefined) clauses.push(`${column} = ANY(${p.add([...values], 'varchar[]')})`);
  }
  if (f.from) clauses.push(`recorded_at >= ${p.add(f.from.toISOString(), 'timestamptz')}`);
  if (f.to) clauses.push(`recorded_at < ${p.add(f.to.toISOString(), 'timestamptz')}`);
  if (f.success !== undefined) clauses.push(`success = ${p.add(f.success, 'boolean')}`);
  return clauses.length ? `WHERE ${clauses.join(' AND ')}` : '';
}

/**
 * WHERE clause over a daily rollup for whole-day filters: `fromDay`/`toDay` are the days (in the rollup's
 * time zone) where `from` and `to` start. Only filters on the rollup's own columns can be answered here.
 */
export function rollupWhere(
  rollup: RollupLayout,
  f: NormalizedUsageFilters,
  fromDay: string | undefined,
  toDay: string | undefined,
  p: SqlParams,
): string {
  const clauses: string[] = [];
  if (f.success !== undefined) throw new Error('the rollups have no success column; query the ledger');
  for (const [field, column] of FILTER_COLUMNS) {
    const values = f[field];
    if (values === undefined) continue;
    if (!rollup.fields.includes(field)) throw new Error(`the ${rollup.kind} rollup has no ${column}; query the ledger`);
    clauses.push(`${column} = ANY(${p.add([...values], 'varchar[]')})`);
  }
  // A local day d holds the local hours [d 00:00, d+1 00:00): the same bounds serve the hourly rollup.
  const time = rollup.time === 'hour' ? 'hour' : 'day';
  const bound = rollup.time === 'hour' ? 'timestamp' : 'date';
  if (fromDay !== undefined) clauses.push(`${time} >= ${p.add(fromDay, bound)}`);
  if (toDay !== undefined) clauses.push(`${time} < ${p.add(toDay, bound)}`);
  return clauses.length ? `WHERE ${clauses.join(' AND ')}` : '';
}
