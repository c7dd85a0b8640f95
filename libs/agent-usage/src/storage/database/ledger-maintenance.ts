import type { LoggerService } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { describe } from '../../common/usage.errors';
import type { DatabaseStorageOptions, ResolvedUsageTableNames } from './database-storage.options';
import { DEFAULT_MONTHS_AHEAD } from './schema/agent-usage.schema';
import { MONTHS_BEHIND, PARTITIONED_LEDGER_NAME_MAX, dropPartitionsBefore, ensurePartitions, isPartitioned, monthIndexOf, monthStart } from './schema/ledger-partitions';
import { rollupTables } from './schema/rollup.schema';
import { qualifiedName } from './usage-sql.builder';
import { rowsOf } from './usage-sql.rows';
import { transaction } from './database.retry';

/**
 * The driver's own housekeeping of the ledger's partitions and of retention, run at boot and then every
 * `MAINTENANCE_INTERVAL_MS` on a timer (never on the write path). Every step is idempotent and serialized
 * across app instances by an advisory lock, so any number of instances may run it at once.
 */

/** Hourly: with months created `monthsAhead` ahead, a month boundary is always covered long before it comes. */
export const MAINTENANCE_INTERVAL_MS = 3_600_000;
const MAX_MONTHS_AHEAD = 24;
const LOCK_TIMEOUT_MS = 5000;

const isWhole = (v: unknown, min: number, max = Number.MAX_SAFE_INTEGER): boolean => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;

/** Problems with the partitioning and retention options, each naming its field (empty when fine). */
export function partitionOptionProblems(o: DatabaseStorageOptions): string[] {
  const problems: string[] = [];
  const p = o.partitioning;
  if (p !== undefined) {
    if (p === null || typeof p !== 'object') problems.push(`database.partitioning must be an object { enabled?, monthsAhead? }; got ${describe(p)}`);
    else {
      if (p.enabled !== undefined && typeof p.enabled !== 'boolean') problems.push(`database.partitioning.enabled must be a boolean; got ${describe(p.enabled)}`);
      if (p.monthsAhead !== undefined && !isWhole(p.monthsAhead, 0, MAX_MONTHS_AHEAD)) {
        problems.push(`database.partitioning.monthsAhead must be a whole number from 0 to ${MAX_MONTHS_AHEAD}; got ${describe(p.monthsAhead)}`);
      }
    }
  }
  for (const field of ['retentionMonths', 'rollupRetentionMonths'] as const) {
    if (o[field] !== undefined && !isWhole(o[field], 1)) problems.push(`database.${field} must be a whole number of months (>= 1); got ${describe(o[field])}`);
  }
  if (isWhole(o.retentionMonths, 1) && isWhole(o.rollupRetentionMonths, 1) && o.rollupRetentionMonths! < o.retentionMonths!) {
    problems.push(`database.rollupRetentionMonths (${o.rollupRetentionMonths}) must be >= retentionMonths (${o.retentionMonths}): the rollups are the long-term record`);
  }
  if (o.retentionMonths !== undefined && p?.enabled === false) {
    problems.push('database.retentionMonths needs a partitioned ledger (it drops whole month partitions); remove it or drop partitioning.enabled: false');
  }
  const table = o.tableName ?? 'agent_usage_records';
  if (p?.enabled !== false && table.length > PARTITIONED_LEDGER_NAME_MAX) {
    problems.push(`database.tableName must be at most ${PARTITIONED_LEDGER_NAME_MAX} characters for a partitioned ledger (partitions are <tableName>_pYYYYMM, <tableName>_pdefault); got "${table}"`);
  }
  return problems;
}

export interface MaintenanceResult {
  partitioned: boolean;
  created: string[];
  dropped: string[];
  /** Rollup rows deleted by `rollupRetentionMonths`. */
  rollupRowsDeleted: number;
}

