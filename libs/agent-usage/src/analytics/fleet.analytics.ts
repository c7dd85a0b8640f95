/**
 * The fleet view: every agent with usage in the range, plus every agent a budget names, with its spend in
 * the range and the cost budget that applies to it. Budgets: configured budgets on the `agent` scope with
 * the `cost` metric (per-agent budgets, or a `match` of one agent; a budget shared by several agents is
 * not one agent's budget and is left out), and runtime alerts on an agent with the cost metric (source
 * `alert:<id>`). Percent, status and
 * projection are about the budget's current calendar window (what the budget counts), from one
 * group-by-agent query per window kind. Records without an agent name are no agent's and are not listed.
 */
import type { UsageGroup } from '../interfaces/usage-query.interface';
import type { CompiledBudget } from '../budgets/budget-options.interface';
import { windowAt, type WindowBounds } from '../budgets/budget-window.util';
import type { AgentCostBudget, AnalyticsContext } from './analytics.context';
import type { UsageFleet, UsageFleetAgent, UsageFleetProjection, UsageFleetStatus, UsageRangeQuery } from './analytics.interfaces';
import { divRound, money, nanoOf, percentOf } from './analytics-money';
import { costOf } from './summary.analytics';

/** Status from the exact ratio used / limit (not the rounded percent). */
export function fleetStatus(used: bigint, limit: bigint): UsageFleetStatus {
  if (used * 100n >= limit * 95n) return 'CRITICAL';
  if (used * 100n >= limit * 80n) return 'WARNING';
  if (used * 100n >= limit * 50n) return 'NORMAL';
  return 'LOW';
}

/** Linear projection of the window's spend to the window's end (half-up), never below the spend. */
export function projectWindow(used: bigint, limit: bigint, w: WindowBounds, nowMs: number): UsageFleetProjection {
  const length = BigInt(w.end - w.start);
  const elapsed = BigInt(Math.min(w.end - w.start, Math.max(1, nowMs - w.start)));
  const linear = divRound(used * length, elapsed);
  const estimate = linear > used ? linear : used;
  const e = money(estimate);
  return {
    estimatedTotal: e.usd,
    estimatedTotalExact: e.exact,
    percent: percentOf(estimate, limit) ?? 0,
    willExceedBudget: estimate > limit,
    windowStart: new Date(w.start).toISOString(),
    windowEnd: new Date(w.end).toISOString(),
  };
}

/** Agent cost budgets among compiled ones (per agent, or naming exactly one agent). */
function agentCostBudgets(budgets: readonly CompiledBudget[]): AgentCostBudget[] {
  return budgets
    .filter((b) => b.scope === 'agent' && b.metric === 'cost' && (b.match === null || b.match.length === 1))
    .map((b) => ({ source: b.name, agentName: b.match ? b.match[0] : null, window: b.window, limitNano: BigInt(b.limit) }));
}

export async function getFleet(ctx: AnalyticsContext, query: UsageRangeQuery): Promise<UsageFleet> {
  const r = await ctx.resolve(query, 'month');
  const budgets = agentCostBudgets([...ctx.budgets.budgets, ...(await ctx.runtimeBudgets())]);
  const only = r.attribution.agentName === undefined ? null : new Set([r.attribution.agentName].flat());
  const inRange = new Map<string, UsageGroup>();
  if (r.days.length) for (const g of await ctx.groupBy('agentName', r.filters)) if (g.key !== null) inRange.set(g.key, g);
  const names = new Set(inRange.keys());
  for (const b of budgets) if (b.agentName !== null && (!only || only.has(b.agentName))) names.add(b.agentName);

  // Window spend per agent: one group-by per window kind in use, all filters but the agent's dropped
  // (a budget counts all of its agent's spend).
  const nowMs = ctx.now().getTime();
  const windows = new Map<string, { bounds: WindowBounds; spend: Map<string, bigint> }>();
  for (const kind of new Set(budgets.map((b) => b.window))) {
    const bounds = windowAt(kind, nowMs, ctx.timeZone);
    const groups = await ctx.groupBy('agentName', { from: new Date(bounds.start), to: new Date(bounds.end) });
    windows.set(kind, { bounds, spend: new Map(groups.filter((g) => g.key !== null).map((g) => [g.key as string, costOf(g)])) });
  }

  const agents: UsageFleetAgent[] = [];
  const counts = { low: 0, normal: 0, warning: 0, critical: 0, noBudget: 0 };
  let [spentSum, budgetSum, opsSum] = [0n, 0n, 0n];
  for (const name of names) {
    const g = inRange.get(name);
    const spent = g ? costOf(g) : 0n;
    const s = money(spent);
    const agent: UsageFleetAgent = {
      name, spent: s.usd, spentExact: s.exact, operations: g?.recordCount ?? 0,
      budget: null, budgetExact: null, budgetSource: null, budgetWindow: null, windowSpent: null, windowSpentExact: null, percent: null, status: null, projection: null,
    };
    // The most used of the budgets that apply (compared exactly: used1 x limit2 vs used2 x limit1).
    let best: { b: AgentCostBudget; used: bigint } | null = null;
    for (const b of budgets) {
      if (b.agentName !== null && b.agentName !== name) continue;
      const used = windows.get(b.window)!.spend.get(name) ?? 0n;
      if (!best || used * best.b.limitNano > best.used * b.limitNano) best = { b, used };
    }
    if (best) {
      const { b, used } = best;
      const [limit, w] = [money(b.limitNano), money(used)];
      Object.assign(agent, {
        budget: limit.usd, budgetExact: limit.exact, budgetSource: b.source, budgetWindow: b.window, windowSpent: w.usd, windowSpentExact: w.exact,
        percent: percentOf(used, b.limitNano), status: fleetStatus(used, b.limitNano), projection: projectWindow(used, b.limitNano, windows.get(b.window)!.bounds, nowMs),
      });
      budgetSum += b.limitNano;
      counts[agent.status!.toLowerCase() as 'low'] += 1;
    } else counts.noBudget += 1;
    [spentSum, opsSum] = [spentSum + spent, opsSum + BigInt(agent.operations)];
    agents.push(agent);
  }
  agents.sort((a, b) => {
    const d = nanoOf(b.spentExact) - nanoOf(a.spentExact);
    return d !== 0n ? (d > 0n ? 1 : -1) : a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
  });
  const [sp, bu] = [money(spentSum), money(budgetSum)];
  return {
    range: r.range,
    agents,
    totals: { spent: sp.usd, spentExact: sp.exact, budget: bu.usd, budgetExact: bu.exact, operations: Number(opsSum), agents: agents.length, statusCounts: counts },
  };
}
