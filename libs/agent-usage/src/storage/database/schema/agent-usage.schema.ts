import { resolveTableNames, type UsageTableNames } from '../database-storage.options';
import { advisoryLockKey, AGENT_ROLLUP, HOUR_ROLLUP, HOUR_TOTAL_ROLLUP, qualifiedName, quoteIdent, SqlQueryable, USER_ROLLUP } from '../usage-sql.builder';
import { rowsOf } from '../usage-sql.rows';
import { alertsLockKey, alertsTableSql } from './alerts.schema';
import { ledgerTableSql } from './ledger.schema';
import { MONTHS_BEHIND, PARTITIONED_LEDGER_NAME_MAX, ensurePartitions, isPartitioned, monthIndexOf } from './ledger-partitions';
import { InvalidUsageOptionsError } from '../../../common/usage.errors';
import {
  fillRollups,
  readMarker,
  rollupComment,
  rollupKeyUpgradeSql,
  rollupTableSql,
  rollupTables,
  writeRollupTimeZone,
} from './rollup.schema';

/**
 * The library's tables, defined once: the shipped migrations and the driver's `autoMigrate` both run
 * `createAgentUsageTables`. Table names come from validated options only.
 */

/** Signed 64-bit advisory lock key per table set, so concurrent boots run the DDL one at a time. */
export function lockKey(names: UsageTableNames): string {
  return advisoryLockKey('nestjs-agent-usage', names.tableName, names.schema);
}

/** Idempotent DDL of every table: the ledger, the (agent) daily rollup, the per-user and hourly rollups, the alerts table. */
export function agentUsageTablesSql(names: UsageTableNames, partitioned = true): {
  ledger: string[];
  rollup: string[];
  userRollup: string[];
  hourRollup: string[];
  hourTotalRollup: string[];
  alerts: string[];
} {
  const n = resolveTableNames(names);
  return {
    ledger: ledgerTableSql(n.tableName, n.schema, partitioned),
    rollup: rollupTableSql(n.rollupTableName, AGENT_ROLLUP, n.schema),
    userRollup: rollupTableSql(n.userRollupTableName, USER_ROLLUP, n.schema),
    hourRollup: rollupTableSql(n.hourRollupTableName, HOUR_ROLLUP, n.schema),
    hourTotalRollup: rollupTableSql(n.hourTotalRollupTableName, HOUR_TOTAL_ROLLUP, n.schema),
    alerts: alertsTableSql(n.alertsTableName, n.schema),
  };
}

/**
 * Creates the tables and their indexes when missing (the alerts table unless `alerts` is false). Safe to
 * run any number of times and from several processes at once (advisory locks serialize them inside the
 * caller's transaction). A rollup created next to an existing ledger is filled from it; a daily rollup
 * left by an earlier version (keyed by user too) is replaced by the narrow ones; tables made before
 * categories gain `category` ("chat") and `units` in place, the rollups' keys gain `category`.
 */
/** How a new ledger is laid out: partitioned by UTC month (default), with this many months created ahead. */
export interface LedgerPartitioning {
  enabled?: boolean;
  monthsAhead?: number;
}

export const DEFAULT_MONTHS_AHEAD = 2;

