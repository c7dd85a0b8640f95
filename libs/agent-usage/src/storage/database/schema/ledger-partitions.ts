import { advisoryLockKey, qualifiedName, quoteIdent, type SqlQueryable } from '../usage-sql.builder';
import { rowsOf } from '../usage-sql.rows';

/**
 * Monthly partitions of the ledger (PARTITION BY RANGE (recorded_at)). Bounds are UTC months: the column
 * is timestamptz and the bounds are written as `YYYY-MM-01 00:00:00+00`, whatever the app's or the
 * server's time zone. Partitions are `<ledger>_pYYYYMM`; `<ledger>_pdefault` takes any row outside them,
 * so an insert is never refused because its month was not created yet.
 */

/**
 * Months made behind the current one: records of the previous month still arrive after a month boundary
 * (a spool replayed after an outage, clocks slightly behind), and should land in their month, not the default.
 */
export const MONTHS_BEHIND = 1;

/** Longest ledger name whose partition names (`_pdefault`, 9 characters) still fit PostgreSQL's 63. */
export const PARTITIONED_LEDGER_NAME_MAX = 54;

/** A UTC month as its number since year 0 (year * 12 + month index), which makes month arithmetic trivial. */
export type MonthIndex = number;

export const monthIndexOf = (d: Date): MonthIndex => d.getUTCFullYear() * 12 + d.getUTCMonth();
export const monthStart = (m: MonthIndex): Date => new Date(Date.UTC(Math.floor(m / 12), m % 12, 1));
const yyyymm = (m: MonthIndex): string => `${Math.floor(m / 12)}${String((m % 12) + 1).padStart(2, '0')}`;
const bound = (m: MonthIndex): string => `'${monthStart(m).toISOString().slice(0, 10)} 00:00:00+00'`;

export const partitionName = (table: string, m: MonthIndex): string => `${table}_p${yyyymm(m)}`;
export const defaultPartitionName = (table: string): string => `${table}_pdefault`;

/** Advisory lock key of one ledger's partition DDL: concurrent boots and timers create a month once. */
export function partitionLockKey(table: string, schema: string | undefined): string {
  return advisoryLockKey('nestjs-agent-usage-partitions', table, schema);
}

/** Whether the ledger is a partitioned table (false: missing or a plain table of an earlier version). */
export async function isPartitioned(q: SqlQueryable, table: string, schema: string | undefined): Promise<boolean> {
  const [row] = rowsOf(await q.query(`SELECT relkind::text AS kind FROM pg_class WHERE oid = to_regclass($1::text)`, [qualifiedName(table, schema)]));
  return row?.kind === 'p';
}

/**
 * Whether the ledger's primary key includes recorded_at (the write's conflict target): true for the
 * partitioned layout and for a table TypeORM `synchronize` made from the entity; false for a plain
 * ledger of an earlier version (key record_id).
 */
export async function keyHasTime(q: SqlQueryable, table: string, schema: string | undefined): Promise<boolean> {
  const [row] = rowsOf(
    await q.query(
      `SELECT EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
         WHERE i.indrelid = to_regclass($1::text) AND i.indisprimary AND a.attname = 'recorded_at') AS has`,
      [qualifiedName(table, schema)],
    ),
  );
  return row?.has === true;
}

/** Months (as MonthIndex) that have a `_pYYYYMM` partition of the ledger. */
export async function existingMonths(q: SqlQueryable, table: string, schema: string | undefined): Promise<Set<MonthIndex>> {
  const rows = rowsOf(
    await q.query(
      `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass($1::text)`,
      [qualifiedName(table, schema)],
    ),
  );
  const months = new Set<MonthIndex>();
  const prefix = `${table}_p`;
  for (const { name } of rows) {
    const digits = String(name).startsWith(prefix) ? String(name).slice(prefix.length) : '';
    if (/^\d{6}$/.test(digits)) months.add(Number(digits.slice(0, 4)) * 12 + Number(digits.slice(4)) - 1);
  }
  return months;
}

