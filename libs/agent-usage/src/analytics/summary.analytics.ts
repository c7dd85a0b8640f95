import type { UsageFilters, UsageGroup } from '../interfaces/usage-query.interface';
import type { AnalyticsContext } from './analytics.context';
import type { UsageRangeQuery, UsageSummary, UsageTopModel } from './analytics.interfaces';
import { divRound, money, percentOf } from './analytics-money';

/** How many models `topModels` lists. */
export const TOP_MODELS = 5;

/** Cost (exact nano-USD) of a store group or totals. */
export const costOf = (t: { exact: { costNanoUsd: string } }): bigint => BigInt(t.exact.costNanoUsd);

/** Highest cost first, then most calls, then key (null last): the order of every ranked list. */
export function byCostDesc(a: UsageGroup, b: UsageGroup): number {
  const ca = costOf(a);
  const cb = costOf(b);
  if (ca !== cb) return ca > cb ? -1 : 1;
  if (a.recordCount !== b.recordCount) return b.recordCount - a.recordCount;
  if (a.key === b.key) return 0;
  return a.key === null ? 1 : b.key === null ? -1 : a.key < b.key ? -1 : 1;
}

/** The provider with the most cost (then calls) for a model, by one group-by of the store. */
export async function providerOf(ctx: AnalyticsContext, model: string | null, filters: UsageFilters): Promise<string | null> {
  if (model === null) return null;
  const groups = (await ctx.groupBy('providerName', { ...filters, modelName: model })).sort(byCostDesc);
  return groups.find((g) => g.key !== null)?.key ?? null;
}

export async function getUsageSummary(ctx: AnalyticsContext, query: UsageRangeQuery): Promise<UsageSummary> {
  const r = await ctx.resolve(query, 'month');
  const t = await ctx.reader.getUsageAggregate(r.filters);
  const cost = costOf(t);
  const ops = BigInt(t.exact.recordCount);
  const spent = money(cost);
  const avg = money(divRound(cost, ops));
  const models = (await ctx.groupBy('modelName', r.filters)).sort(byCostDesc).slice(0, TOP_MODELS);
  const topModels: UsageTopModel[] = [];
  for (const g of models) {
    const c = money(costOf(g));
    topModels.push({ model: g.key, provider: await providerOf(ctx, g.key, r.filters), cost: c.usd, costExact: c.exact, calls: g.recordCount, tokens: g.totalTokens });
  }
  return {
    range: r.range,
    amountSpent: spent.usd,
    amountSpentExact: spent.exact,
    operationCount: t.recordCount,
    totalTokens: t.totalTokens,
    inputTokens: t.inputTokens,
    outputTokens: t.outputTokens,
    cachedTokens: t.cachedInputTokens,
    reasoningTokens: t.reasoningTokens,
    avgCostPerOperation: avg.usd,
    avgCostPerOperationExact: avg.exact,
    successRate: percentOf(ops - BigInt(t.exact.failedCount), ops),
    topModels,
  };
}
