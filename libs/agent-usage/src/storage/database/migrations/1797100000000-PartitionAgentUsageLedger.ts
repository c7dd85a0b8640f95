import type { MigrationInterface, QueryRunner } from 'typeorm';
import { InvalidUsageOptionsError } from '../../../common/usage.errors';
import { resolveTableNames } from '../database-storage.options';
import { LEDGER_COLUMNS, indexName, qualifiedName, quoteIdent, type SqlQueryable } from '../usage-sql.builder';
import { rowsOf } from '../usage-sql.rows';
import { DEFAULT_MONTHS_AHEAD, createAgentUsageTables, lockKey } from '../schema/agent-usage.schema';
import { ledgerTableSql } from '../schema/ledger.schema';
import { ensurePartitions, isPartitioned, monthIndexOf, monthStart, partitionLockKey } from '../schema/ledger-partitions';
import { inTransaction, type AgentUsageMigrationOptions } from './1795377442016-CreateAgentUsageTables';

const NAME = 'PartitionAgentUsageLedger1797100000000';
const COLUMNS = LEDGER_COLUMNS.map((c) => c.column).join(', ');

export interface AgentUsagePartitionsMigrationOptions extends AgentUsageMigrationOptions {
  /** Months created ahead of the current UTC month. Default 2 (the driver keeps creating them afterwards). */
  monthsAhead?: number;
}

/**
 * Moves `table` out of the way under `aside`: its own indexes are dropped (the table is dropped once its
 * rows are copied, and their names belong to the new table) and its primary key constraint renamed.
 * Indexes a host added by hand go with it: recreate them on the new ledger.
 */
async function setAside(q: SqlQueryable, table: string, schema: string | undefined, aside: string): Promise<void> {
  const ledger = qualifiedName(table, schema);
  await q.query(`LOCK TABLE ${ledger} IN ACCESS EXCLUSIVE MODE`);
  const indexes = rowsOf(
    await q.query(`SELECT indexrelid::regclass::text AS name FROM pg_index WHERE indrelid = to_regclass($1::text) AND NOT indisprimary`, [ledger]),
  );
  for (const { name } of indexes) await q.query(`DROP INDEX ${name}`);
  await q.query(`ALTER TABLE ${ledger} RENAME TO ${quoteIdent(aside)}`);
  await q.query(`ALTER TABLE ${qualifiedName(aside, schema)} RENAME CONSTRAINT ${quoteIdent(indexName(table, 'pkey'))} TO ${quoteIdent(indexName(aside, 'pkey'))}`);
}

/** Copies every row of `from` into `to` (month by month: one bounded statement each) and checks the count. */
async function copyRows(q: SqlQueryable, from: string, to: string, conflict: string): Promise<number> {
  const [span] = rowsOf(await q.query(`SELECT min(recorded_at) AS lo, max(recorded_at) AS hi, count(*)::text AS n FROM ${from}`));
  const expected = Number(span?.n ?? 0);
  let copied = 0;
  if (expected > 0) {
    for (let m = monthIndexOf(new Date(span.lo)); m <= monthIndexOf(new Date(span.hi)); m++) {
      const rows = rowsOf(
        await q.query(
          `WITH c AS (INSERT INTO ${to} (${COLUMNS}) SELECT ${COLUMNS} FROM ${from} WHERE recorded_at >= $1 AND recorded_at < $2 ${conflict} RETURNING 1)
           SELECT count(*)::text AS n FROM c`,
          [monthStart(m).toISOString(), monthStart(m + 1).toISOString()],
        ),
      );
      copied += Number(rows[0]?.n ?? 0);
    }
  }
  if (copied !== expected) {
    throw new Error(`${NAME}: copied ${copied} of ${expected} ledger rows from ${from} to ${to}; nothing was changed (rolled back)`);
  }
  return copied;
}

