import { advisoryLockKey, indexName, qualifiedName, quoteIdent } from '../usage-sql.builder';

/**
 * The threshold job's de-dup table: one row per budget x scope value x window x level that fired; the
 * primary key is the claim (`INSERT ... ON CONFLICT DO NOTHING RETURNING`), `window_end` serves pruning.
 */
export function alertsTableSql(table: string, schema: string | undefined): string[] {
  const q = qualifiedName(table, schema);
  return [
    `CREATE TABLE IF NOT EXISTS ${q} (
        budget_name text NOT NULL,
        scope_value text NOT NULL,
        window_start timestamptz NOT NULL,
        level integer NOT NULL,
        window_end timestamptz NOT NULL,
        used bigint NOT NULL,
        fired_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT ${quoteIdent(indexName(table, 'pkey'))} PRIMARY KEY (budget_name, scope_value, window_start, level)
      )`,
  ];
}

/** Signed 64-bit advisory lock key of one alerts table: every creator of it takes this lock first. */
export function alertsLockKey(table: string, schema: string | undefined): string {
  return advisoryLockKey('nestjs-agent-usage-alerts', table, schema);
}

/**
 * The alerts table DDL as ONE statement holding the advisory lock to its end (a DO block is its own
 * transaction), for callers without a transaction at hand: the threshold job on a pooled connection.
 */
export function ensureAlertsTableSql(table: string, schema: string | undefined): string {
  const body = [`PERFORM pg_advisory_xact_lock(${alertsLockKey(table, schema)}::bigint)`, ...alertsTableSql(table, schema)].join(';\n  ');
  return `DO $agent_usage$ BEGIN\n  ${body};\nEND $agent_usage$`;
}
