import { Inject, Injectable } from '@nestjs/common';
import type {
  NormalizedUsageFilters,
  UsageDimension,
  UsageFilters,
  UsageGroup,
  UsageIdentity,
  UsagePage,
  UsagePageOptions,
  UsageTotals,
} from './interfaces/usage-query.interface';
import type { UsageRecord, UsageRecordInput } from './interfaces/usage-record.interface';
import type { UsageStorageStats } from './interfaces/usage-storage.interface';
import type { UsageTrackingModuleOptions } from './interfaces/usage-tracking-options.interface';
import { DEFAULT_PAGE_LIMIT, MAX_ATTRIBUTION_LENGTH, MAX_PAGE_LIMIT, USAGE_TRACKING_OPTIONS } from './usage-tracking.constants';
import { InvalidUsageInputError } from './usage.errors';
import { UsageRecorder, UsageRecorderStats } from './record/usage.recorder';
import { UsageStorageRegistry } from './storage/usage-storage.registry';
import type { UsageDeadLetter } from './storage/usage-dead-letters';
import { assertDimension, isEmptyFilter, normalizeFilters } from './query/usage-filters';
import { toTotals } from './query/usage-totals';
import { UsageAttribution, UsageContextState, usageContextStorage } from './capture/usage-context';
import type { UsageBudgetStatus, UsageBudgetStatusQuery } from './budgets/budget-options.interface';
import { budgetServiceFor } from './budgets/budget-service.ref';

export interface ClearUsageOptions {
  /** Must be true to clear with empty filters (everything). */
  all?: boolean;
}

/** Reads of one driver. `UsageService` reads the primary driver; `usage.storage(name)` any other. */
export class UsageReader {
  constructor(
    private readonly registry: UsageStorageRegistry,
    private readonly name: string,
    private readonly options: UsageTrackingModuleOptions,
  ) {}

  private get timeZone(): string {
    return this.options.timeZone ?? 'UTC';
  }

  /** Read-your-writes: this process's buffered records reach the store before it is asked. */
  private async prepare(filters: UsageFilters | undefined): Promise<NormalizedUsageFilters> {
    const f = normalizeFilters(filters, this.timeZone);
    if (this.options.consistentReads !== false) await this.registry.writer(this.name).flush();
    return f;
  }

  private get store() {
    return this.registry.writer(this.name).storage;
  }

  /** Records, newest first, a page at a time. */
  async getUsage(filters: UsageFilters & UsagePageOptions = {}): Promise<UsagePage> {
    const { limit = DEFAULT_PAGE_LIMIT, offset = 0, ...rest } = filters;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_LIMIT) {
      throw new InvalidUsageInputError('limit', `an integer from 1 to ${MAX_PAGE_LIMIT}`, limit);
    }
    if (!Number.isInteger(offset) || offset < 0) throw new InvalidUsageInputError('offset', 'a non-negative integer', offset);
    const f = await this.prepare(rest);
    const items = await this.store.list(f, limit + 1, offset);
    return { items: items.slice(0, limit), limit, offset, hasMore: items.length > limit };
  }

  /** Sums of every count, the cost and the record count. */
  async getUsageAggregate(filters?: UsageFilters): Promise<UsageTotals> {
    const f = await this.prepare(filters);
    return toTotals(await this.store.aggregate(f));
  }

  /** Totals per value of `dimension`, ordered by key (null last). */
  async getUsageGroupedBy(dimension: UsageDimension, filters?: UsageFilters): Promise<UsageGroup[]> {
    const d = assertDimension(dimension);
    const f = await this.prepare(filters);
    const groups = (await this.store.groupBy(d, f)).map((g) => ({ key: g.key, ...toTotals(g) }));
    return groups.sort((a, b) => (a.key === b.key ? 0 : a.key === null ? 1 : b.key === null ? -1 : a.key < b.key ? -1 : 1));
  }

  /** Distinct (agentName, userId, group, chatName) combinations that have usage. */
  async getUsageIdentities(filters?: UsageFilters): Promise<UsageIdentity[]> {
    const f = await this.prepare(filters);
    const key = (i: UsageIdentity) => JSON.stringify([i.agentName, i.userId, i.group, i.chatName]);
    return (await this.store.identities(f)).sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  }

  /** Deletes matching records; returns how many. Empty filters need `{ all: true }`. */
  async clearUsage(filters: UsageFilters = {}, options: ClearUsageOptions = {}): Promise<number> {
    const f = await this.prepare(filters);
    if (isEmptyFilter(f) && options.all !== true) {
      throw new InvalidUsageInputError('filters', 'at least one filter, or { all: true } as the second argument to clear everything', filters);
    }
    return this.store.clear(f);
  }
}

