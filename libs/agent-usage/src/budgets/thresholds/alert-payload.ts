import type { UsageGroup } from '../../interfaces/usage-query.interface';
import { nanoUsdToString } from '../../query/money';
import type { UsageBudgetStatus } from '../budget-options.interface';

/** How many models `top_cost_drivers` names; the rest are summed as `(other)` so percents add up to 100. */
const TOP_MODELS = 5;
const HOUR_MS = 3_600_000;

/** Budget figures of a webhook: USD numbers (plus exact `_exact` strings) for cost budgets, tokens otherwise. */
export interface UsageAlertBudgetFigures {
  limit: number;
  limit_exact?: string;
  amount_spent: number;
  amount_spent_exact?: string;
  /** amount_spent / limit x 100, two decimals. */
  percent_used: number;
  amount_remaining: number;
  amount_remaining_exact?: string;
}

/** Linear from the window so far. */
export interface UsageAlertProjection {
  estimated_total: number;
  estimated_total_exact?: string;
  /** Hours until the limit is spent at the window's rate so far: 0 when spent, null without spend. */
  hours_until_depleted: number | null;
  will_exceed_budget: boolean;
}

/** One model's share of the cost of the budget's scope over the window (percents of the list sum to 100). */
export interface UsageAlertCostDriver {
  /** Model name; `(other)` sums the models past the top five; null for records without a model. */
  model: string | null;
  cost: number;
  cost_exact: string;
  percent: number;
}

/** What hosted agent-usage APIs send with an alert, beside the budget status fields. */
export interface UsageAlertPayloadFields {
  /** `agent_paused` when this level paused the scope (runtime `pause_agent`, or a hard budget spent). */
  alert_type: 'budget_threshold' | 'agent_paused';
  /** The agent the budget watches (agent scopes), else null. */
  agent_id: string | null;
  /** ISO instant the level fired. */
  timestamp: string;
  /**
   * Hosted APIs call these two `budget` and `projection`; here those keys already hold the budget's name
   * and its projected amount (kept for existing receivers), hence `budget_usage` and `budget_projection`.
   */
  budget_usage: UsageAlertBudgetFigures;
  budget_projection: UsageAlertProjection;
  top_cost_drivers: UsageAlertCostDriver[];
  /** Short advice computed from the figures above. */
  recommendations: string[];
}

const usd = (nano: number) => Number(nanoUsdToString(nano));
const round2 = (x: number) => Math.round(x * 100) / 100;
/** An exact USD string without trailing zeros, for sentences. */
const trimUsd = (exact: string) => `$${exact.replace(/0+$/, '').replace(/\.$/, '')}`;
const money = (nano: number) => trimUsd(nanoUsdToString(nano));

/** Shares in hundredths of a percent by largest remainder (BigInt: costs x 10000 exceed 2^53), summing to exactly 100. */
export function sharesOf(amounts: number[]): number[] {
  const total = amounts.reduce((s, a) => s + BigInt(a), 0n);
  if (total === 0n) return amounts.map(() => 0);
  const exact = amounts.map((a) => BigInt(a) * 10_000n);
  const base = exact.map((e) => e / total);
  let left = 10_000n - base.reduce((s, b) => s + b, 0n);
  const order = exact.map((e, i) => ({ i, rem: e % total })).sort((x, y) => (y.rem > x.rem ? 1 : y.rem < x.rem ? -1 : x.i - y.i));
  for (const { i } of order) {
    if (left <= 0n) break;
    base[i] += 1n;
    left -= 1n;
  }
  return base.map((b) => Number(b) / 100);
}

/** The model group-by of the window as drivers: top five by cost, the rest as `(other)`; empty without cost. */
export function costDrivers(models: UsageGroup[]): UsageAlertCostDriver[] {
  const sorted = models.filter((g) => g.costNanoUsd > 0).sort((x, y) => y.costNanoUsd - x.costNanoUsd || y.totalTokens - x.totalTokens);
  const rows: { model: string | null; nano: number }[] = sorted.slice(0, TOP_MODELS).map((g) => ({ model: g.key, nano: g.costNanoUsd }));
  const rest = sorted.slice(TOP_MODELS).reduce((s, g) => s + g.costNanoUsd, 0);
  if (rest > 0) rows.push({ model: '(other)', nano: rest });
  const shares = sharesOf(rows.map((r) => r.nano));
  return rows.map((r, i) => ({ model: r.model, cost: usd(r.nano), cost_exact: nanoUsdToString(r.nano), percent: shares[i] }));
}