export async function createAgentUsageTables(
  q: SqlQueryable,
  names: UsageTableNames,
  timeZone = 'UTC',
  { alerts = true, partitioning = {} as LedgerPartitioning } = {},
): Promise<void> {
  const n = resolveTableNames(names);
  const partitioned = partitioning.enabled !== false;
  if (partitioned && n.tableName.length > PARTITIONED_LEDGER_NAME_MAX) {
    throw new InvalidUsageOptionsError([
      `tableName must be at most ${PARTITIONED_LEDGER_NAME_MAX} characters when the ledger is partitioned (its partitions are named <tableName>_pYYYYMM and <tableName>_pdefault); got "${n.tableName}"`,
    ]);
  }
  rollupComment(timeZone);
  await q.query(`SELECT pg_advisory_xact_lock($1::bigint)`, [lockKey(n)]);
  if (n.schema) await q.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(n.schema)}`);
  const rollup = qualifiedName(n.rollupTableName, n.schema);
  const [state] = rowsOf(
    await q.query(
      `SELECT to_regclass($1::text) IS NOT NULL AS rollup, to_regclass($2::text) IS NOT NULL AS user_rollup,
         to_regclass($3::text) IS NOT NULL AS hour_rollup, to_regclass($4::text) IS NOT NULL AS hour_total_rollup,
         EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($1::text) AND attname = 'user_id' AND NOT attisdropped) AS wide`,
      [rollup, qualifiedName(n.userRollupTableName, n.schema), qualifiedName(n.hourRollupTableName, n.schema), qualifiedName(n.hourTotalRollupTableName, n.schema)],
    ),
  );
  // The single wide rollup of earlier versions: derived data only, rebuilt below from the ledger (in the
  // time zone it was kept in, which is the one the app uses).
  const wideZone = state?.wide ? await readMarker(q, n.rollupTableName, n.schema) : null;
  if (state?.wide) await q.query(`DROP TABLE ${rollup}`);
  const sql = agentUsageTablesSql(n, partitioned);
  for (const statement of [...sql.ledger, ...sql.rollup, ...sql.userRollup, ...sql.hourRollup, ...sql.hourTotalRollup]) await q.query(statement);
  // A ledger of an earlier version stays a plain table (the partitioning migration converts it).
  if (await isPartitioned(q, n.tableName, n.schema)) {
    const now = monthIndexOf(new Date());
    await ensurePartitions(q, n.tableName, n.schema, now - MONTHS_BEHIND, now + (partitioning.monthsAhead ?? DEFAULT_MONTHS_AHEAD));
  }
  // Rollups made before categories: the key gains `category` (its index, and so the zone marker, is rebuilt).
  for (const { layout, table } of rollupTables(n)) {
    const upgrade = await rollupKeyUpgradeSql(q, table, layout, n.schema);
    if (!upgrade) continue;
    const zone = await readMarker(q, table, n.schema);
    await q.query(upgrade);
    if (zone) await writeRollupTimeZone(q, n, zone, [table]);
  }
  if (alerts) {
    // Shared by every table set of the app (and created by the threshold job too): its own lock.
    await q.query(`SELECT pg_advisory_xact_lock($1::bigint)`, [alertsLockKey(n.alertsTableName, n.schema)]);
    for (const statement of sql.alerts) await q.query(statement);
  }
  const created = [
    ...(state?.rollup && !state?.wide ? [] : [n.rollupTableName]),
    ...(state?.user_rollup ? [] : [n.userRollupTableName]),
    ...(state?.hour_rollup ? [] : [n.hourRollupTableName]),
    ...(state?.hour_total_rollup ? [] : [n.hourTotalRollupTableName]),
  ];
  if (created.length) {
    // A new rollup next to an existing ledger (e.g. dropped, or added by an upgrade) must start from the
    // ledger's sums, in the zone of a rollup that is kept (so the two agree) or of the one it replaces;
    // SHARE keeps inserts out until the transaction commits.
    const kept = rollupTables(n).find(({ table }) => !created.includes(table));
    const zone = (kept && (await readMarker(q, kept.table, n.schema))) || wideZone || timeZone;
    await q.query(`LOCK TABLE ${qualifiedName(n.tableName, n.schema)} IN SHARE MODE`);
    await fillRollups(q, n, zone, created);
    await writeRollupTimeZone(q, n, zone, created);
  }
}

/** Drops the ledger and every rollup (and the alerts table unless `alerts` is false). */
export async function dropAgentUsageTables(q: SqlQueryable, names: UsageTableNames, { alerts = true } = {}): Promise<void> {
  const n = resolveTableNames(names);
  if (alerts) await q.query(`DROP TABLE IF EXISTS ${qualifiedName(n.alertsTableName, n.schema)}`);
  for (const { table } of rollupTables(n)) await q.query(`DROP TABLE IF EXISTS ${qualifiedName(table, n.schema)}`);
  await q.query(`DROP TABLE IF EXISTS ${qualifiedName(n.tableName, n.schema)}`);
}
