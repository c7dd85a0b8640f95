import { PER_MILLION_DECIMALS, PER_UNIT_DECIMALS } from './pricing.constants';
import { scaleDecimal } from './pricing-decimal.util';
import type { DecimalInput, PriceOverride, PriceTier } from './pricing-options.interface';

/** A rate in pico-USD per token, raised above input-token thresholds (ascending, strictly above). */
export interface TieredRate {
  base: bigint;
  tiers: readonly { above: number; rate: bigint }[];
}

/** Compiled prices of one model: one rate per exclusive bucket, integer pico-USD per token. */
export interface RateCard {
  input: TieredRate;
  cachedInput: TieredRate;
  cacheWrite: TieredRate;
  output: TieredRate;
  reasoning: TieredRate;
  /** pico-USD per model request (a few table models charge per request). */
  perRequest: bigint;
}

/** Counts as the record holds them (inclusive; null = unknown). */
export interface PricedCounts {
  inputTokens: number | null;
  cachedInputTokens: number | null;
  cacheWriteTokens: number | null;
  outputTokens: number | null;
  reasoningTokens: number | null;
  requests: number;
  /** Queries (agent runs) these counts start: 1 on an agent's first record in a run, else 0. Default 1. */
  queries?: number;
}

const flat = (rate: bigint): TieredRate => ({ base: rate, tiers: [] });

function rateAt(r: TieredRate, inputTokens: number): bigint {
  let rate = r.base;
  for (const t of r.tiers) {
    if (inputTokens > t.above) rate = t.rate;
    else break;
  }
  return rate;
}

/**
 * Exact cost in pico-USD, not rounded. Buckets are exclusive so nothing is billed twice:
 * uncached input = input - cache reads - cache writes; plain output = output - reasoning.
 * Unknown parts count as 0 (callers decide beforehand when the whole usage is unknown); an unknown total
 * is taken as at least its known parts. Tiers are chosen on this request's whole input.
 */
export function costPico(card: RateCard, c: PricedCounts): bigint {
  const cached = c.cachedInputTokens ?? 0;
  const written = c.cacheWriteTokens ?? 0;
  const input = Math.max(c.inputTokens ?? 0, cached + written);
  const reasoning = c.reasoningTokens ?? 0;
  const output = Math.max(c.outputTokens ?? 0, reasoning);
  const rIn = rateAt(card.input, input);
  const rCached = rateAt(card.cachedInput, input);
  const rWrite = rateAt(card.cacheWrite, input);
  const rOut = rateAt(card.output, input);
  const rReason = rateAt(card.reasoning, input);
  // This runs once per model call: about seventeen BigInt operations (each one an allocation) when a few
  // Number operations are exact. They are exact here: every term is a product of non-negative integers,
  // so each term and each partial sum is at most the total, and a total within 2^53 - 1 means none was
  // rounded (a rounded term would exceed 2^53 and so would the total). Otherwise: BigInt, as before.
  if (rIn >= 0n && rCached >= 0n && rWrite >= 0n && rOut >= 0n && rReason >= 0n && card.perRequest >= 0n) {
    const total =
      (input - cached - written) * Number(rIn) +
      cached * Number(rCached) +
      written * Number(rWrite) +
      (output - reasoning) * Number(rOut) +
      reasoning * Number(rReason) +
      c.requests * Number(card.perRequest);
    if (total <= Number.MAX_SAFE_INTEGER) return BigInt(total);
  }
  return (
    BigInt(input - cached - written) * rIn +
    BigInt(cached) * rCached +
    BigInt(written) * rWrite +
    BigInt(output - reasoning) * rOut +
    BigInt(reasoning) * rReason +
    BigInt(c.requests) * card.perRequest
  );
}

/** Rounds pico-USD half-up to integer nano-USD: the one rounding step of a cost. */
export function picoToNano(pico: bigint): bigint {
  return (pico + 500n) / 1000n;
}

type Bucket = 'input' | 'cachedInput' | 'cacheWrite' | 'output' | 'reasoning';
const BUCKETS: readonly Bucket[] = ['input', 'cachedInput', 'cacheWrite', 'output', 'reasoning'];

/**
 * Compiles an override's rates (validated beforehand). A tier inherits each rate it leaves out from the
 * tier below; then, at every level, cache rates default to that level's input and reasoning to its output.
 */
