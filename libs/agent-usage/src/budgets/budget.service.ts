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
import { BudgetReservation, BudgetReservations } from './budget-reservation';
import { UsageBudgetCoordination } from './budget-coordination';
import { DEFAULT_ADMISSION_TIMEOUT_MS, DEFAULT_KEY_PREFIX, DEFAULT_RESERVATION_TTL_MS, USAGE_CLOCK } from './budget.constants';
import type {
  CompiledBudget,
  UsageBudgetScope,
  UsageBudgetStats,
  UsageBudgetStatus,
  UsageBudgetStatusQuery,
} from './budget-options.interface';
import { compileBudgets } from './budget-options.validator';
import { BudgetTarget, LocalBudgetCounters, SHARED } from './budget-counter.memory';
import { RedisBudgetCounter } from './budget-counter.redis';
import { UsageBudgetExceededError } from './budget-exceeded.error';
import type { WindowBounds } from './budget-window.util';
import { sleep } from '../common/sleep';
import { admissionBackoff, budgetStatus, metricOfRecord, metricOfTotals } from './budget-status';

/** Record / call field each scope reads. */
const SCOPE_FIELD = {
  agent: 'agentName',
  user: 'userId',
  group: 'group',
  provider: 'providerName',
  model: 'modelName',
  category: 'category',
} as const satisfies Record<Exclude<UsageBudgetScope, 'global'>, string>;

type ScopeField = (typeof SCOPE_FIELD)[keyof typeof SCOPE_FIELD];

const isAsyncFn = (f: unknown) => typeof f === 'function' && f.constructor?.name === 'AsyncFunction';

