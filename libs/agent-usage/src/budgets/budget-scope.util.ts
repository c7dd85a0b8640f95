import type { UsageFilters } from '../interfaces/usage-query.interface';
import type { CompiledBudget, UsageBudgetScope } from './budget-options.interface';
import { SHARED } from './budget-counter.memory';
import type { WindowBounds } from './budget-window.util';

/** Record / call field each scope reads. */
export const SCOPE_FIELD = {
  agent: 'agentName',
  user: 'userId',
  group: 'group',
  provider: 'providerName',
  model: 'modelName',
  category: 'category',
} as const satisfies Record<Exclude<UsageBudgetScope, 'global'>, string>;

export type ScopeField = (typeof SCOPE_FIELD)[keyof typeof SCOPE_FIELD];

/** Value key of a record / call for a budget: SHARED for global and matched budgets; null when it does not apply. */
export function valueOf(b: CompiledBudget, source: Partial<Record<ScopeField, string | null>>): string | null {
  if (b.scope === 'global') return SHARED;
  const v = source[SCOPE_FIELD[b.scope]];
  if (v === null || v === undefined) return null;
  if (b.match) return b.match.includes(v) ? SHARED : null;
  return v;
}

/** Store filters of one budget x value in window `w`. */
export function budgetFilters(b: CompiledBudget, value: string, w: WindowBounds): UsageFilters {
  const f: UsageFilters = { from: new Date(w.start), to: new Date(w.end) };
  if (b.scope !== 'global') f[SCOPE_FIELD[b.scope]] = value === SHARED ? (b.match ?? undefined) : value;
  return f;
}
