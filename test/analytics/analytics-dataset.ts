/**
 * The known data set of the analytics suites and its oracle. Records have fixed `recordedAt` instants in
 * America/New_York around the end of DST (2026-11-01, a 25-hour day), on both sides of local midnights,
 * 25 records on one millisecond, a day without records (2026-10-27) and explicit costs (some unknown).
 * The oracle computes every expected figure from these inputs with BigInt and Luxon's calendar: it
 * imports nothing from the library.
 */
import { DateTime } from 'luxon';
import type { UsageRecordInput } from 'nestjs-agent-usage';
import { prng } from 'nestjs-agent-usage/testing';

export const ZONE = 'America/New_York';
/** "Now" of the suites (the USAGE_CLOCK seam): Wednesday 2026-11-04 15:00 EST. */
export const NOW = DateTime.fromISO('2026-11-04T15:00:00', { zone: ZONE }).toMillis();
export const TODAY = '2026-11-04';
export const EMPTY_DAY = '2026-10-27';

/** Per-1M-token USD rates of the price overrides (pricing.table off): the oracle re-prices with them. */
export const RATES: Record<string, { provider: string; input: string; cachedInput: string; cacheWrite: string; output: string; reasoning: string }> = {
  'big-model': { provider: 'acme', input: '2.5', cachedInput: '1.25', cacheWrite: '3.125', output: '10', reasoning: '10' },
  'small-model': { provider: 'acme', input: '0.15', cachedInput: '0.075', cacheWrite: '0.15', output: '0.6', reasoning: '0.6' },
};
export const PRICING = {
  table: false,
  overrides: Object.entries(RATES).map(([match, r]) => ({ match, provider: r.provider, input: r.input, cachedInput: r.cachedInput, cacheWrite: r.cacheWrite, output: r.output, reasoning: r.reasoning })),
};

export interface Rec {
  id: string;
  ms: number;
  agentName: string | null;
  userId: string | null;
  modelName: string | null;
  providerName: string | null;
  inputTokens: number;
  cachedInputTokens: number;
  outputTokens: number;
  reasoningTokens: number;
  success: boolean;
  errorType: string | null;
  costNanoUsd: number | null;
  category: string;
  units: number | null;
}

const local = (iso: string) => DateTime.fromISO(iso, { setZone: true }).toMillis();

function makeRecord(i: number, ms: number, r: () => number, id = `an-${String(i).padStart(4, '0')}`): Rec {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  const int = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
  const agentName = pick(['support', 'support', 'sales', 'research', 'flaky', null] as const);
  const modelName = agentName === 'research' ? pick(['small-model', 'other-model'] as const) : r() < 0.06 ? null : pick(['big-model', 'big-model', 'small-model'] as const);
  const providerName = modelName === null ? null : modelName === 'other-model' ? 'zeta' : 'acme';
  let inputTokens: number, cachedInputTokens: number, outputTokens: number;
  if (modelName === 'big-model') [inputTokens, outputTokens] = [int(2000, 4000), int(40, 300)];
  else if (modelName === 'small-model') [inputTokens, outputTokens] = [int(500, 1500), int(100, 900)];
  else [inputTokens, outputTokens] = [int(100, 300), int(1000, 3000)];
  if (modelName === 'big-model') cachedInputTokens = Math.floor(inputTokens * r() * 0.1);
  else cachedInputTokens = Math.floor(inputTokens * (0.6 + r() * 0.3));
  const success = r() >= (agentName === 'flaky' ? 0.4 : 0.03);
  return {
    id,
    ms,
    agentName,
    userId: pick(['u1', 'u2', 'u3', null] as const),
    modelName,
    providerName,
    inputTokens,
    cachedInputTokens,
    outputTokens,
    reasoningTokens: Math.floor(outputTokens * r() * 0.25),
    success,
    errorType: success ? null : pick(['RateLimitError', 'TimeoutError'] as const),
    costNanoUsd: r() < 0.05 ? null : int(0, 5_000_000),
    category: 'chat',
    units: null,
  };
}

/** An operation billed per unit (no tokens): an image generation or a web scrape. */
function makeOperation(i: number, ms: number, r: () => number, category: 'image' | 'web_scrape'): Rec {
  const x = makeRecord(i, ms, r, `an-op-${String(i).padStart(4, '0')}`);
  const image = category === 'image';
  return {
    ...x,
    modelName: image ? 'image-gen' : null,
    providerName: image ? 'acme' : null,
    inputTokens: 0,
    cachedInputTokens: 0,
    outputTokens: 0,
    reasoningTokens: 0,
    category,
    units: 1 + Math.floor(r() * 4),
  };
}

/** The data set: 240 random model calls, the boundary ones, 25 on one millisecond, 30 per-unit operations. */
export function dataset(): Rec[] {
  const r = prng(20261104);
  const from = local('2026-10-20T00:00:00-04:00');
  const out: Rec[] = [];
  const instant = () => {
    const ms = from + Math.floor(r() * (NOW - from));
    return dayOf(ms) === EMPTY_DAY ? ms + 86_400_000 : ms;
  };
  for (let i = 0; i < 240; i++) out.push(makeRecord(i, instant(), r));
  const edges = [
    '2026-10-31T23:59:59.999-04:00', // last ms of Oct 31 (EDT)
    '2026-11-01T00:00:00.000-04:00', // first ms of Nov 1
    '2026-11-01T01:30:00.000-04:00', // 01:30 twice: before the fall-back...
    '2026-11-01T01:30:00.000-05:00', // ...and after it (the same wall hour)
    '2026-11-01T23:59:59.999-05:00', // last ms of the 25-hour day
    '2026-11-02T00:00:00.000-05:00', // first ms of Monday
    '2026-11-04T00:00:00.000-05:00', // first ms of today
    '2026-11-04T14:59:59.999-05:00', // just before now
  ];
  edges.forEach((iso, j) => out.push(makeRecord(1000 + j, local(iso), r, `an-edge-${j}`)));
  const same = local('2026-11-03T12:00:00.000-05:00');
  for (let j = 0; j < 25; j++) out.push(makeRecord(2000 + j, same, r, `an-same-${String(j).padStart(2, '0')}`));
  for (let j = 0; j < 30; j++) out.push(makeOperation(3000 + j, instant(), r, j % 3 ? 'image' : 'web_scrape'));
  return out;
}

