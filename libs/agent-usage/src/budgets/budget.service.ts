import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import type { UsageRecord } from '../interfaces/usage-record.interface';
import type { UsageFilters, UsageTotals } from '../interfaces/usage-query.interface';
import type { UsageTrackingModuleOptions } from '../interfaces/usage-tracking-options.interface';
import { USAGE_TRACKING_OPTIONS } from '../common/usage-tracking.constants';
import { InvalidUsageInputError } from '../common/usage.errors';
import type { UsageCallInfo } from '../capture/tracked-call.invoker';
import { UsageStorageRegistry } from '../storage/usage-storage.registry';
import { UsageStorageReader } from '../storage/usage-storage.reader';
import { BudgetReservations } from './budget-reservation';
import { UsageBudgetCoordination } from './budget-coordination';
import { DEFAULT_ADMISSION_TIMEOUT_MS, DEFAULT_KEY_PREFIX, DEFAULT_RESERVATION_TTL_MS, USAGE_CLOCK } from './budget.constants';
import type {
  CompiledBudget,
  UsageBudgetStats,
  UsageBudgetStatus,
  UsageBudgetStatusQuery,
} from './budget-options.interface';
import { compileBudgets } from './budget-options.validator';
import { LocalBudgetCounters, SHARED } from './budget-counter.memory';
import { RedisBudgetCounter } from './budget-counter.redis';
import type { WindowBounds } from './budget-window.util';
import { budgetStatus, metricOfRecord, metricOfTotals } from './budget-status';
import { BudgetAdmission } from './budget-admission';
import { SCOPE_FIELD, budgetFilters, valueOf } from './budget-scope.util';

/**
 * Budgets: live counters fed by every record (`onRecord`), admission before tracked calls (`admit`, in
 * budget-admission.ts), and budget status, for configured budgets and runtime alerts. The recorder and
 * the invoker call them only when budgets (hard ones for `admit`) or runtime alerts are on.
 */
