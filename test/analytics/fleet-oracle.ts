/** The fleet oracle: budgets, windows (Luxon), status and projection from the raw records. */
import { DateTime } from 'luxon';
import type { UsageTrackingModuleOptions } from 'nestjs-agent-usage';
import { NOW, ZONE, groups, halfUp, inDays, pct, usd, type Rec } from './analytics-dataset';

export const BUDGETS: NonNullable<UsageTrackingModuleOptions['budgets']> = [
  { name: 'support-daily', scope: 'agent', match: 'support', window: 'day', limit: '0.012' },
  { name: 'agents-monthly', scope: 'agent', window: 'month', limit: '0.06' },
  { name: 'ghost-weekly', scope: 'agent', match: 'ghost', window: 'week', limit: '1' },
  // Shared by two agents: no one agent's budget, so not in the fleet.
  { name: 'shared', scope: 'agent', match: ['sales', 'research'], window: 'day', limit: '0.001' },
];

const nano = (usdText: string): bigint => {
  const [w, f = ''] = usdText.split('.');
  return BigInt(w) * 1_000_000_000n + BigInt(f.padEnd(9, '0'));
};
const money = (n: bigint) => ({ n: Number(usd(n)), s: usd(n) });

function windowOf(kind: 'hour' | 'day' | 'week' | 'month'): { start: number; end: number } {
  const unit = kind === 'day' ? 'days' : kind === 'week' ? 'weeks' : kind === 'month' ? 'months' : 'hours';
  const s = DateTime.fromMillis(NOW, { zone: ZONE }).startOf(kind);
  return { start: s.toMillis(), end: s.plus({ [unit]: 1 }).startOf(kind).toMillis() };
}

export function fleetOracle(data: Rec[], start: string, end: string, extra: typeof BUDGETS = []) {
  const all = [...BUDGETS, ...extra];
  const inRange = groups(inDays(data, start, end), (x) => x.agentName).filter((g) => g.key !== null);
  const own = all.filter((b) => typeof b.match === 'string').map((b) => b.match as string);
  const names = [...new Set([...inRange.map((g) => g.key as string), ...own])];
  const counts = { low: 0, normal: 0, warning: 0, critical: 0, noBudget: 0 };
  let [spentSum, budgetSum, ops] = [0n, 0n, 0];
  const agents = names.map((name) => {
    const g = inRange.find((x) => x.key === name);
    const spent = g?.s.cost ?? 0n;
    const applicable = all.filter((b) => b.match === undefined || b.match === name);
    let best: { b: (typeof all)[number]; used: bigint; limit: bigint; w: { start: number; end: number } } | null = null;
    for (const b of applicable) {
      const w = windowOf(b.window);
      const used = data.filter((x) => x.agentName === name && x.ms >= w.start && x.ms < w.end).reduce((a, x) => a + BigInt(x.costNanoUsd ?? 0), 0n);
      const limit = nano(String(b.limit));
      if (!best || used * best.limit > best.used * limit) best = { b, used, limit, w };
    }
    [spentSum, ops] = [spentSum + spent, ops + Number(g?.s.calls ?? 0n)];
    const base = { name, spent: money(spent).n, spentExact: money(spent).s, operations: Number(g?.s.calls ?? 0n) };
    if (!best) {
      counts.noBudget++;
      return { ...base, budget: null, budgetExact: null, budgetSource: null, budgetWindow: null, windowSpent: null, windowSpentExact: null, percent: null, status: null, projection: null };
    }
    const { used, limit, w } = best;
    const status = used * 100n >= limit * 95n ? 'CRITICAL' : used * 100n >= limit * 80n ? 'WARNING' : used * 100n >= limit * 50n ? 'NORMAL' : 'LOW';
    counts[status.toLowerCase() as 'low']++;
    budgetSum += limit;
    const len = BigInt(w.end - w.start);
    const elapsed = BigInt(Math.min(w.end - w.start, Math.max(1, NOW - w.start)));
    const linear = halfUp(used * len, elapsed);
    const est = linear > used ? linear : used;
    return {
      ...base,
      budget: money(limit).n,
      budgetExact: money(limit).s,
      budgetSource: best.b.name,
      budgetWindow: best.b.window,
      windowSpent: money(used).n,
      windowSpentExact: money(used).s,
      percent: pct(used, limit),
      status,
      projection: {
        estimatedTotal: money(est).n,
        estimatedTotalExact: money(est).s,
        percent: pct(est, limit),
        willExceedBudget: est > limit,
        windowStart: new Date(w.start).toISOString(),
        windowEnd: new Date(w.end).toISOString(),
      },
    };
  });
  agents.sort((a, b) => (a.spentExact === b.spentExact ? (a.name < b.name ? -1 : 1) : nano(b.spentExact) > nano(a.spentExact) ? 1 : -1));
  return {
    agents,
    totals: { spent: money(spentSum).n, spentExact: money(spentSum).s, budget: money(budgetSum).n, budgetExact: money(budgetSum).s, operations: ops, agents: agents.length, statusCounts: counts },
  };
}
