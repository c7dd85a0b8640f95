import type { UsageFilters, UsageGroup } from '../interfaces/usage-query.interface';
import type { AnalyticsContext } from './analytics.context';
import type { UsageRangeQuery, UsageSummary, UsageTopModel } from './analytics.interfaces';
import { divRound, money, percentOf } from './analytics-money';
import { mapConcurrent } from './analytics.concurrency';

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

/** A model's usage per provider, highest cost first: one group-by of the store. */
export async function providersOf(ctx: AnalyticsContext, model: string, filters: UsageFilters): Promise<UsageGroup[]> {
  return (await ctx.groupBy('providerName', { ...filters, modelName: model })).sort(byCostDesc);
}

/** The provider with the most cost (then calls) for a model. */
async function providerOf(ctx: AnalyticsContext, model: string | null, filters: UsageFilters): Promise<string | null> {
  if (model === null) return null;
  return (await providersOf(ctx, model, filters)).find((g) => g.key !== null)?.key ?? null;
}

export async function getUsageSummary(ctx: AnalyticsContext, query: UsageRangeQuery): Promise<UsageSummary> {
  const r = await ctx.resolve(query, 'month');
  // The totals and the models at once; then each top model's provider, a few at a time.
  const [t, groups] = await Promise.all([ctx.reader.getUsageAggregate(r.filters), ctx.groupBy('modelName', r.filters)]);
  const cost = costOf(t);
  const ops = BigInt(t.exact.recordCount);
  const spent = money(cost);
  const avg = money(divRound(cost, ops));
  const models = groups.sort(byCostDesc).slice(0, TOP_MODELS);
  const providers = await mapConcurrent(models, (g) => providerOf(ctx, g.key, r.filters));
  const topModels: UsageTopModel[] = models.map((g, i) => {
    const c = money(costOf(g));
    return { model: g.key, provider: providers[i], cost: c.usd, costExact: c.exact, calls: g.recordCount, tokens: g.totalTokens };
  });
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
