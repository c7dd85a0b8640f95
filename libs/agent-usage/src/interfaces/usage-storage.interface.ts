import type { LoggerService } from '@nestjs/common';
import type { ModuleRef } from '@nestjs/core';
import type {
  NormalizedUsageFilters,
  RawUsageGroup,
  RawUsageTotals,
  UsageDimension,
  UsageIdentity,
} from './usage-query.interface';
import type { UsageRecord } from './usage-record.interface';
import type { UsageTrackingModuleOptions } from './usage-tracking-options.interface';

/** Handed to a driver once, before its first write. */
export interface UsageStorageContext {
  /** The name this driver is registered under (its alias, or the class name). */
  name: string;
  /** IANA time zone that defines a "day" and an "hour" for day filters and group-bys. */
  timeZone: string;
  logger: LoggerService;
  /** The host app's container, to reach e.g. a TypeORM DataSource or an existing Redis client. */
  moduleRef: ModuleRef;
  options: UsageTrackingModuleOptions;
}

/**
 * A storage driver. Implement it to keep usage anywhere; run `runStorageConformance` (test/) on it.
 *
 * Contract:
 * - `write` stores a batch durably and is idempotent on `record.id` (a retried batch never double counts).
 *   It is called off the agent's call path by the library's buffered writer, never concurrently with
 *   itself for one driver instance. Throwing means "nothing of this batch is guaranteed stored": the
 *   writer retries the whole batch later.
 * - Reads answer in the store (SQL, Redis structures, a bounded scan of files): never load everything.
 * - `clear` with empty filters removes everything (the service guards that case).
 * - Attribution filters (`runId` and `errorType` included) match any value of their list; `from` is
 *   inclusive and `to` exclusive.
 * - `runCount` / `agentRunCount` count the matching records with `runStart` / `agentRunStart` set: plain
 *   sums like the token counts (the recorder marks each run's and each agent's first record).
 * - Group keys: attribution value (or null); `day` as `YYYY-MM-DD`, `hour` as `YYYY-MM-DDTHH`, both in
 *   `context.timeZone`.
 * - `list` orders by `recordedAt` descending, then `id` descending.
 */
export interface UsageStorage {
  /** Records per `write` this driver works best with; `writer.batchSize` in the options wins. */
  readonly writeBatchSize?: number;
  /**
   * True when the store writes to local disk the way the spool does (the file driver): records waiting
   * behind a slow write are then not copied to the spool, which would only write them to the same disk a
   * second time (and read them back later) while the store is already falling behind. The buffer bound
   * (`maxBufferedRecords`) and the store-down path still spool.
   */
  readonly localDisk?: boolean;
  init?(context: UsageStorageContext): Promise<void> | void;
  write(records: readonly UsageRecord[]): Promise<void>;
  list(filters: NormalizedUsageFilters, limit: number, offset: number): Promise<UsageRecord[]>;
  aggregate(filters: NormalizedUsageFilters): Promise<RawUsageTotals>;
  groupBy(dimension: UsageDimension, filters: NormalizedUsageFilters): Promise<RawUsageGroup[]>;
  identities(filters: NormalizedUsageFilters): Promise<UsageIdentity[]>;
  /** Removes matching records; returns how many. */
  clear(filters: NormalizedUsageFilters): Promise<number>;
  /** Release connections this driver opened itself (never the host's). */
  close?(): Promise<void>;
  /**
   * True when `error` (thrown by `write`) means the store refuses this data, so writing the same
   * records again fails again (e.g. PostgreSQL SQLSTATE class 22 or 23). The writer then splits the
   * batch, stores the others and dead-letters the refused records. Anything else (connection lost, server
   * busy, disk full) must answer false: those are retried and spooled, never dead-lettered.
   * Without this method nothing is ever dead-lettered.
   */
  isDataError?(error: unknown): boolean;
  /**
   * Where this driver writes, without credentials (e.g. `postgres://db:5432/app#public.agent_usage_records`),
   * once `init` ran. Names its spool folder, so records spooled for one store are only ever replayed into it.
   */
  target?(): string | undefined;
}

/** A driver class; it is instantiated through the host's injector, so it may inject providers. */
export type UsageStorageClass = new (...args: any[]) => UsageStorage;

/** How `storage` may name a driver: an alias, a class, or an instance. */
export type UsageStorageSpec = string | UsageStorageClass | UsageStorage;

/** Health of one driver's write path. */
export interface UsageStorageStats {
  name: string;
  /** Records accepted but not yet stored (in memory and in the spool). */
  pending: number;
  /** Of `pending`, those spilled to the local spool file. */
  spooled: number;
  /** Records stored since start. */
  written: number;
  /** Failed write attempts since start (each is retried). */
  failedWrites: number;
  /** Records that could not be kept at all (spool unwritable); always logged. */
  lost: number;
  /** Records the store refused (data error) that wait in its dead-letter file; see `UsageService.deadLetters()`. */
  deadLettered: number;
  lastError: string | null;
}
