import type { Client, Pool } from 'pg';

/**
 * Tables of a schema without the ledger's month partitions (their names depend on today's date), sorted:
 * what a migration test compares.
 */
export async function topLevelTables(client: Client | Pool, schema: string): Promise<string[]> {
  const { rows } = await client.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY 1`,
    [schema],
  );
  return rows.map((r) => r.name);
}
