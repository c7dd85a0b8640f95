import { advisoryLockKey, indexName, qualifiedName, quoteIdent, type SqlQueryable } from '../usage-sql.builder';

/** Default name of the runtime alerts table (`scheduler.runtimeAlertsTable`). */
export const DEFAULT_RUNTIME_ALERTS_TABLE = 'agent_usage_runtime_alerts';

/**
 * Budgets made at run time (`UsageService.createAlert()`): one row per alert, its validated input as
 * JSON, and `paused_until` set by the instance that fired a `pause_agent` level (every instance reads it).
 */
export function runtimeAlertsTableSql(table: string, schema: string | undefined): string[] {
  return [
    `CREATE TABLE IF NOT EXISTS ${qualifiedName(table, schema)} (
        id text NOT NULL,
        definition jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        paused_until timestamptz NULL,
        CONSTRAINT ${quoteIdent(indexName(table, 'pkey'))} PRIMARY KEY (id)
      )`,
  ];
}

/** Signed 64-bit advisory lock key of one runtime alerts table: every creator of it takes this lock first. */
export function runtimeAlertsLockKey(table: string, schema: string | undefined): string {
  return advisoryLockKey('nestjs-agent-usage-runtime-alerts', table, schema);
}

/** The DDL as one statement holding the advisory lock to its end, for callers on a pooled connection. */
export function ensureRuntimeAlertsTableSql(table: string, schema: string | undefined): string {
  const body = [
    `PERFORM pg_advisory_xact_lock(${runtimeAlertsLockKey(table, schema)}::bigint)`,
    ...(schema ? [`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`] : []),
    ...runtimeAlertsTableSql(table, schema),
  ].join(';\n  ');
  return `DO $agent_usage$ BEGIN\n  ${body};\nEND $agent_usage$`;
}

/** Inside the caller's transaction (the driver's schema setup, the migration): lock, schema, table. */
export async function createRuntimeAlertsTable(q: SqlQueryable, table: string, schema: string | undefined): Promise<void> {
  await q.query(`SELECT pg_advisory_xact_lock($1::bigint)`, [runtimeAlertsLockKey(table, schema)]);
  if (schema) await q.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
  for (const statement of runtimeAlertsTableSql(table, schema)) await q.query(statement);
}