/**
 * One maintenance pass at `now`: month partitions from the previous month to `monthsAhead` ahead, then
 * ledger retention (whole partitions) and rollup retention (rows by day). A plain (unpartitioned) ledger
 * gets rollup retention only, and `retentionMonths` is reported as not applicable by the caller.
 */
export async function maintainLedger(
  ds: DataSource,
  names: ResolvedUsageTableNames,
  o: DatabaseStorageOptions,
  now = new Date(),
  onRetry?: () => void,
  logger?: LoggerService,
): Promise<MaintenanceResult> {
  const current = monthIndexOf(now);
  const result = await transaction(
    ds,
    async (q) => {
      // ATTACH and DROP wait for locks behind long readers of the ledger, and queue new readers behind
      // them: give up after a few seconds instead (the next pass retries; the default partition meanwhile).
      await q.query(`SET LOCAL lock_timeout = '${LOCK_TIMEOUT_MS}ms'`);
      const partitioned = await isPartitioned(q, names.tableName, names.schema);
      const result: MaintenanceResult = { partitioned, created: [], dropped: [], rollupRowsDeleted: 0 };
      if (partitioned) {
        const ahead = o.partitioning?.monthsAhead ?? DEFAULT_MONTHS_AHEAD;
        result.created = await ensurePartitions(q, names.tableName, names.schema, current - MONTHS_BEHIND, current + ahead);
        if (o.retentionMonths) result.dropped = await dropPartitionsBefore(q, names.tableName, names.schema, current - o.retentionMonths);
      }
      if (o.rollupRetentionMonths) {
        // Rollup days are local dates; the cut is the first day of a month, compared as a date.
        const cutDay = monthStart(current - o.rollupRetentionMonths).toISOString().slice(0, 10);
        for (const { layout, table } of rollupTables(names)) {
          const column = layout.time === 'hour' ? `hour < $1::date` : `day < $1::date`;
          const sql = `WITH d AS (DELETE FROM ${qualifiedName(table, names.schema)} WHERE ${column} RETURNING 1) SELECT count(*)::int AS n FROM d`;
          result.rollupRowsDeleted += Number(rowsOf(await q.query(sql, [cutDay]))[0]?.n ?? 0);
        }
      }
      return result;
    },
    onRetry ?? (() => undefined),
  );
  const ledger = qualifiedName(names.tableName, names.schema);
  if (result.created.length) logger?.log?.(`created ledger partitions ${result.created.join(', ')}`);
  if (result.dropped.length) logger?.log?.(`retentionMonths ${o.retentionMonths}: dropped ledger partitions ${result.dropped.join(', ')}`);
  if (!result.partitioned && o.retentionMonths) {
    logger?.warn(`retentionMonths needs a partitioned ledger; ${ledger} is a plain table: add PartitionAgentUsageLedger1797100000000 (createAgentUsagePartitionsMigration) to your migrations`);
  }
  return result;
}

/**
 * The driver's schedule of passes: one right after connecting, not awaited (writes never wait for DDL:
 * rows of a month not made yet go to the default partition), then every `MAINTENANCE_INTERVAL_MS`. One
 * pass at a time; a failed pass is logged, not thrown. `stop()` waits for a pass in progress, so none
 * runs on a closed connection.
 */
export class MaintenanceSchedule {
  private timer: ReturnType<typeof setInterval> | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;

  constructor(
    private readonly pass: () => Promise<unknown>,
    private readonly logger: () => LoggerService,
  ) {}

  start(): void {
    if (this.stopped || this.timer) return;
    void this.run();
    // unref: it must not keep a finished process alive.
    this.timer = setInterval(() => void this.run(), MAINTENANCE_INTERVAL_MS);
    this.timer.unref?.();
  }

  private run(): Promise<void> {
    if (this.stopped || this.running) return this.running ?? Promise.resolve();
    this.running = this.pass()
      .then(() => undefined)
      .catch((err: Error) => this.logger().error(`ledger partition maintenance failed (${err.message}); retried in an hour`))
      .finally(() => (this.running = null));
    return this.running;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.running) await this.running;
  }
}