/**
 * Converts an existing plain ledger to the partitioned layout (monthly partitions on UTC months of
 * recorded_at, primary key (record_id, recorded_at), a DEFAULT partition): the old table is set aside,
 * the partitioned one created with partitions for every month of the existing rows plus `monthsAhead`,
 * rows copied month by month (the count is checked), indexes built by the new table's DDL, the old
 * table dropped. One transaction: writers wait (ACCESS EXCLUSIVE on the ledger) and a failure changes
 * nothing. Rollups are untouched (same rows). Takes time proportional to the ledger (a copy): plan a
 * window for large ledgers. On a missing ledger it creates every table; on a partitioned one it only
 * adds missing partitions.
 *
 * `down` converts back to a plain ledger keyed by record_id; it refuses (and changes nothing) when the
 * same id is stored at two different times, which the plain layout cannot hold.
 */
export function createAgentUsagePartitionsMigration(options: AgentUsagePartitionsMigrationOptions = {}): new () => MigrationInterface {
  const names = resolveTableNames(options);
  const { tableName: table, schema } = names;
  const timeZone = options.timeZone ?? 'UTC';
  const ahead = options.monthsAhead ?? DEFAULT_MONTHS_AHEAD;
  const name = options.name ?? (table === 'agent_usage_records' && !schema ? NAME : `PartitionAgentUsageLedger_${schema ? `${schema}_` : ''}${table}_1797100000000`);
  if (!/\d{13}$/.test(name)) throw new InvalidUsageOptionsError([`migration name must end in a 13-digit timestamp; got "${name}"`]);
  const ledger = qualifiedName(table, schema);
  const aside = indexName(table, 'unpartitioned');
  return class implements MigrationInterface {
    readonly name = name;
    async up(queryRunner: QueryRunner): Promise<void> {
      await inTransaction(queryRunner, async (q) => {
        // The schema lock, then the partitions' lock: the order a booting driver takes them in (no deadlock).
        await q.query(`SELECT pg_advisory_xact_lock($1::bigint)`, [lockKey(names)]);
        await q.query(`SELECT pg_advisory_xact_lock($1::bigint)`, [partitionLockKey(table, schema)]);
        const existed = rowsOf(await q.query(`SELECT to_regclass($1::text) IS NOT NULL AS present`, [ledger]))[0]?.present === true;
        if (existed && !(await isPartitioned(q, table, schema))) {
          // Bring a ledger of any earlier version to this version's columns first (idempotent), as plain.
          await createAgentUsageTables(q, names, timeZone, { partitioning: { enabled: false } });
          await setAside(q, table, schema, aside);
          for (const statement of ledgerTableSql(table, schema, true)) await q.query(statement);
          const [span] = rowsOf(await q.query(`SELECT min(recorded_at) AS lo, max(recorded_at) AS hi FROM ${qualifiedName(aside, schema)}`));
          const now = monthIndexOf(new Date());
          const first = span?.lo ? Math.min(monthIndexOf(new Date(span.lo)), now) : now;
          const last = span?.hi ? Math.max(monthIndexOf(new Date(span.hi)), now + ahead) : now + ahead;
          await ensurePartitions(q, table, schema, first, last);
          await copyRows(q, qualifiedName(aside, schema), ledger, '');
          await q.query(`DROP TABLE ${qualifiedName(aside, schema)}`);
        }
        // A new install, or the rest of an upgrade (rollups, partitions ahead): the driver's idempotent DDL.
        await createAgentUsageTables(q, names, timeZone, { partitioning: { enabled: true, monthsAhead: ahead } });
      });
    }
    async down(queryRunner: QueryRunner): Promise<void> {
      await inTransaction(queryRunner, async (q) => {
        await q.query(`SELECT pg_advisory_xact_lock($1::bigint)`, [lockKey(names)]);
        await q.query(`SELECT pg_advisory_xact_lock($1::bigint)`, [partitionLockKey(table, schema)]);
        if (!(await isPartitioned(q, table, schema))) return;
        await setAside(q, table, schema, aside);
        for (const statement of ledgerTableSql(table, schema, false)) await q.query(statement);
        await copyRows(q, qualifiedName(aside, schema), ledger, 'ON CONFLICT (record_id) DO NOTHING');
        await q.query(`DROP TABLE ${qualifiedName(aside, schema)}`);
      });
    }
  };
}

/** The conversion for the default table names; add it after the migrations you already run. */
export class PartitionAgentUsageLedger1797100000000 extends createAgentUsagePartitionsMigration() {}
