import { InvalidUsageInputError } from '../common/usage.errors';
import type { UsageDimension } from '../interfaces/usage-query.interface';
import type { AnalyticsContext } from './analytics.context';
import { BREAKDOWN_GROUPS, type UsageBreakdown, type UsageBreakdownGroup, type UsageBreakdownItem, type UsageRangeQuery } from './analytics.interfaces';
import { divRound, money, sharePercents } from './analytics-money';
import { byCostDesc, costOf } from './summary.analytics';

/** The store dimension and the answer's list name of each breakdown. */
const GROUPS: Record<UsageBreakdownGroup, { dimension: UsageDimension; list: Exclude<keyof UsageBreakdown, 'range' | 'groupBy' | 'total' | 'totalExact'> }> = {
  model: { dimension: 'modelName', list: 'models' },
  agent: { dimension: 'agentName', list: 'agents' },
  user: { dimension: 'userId', list: 'users' },
  group: { dimension: 'group', list: 'groups' },
  provider: { dimension: 'providerName', list: 'providers' },
  category: { dimension: 'category', list: 'categories' },
};

export async function getUsageBreakdown(ctx: AnalyticsContext, groupBy: UsageBreakdownGroup, query: UsageRangeQuery): Promise<UsageBreakdown> {
  if (!(BREAKDOWN_GROUPS as readonly string[]).includes(groupBy)) {
    throw new InvalidUsageInputError('groupBy', `one of ${BREAKDOWN_GROUPS.join(', ')}`, groupBy);
  }
  const { dimension, list } = GROUPS[groupBy];
  const r = await ctx.resolve(query, 'month');
  const groups = (await ctx.groupBy(dimension, r.filters)).sort(byCostDesc);
  const percents = sharePercents(groups.map((g) => ({ costNano: costOf(g), calls: BigInt(g.exact.recordCount) })));
  let total = 0n;
  const items: UsageBreakdownItem[] = groups.map((g, i) => {
    const cost = costOf(g);
    total += cost;
    const c = money(cost);
    const avg = money(divRound(cost, BigInt(g.exact.recordCount)));
    return { key: g.key, cost: c.usd, costExact: c.exact, calls: g.recordCount, tokens: g.totalTokens, avgPerCall: avg.usd, avgPerCallExact: avg.exact, percent: percents[i] };
  });
  const t = money(total);
  return { range: r.range, groupBy, total: t.usd, totalExact: t.exact, [list]: items };
}
