import { TrackedCallFrame, usageContextStorage } from '../context/usage-context';
import type { BudgetTarget } from './budget-counter.memory';
import type { WindowBounds } from './budget-window.util';

/** An admitted call's hold on its hard budgets; the call's first record releases it. */
export interface BudgetReservation {
  id: string;
  targets: BudgetTarget[];
  windows: WindowBounds[];
  viaRedis: boolean;
  released: boolean;
}

/**
 * Reservations of admitted tracked calls. Budgets keep them here, keyed by the call's frame, instead of in
 * the call context: a nested tracked call (or a record made inside it) sees its nearest admitted caller's.
 */
export class BudgetReservations {
  private readonly byFrame = new WeakMap<TrackedCallFrame, BudgetReservation>();

  hold(frame: TrackedCallFrame, reservation: BudgetReservation): void {
    this.byFrame.set(frame, reservation);
  }

  /** The reservation of the current call chain (its innermost admitted call), if any. */
  current(): BudgetReservation | undefined {
    for (let f = usageContextStorage.getStore()?.frame; f !== undefined; f = f.parent) {
      const r = this.byFrame.get(f);
      if (r !== undefined) return r;
    }
    return undefined;
  }
}
