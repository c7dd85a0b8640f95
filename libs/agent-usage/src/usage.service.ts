import { Inject, Injectable } from '@nestjs/common';
import type { UsageRecord, UsageRecordInput } from './interfaces/usage-record.interface';
import type { UsageStorageStats } from './interfaces/usage-storage.interface';
import type { UsageTrackingModuleOptions } from './interfaces/usage-tracking-options.interface';
import { MAX_ATTRIBUTION_LENGTH, USAGE_TRACKING_OPTIONS } from './common/usage-tracking.constants';
import { InvalidUsageInputError } from './common/usage.errors';
import { UsageRecorder, UsageRecorderStats } from './record/usage.recorder';
import { UsageStorageRegistry } from './storage/usage-storage.registry';
import { UsageReader, UsageStorageReader } from './storage/usage-storage.reader';
import { UsageAttribution, UsageContextState, usageContextStorage } from './context/usage-context';
import type { UsageDeadLetter } from './storage/usage-dead-letters';
import type { UsageBudgetStatus, UsageBudgetStatusQuery } from './budgets/budget-options.interface';
import { UsageBudgetService } from './budgets/budget.service';
import { UsageAnalyticsService } from './analytics/usage-analytics.service';
import type {
  UsageAnalytics,
  UsageAnalyticsQuery,
  UsageBreakdown,
  UsageBreakdownGroup,
  UsageFleet,
  UsageInvoice,
  UsageInvoiceQuery,
  UsageRangeQuery,
  UsageRecommendations,
  UsageSpendLogs,
  UsageSpendLogsQuery,
  UsageSummary,
} from './analytics/analytics.interfaces';
import { UsageRuntimeAlerts } from './budgets/runtime/runtime-alerts.service';
import type { UsageAlert, UsageAlertInput } from './budgets/runtime/runtime-alert.interface';

/**
 * The public API: record usage explicitly, set attribution for a call chain, switch tracking for a
 * chain, and answer questions over the recorded data.
 */
@Injectable()
export class UsageService extends UsageStorageReader {
  constructor(
    @Inject(USAGE_TRACKING_OPTIONS) private readonly moduleOptions: UsageTrackingModuleOptions,
    private readonly recorder: UsageRecorder,
    private readonly storages: UsageStorageRegistry,
    private readonly budgets: UsageBudgetService,
    private readonly analytics: UsageAnalyticsService,
    private readonly alerts: UsageRuntimeAlerts,
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
    for (const key of ['userId', 'group', 'chatName', 'agentName', 'runId', 'category'] as const) {
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
    return new UsageStorageReader(this.storages, name, this.moduleOptions);
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
    return this.budgets.getStatus(query);
  }

  // ---- analytics (analytics/): periods and days in the module's time zone, money exact ----

  /** Spend, operations, tokens, average cost, success rate and top models of a period or days. */
  getUsageSummary(query: UsageRangeQuery = {}): Promise<UsageSummary> {
    return this.analytics.getUsageSummary(query);
  }

  /** Cost, calls, tokens, average and share per model, agent, user, group, provider or category. */
  getUsageBreakdown(groupBy: UsageBreakdownGroup, query: UsageRangeQuery = {}): Promise<UsageBreakdown> {
    return this.analytics.getUsageBreakdown(groupBy, query);
  }

  /** Every day of the range (zeros included), its summary, the hourly pattern and per-agent/model series. */
  getUsageAnalytics(query: UsageAnalyticsQuery = {}): Promise<UsageAnalytics> {
    return this.analytics.getUsageAnalytics(query);
  }

  /** Per agent: spend, operations, cost budget, status (LOW/NORMAL/WARNING/CRITICAL) and projection. */
  getFleet(query: UsageRangeQuery = {}): Promise<UsageFleet> {
    return this.analytics.getFleet(query);
  }

  /** Records newest first with their cost, a keyset-cursor page at a time. */
  getSpendLogs(query: UsageSpendLogsQuery = {}): Promise<UsageSpendLogs> {
    return this.analytics.getSpendLogs(query);
  }

  /** Every record of the range, newest first, paged through the store (bounded memory). */
  exportUsage(query: UsageRangeQuery = {}): AsyncIterable<UsageRecord> {
    return this.analytics.exportUsage(query);
  }

  /** A month's invoice: lines per category (per model for chat), volume discount, exact totals. */
  getInvoice(query: UsageInvoiceQuery): Promise<UsageInvoice> {
    return this.analytics.getInvoice(query);
  }

  /** Savings computed from the usage and the price table: cheaper models, prompt caching, failing agents. */
  getRecommendations(query: UsageRangeQuery = {}): Promise<UsageRecommendations> {
    return this.analytics.getRecommendations(query);
  }

  // ---- runtime alerts (budgets/runtime/) ----

  /**
   * Creates a runtime alert: a budget of one scope value (an agent, a user...) with levels that call a
   * webhook and/or pause the agent, stored in PostgreSQL, else Redis, else this instance's memory, and
   * enforced by every instance within `scheduler.runtimeRefreshMs`.
   * @throws InvalidUsageInputError naming the bad field; nothing is stored then.
   */
  createAlert(input: UsageAlertInput): Promise<UsageAlert> {
    return this.alerts.create(input);
  }

  /** Every runtime alert, oldest first, with `paused` true while a `pause_agent` level holds its scope value. */
  listAlerts(): Promise<UsageAlert[]> {
    return this.alerts.list();
  }

  /** Deletes a runtime alert (and its pause) on every instance; false when there was no such alert. */
  deleteAlert(id: string): Promise<boolean> {
    return this.alerts.delete(id);
  }
}
