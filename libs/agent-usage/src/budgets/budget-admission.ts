import type { Logger } from '@nestjs/common';
import type { UsageCallInfo } from '../capture/tracked-call.invoker';
import { sleep } from '../common/sleep';
import type { CompiledBudget, UsageBudgetStats, UsageBudgetStatus } from './budget-options.interface';
import { type BudgetTarget, type LocalBudgetCounters, SHARED } from './budget-counter.memory';
import type { RedisBudgetCounter } from './budget-counter.redis';
import { UsageBudgetExceededError } from './budget-exceeded.error';
import type { BudgetReservation, BudgetReservations } from './budget-reservation';
import { valueOf } from './budget-scope.util';
import { admissionBackoff } from './budget-status';
import type { WindowBounds } from './budget-window.util';

const isAsyncFn = (f: unknown) => typeof f === 'function' && f.constructor?.name === 'AsyncFunction';

/** What admission shares with the budgets service (its counters, reservations and settings). */
export interface BudgetAdmissionContext {
  hardBudgets: readonly CompiledBudget[];
  /** Runtime alerts as last loaded (their `pause_agent` pauses refuse calls too). */
  runtime(): readonly CompiledBudget[];
  local: LocalBudgetCounters;
  reservations: BudgetReservations;
  /** Set at bootstrap when hard budgets count in Redis. */
  redis(): RedisBudgetCounter | null;
  stats: UsageBudgetStats;
  logger: Logger;
  now(): number;
  status(b: CompiledBudget, value: string, w: WindowBounds, used: number, nowMs: number): UsageBudgetStatus;
  ttlMs: number;
  admissionTimeoutMs: number;
}

/**
 * The call path: before a tracked call runs, refuse it when a runtime alert paused its scope value or a
 * hard budget is spent; near a hard limit, admit it only with a reservation (in Redis, atomically across
 * instances, else in this process's counters).
 */
export class BudgetAdmission {
  private seq = 0;
  private lastCoordinationLog = 0;

  constructor(private readonly ctx: BudgetAdmissionContext) {}

  /** Frees an admitted call's reservation (its first record settles it). */
  release(res: BudgetReservation): void {
    res.targets.forEach((t, i) => {
      const redis = this.ctx.redis();
      if (res.viaRedis && redis) redis.enqueue({ kind: 'release', target: t, windowStart: res.windows[i].start, id: res.id });
      else this.ctx.local.release(t.budget, t.value, res.id);
    });
  }

  // ---- call path: hard budgets ----