@Injectable()
export class UsageBudgetService implements OnModuleInit, OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('UsageBudgets');
  /** Configured (boot-time) budgets. */
  readonly budgets: CompiledBudget[];
  readonly hardBudgets: CompiledBudget[];
  /** Budgets made at run time (runtime alerts), as last loaded from the shared store. */
  runtime: CompiledBudget[] = [];
  /** Runtime alerts are on (`scheduler.runtimeAlerts`, default true): records and calls are watched for them. */
  readonly runtimeEnabled: boolean;
  private active: CompiledBudget[];
  private readonly byName: Map<string, CompiledBudget>;
  readonly timeZone: string;
  readonly stats: UsageBudgetStats = {
    refusedCalls: 0,
    thresholdsFired: 0,
    jobRuns: 0,
    jobErrors: 0,
    webhookDeliveries: 0,
    webhookRetries: 0,
    webhookFailures: 0,
    handlerErrors: 0,
    coordinationErrors: 0,
    lastRunAt: null,
  };
  private readonly local: LocalBudgetCounters;
  private readonly reservations = new BudgetReservations();
  private redis: RedisBudgetCounter | null = null;
  private readonly reader: UsageStorageReader;
  private clock: () => Date;
  private readonly admission: BudgetAdmission;
  private readonly ready: Promise<void>;
  private markReady!: () => void;

  constructor(
    @Inject(USAGE_TRACKING_OPTIONS) private readonly options: UsageTrackingModuleOptions,
    registry: UsageStorageRegistry,
    private readonly moduleRef: ModuleRef,
    /** Redis or PostgreSQL shared with the drivers (connection owners in connections/), or memory. */
    readonly coordination: UsageBudgetCoordination,
  ) {
    this.budgets = compileBudgets(options.budgets);
    this.hardBudgets = this.budgets.filter((b) => b.hard);
    this.byName = new Map(this.budgets.map((b) => [b.name, b]));
    this.active = this.budgets;
    this.runtimeEnabled = options.scheduler?.runtimeAlerts !== false;
    this.timeZone = options.timeZone ?? 'UTC';
    this.clock = options.scheduler?.clock ?? (() => new Date());
    this.reader = new UsageStorageReader(registry, mostDurable(registry.defaultTargets), options);
    this.local = new LocalBudgetCounters(this.timeZone, (b) => {
      // A new window starts at zero here; other instances' spend (or a restart's) comes from the store.
      if (b.hard) void this.seedBudget(b).catch((e: Error) => this.logger.error(`budget "${b.name}": reseeding the new window failed: ${e.message}`));
    });
    this.ready = new Promise((r) => (this.markReady = r));
    this.admission = new BudgetAdmission({
      hardBudgets: this.hardBudgets,
      runtime: () => this.runtime,
      local: this.local,
      reservations: this.reservations,
      redis: () => this.redis,
      stats: this.stats,
      logger: this.logger,
      now: () => this.clock().getTime(),
      status: (b, value, w, used, nowMs) => this.buildStatus(b, value, w, used, nowMs),
      ttlMs: options.scheduler?.reservationTtlMs ?? DEFAULT_RESERVATION_TTL_MS,
      admissionTimeoutMs: options.scheduler?.admissionTimeoutMs ?? DEFAULT_ADMISSION_TIMEOUT_MS,
    });
  }

  onModuleInit(): void {
    if (this.options.scheduler?.clock) return;
    try {
      const c = this.moduleRef.get<() => Date>(USAGE_CLOCK, { strict: false });
      if (typeof c === 'function') this.clock = c;
    } catch {
      /* no clock provider: the real clock */
    }
  }

  async onApplicationBootstrap(): Promise<void> {
    try {
      if (this.budgets.length === 0 && !this.runtimeEnabled) return;
      await this.coordination.resolve();
      if (this.budgets.length === 0) return;
      if (this.coordination.redis && this.hardBudgets.length > 0) {
        this.redis = new RedisBudgetCounter(this.coordination.redis, this.options.scheduler?.keyPrefix ?? DEFAULT_KEY_PREFIX, this.logger);
      }
      // One query per hard budget, so a restart does not forget the window's spend.
      for (const b of this.hardBudgets) {
        try {
          await this.seedBudget(b);
        } catch (e) {
          this.logger.error(`budget "${b.name}": seeding from the store failed (${(e as Error).message}); counting from zero`);
        }
      }
      this.logger.log(`${this.budgets.length} budget(s), ${this.hardBudgets.length} hard; shared state: ${this.coordination.kind}`);
    } finally {
      this.markReady();
    }
  }

  async onModuleDestroy(): Promise<void> {
    await this.redis?.flush();
  }

  /** Resolves once connections are open and hard budgets are seeded. */
  whenReady(): Promise<void> {
    return this.ready;
  }

  /** Whether records must reach `onRecord` (configured budgets or runtime alerts). */
  get watchesRecords(): boolean {
    return this.budgets.length > 0 || this.runtimeEnabled;
  }

  /** Whether tracked calls must pass `admit` (hard budgets or runtime `pause_agent` alerts). */
  get guardsCalls(): boolean {
    return this.hardBudgets.length > 0 || this.runtimeEnabled;
  }

  /** Whether a tracked call can be refused right now: a hard budget, or a runtime alert loaded. */
  get admitting(): boolean {
    return this.hardBudgets.length > 0 || this.runtime.length > 0;
  }

  /** Configured and runtime budgets. */
  all(): readonly CompiledBudget[] {
    return this.active;
  }

  /** Replaces the runtime budgets (each refresh); counters of removed ones are dropped. */
  setRuntimeBudgets(list: CompiledBudget[]): void {
    const kept = new Set(list.map((b) => b.name));
    for (const b of this.runtime) if (!kept.has(b.name)) this.local.forget(b.name);
    this.runtime = list;
    this.active = list.length > 0 ? [...this.budgets, ...list] : this.budgets;
  }

  now(): Date {
    return this.clock();
  }

  getStats(): UsageBudgetStats {
    return { ...this.stats, coordinationErrors: this.stats.coordinationErrors + (this.redis?.errors ?? 0) };
  }

  /** The current window of a budget. */
  windowOf(b: CompiledBudget): WindowBounds {
    return this.local.window(b, this.clock().getTime());
  }

  /** Store filters of one budget x value. */
  filtersOf(b: CompiledBudget, value: string, w: WindowBounds): UsageFilters {
    return budgetFilters(b, value, w);
  }

  // ---- record path (synchronous, O(budgets)) ----

  /** Called by the recorder with every record (when budgets are configured). */
  onRecord(record: UsageRecord): void {
    if (this.active.length === 0) return; // runtime alerts on, none made yet
    const now = this.clock().getTime();
    const res = this.hardBudgets.length > 0 ? this.reservations.current() : undefined;
    if (res && !res.released) {
      res.released = true;
      this.admission.release(res);
    }
    for (const b of this.active) {
      const value = valueOf(b, record);
      if (value === null) continue;
      const amount = metricOfRecord(b.metric, record);
      if (amount <= 0) continue;
      this.local.add(b, value, amount, now);
      if (b.hard && this.redis) this.redis.enqueue({ kind: 'incr', target: { budget: b, value }, window: this.local.window(b, now), amount });
    }
  }

  /** Admission of a tracked call (hard budgets, runtime pauses): throws or rejects with UsageBudgetExceededError to refuse it. */
  admit(info: UsageCallInfo): void | Promise<void> {
    return this.admission.admit(info);
  }

  // ---- seeding and status ----

  /** Raises the live counters of a hard budget to what the store holds for the current window. */
  private async seedBudget(b: CompiledBudget): Promise<void> {
    const w = this.windowOf(b);
    const totals = await this.storeTotals(b, w);
    const now = this.clock().getTime();
    for (const [value, t] of totals) {
      const amount = metricOfTotals(b.metric, t);
      const estimate = t.recordCount > 0 ? Math.ceil(amount / t.recordCount) : 0;
      this.local.seedEstimate(b, estimate);
      this.local.merge(b, value, w.start, amount, now);
      if (this.redis) this.local.merge(b, value, w.start, await this.redis.seed(b, value, w, amount, estimate), now);
    }
  }

  /** Store totals of a budget's window: one aggregate (shared budgets) or one group-by (per-value budgets). */
  private async storeTotals(b: CompiledBudget, w: WindowBounds, onlyValue?: string): Promise<Map<string, UsageTotals>> {
    if (b.scope === 'global' || b.match) return new Map([[SHARED, await this.reader.getUsageAggregate(this.filtersOf(b, SHARED, w))]]);
    if (onlyValue !== undefined) return new Map([[onlyValue, await this.reader.getUsageAggregate(this.filtersOf(b, onlyValue, w))]]);
    const groups = await this.reader.getUsageGroupedBy(SCOPE_FIELD[b.scope], { from: new Date(w.start), to: new Date(w.end) });
    return new Map(groups.filter((g) => g.key !== null).map((g) => [g.key as string, g]));
  }

  /**
   * Status of every value of a budget in its current window (or of one value). Used = the largest of the
   * store's total, this process's counter and (hard budgets) the Redis counter; the smaller ones are raised.
   */
  async statusesOf(b: CompiledBudget, onlyValue?: string): Promise<UsageBudgetStatus[]> {
    const w = this.windowOf(b);
    const value = onlyValue === undefined ? undefined : b.scope === 'global' || b.match ? (valueOf(b, { [SCOPE_FIELD[b.scope as 'agent']]: onlyValue }) ?? undefined) : onlyValue;
    if (onlyValue !== undefined && value === undefined) return [];
    const store = await this.storeTotals(b, w, value === SHARED ? undefined : value);
    const now = this.clock().getTime();
    const values = new Set<string>(store.keys());
    if (onlyValue === undefined) for (const v of this.local.values(b, now)) values.add(v);
    if (values.size === 0 && (b.scope === 'global' || b.match)) values.add(SHARED);
    const out: UsageBudgetStatus[] = [];
    for (const v of values) {
      const stored = store.has(v) ? metricOfTotals(b.metric, store.get(v)!) : 0;
      let used = Math.max(stored, this.local.used(b, v, now));
      if (b.hard && this.redis) {
        try {
          const shared = await this.redis.used(b, v, w.start);
          if (used > shared) await this.redis.seed(b, v, w, used, 0); // reconcile settlements Redis missed
          used = Math.max(used, shared);
        } catch (e) {
          this.admission.coordinationFailed(e as Error);
        }
      }
      this.local.merge(b, v, w.start, used, now);
      out.push(this.buildStatus(b, v, w, used, now));
    }
    return out;
  }

  buildStatus(b: CompiledBudget, value: string, w: WindowBounds, used: number, nowMs: number): UsageBudgetStatus {
    return budgetStatus(b, value, w, used, nowMs, this.timeZone);
  }

  /**
   * `UsageService.getBudgetStatus()`: a budget name (every scope value with usage for per-value budgets),
   * or `{ name?, scope?, value? }` (e.g. `{ scope: 'user', value: 'u1' }`: every user budget of u1).
   */
  async getStatus(query: UsageBudgetStatusQuery): Promise<UsageBudgetStatus[]> {
    const q = typeof query === 'string' ? { name: query } : query;
    if (!q || typeof q !== 'object') throw new InvalidUsageInputError('query', 'a budget name or { name?, scope?, value? }', query);
    let budgets: readonly CompiledBudget[] = this.active;
    if (q.name !== undefined) {
      const b = this.byName.get(q.name) ?? this.runtime.find((r) => r.name === q.name);
      if (!b) {
        throw new InvalidUsageInputError('budget', `the name of a configured budget (${[...this.byName.keys()].map((n) => `"${n}"`).join(', ') || 'none configured'}) or of a runtime alert ("alert:<id>")`, q.name);
      }
      budgets = [b];
    }
    if (q.scope !== undefined) budgets = budgets.filter((b) => b.scope === q.scope);
    await this.ready;
    const out: UsageBudgetStatus[] = [];
    for (const b of budgets) out.push(...(await this.statusesOf(b, q.value)));
    return out;
  }
}

/** Seeding reads the store that survives a restart best: database > cache > file > custom > memory. */
const DURABILITY: Record<string, number> = { database: 4, cache: 3, file: 2, memory: 0 };
export function mostDurable(names: readonly string[]): string {
  let best = names[0];
  for (const n of names) if ((DURABILITY[n] ?? 1) > (DURABILITY[best] ?? 1)) best = n;
  return best;
}
