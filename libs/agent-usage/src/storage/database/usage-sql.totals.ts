import { TOKEN_COLUMNS } from './usage-sql.builder';

/** Sums over ledger rows, as exact integer strings (never floats, never JS numbers). */
export const LEDGER_TOTALS_SQL = [
  `count(*)::text AS "recordCount"`,
  `COALESCE(sum(requests), 0)::text AS "requests"`,
  ...TOKEN_COLUMNS.map(([f, c]) => `COALESCE(sum(${c}), 0)::text AS "${f}"`),
  `(count(*) FILTER (WHERE NOT success))::text AS "failedCount"`,
  `(count(*) FILTER (WHERE usage_missing))::text AS "usageMissingCount"`,
  `COALESCE(sum(cost_nano_usd), 0)::text AS "costNanoUsd"`,
  `(count(*) FILTER (WHERE cost_nano_usd IS NULL))::text AS "unpricedCount"`,
  `(count(*) FILTER (WHERE run_start))::text AS "runCount"`,
  `(count(*) FILTER (WHERE agent_run_start))::text AS "agentRunCount"`,
  `COALESCE(sum(units), 0)::text AS "units"`,
].join(', ');

/** The same sums over rollup rows. */
export const ROLLUP_TOTALS_SQL = [
  `COALESCE(sum(record_count), 0)::text AS "recordCount"`,
  `COALESCE(sum(requests), 0)::text AS "requests"`,
  ...TOKEN_COLUMNS.map(([f, c]) => `COALESCE(sum(${c}), 0)::text AS "${f}"`),
  `COALESCE(sum(failed_count), 0)::text AS "failedCount"`,
  `COALESCE(sum(usage_missing_count), 0)::text AS "usageMissingCount"`,
  `COALESCE(sum(cost_nano_usd), 0)::text AS "costNanoUsd"`,
  `COALESCE(sum(unpriced_count), 0)::text AS "unpricedCount"`,
  `COALESCE(sum(run_count), 0)::text AS "runCount"`,
  `COALESCE(sum(agent_run_count), 0)::text AS "agentRunCount"`,
  `COALESCE(sum(units), 0)::text AS "units"`,
].join(', ');
