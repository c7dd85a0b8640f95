/**
 * Recommendations computed from the range's sums and the price table (see recommendation-rules.ts for
 * the thresholds): switch_model (a cheaper model of the same provider, seen in the range, for models with
 * short answers), enable_prompt_caching (mostly uncached long prompts on a model whose cache reads are
 * cheaper), fix_failures (agents failing often: the spend on failed calls). Savings are USD per day (the
 * range's saving / days in the range, half-up); every input is in `evidence`.
 */
import type { UsageFilters, UsageGroup } from '../interfaces/usage-query.interface';
import type { AnalyticsContext } from './analytics.context';
import type { UsageRangeQuery, UsageRecommendation, UsageRecommendations } from './analytics.interfaces';
import { divRound, money, percentOf } from './analytics-money';
import * as rules from './recommendation-rules';
import { mapConcurrent } from './analytics.concurrency';
import { byCostDesc, costOf, providersOf } from './summary.analytics';

interface Finding extends Omit<UsageRecommendation, 'estimatedSavings' | 'estimatedSavingsExact' | 'priority' | 'percentReduction'> {
  /** Saving over the whole range, nano-USD. */
  rangeSaving: bigint;
  /** What the saving is a part of (for percentReduction), nano-USD. */
  base: bigint;
}

interface ModelUse {
  model: string;
  provider: string | null;
  group: UsageGroup;
}

/** Every (model, provider) pair of the range: one group-by provider per model, a few at a time. */
async function modelUses(ctx: AnalyticsContext, filters: UsageFilters): Promise<ModelUse[]> {
  const models = (await ctx.groupBy('modelName', filters)).sort(byCostDesc).filter((m): m is UsageGroup & { key: string } => m.key !== null);
  const perModel = await mapConcurrent(models, async (m) => (await providersOf(ctx, m.key, filters)).map((p) => ({ model: m.key, provider: p.key, group: p })));
  return perModel.flat();
}

const usd = (nano: bigint) => money(nano).exact;

function switchModel(ctx: AnalyticsContext, uses: ModelUse[], u: ModelUse, at: Date): Finding | null {
  const mix = rules.mixOf(u.group);
  if (mix.calls < BigInt(rules.MIN_CALLS) || mix.avg.outputTokens > rules.SHORT_OUTPUT_TOKENS) return null;
  const current = rules.costPerCall(ctx.pricing, u.model, u.provider, mix.avg, at);
  if (current === null || current === 0n) return null;
  const candidates = uses
    .filter((o) => o.provider === u.provider && o.model !== u.model)
    .map((o) => ({ model: o.model, cost: rules.costPerCall(ctx.pricing, o.model, o.provider, mix.avg, at) }))
    .filter((c): c is { model: string; cost: bigint } => c.cost !== null);
  const best = candidates.reduce<{ model: string; cost: bigint } | null>((b, c) => (c.cost < current && (!b || c.cost < b.cost) ? c : b), null);
  if (!best) return null;
  const perCall = current - best.cost;
  return {
    id: `switch_model:${u.model}@${u.provider ?? ''}`,
    type: 'switch_model',
    title: `Use ${best.model} instead of ${u.model} for short answers`,
    problem: `${u.model} answered ${mix.calls} calls with ${mix.avg.outputTokens} output tokens on average (short: at most ${rules.SHORT_OUTPUT_TOKENS}), at ${usd(current)} USD per call.`,
    solution: `Route these calls to ${best.model} (same provider${u.provider ? ` ${u.provider}` : ''}): the same token mix costs ${usd(best.cost)} USD per call.`,
    action: { type: 'switch_model', from: u.model, to: best.model, provider: u.provider },
    evidence: {
      model: u.model, provider: u.provider, calls: Number(mix.calls), averageCall: mix.avg, shortOutputTokens: rules.SHORT_OUTPUT_TOKENS,
      recordedCostExact: usd(costOf(u.group)), costPerCallExact: usd(current), alternativeCostPerCallExact: usd(best.cost),
      candidates: candidates.map((c) => ({ model: c.model, costPerCallExact: usd(c.cost) })), pricedAt: at.toISOString(),
    },
    rangeSaving: perCall * mix.calls,
    base: current * mix.calls,
  };
}

