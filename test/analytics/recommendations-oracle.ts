/**
 * The recommendations oracle: the rules as the README states them (short answers <= 500 output tokens
 * per call, >= 50 % uncached input with >= 1,024 input tokens per call and 50 % of it assumed cacheable,
 * > 10 % failed calls; at least 5 calls), re-pricing average calls with the override rates of RATES.
 */
import { RATES, callCost, groups, halfUp, pct, sums, usd, type Rec } from './analytics-dataset';

export interface WantedRecommendation {
  id: string;
  perDayNano: bigint;
  perDay: string;
  percentReduction: number;
  priority: 'high' | 'medium' | 'low';
}

export function recommendationsOracle(rs: Rec[], days: bigint): WantedRecommendation[] {
  const total = sums(rs).cost;
  const found: { id: string; saving: bigint; base: bigint }[] = [];
  const uses = groups(rs, (x) => (x.modelName === null ? null : `${x.modelName}\u0000${x.providerName}`)).filter((g) => g.key !== null);
  for (const u of uses) {
    const [model, provider] = (u.key as string).split('\u0000');
    const n = u.s.calls;
    if (n < 5n || !RATES[model]) continue;
    const avg = { input: u.s.input / n, cached: u.s.cached / n, output: u.s.output / n, reasoning: u.s.reasoning / n };
    const cur = callCost(model, avg)!;
    if (avg.output <= 500n) {
      const alts = Object.keys(RATES).filter((m) => m !== model && RATES[m].provider === provider && rs.some((x) => x.modelName === m && x.providerName === provider));
      const cheapest = alts.map((m) => callCost(m, avg)!).sort((a, b) => (a < b ? -1 : 1))[0];
      if (cheapest !== undefined && cheapest < cur) found.push({ id: `switch_model:${model}@${provider}`, saving: (cur - cheapest) * n, base: cur * n });
    }
    const uncached = u.s.input - u.s.cached;
    const cheaperCache = Number(RATES[model].cachedInput) < Number(RATES[model].input);
    if (u.s.input > 0n && uncached * 100n >= u.s.input * 50n && avg.input >= 1024n && cheaperCache) {
      const after = callCost(model, { ...avg, cached: avg.cached + ((avg.input - avg.cached) * 50n) / 100n })!;
      if (after < cur) found.push({ id: `enable_prompt_caching:${model}@${provider}`, saving: (cur - after) * n, base: cur * n });
    }
  }
  for (const a of groups(rs, (x) => x.agentName)) {
    if (a.key === null || a.s.calls < 5n || a.s.failed * 100n <= a.s.calls * 10n) continue;
    found.push({ id: `fix_failures:${a.key}`, saving: sums(rs.filter((x) => x.agentName === a.key && !x.success)).cost, base: a.s.cost });
  }
  found.sort((a, b) => (a.saving === b.saving ? (a.id < b.id ? -1 : 1) : a.saving > b.saving ? -1 : 1));
  return found.map((f) => {
    const perDayNano = halfUp(f.saving, days);
    const share = total === 0n ? 0n : f.saving * 100n;
    const priority = total > 0n && share >= total * 10n ? 'high' : total > 0n && share >= total * 2n ? 'medium' : 'low';
    return { id: f.id, perDayNano, perDay: usd(perDayNano), percentReduction: f.base === 0n ? 0 : pct(f.saving, f.base), priority };
  });
}