/**
 * Creates the default partition and the month partitions `from..to` (inclusive) that are missing. Must
 * run inside a transaction (the advisory lock is transaction-scoped). A month whose rows already sit in
 * the default partition (written before the month was created, e.g. a clock far ahead or an app down for
 * months) cannot simply be created: PostgreSQL refuses a partition whose range the default holds. Such
 * rows are moved: the month is built as a plain table, filled from the default, then attached. Inserts
 * into the default wait meanwhile (SHARE ROW EXCLUSIVE), so none can slip in between. Every new month
 * goes this way (CREATE + ATTACH): ATTACH takes a weaker lock on the ledger than CREATE ... PARTITION OF,
 * so writers into other months never wait. Returns the partitions created.
 */
export async function ensurePartitions(q: SqlQueryable, table: string, schema: string | undefined, from: MonthIndex, to: MonthIndex): Promise<string[]> {
  const ledger = qualifiedName(table, schema);
  const def = qualifiedName(defaultPartitionName(table), schema);
  const have = await existingMonths(q, table, schema);
  const missing: MonthIndex[] = [];
  for (let m = from; m <= to; m++) if (!have.has(m)) missing.push(m);
  const [hasDefault] = rowsOf(await q.query(`SELECT to_regclass($1::text) IS NOT NULL AS present`, [def]));
  if (missing.length === 0 && hasDefault?.present) return [];
  await q.query(`SELECT pg_advisory_xact_lock($1::bigint)`, [partitionLockKey(table, schema)]);
  await q.query(`CREATE TABLE IF NOT EXISTS ${def} PARTITION OF ${ledger} DEFAULT`);
  // Another process may have made some while we waited for the lock.
  const now = await existingMonths(q, table, schema);
  const created: string[] = [];
  for (const m of missing.filter((x) => !now.has(x))) {
    const name = partitionName(table, m);
    const part = qualifiedName(name, schema);
    const range = `recorded_at >= ${bound(m)} AND recorded_at < ${bound(m + 1)}`;
    await q.query(`LOCK TABLE ${def} IN SHARE ROW EXCLUSIVE MODE`);
    await q.query(`CREATE TABLE ${part} (LIKE ${ledger} INCLUDING DEFAULTS INCLUDING STORAGE)`);
    await q.query(`WITH moved AS (DELETE FROM ${def} WHERE ${range} RETURNING *) INSERT INTO ${part} SELECT * FROM moved`);
    // The CHECK lets ATTACH skip its validation scan of the new table; it is redundant afterwards.
    const check = quoteIdent(`${name}_bounds`);
    await q.query(`ALTER TABLE ${part} ADD CONSTRAINT ${check} CHECK (${range})`);
    await q.query(`ALTER TABLE ${ledger} ATTACH PARTITION ${part} FOR VALUES FROM (${bound(m)}) TO (${bound(m + 1)})`);
    await q.query(`ALTER TABLE ${part} DROP CONSTRAINT ${check}`);
    created.push(name);
  }
  return created;
}

/**
 * Retention: drops every month partition whose month ended before `cutoff` (a month start), and deletes
 * the default partition's rows older than it (the default is meant to stay nearly empty). Whole tables,
 * no DELETE over the ledger: instant and leaves no bloat. Returns the partitions dropped.
 */
export async function dropPartitionsBefore(q: SqlQueryable, table: string, schema: string | undefined, cutoff: MonthIndex): Promise<string[]> {
  const old = [...(await existingMonths(q, table, schema))].filter((m) => m < cutoff).sort((a, b) => a - b);
  const dropped: string[] = [];
  if (old.length) await q.query(`SELECT pg_advisory_xact_lock($1::bigint)`, [partitionLockKey(table, schema)]);
  for (const m of old) {
    const name = partitionName(table, m);
    await q.query(`DROP TABLE IF EXISTS ${qualifiedName(name, schema)}`);
    dropped.push(name);
  }
  const def = qualifiedName(defaultPartitionName(table), schema);
  const [row] = rowsOf(await q.query(`SELECT to_regclass($1::text) IS NOT NULL AS present`, [def]));
  if (row?.present) await q.query(`DELETE FROM ${def} WHERE recorded_at < ${bound(cutoff)}`);
  return dropped;
}
