import type { UsageRecord } from '../interfaces/usage-record.interface';
import type { UsageTotals } from '../interfaces/usage-query.interface';
import { nanoUsdToString } from '../query/money';
import type { CompiledBudget, UsageBudgetMetric, UsageBudgetStatus } from './budget-options.interface';
import { SHARED } from './budget-counter.memory';
import type { WindowBounds } from './budget-window.util';

/** What a record adds to a budget of `metric`. */
export function metricOfRecord(metric: UsageBudgetMetric, r: UsageRecord): number {
  return metric === 'cost' ? (r.costNanoUsd ?? 0) : metric === 'tokens' ? (r.totalTokens ?? 0) : r.requests;
}
/** What the store's totals count for a budget of `metric`. */
export function metricOfTotals(metric: UsageBudgetMetric, t: UsageTotals): number {
  return metric === 'cost' ? t.costNanoUsd : metric === 'tokens' ? t.totalTokens : t.requests;
}
const unitOf = (m: UsageBudgetMetric) => (m === 'cost' ? 'nano_usd' : m) as UsageBudgetStatus['unit'];
const round2 = (x: number) => Math.round(x * 100) / 100;

/** Wait before the next admission attempt while calls in flight may settle: growing, capped, jittered. */
export function admissionBackoff(attempt: number): number {
  return Math.min(50, 2 + attempt * 2) * (0.5 + Math.random());
}

/** A budget's status for one scope value in window `w`: used, remaining, percent and a linear projection. */
export function budgetStatus(b: CompiledBudget, value: string, w: WindowBounds, used: number, nowMs: number, timeZone: string): UsageBudgetStatus {
  const length = w.end - w.start;
  const elapsed = Math.min(length, Math.max(1, nowMs - w.start));
  const projection = Math.max(used, Math.round(used * (length / elapsed)));
  const status: UsageBudgetStatus = {
    budget: b.name,
    scope: {
      type: b.scope,
      value: value === SHARED ? null : value,
      ...(b.match ? { match: [...b.match] } : {}),
    },
    metric: b.metric,
    unit: unitOf(b.metric),
    window: { type: b.window, start: new Date(w.start), end: new Date(w.end), timeZone },
    resetAt: new Date(w.end),
    limit: b.limit,
    used,
    remaining: Math.max(0, b.limit - used),
    percent: round2((used * 100) / b.limit),
    projection,
    projectedPercent: round2((projection * 100) / b.limit),
    paused: b.hard && used >= b.limit,
  };
  if (b.metric === 'cost') {
    status.limitUsd = nanoUsdToString(b.limit);
    status.usedUsd = nanoUsdToString(used);
    status.remainingUsd = nanoUsdToString(status.remaining);
    status.projectionUsd = nanoUsdToString(projection);
  }
  return status;
}