function enableCaching(ctx: AnalyticsContext, u: ModelUse, at: Date): Finding | null {
  const mix = rules.mixOf(u.group);
  const input = BigInt(u.group.exact.inputTokens);
  const uncached = input - BigInt(u.group.exact.cachedInputTokens) - BigInt(u.group.exact.cacheWriteTokens);
  if (mix.calls < BigInt(rules.MIN_CALLS) || input === 0n || uncached * 100n < input * BigInt(rules.UNCACHED_INPUT_PERCENT)) return null;
  if (mix.avg.inputTokens < rules.MIN_CACHEABLE_PROMPT_TOKENS || !rules.hasCheaperCachedRate(ctx.pricing, u.model, u.provider, at)) return null;
  const avgUncached = mix.avg.inputTokens - mix.avg.cachedInputTokens - mix.avg.cacheWriteTokens;
  const moved = Math.floor((avgUncached * rules.ASSUMED_CACHEABLE_PERCENT) / 100);
  const cachedMix = { ...mix.avg, cachedInputTokens: mix.avg.cachedInputTokens + moved };
  const now = rules.costPerCall(ctx.pricing, u.model, u.provider, mix.avg, at);
  const after = rules.costPerCall(ctx.pricing, u.model, u.provider, cachedMix, at);
  if (now === null || after === null || after >= now) return null;
  const share = percentOf(uncached, input);
  return {
    id: `enable_prompt_caching:${u.model}@${u.provider ?? ''}`,
    type: 'enable_prompt_caching',
    title: `Enable prompt caching on ${u.model}`,
    problem: `${share}% of the ${input} input tokens sent to ${u.model} were not read from a cache (${mix.avg.inputTokens} input tokens per call on average), while its cache reads cost less than plain input.`,
    solution: `Put the repeated part of the prompts first and enable the provider's prompt caching: if ${rules.ASSUMED_CACHEABLE_PERCENT}% of the uncached input became cache reads, a call would cost ${usd(after)} USD instead of ${usd(now)}.`,
    action: { type: 'enable_prompt_caching', model: u.model, provider: u.provider },
    evidence: {
      model: u.model, provider: u.provider, calls: Number(mix.calls), inputTokens: input.toString(), uncachedInputTokens: uncached.toString(),
      uncachedPercent: share, thresholdUncachedPercent: rules.UNCACHED_INPUT_PERCENT, minPromptTokens: rules.MIN_CACHEABLE_PROMPT_TOKENS,
      assumedCacheablePercent: rules.ASSUMED_CACHEABLE_PERCENT, averageCall: mix.avg, averageCallCached: cachedMix,
      costPerCallExact: usd(now), costPerCallCachedExact: usd(after), pricedAt: at.toISOString(),
    },
    rangeSaving: (now - after) * mix.calls,
    base: now * mix.calls,
  };
}

async function fixFailures(ctx: AnalyticsContext, filters: UsageFilters): Promise<Finding[]> {
  // Failure counts come from the per-agent sums (rollups); the failed calls' cost and error classes need
  // the records (no rollup splits by success), so they are read for the flagged agents only.
  const flagged = (await ctx.groupBy('agentName', filters)).filter((g): g is UsageGroup & { key: string } => {
    const [calls, fails] = [BigInt(g.exact.recordCount), BigInt(g.exact.failedCount)];
    return g.key !== null && calls >= BigInt(rules.MIN_CALLS) && fails * 100n > calls * BigInt(rules.FAILURE_RATE_PERCENT);
  });
  const failures = await mapConcurrent(flagged, async (g) => {
    const failedOnly = { ...filters, agentName: g.key, success: false };
    const [failedTotals, errors] = await Promise.all([ctx.reader.getUsageAggregate(failedOnly), ctx.groupBy('errorType', failedOnly)]);
    return { failedCost: costOf(failedTotals), errors: errors.sort(byCostDesc) };
  });
  const out: Finding[] = [];
  for (const [i, g] of flagged.entries()) {
    const [calls, fails] = [BigInt(g.exact.recordCount), BigInt(g.exact.failedCount)];
    const { failedCost, errors } = failures[i];
    const rate = percentOf(fails, calls);
    out.push({
      id: `fix_failures:${g.key}`,
      type: 'fix_failures',
      title: `Fix the failing calls of ${g.key}`,
      problem: `${g.key} failed ${fails} of ${calls} calls (${rate}%, above ${rules.FAILURE_RATE_PERCENT}%), spending ${usd(failedCost)} USD on calls that failed.`,
      solution: `Look at its errors (${errors.map((e) => `${e.key ?? 'unknown'}: ${e.recordCount}`).join(', ')}): retry with backoff on rate limits, validate inputs, fix the tool or prompt that fails.`,
      action: { type: 'fix_failures', agent: g.key, errorTypes: errors.map((e) => e.key) },
      evidence: {
        agent: g.key, calls: Number(calls), failedCalls: Number(fails), failureRate: rate, thresholdFailureRate: rules.FAILURE_RATE_PERCENT,
        failedCostExact: usd(failedCost), agentCostExact: usd(costOf(g)), errorTypes: errors.map((e) => ({ errorType: e.key, calls: e.recordCount, costExact: usd(costOf(e)) })),
      },
      rangeSaving: failedCost,
      base: costOf(g),
    });
  }
  return out;
}

export async function getRecommendations(ctx: AnalyticsContext, query: UsageRangeQuery): Promise<UsageRecommendations> {
  const r = await ctx.resolve(query, 'month');
  const days = BigInt(Math.max(1, r.days.length));
  const at = ctx.now();
  const findings: Finding[] = [];
  let total = 0n;
  if (r.days.length) {
    total = costOf(await ctx.reader.getUsageAggregate(r.filters));
    const uses = await modelUses(ctx, r.filters);
    for (const u of uses) findings.push(...[switchModel(ctx, uses, u, at), enableCaching(ctx, u, at)].filter((f): f is Finding => f !== null));
    findings.push(...(await fixFailures(ctx, r.filters)));
  }
  findings.sort((a, b) => (a.rangeSaving === b.rangeSaving ? (a.id < b.id ? -1 : 1) : a.rangeSaving > b.rangeSaving ? -1 : 1));
  let sum = 0n;
  const recommendations = findings.map(({ rangeSaving, base, ...f }): UsageRecommendation => {
    const perDay = divRound(rangeSaving, days);
    sum += perDay;
    const m = money(perDay);
    f.evidence = { ...f.evidence, rangeDays: Number(days), rangeSavingsExact: usd(rangeSaving), rangeTotalCostExact: usd(total) };
    return { ...f, estimatedSavings: m.usd, estimatedSavingsExact: m.exact, percentReduction: percentOf(rangeSaving, base) ?? 0, priority: rules.priorityOf(rangeSaving, total) };
  });
  const t = money(sum);
  return { range: r.range, recommendations, totalEstimatedSavings: t.usd, totalEstimatedSavingsExact: t.exact };
}