export function cardFromOverride(o: PriceOverride): RateCard {
  const perMillion = (v: DecimalInput) => scaleDecimal(v, PER_MILLION_DECIMALS);
  const levels: { above: number; explicit: Partial<Record<Bucket, bigint>> }[] = [];
  let explicit: Partial<Record<Bucket, bigint>> = {};
  for (const b of BUCKETS) if (o[b] !== undefined) explicit[b] = perMillion(o[b] as DecimalInput);
  levels.push({ above: -1, explicit });
  const tiers = [...(o.tiers ?? [])].sort((a: PriceTier, b: PriceTier) => a.aboveInputTokens - b.aboveInputTokens);
  for (const t of tiers) {
    explicit = { ...explicit };
    for (const b of BUCKETS) if (t[b] !== undefined) explicit[b] = perMillion(t[b] as DecimalInput);
    levels.push({ above: t.aboveInputTokens, explicit });
  }
  const resolved = levels.map(({ above, explicit: e }) => {
    const input = e.input ?? 0n;
    const output = e.output ?? 0n;
    return {
      above,
      rates: { input, output, cachedInput: e.cachedInput ?? input, cacheWrite: e.cacheWrite ?? input, reasoning: e.reasoning ?? output },
    };
  });
  const tiered = (b: Bucket): TieredRate => ({
    base: resolved[0].rates[b],
    tiers: resolved.slice(1).map((l) => ({ above: l.above, rate: l.rates[b] })),
  });
  return {
    input: tiered('input'),
    cachedInput: tiered('cachedInput'),
    cacheWrite: tiered('cacheWrite'),
    output: tiered('output'),
    reasoning: tiered('reasoning'),
    perRequest: 0n,
  };
}

/** A bundled-table price value: a number, or `{ base, tiers: [{ start, price }] }` (start = input tokens above which it applies). */
type TablePrice = number | { base: number; tiers: { start: number; price: number }[] } | undefined;

function tableRate(v: TablePrice, decimals: number): TieredRate | undefined {
  if (v === undefined) return undefined;
  // The table is data, not user input: float noise past the 6th decimal is rounded, not rejected.
  if (typeof v === 'number') return flat(scaleDecimal(v, decimals, 'half-up'));
  return {
    base: scaleDecimal(v.base, decimals, 'half-up'),
    tiers: [...v.tiers].sort((a, b) => a.start - b.start).map((t) => ({ above: t.start, rate: scaleDecimal(t.price, decimals, 'half-up') })),
  };
}

/** The token-priced keys of the table this library understands. */
const TABLE_TOKEN_KEYS = ['input_mtok', 'cache_read_mtok', 'cache_write_mtok', 'output_mtok', 'output_reasoning_mtok'];

/**
 * Compiles one table price set, with the table's own semantics: a missing cache rate bills those tokens
 * as input, a missing reasoning rate bills them as output, any other missing key costs nothing.
 * Returns null for models priced only in units records do not count (audio hours, images...): a cost
 * of 0 would be a lie there.
 */
export function cardFromTable(prices: Record<string, unknown>): RateCard | null {
  const p = prices as Record<string, TablePrice>;
  const keys = Object.keys(p).filter((k) => p[k] !== undefined);
  if (keys.length > 0 && !keys.some((k) => TABLE_TOKEN_KEYS.includes(k))) return null;
  const input = tableRate(p.input_mtok, PER_MILLION_DECIMALS) ?? flat(0n);
  const output = tableRate(p.output_mtok, PER_MILLION_DECIMALS) ?? flat(0n);
  const perThousandRequests = p.requests_kcount;
  return {
    input,
    cachedInput: tableRate(p.cache_read_mtok, PER_MILLION_DECIMALS) ?? input,
    cacheWrite: tableRate(p.cache_write_mtok, PER_MILLION_DECIMALS) ?? input,
    output,
    reasoning: tableRate(p.output_reasoning_mtok, PER_MILLION_DECIMALS) ?? output,
    // USD per 1,000 requests -> pico-USD per request = x 1e12 / 1e3 = 9 decimal places.
    perRequest: typeof perThousandRequests === 'number' ? scaleDecimal(perThousandRequests, 9, 'half-up') : 0n,
  };
}

/** Agent prices (LiteLLM style) in pico-USD. */
export interface AgentCard {
  name: string;
  perQuery: bigint | null;
  perInputToken: bigint | null;
  perOutputToken: bigint | null;
  mode: 'replace' | 'add';
}

export function agentCard(
  name: string,
  a: { costPerQuery?: DecimalInput; inputCostPerToken?: DecimalInput; outputCostPerToken?: DecimalInput; mode?: 'replace' | 'add' },
): AgentCard {
  const usd = (v: DecimalInput | undefined) => (v === undefined || v === null ? null : scaleDecimal(v, PER_UNIT_DECIMALS));
  return {
    name,
    perQuery: usd(a.costPerQuery),
    perInputToken: usd(a.inputCostPerToken),
    perOutputToken: usd(a.outputCostPerToken),
    mode: a.mode ?? 'replace',
  };
}

/** The agent's own part of a cost in pico-USD; null when it needs token counts that are unknown. */
export function agentCostPico(a: AgentCard, c: PricedCounts, usageKnown: boolean): bigint | null {
  // Once per run of the agent (LiteLLM's "cost per query"), not per model call of that run.
  let pico = a.perQuery !== null ? BigInt(c.queries ?? 1) * a.perQuery : 0n;
  if (a.perInputToken !== null || a.perOutputToken !== null) {
    if (!usageKnown) return null;
    const input = Math.max(c.inputTokens ?? 0, (c.cachedInputTokens ?? 0) + (c.cacheWriteTokens ?? 0));
    const output = Math.max(c.outputTokens ?? 0, c.reasoningTokens ?? 0);
    pico += BigInt(input) * (a.perInputToken ?? 0n) + BigInt(output) * (a.perOutputToken ?? 0n);
  }
  return pico;
}
