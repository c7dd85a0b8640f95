import type { CompiledBudget } from './budget-options.interface';
import { WindowBounds, windowAt } from './budget-window.util';

/** Value key of global and shared (`match`) budgets. */
export const SHARED = '*';

/**
 * Settled calls a budget must have seen before their largest size is trusted as "one call's worth".
 * Until then (and whenever nothing is known) calls are admitted one at a time, so a small first call
 * cannot let many large ones in at once. With 20 samples of a size distribution the largest is rarely
 * far below the true maximum; a configured `reserve` is trusted at once.
 */
export const MIN_ESTIMATE_SAMPLES = 20;

interface Slot {
  used: number;
  /** Reservation id -> expiry (Date.now() ms) of calls admitted and not yet recorded. */
  reservations: Map<string, number> | null;
}

interface BudgetState {
  window: WindowBounds;
  slots: Map<string, Slot>;
}

/** One budget x scope value the check applies to. */
export interface BudgetTarget {
  budget: CompiledBudget;
  value: string;
}

export type AdmitResult =
  | { status: 'admitted' }
  | { status: 'refused' | 'busy'; target: BudgetTarget; used: number };

/**
 * This process's counters per budget x scope value for the current window: O(1) on the record path.
 * A window rolls over lazily when the clock passes its end (`onRoll` lets the service reseed it).
 * Reservations bound concurrency near a hard limit when no Redis is configured.
 */
export class LocalBudgetCounters {
  private readonly states = new Map<string, BudgetState>();
  /** Largest single record seen per budget: the default estimate of "one call's worth". */
  private readonly maxSeen = new Map<string, number>();
  /** Settled records seen per budget (this process): see MIN_ESTIMATE_SAMPLES. */
  private readonly samples = new Map<string, number>();

  constructor(
    private readonly timeZone: string,
    private readonly onRoll: (budget: CompiledBudget, window: WindowBounds) => void,
  ) {}

  /** The budget's current window (rolling it over, and dropping the old counts, when the clock passed it). */
  window(budget: CompiledBudget, nowMs: number): WindowBounds {
    let st = this.states.get(budget.name);
    if (!st || nowMs >= st.window.end || nowMs < st.window.start) {
      const w = windowAt(budget.window, nowMs, this.timeZone);
      const rolled = !!st;
      st = { window: w, slots: new Map() };
      this.states.set(budget.name, st);
      if (rolled) this.onRoll(budget, w);
    }
    return st.window;
  }

  private slot(budget: CompiledBudget, value: string, nowMs: number): Slot {
    this.window(budget, nowMs);
    const slots = this.states.get(budget.name)!.slots;
    let s = slots.get(value);
    if (!s) slots.set(value, (s = { used: 0, reservations: null }));
    return s;
  }

  /** Drops a budget's state (a deleted runtime alert). */
  forget(name: string): void {
    this.states.delete(name);
    this.maxSeen.delete(name);
    this.samples.delete(name);
  }

  add(budget: CompiledBudget, value: string, amount: number, nowMs: number): void {
    this.slot(budget, value, nowMs).used += amount;
    if (amount > (this.maxSeen.get(budget.name) ?? 0)) this.maxSeen.set(budget.name, amount);
    this.samples.set(budget.name, (this.samples.get(budget.name) ?? 0) + 1);
  }

  used(budget: CompiledBudget, value: string, nowMs: number): number {
    this.window(budget, nowMs);
    return this.states.get(budget.name)!.slots.get(value)?.used ?? 0;
  }

  /** Raises a counter to what a store or Redis reports for the same window (never lowers it: no double count). */
  merge(budget: CompiledBudget, value: string, windowStart: number, used: number, nowMs: number): void {
    const w = this.window(budget, nowMs);
    if (w.start !== windowStart) return;
    const s = this.slot(budget, value, nowMs);
    if (used > s.used) s.used = used;
  }

  /** Seeds the estimate (e.g. the average record of the stored window) when nothing was seen yet. */
  seedEstimate(budget: CompiledBudget, estimate: number): void {
    if (estimate > 0 && !this.maxSeen.has(budget.name)) this.maxSeen.set(budget.name, estimate);
  }

  estimate(budget: CompiledBudget): number {
    const trusted = (this.samples.get(budget.name) ?? 0) >= MIN_ESTIMATE_SAMPLES;
    return Math.max(budget.reserve, trusted ? (this.maxSeen.get(budget.name) ?? 0) : 0);
  }

  /** Scope values with usage in the current window. */
  values(budget: CompiledBudget, nowMs: number): string[] {
    this.window(budget, nowMs);
    return [...this.states.get(budget.name)!.slots.keys()];
  }

  /**
   * Check-and-reserve for every target at once: refused when a target is spent; `busy` when calls in
   * flight plus this one could pass the limit (so concurrent callers cannot overshoot by more than one
   * call's worth); otherwise a reservation is held on every target until `release` or its TTL.
   */
  admit(targets: BudgetTarget[], id: string, nowMs: number, ttlMs: number): AdmitResult {
    const realNow = Date.now();
    const slots: Slot[] = [];
    for (const t of targets) {
      const s = this.slot(t.budget, t.value, nowMs);
      if (s.reservations) for (const [rid, exp] of s.reservations) if (exp <= realNow) s.reservations.delete(rid);
      if (s.used >= t.budget.limit) return { status: 'refused', target: t, used: s.used };
      const open = s.reservations?.size ?? 0;
      if (open > 0) {
        const est = this.estimate(t.budget);
        if (est <= 0 || s.used + (open + 1) * est > t.budget.limit) return { status: 'busy', target: t, used: s.used };
      }
      slots.push(s);
    }
    for (const s of slots) (s.reservations ??= new Map()).set(id, realNow + ttlMs);
    return { status: 'admitted' };
  }

  release(budget: CompiledBudget, value: string, id: string): void {
    this.states.get(budget.name)?.slots.get(value)?.reservations?.delete(id);
  }
}
