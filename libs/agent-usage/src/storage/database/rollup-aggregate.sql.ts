/**
 * SQL that sums ledger rows into rollup rows and upserts them: shared by the write statement, `clear`
 * (with sign -1) and the rollup fills. Only fixed column names and validated table names reach SQL text.
 */
import { AGENT_ROLLUP, COLUMN_OF, ROLLUP_SUM_COLUMNS, TOKEN_COLUMNS, type RollupLayout } from './usage-sql.builder';

/**
 * Rows of `rollup` (its key columns then `ROLLUP_SUM_COLUMNS`) computed from ledger-shaped rows of
 * `source` (a table or a CTE), with the day or hour in the time zone `tzParam`. Null attribution becomes '' in the key.
 * Without `rollup`: the (agent) daily rollup.
 */
export function rollupAggregateSql(source: string, tzParam: string, rollup: RollupLayout = AGENT_ROLLUP): string {
  // COLLATE "C": grouping and the upsert's key order compare bytes (cheap) instead of going through the
  // database's locale; equality is the same either way.
  const keys = rollup.fields.map((f) => `COALESCE(${COLUMN_OF[f]}, '') COLLATE "C" AS ${COLUMN_OF[f]}`);
  const time =
    rollup.time === 'hour' ? `date_trunc('hour', recorded_at AT TIME ZONE ${tzParam}) AS hour` : `(recorded_at AT TIME ZONE ${tzParam})::date AS day`;
  return `SELECT ${time}, ${keys.join(', ')},
      count(*) AS record_count, COALESCE(sum(requests), 0) AS requests,
      ${TOKEN_COLUMNS.map(([, c]) => `COALESCE(sum(${c}), 0) AS ${c}`).join(', ')},
      count(*) FILTER (WHERE NOT success) AS failed_count, count(*) FILTER (WHERE usage_missing) AS usage_missing_count,
      COALESCE(sum(cost_nano_usd), 0) AS cost_nano_usd, count(*) FILTER (WHERE cost_nano_usd IS NULL) AS unpriced_count,
      count(*) FILTER (WHERE run_start) AS run_count, count(*) FILTER (WHERE agent_run_start) AS agent_run_count,
      COALESCE(sum(units), 0) AS units
    FROM ${source} GROUP BY ${rollup.keyColumns.map((_, i) => i + 1).join(', ')}`;
}

/**
 * Adds the rows of `agg` (shaped like `rollupAggregateSql`) to `table` (a rollup of layout `rollup`), or
 * subtracts them with `sign` -1. Rows go in key order, so concurrent writers lock rollup rows in one
 * global order (no deadlock cycles). `RETURNING 1`: one row per key touched.
 */
export function rollupUpsertSql(table: string, rollup: RollupLayout, agg: string, sign: 1 | -1 = 1): string {
  const cols = [...rollup.keyColumns, ...ROLLUP_SUM_COLUMNS];
  const select = sign === 1 ? cols.join(', ') : [...rollup.keyColumns, ...ROLLUP_SUM_COLUMNS.map((c) => `-${c}`)].join(', ');
  return `INSERT INTO ${table} AS r (${cols.join(', ')})
        SELECT ${select} FROM ${agg} ORDER BY ${rollup.keyColumns.join(', ')}
        ON CONFLICT (${rollup.keyColumns.join(', ')}) DO UPDATE SET
          ${ROLLUP_SUM_COLUMNS.map((c) => `${c} = r.${c} + EXCLUDED.${c}`).join(', ')}
        RETURNING 1`;
}

/** Ledger columns a rollup aggregate needs (for `RETURNING`). */
export const ROLLUP_SOURCE_COLUMNS = [
  'recorded_at',
  'agent_name',
  'user_id',
  'group_name',
  'model_name',
  'provider_name',
  'category',
  'units',
  'requests',
  ...TOKEN_COLUMNS.map(([, c]) => c),
  'success',
  'usage_missing',
  'cost_nano_usd',
  'run_start',
  'agent_run_start',
].join(', ');