export function toInput(x: Rec): UsageRecordInput {
  return {
    id: x.id,
    agentName: x.agentName,
    userId: x.userId,
    modelName: x.modelName,
    providerName: x.providerName,
    inputTokens: x.inputTokens,
    cachedInputTokens: x.cachedInputTokens,
    outputTokens: x.outputTokens,
    reasoningTokens: x.reasoningTokens,
    success: x.success,
    errorType: x.errorType,
    costNanoUsd: x.costNanoUsd,
    category: x.category,
    units: x.units,
    recordedAt: new Date(x.ms),
  };
}

// ---- the oracle ----

export const dayOf = (ms: number): string => DateTime.fromMillis(ms, { zone: ZONE }).toFormat('yyyy-MM-dd');
export const hourOf = (ms: number): number => DateTime.fromMillis(ms, { zone: ZONE }).hour;
export const dayStart = (day: string): number => DateTime.fromISO(day, { zone: ZONE }).startOf('day').toMillis();
export function days(start: string, end: string): string[] {
  const out: string[] = [];
  for (let d = DateTime.fromISO(start, { zone: 'UTC' }); d.toISODate()! <= end; d = d.plus({ days: 1 })) out.push(d.toISODate()!);
  return out;
}

export const usd = (nano: bigint): string => `${nano / 1_000_000_000n}.${(nano % 1_000_000_000n).toString().padStart(9, '0')}`;
export const halfUp = (num: bigint, den: bigint): bigint => (den === 0n ? 0n : (2n * num + den) / (2n * den));
export const pct = (num: bigint, den: bigint): number => Number(halfUp(num * 10000n, den)) / 100;

export interface Sums {
  cost: bigint;
  calls: bigint;
  tokens: bigint;
  input: bigint;
  cached: bigint;
  output: bigint;
  reasoning: bigint;
  failed: bigint;
}
export function sums(rs: readonly Rec[]): Sums {
  const s: Sums = { cost: 0n, calls: 0n, tokens: 0n, input: 0n, cached: 0n, output: 0n, reasoning: 0n, failed: 0n };
  for (const x of rs) {
    s.cost += BigInt(x.costNanoUsd ?? 0);
    s.calls += 1n;
    s.tokens += BigInt(x.inputTokens + x.outputTokens);
    s.input += BigInt(x.inputTokens);
    s.cached += BigInt(x.cachedInputTokens);
    s.output += BigInt(x.outputTokens);
    s.reasoning += BigInt(x.reasoningTokens);
    s.failed += x.success ? 0n : 1n;
  }
  return s;
}

export const inDays = (rs: readonly Rec[], start: string, end: string): Rec[] => rs.filter((x) => dayOf(x.ms) >= start && dayOf(x.ms) <= end);

/** Groups by a key, ordered by cost desc, calls desc, key (null last). */
export function groups(rs: readonly Rec[], key: (x: Rec) => string | null): { key: string | null; s: Sums }[] {
  const m = new Map<string | null, Rec[]>();
  for (const x of rs) m.set(key(x), [...(m.get(key(x)) ?? []), x]);
  return [...m]
    .map(([k, xs]) => ({ key: k, s: sums(xs) }))
    .sort((a, b) => {
      if (a.s.cost !== b.s.cost) return a.s.cost > b.s.cost ? -1 : 1;
      if (a.s.calls !== b.s.calls) return a.s.calls > b.s.calls ? -1 : 1;
      if (a.key === b.key) return 0;
      return a.key === null ? 1 : b.key === null ? -1 : a.key < b.key ? -1 : 1;
    });
}

/** Hamilton's method on hundredths: floors, then +0.01 to the largest remainders (earlier first on ties). */
export function hamilton(weights: bigint[]): number[] {
  const total = weights.reduce((a, b) => a + b, 0n);
  if (total === 0n) return weights.map(() => 0);
  const parts = weights.map((w, i) => ({ i, q: (w * 10000n) / total, r: (w * 10000n) % total }));
  const left = Number(10000n - parts.reduce((a, p) => a + p.q, 0n));
  const order = [...parts].sort((a, b) => (a.r === b.r ? a.i - b.i : a.r > b.r ? -1 : 1));
  const bonus = new Set(order.slice(0, left).map((p) => p.i));
  return parts.map((p) => Number(p.q + (bonus.has(p.i) ? 1n : 0n)) / 100);
}

/** pico-USD per token of a per-1M rate ("2.5" -> 2_500_000n). */
const pico = (perMillion: string): bigint => {
  const [w, f = ''] = perMillion.split('.');
  return BigInt(w) * 1_000_000n + BigInt(f.padEnd(6, '0'));
};

/** Oracle price of one call (counts per call), nano-USD rounded half-up from pico-USD. */
export function callCost(model: string, c: { input: bigint; cached: bigint; output: bigint; reasoning: bigint }): bigint | null {
  const r = RATES[model];
  if (!r) return null;
  const p = (c.input - c.cached) * pico(r.input) + c.cached * pico(r.cachedInput) + (c.output - c.reasoning) * pico(r.output) + c.reasoning * pico(r.reasoning);
  return (p + 500n) / 1000n;
}