/**
 * The public API: record usage explicitly, set attribution for a call chain, switch tracking for a
 * chain, and answer questions over the recorded data.
 */
@Injectable()
export class UsageService extends UsageReader {
  constructor(
    @Inject(USAGE_TRACKING_OPTIONS) private readonly moduleOptions: UsageTrackingModuleOptions,
    private readonly recorder: UsageRecorder,
    private readonly storages: UsageStorageRegistry,
  ) {
    super(storages, storages.primary, moduleOptions);
  }

  /**
   * Records one model call now (synchronously: the write happens off the call path). Attribution
   * missing from `input` comes from the call chain. Returns null when tracking resolved to off.
   * @throws InvalidUsageInputError naming the bad field; nothing is stored then.
   */
  record(input: UsageRecordInput): UsageRecord | null {
    return this.recorder.record(input);
  }

  /** Records the model call(s) in a provider response (OpenAI, Anthropic, Gemini, Bedrock, `{ model, usage }`). */
  recordResponse<T>(response: T, extra?: UsageRecordInput): T {
    this.recorder.recordResponse(response, extra);
    return response;
  }

  /** Runs `fn` with this attribution for every record made inside it (nested contexts merge). */
  runWithContext<T>(attribution: UsageAttribution, fn: () => T): T {
    if (!attribution || typeof attribution !== 'object') throw new InvalidUsageInputError('attribution', 'an object', attribution);
    for (const key of ['userId', 'group', 'chatName', 'agentName', 'runId'] as const) {
      const v = attribution[key];
      if (v !== undefined && (typeof v !== 'string' || v.length === 0 || v.length > MAX_ATTRIBUTION_LENGTH)) {
        throw new InvalidUsageInputError(`attribution.${key}`, `a string of 1 to ${MAX_ATTRIBUTION_LENGTH} characters`, v);
      }
    }
    const parent = usageContextStorage.getStore();
    const state: UsageContextState = { ...parent, ...attribution };
    // A new run id opens that run; the same id keeps the current one (its first record is already marked).
    if (attribution.runId !== undefined && parent?.run?.id !== attribution.runId) state.run = this.recorder.namedRun(attribution.runId);
    return usageContextStorage.run(state, fn);
  }

  /** Turns tracking on or off for every call inside `fn`, beating every other setting. */
  withTracking<T>(enabled: boolean, fn: () => T): T {
    if (typeof enabled !== 'boolean') throw new InvalidUsageInputError('enabled', 'a boolean', enabled);
    const parent = usageContextStorage.getStore();
    return usageContextStorage.run({ ...parent, trackingOverride: enabled }, fn);
  }

  /** Reads of another configured driver (the service itself reads the first one). */
  storage(name: string): UsageReader {
    this.storages.writer(name); // validates the name now
    return new UsageReader(this.storages, name, this.moduleOptions);
  }

  /** Waits until every buffered record reached every driver (throws if a store is failing). */
  flush(): Promise<void> {
    return this.storages.flushAll();
  }

  /** Write-path health per driver: pending, spooled, written, failed writes, lost, last error. */
  getStorageStats(): UsageStorageStats[] {
    return this.storages.stats();
  }

  /**
   * Records a store refused as data (split out of their batch so the others were stored), with the
   * store's error, oldest first. `storage` defaults to the primary driver.
   */
  deadLetters(storage?: string, limit = 100): Promise<UsageDeadLetter[]> {
    if (!Number.isInteger(limit) || limit < 1) throw new InvalidUsageInputError('limit', 'a positive integer', limit);
    return this.storages.writer(storage ?? this.storages.primary).readDeadLetters(limit);
  }

  /**
   * Writes a store's dead letters again (once the store or its schema was fixed): stored ones leave the
   * dead-letter file, those still refused stay. Ids make it idempotent.
   */
  replayDeadLetters(storage?: string): Promise<{ replayed: number; deadLettered: number }> {
    return this.storages.writer(storage ?? this.storages.primary).replayDeadLetters();
  }

  getRecorderStats(): UsageRecorderStats {
    return { ...this.recorder.stats };
  }

  /**
   * Budgets in their current window: limit, used, remaining, percent, linear projection, resetAt, window
   * and metric. A budget name (every scope value with usage, for per-value budgets) or `{ name?, scope?, value? }`.
   */
  getBudgetStatus(query: UsageBudgetStatusQuery): Promise<UsageBudgetStatus[]> {
    return budgetServiceFor(this.recorder).getStatus(query);
  }
}
