import type { UsageBudgetService } from './budget.service';

/**
 * UsageService reaches its own module's budget service through the recorder both share: no constructor
 * change, and no import cycle between usage.service.ts and budgets/.
 */
const SERVICES = new WeakMap<object, UsageBudgetService>();

export function registerBudgetService(recorder: object, service: UsageBudgetService): void {
  SERVICES.set(recorder, service);
}

export function budgetServiceFor(recorder: object): UsageBudgetService {
  const s = SERVICES.get(recorder);
  if (!s) throw new Error('UsageBudgetService is not registered in this UsageTrackingModule');
  return s;
}