  /** Admission of a tracked call (hard budgets only): throws or rejects with UsageBudgetExceededError to refuse it. */
  admit(info: UsageCallInfo): void | Promise<void> {
    if (this.ctx.runtime().length > 0) {
      const now = this.ctx.now();
      for (const b of this.ctx.runtime()) {
        const until = b.runtime!.pausedUntil;
        if (until !== null && until > now && valueOf(b, info) !== null) {
          return this.refuse(info, new UsageBudgetExceededError(this.ctx.status(b, SHARED, this.ctx.local.window(b, now), this.ctx.local.used(b, SHARED, now), now), 'paused'));
        }
      }
    }
    if (this.ctx.hardBudgets.length === 0) return;
    const targets: BudgetTarget[] = [];
    for (const b of this.ctx.hardBudgets) {
      const value = valueOf(b, info);
      if (value !== null) targets.push({ budget: b, value });
    }
    if (targets.length === 0) return;
    const fail = (e: UsageBudgetExceededError) => this.refuse(info, e);
    const now = this.ctx.now();
    // This process's counters never exceed the shared ones: a local "spent" needs no round trip.
    for (const t of targets) {
      const used = this.ctx.local.used(t.budget, t.value, now);
      if (used >= t.budget.limit) return fail(this.exceeded(t, used, now, 'limit_reached'));
    }
    const inherited = this.ctx.reservations.current();
    // A tracked call nested in an admitted one rides on the outer reservation for the same budgets.
    const need = inherited && !inherited.released ? targets.filter((t) => !inherited.targets.some((o) => o.budget === t.budget && o.value === t.value)) : targets;
    if (need.length === 0) return;
    const id = `${process.pid}:${++this.seq}:${Math.random().toString(36).slice(2, 10)}`;
    const hold = (viaRedis: boolean, windows: WindowBounds[]) => {
      this.ctx.reservations.hold(info.frame, { id, targets: need, windows, viaRedis, released: false });
    };
    if (this.ctx.redis()) {
      return this.admitRedis(need, id, hold).catch((e) => {
        if (e instanceof UsageBudgetExceededError) {
          this.ctx.stats.refusedCalls++;
        }
        throw e;
      });
    }
    const first = this.ctx.local.admit(need, id, now, this.ctx.ttlMs);
    if (first.status === 'admitted') return hold(false, need.map((t) => this.ctx.local.window(t.budget, now)));
    if (first.status === 'refused') return fail(this.exceeded(first.target, first.used, now, 'limit_reached'));
    // Busy: calls in flight may spend the rest; wait for them to settle (or expire).
    const deadline = Date.now() + this.ctx.admissionTimeoutMs;
    const retry = async (): Promise<void> => {
      for (let attempt = 0; ; attempt++) {
        await sleep(admissionBackoff(attempt));
        const t = this.ctx.now();
        const r = this.ctx.local.admit(need, id, t, this.ctx.ttlMs);
        if (r.status === 'admitted') return hold(false, need.map((x) => this.ctx.local.window(x.budget, t)));
        if (r.status === 'refused' || Date.now() >= deadline) {
          this.ctx.stats.refusedCalls++;
          throw this.exceeded(r.target, r.used, t, r.status === 'refused' ? 'limit_reached' : 'in_flight');
        }
      }
    };
    return retry();
  }

  private refuse(info: UsageCallInfo, e: UsageBudgetExceededError): Promise<never> {
    this.ctx.stats.refusedCalls++;
    // An async agent method should reject, not throw synchronously, so `.catch()` chains work.
    if (isAsyncFn(Object.getPrototypeOf(info.frame.instance)?.[info.frame.method])) return Promise.reject(e);
    throw e;
  }

  private async admitRedis(need: BudgetTarget[], id: string, hold: (viaRedis: boolean, windows: WindowBounds[]) => void): Promise<void> {
    const deadline = Date.now() + this.ctx.admissionTimeoutMs;
    for (let attempt = 0; ; attempt++) {
      const now = this.ctx.now();
      const windows = need.map((t) => this.ctx.local.window(t.budget, now));
      let r: Awaited<ReturnType<RedisBudgetCounter['admit']>>;
      try {
        r = await this.ctx.redis()!.admit(need, windows, id, this.ctx.ttlMs);
      } catch (e) {
        this.coordinationFailed(e as Error);
        const l = this.ctx.local.admit(need, id, now, this.ctx.ttlMs);
        if (l.status === 'refused') throw this.exceeded(l.target, l.used, now, 'limit_reached');
        return hold(false, windows); // Redis is down: this process's counters decide (fail open when busy)
      }
      if (r.status === 'admitted') return hold(true, windows);
      const t = need[r.index];
      this.ctx.local.merge(t.budget, t.value, windows[r.index].start, r.used, now);
      if (r.status === 'refused' || Date.now() >= deadline) throw this.exceeded(t, r.used, now, r.status === 'refused' ? 'limit_reached' : 'in_flight');
      await sleep(admissionBackoff(attempt));
    }
  }

  /** Counts (and logs at most every 10 s) a Redis failure on the enforcement path. */
  coordinationFailed(e: Error): void {
    this.ctx.stats.coordinationErrors++;
    if (Date.now() - this.lastCoordinationLog > 10_000) {
      this.lastCoordinationLog = Date.now();
      this.ctx.logger.error(`hard budget check in Redis failed (${e.message}); using this process's counters until Redis answers`);
    }
  }

  private exceeded(t: BudgetTarget, used: number, nowMs: number, reason: 'limit_reached' | 'in_flight'): UsageBudgetExceededError {
    const w = this.ctx.local.window(t.budget, nowMs);
    return new UsageBudgetExceededError(this.ctx.status(t.budget, t.value, w, used, nowMs), reason);
  }
}