function figures(st: UsageBudgetStatus, nowMs: number): { budget: UsageAlertBudgetFigures; projection: UsageAlertProjection } {
  const cost = st.unit === 'nano_usd';
  const n = (x: number) => (cost ? usd(x) : x);
  const elapsed = Math.min(st.window.end.getTime() - st.window.start.getTime(), Math.max(1, nowMs - st.window.start.getTime()));
  const hours = st.used >= st.limit ? 0 : st.used === 0 ? null : round2(((st.limit - st.used) * elapsed) / st.used / HOUR_MS);
  return {
    budget: {
      limit: n(st.limit),
      ...(cost ? { limit_exact: nanoUsdToString(st.limit) } : {}),
      amount_spent: n(st.used),
      ...(cost ? { amount_spent_exact: nanoUsdToString(st.used) } : {}),
      percent_used: st.percent,
      amount_remaining: n(st.remaining),
      ...(cost ? { amount_remaining_exact: nanoUsdToString(st.remaining) } : {}),
    },
    projection: {
      estimated_total: n(st.projection),
      ...(cost ? { estimated_total_exact: nanoUsdToString(st.projection) } : {}),
      hours_until_depleted: hours,
      will_exceed_budget: st.used >= st.limit || st.projection > st.limit,
    },
  };
}

/** Advice from the figures: the top model's share, when the limit runs out, what the window will end at. */
function recommendationsOf(st: UsageBudgetStatus, drivers: UsageAlertCostDriver[], p: UsageAlertProjection, paused: boolean): string[] {
  const out: string[] = [];
  const amount = (x: number) => (st.unit === 'nano_usd' ? money(x) : `${x} ${st.unit}`);
  const top = drivers[0];
  if (top && top.model !== '(other)') {
    out.push(
      `${top.model ?? 'Calls without a model'} is ${top.percent}% of this window's spend (${trimUsd(top.cost_exact)}): ` +
        (drivers.length > 1 ? `moving its simpler calls to ${drivers[1].model ?? 'another model'} or a cheaper model saves the most.` : 'a cheaper model for its simpler calls saves the most.'),
    );
  }
  if (paused) out.push(`Tracked calls of ${st.scope.type} ${st.scope.value ?? st.scope.match?.join(', ') ?? ''} are refused until ${st.resetAt.toISOString()}; delete the alert or raise its limit to resume sooner.`);
  else if (st.used >= st.limit) out.push(`The ${st.window.type} budget is spent (${st.percent}%): it starts again at ${st.resetAt.toISOString()}.`);
  else if (p.hours_until_depleted !== null && p.will_exceed_budget) {
    out.push(`At this window's rate the remaining ${amount(st.remaining)} lasts ${p.hours_until_depleted} h, before the reset at ${st.resetAt.toISOString()} (projected ${amount(st.projection)}, ${st.projectedPercent}% of the limit).`);
  } else if (p.hours_until_depleted !== null) {
    out.push(`Projected ${amount(st.projection)} by the end of the window (${st.projectedPercent}% of the limit): within budget at this rate.`);
  }
  return out;
}

/** The hosted-API fields of a fired level. */
export function alertPayload(st: UsageBudgetStatus, models: UsageGroup[], firedAt: Date, paused: boolean): UsageAlertPayloadFields {
  const { budget, projection } = figures(st, firedAt.getTime());
  const drivers = costDrivers(models);
  const agent = st.scope.type !== 'agent' ? null : (st.scope.value ?? (st.scope.match?.length === 1 ? st.scope.match[0] : null));
  return {
    alert_type: paused ? 'agent_paused' : 'budget_threshold',
    agent_id: agent,
    timestamp: firedAt.toISOString(),
    budget_usage: budget,
    budget_projection: projection,
    top_cost_drivers: drivers,
    recommendations: recommendationsOf(st, drivers, projection, paused),
  };
}
