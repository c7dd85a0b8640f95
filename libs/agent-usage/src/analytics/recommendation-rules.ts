/**
 * The thresholds and the token-mix re-pricing behind the recommendations. A model's mix is its summed
 * token counts over the range; it is priced as its average call (each count floored per call, so the
 * token relations of the records still hold) x calls, with `UsagePricingService.priceOf` at today's
 * prices, for the model in use and for each alternative: the same way both times.
 */
import type { UsageGroup } from '../interfaces/usage-query.interface';
import type { UsagePricingService } from '../pricing/pricing.service';

/** switch_model: models whose calls average at most this many output tokens ("short answers"). */
export const SHORT_OUTPUT_TOKENS = 500;
/** enable_prompt_caching: uncached input at least this percent of the input... */
export const UNCACHED_INPUT_PERCENT = 50;
/** ...with prompts of at least this many input tokens on average (providers cache long prompts only)... */
export const MIN_CACHEABLE_PROMPT_TOKENS = 1024;
/** ...of which this percent is assumed to become cache reads once caching is on (stated in evidence). */
export const ASSUMED_CACHEABLE_PERCENT = 50;
/** fix_failures: agents failing more than this percent of their calls. */
export const FAILURE_RATE_PERCENT = 10;
/** Fewer calls than this are not enough to recommend anything about a model or an agent. */
export const MIN_CALLS = 5;
/** Priority by the saving's share of the range's total spend. */
export const HIGH_PRIORITY_PERCENT = 10;
export const MEDIUM_PRIORITY_PERCENT = 2;

/** One average call of a mix (token counts per call, floored). */
export interface AverageCall {
  inputTokens: number;
  cachedInputTokens: number;
  cacheWriteTokens: number;
  outputTokens: number;
  reasoningTokens: number;
  requests: number;
}

export interface TokenMix {
  calls: bigint;
  avg: AverageCall;
}

export function mixOf(g: UsageGroup): TokenMix {
  const calls = BigInt(g.exact.recordCount);
  const per = (k: 'inputTokens' | 'cachedInputTokens' | 'cacheWriteTokens' | 'outputTokens' | 'reasoningTokens' | 'requests') =>
    calls === 0n ? 0 : Number(BigInt(g.exact[k]) / calls);
  return {
    calls,
    avg: {
      inputTokens: per('inputTokens'),
      cachedInputTokens: per('cachedInputTokens'),
      cacheWriteTokens: per('cacheWriteTokens'),
      outputTokens: per('outputTokens'),
      reasoningTokens: per('reasoningTokens'),
      requests: Math.max(1, per('requests')),
    },
  };
}

/** Nano-USD of one call of `avg` on a model at `at`; null when the model has no token price. */
export function costPerCall(pricing: UsagePricingService, model: string, provider: string | null, avg: AverageCall, at: Date): bigint | null {
  try {
    const q = pricing.priceOf({ modelName: model, providerName: provider, ...avg, at });
    return q.costNanoUsd === null ? null : BigInt(q.costNanoUsd);
  } catch {
    return null; // counts the price card cannot take: no figure rather than a wrong one
  }
}

/** True when the model's card bills cache reads below plain input (1M tokens each way). */
export function hasCheaperCachedRate(pricing: UsagePricingService, model: string, provider: string | null, at: Date): boolean {
  const none = { cachedInputTokens: 0, cacheWriteTokens: 0, outputTokens: 0, reasoningTokens: 0, requests: 0 };
  const plain = costPerCall(pricing, model, provider, { ...none, inputTokens: 1_000_000 }, at);
  const cached = costPerCall(pricing, model, provider, { ...none, inputTokens: 1_000_000, cachedInputTokens: 1_000_000 }, at);
  return plain !== null && cached !== null && cached < plain;
}

export function priorityOf(savingNano: bigint, totalNano: bigint): 'high' | 'medium' | 'low' {
  if (totalNano > 0n && savingNano * 100n >= totalNano * BigInt(HIGH_PRIORITY_PERCENT)) return 'high';
  if (totalNano > 0n && savingNano * 100n >= totalNano * BigInt(MEDIUM_PRIORITY_PERCENT)) return 'medium';
  return 'low';
}