/**
 * Budgets: live counters fed by every record (`onRecord`), hard-budget admission before tracked calls
 * (`admit`), and budget status. The recorder calls both only when budgets (hard ones for `admit`) are
 * configured; no connection is opened without a budget.
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
  private readonly ttlMs: number;
  private readonly admissionTimeoutMs: number;
  private seq = 0;
  private lastCoordinationLog = 0;
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
    this.ttlMs = options.scheduler?.reservationTtlMs ?? DEFAULT_RESERVATION_TTL_MS;
    this.admissionTimeoutMs = options.scheduler?.admissionTimeoutMs ?? DEFAULT_ADMISSION_TIMEOUT_MS;
    this.reader = new UsageStorageReader(registry, mostDurable(registry.defaultTargets), options);
    this.local = new LocalBudgetCounters(this.timeZone, (b) => {
      // A new window starts at zero here; other instances' spend (or a restart's) comes from the store.
      if (b.hard) void this.seedBudget(b).catch((e: Error) => this.logger.error(`budget "${b.name}": reseeding the new window failed: ${e.message}`));
    });
    this.ready = new Promise((r) => (this.markReady = r));
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

  /** Value key of a record / call for a budget: SHARED for global and matched budgets; null when it does not apply. */
  private valueOf(b: CompiledBudget, source: Partial<Record<ScopeField, string | null>>): string | null {
    if (b.scope === 'global') return SHARED;
    const v = source[SCOPE_FIELD[b.scope]];
    if (v === null || v === undefined) return null;
    if (b.match) return b.match.includes(v) ? SHARED : null;
    return v;
  }

  /** Store filters of one budget x value. */
  filtersOf(b: CompiledBudget, value: string, w: WindowBounds): UsageFilters {
    const f: UsageFilters = { from: new Date(w.start), to: new Date(w.end) };
    if (b.scope !== 'global') f[SCOPE_FIELD[b.scope]] = value === SHARED ? (b.match ?? undefined) : value;
    return f;
  }

  // ---- record path (synchronous, O(budgets)) ----

  /** Called by the recorder with every record (when budgets are configured). */
  onRecord(record: UsageRecord): void {
    const now = this.clock().getTime();
    const res = this.hardBudgets.length > 0 ? this.reservations.current() : undefined;
    if (res && !res.released) {
      res.released = true;
      this.release(res);
    }
    for (const b of this.active) {
      const value = this.valueOf(b, record);
      if (value === null) continue;
      const amount = metricOfRecord(b.metric, record);
      if (amount <= 0) continue;
      this.local.add(b, value, amount, now);
      if (b.hard && this.redis) this.redis.enqueue({ kind: 'incr', target: { budget: b, value }, window: this.local.window(b, now), amount });
    }
  }

  private release(res: BudgetReservation): void {
    res.targets.forEach((t, i) => {
      if (res.viaRedis && this.redis) this.redis.enqueue({ kind: 'release', target: t, windowStart: res.windows[i].start, id: res.id });
      else this.local.release(t.budget, t.value, res.id);
    });
  }

  // ---- call path: hard budgets ----

  /** Admission of a tracked call (hard budgets only): throws or rejects with UsageBudgetExceededError to refuse it. */
  admit(info: UsageCallInfo): void | Promise<void> {
    if (this.runtime.length > 0) {
      const now = this.clock().getTime();
      for (const b of this.runtime) {
        const until = b.runtime!.pausedUntil;
        if (until !== null && until > now && this.valueOf(b, info) !== null) {
          return this.refuse(info, new UsageBudgetExceededError(this.buildStatus(b, SHARED, this.windowOf(b), this.local.used(b, SHARED, now), now), 'paused'));
        }
      }
    }
    if (this.hardBudgets.length === 0) return;
    const targets: BudgetTarget[] = [];
    for (const b of this.hardBudgets) {
      const value = this.valueOf(b, info);
      if (value !== null) targets.push({ budget: b, value });
    }
    if (targets.length === 0) return;
    const fail = (e: UsageBudgetExceededError) => this.refuse(info, e);
    const now = this.clock().getTime();
    // This process's counters never exceed the shared ones: a local "spent" needs no round trip.
    for (const t of targets) {
      const used = this.local.used(t.budget, t.value, now);
      if (used >= t.budget.limit) return fail(this.exceeded(t, used, now, 'limit_reached'));
    }
    const inherited = this.reservations.current();
    // A tracked call nested in an admitted one rides on the outer reservation for the same budgets.
    const need = inherited && !inherited.released ? targets.filter((t) => !inherited.targets.some((o) => o.budget === t.budget && o.value === t.value)) : targets;
    if (need.length === 0) return;
    const id = `${process.pid}:${++this.seq}:${Math.random().toString(36).slice(2, 10)}`;
    const hold = (viaRedis: boolean, windows: WindowBounds[]) => {
      this.reservations.hold(info.frame, { id, targets: need, windows, viaRedis, released: false });
    };
    if (this.redis) {
      return this.admitRedis(need, id, hold).catch((e) => {
        if (e instanceof UsageBudgetExceededError) {
          this.stats.refusedCalls++;
        }
        throw e;
      });
    }
    const first = this.local.admit(need, id, now, this.ttlMs);
    if (first.status === 'admitted') return hold(false, need.map((t) => this.local.window(t.budget, now)));
    if (first.status === 'refused') return fail(this.exceeded(first.target, first.used, now, 'limit_reached'));
    // Busy: calls in flight may spend the rest; wait for them to settle (or expire).
    const deadline = Date.now() + this.admissionTimeoutMs;
    const retry = async (): Promise<void> => {
      for (let attempt = 0; ; attempt++) {
        await sleep(admissionBackoff(attempt));
        const t = this.clock().getTime();
        const r = this.local.admit(need, id, t, this.ttlMs);
        if (r.status === 'admitted') return hold(false, need.map((x) => this.local.window(x.budget, t)));
        if (r.status === 'refused' || Date.now() >= deadline) {
          this.stats.refusedCalls++;
          throw this.exceeded(r.target, r.used, t, r.status === 'refused' ? 'limit_reached' : 'in_flight');
        }
      }
    };
    return retry();
  }

  private refuse(info: UsageCallInfo, e: UsageBudgetExceededError): Promise<never> {
    this.stats.refusedCalls++;
    // An async agent method should reject, not throw synchronously, so `.catch()` chains work.
    if (isAsyncFn(Object.getPrototypeOf(info.frame.instance)?.[info.frame.method])) return Promise.reject(e);
    throw e;
  }

  private async admitRedis(need: BudgetTarget[], id: string, hold: (viaRedis: boolean, windows: WindowBounds[]) => void): Promise<void> {
    const deadline = Date.now() + this.admissionTimeoutMs;
    for (let attempt = 0; ; attempt++) {
      const now = this.clock().getTime();
      const windows = need.map((t) => this.local.window(t.budget, now));
      let r: Awaited<ReturnType<RedisBudgetCounter['admit']>>;
      try {
        r = await this.redis!.admit(need, windows, id, this.ttlMs);
      } catch (e) {
        this.coordinationFailed(e as Error);
        const l = this.local.admit(need, id, now, this.ttlMs);
        if (l.status === 'refused') throw this.exceeded(l.target, l.used, now, 'limit_reached');
        return hold(false, windows); // Redis is down: this process's counters decide (fail open when busy)
      }
      if (r.status === 'admitted') return hold(true, windows);
      const t = need[r.index];
      this.local.merge(t.budget, t.value, windows[r.index].start, r.used, now);
      if (r.status === 'refused' || Date.now() >= deadline) throw this.exceeded(t, r.used, now, r.status === 'refused' ? 'limit_reached' : 'in_flight');
      await sleep(admissionBackoff(attempt));
    }
  }

  private coordinationFailed(e: Error): void {
    this.stats.coordinationErrors++;
    if (Date.now() - this.lastCoordinationLog > 10_000) {
      this.lastCoordinationLog = Date.now();
      this.logger.error(`hard budget check in Redis failed (${e.message}); using this process's counters until Redis answers`);
    }
  }

  private exceeded(t: BudgetTarget, used: number, nowMs: number, reason: 'limit_reached' | 'in_flight'): UsageBudgetExceededError {
    const w = this.local.window(t.budget, nowMs);
    return new UsageBudgetExceededError(this.buildStatus(t.budget, t.value, w, used, nowMs), reason);
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
    const value = onlyValue === undefined ? undefined : b.scope === 'global' || b.match ? (this.valueOf(b, { [SCOPE_FIELD[b.scope as 'agent']]: onlyValue }) ?? undefined) : onlyValue;
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
          this.coordinationFailed(e as Error);
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
