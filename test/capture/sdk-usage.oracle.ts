import { nanoUsdToString, UsageDimension, UsagePricingService, UsageService, UsageTotals } from 'nestjs-agent-usage';
import { USAGE_SUM_FIELDS } from 'nestjs-agent-usage/interfaces/usage-query.interface';

/**
 * The test's own reading of what the real SDK objects report, one entry per model request, in the
 * record's inclusive semantics. Written from the providers' documented fields, independently of the
 * library's normalizers, so a normalizer bug cannot hide behind its own expectation.
 */
export interface Expected {
  model: string;
  provider: string;
  input: number;
  cached: number;
  cacheWrite: number;
  output: number;
  reasoning: number;
  total: number;
}

/** Who made the call: the attribution the test expects on its records. */
export interface Attributed extends Expected {
  agent: string;
  user: string | null;
}

type Obj = Record<string, any>;

/** OpenAI Chat Completions (a completion, or the last chunk of a stream with include_usage). */
export function fromChat(model: string, u: Obj): Expected {
  return {
    model,
    provider: 'openai',
    input: u.prompt_tokens,
    cached: u.prompt_tokens_details?.cached_tokens ?? 0,
    cacheWrite: u.prompt_tokens_details?.cache_write_tokens ?? 0,
    output: u.completion_tokens,
    reasoning: u.completion_tokens_details?.reasoning_tokens ?? 0,
    total: u.total_tokens,
  };
}

/** OpenAI Responses (a response, or `response.completed`'s response). */
export function fromResponse(r: Obj): Expected {
  const u = r.usage;
  return {
    model: r.model,
    provider: 'openai',
    input: u.input_tokens,
    cached: u.input_tokens_details?.cached_tokens ?? 0,
    cacheWrite: u.input_tokens_details?.cache_write_tokens ?? 0,
    output: u.output_tokens,
    reasoning: u.output_tokens_details?.reasoning_tokens ?? 0,
    total: u.total_tokens,
  };
}

/** Anthropic: input_tokens excludes cache reads and writes. */
export function fromAnthropic(model: string, u: Obj): Expected {
  const input = u.input_tokens + (u.cache_read_input_tokens ?? 0) + (u.cache_creation_input_tokens ?? 0);
  return {
    model,
    provider: 'anthropic',
    input,
    cached: u.cache_read_input_tokens ?? 0,
    cacheWrite: u.cache_creation_input_tokens ?? 0,
    output: u.output_tokens,
    reasoning: u.output_tokens_details?.thinking_tokens ?? 0,
    total: input + u.output_tokens,
  };
}

/** Anthropic raw stream events: message_start's usage, updated by the cumulative message_delta. */
export function fromAnthropicEvents(events: Obj[]): Expected {
  const start = events.find((e) => e.type === 'message_start')!.message;
  const deltas = events.filter((e) => e.type === 'message_delta');
  const usage = { ...start.usage };
  for (const d of deltas) for (const [k, v] of Object.entries(d.usage ?? {})) if (v !== null && v !== undefined) usage[k] = v;
  return fromAnthropic(start.model, usage);
}

/** Gemini: the prompt excludes the tool-use prompt; candidates exclude thoughts. */
export function fromGemini(r: Obj): Expected {
  const m = r.usageMetadata;
  const input = m.promptTokenCount + (m.toolUsePromptTokenCount ?? 0);
  const output = (m.candidatesTokenCount ?? 0) + (m.thoughtsTokenCount ?? 0);
  return { model: r.modelVersion, provider: 'google', input, cached: m.cachedContentTokenCount ?? 0, cacheWrite: 0, output, reasoning: m.thoughtsTokenCount ?? 0, total: m.totalTokenCount };
}

/** One Vercel AI SDK step (LanguageModelUsage, inclusive, with details). */
export function fromAiStep(step: Obj): Expected {
  const u = step.usage;
  return {
    model: step.response.modelId,
    provider: String(step.model.provider).split('.')[0],
    input: u.inputTokens,
    cached: u.inputTokenDetails?.cacheReadTokens ?? 0,
    cacheWrite: u.inputTokenDetails?.cacheWriteTokens ?? 0,
    output: u.outputTokens,
    reasoning: u.outputTokenDetails?.reasoningTokens ?? 0,
    total: u.totalTokens,
  };
}

/**
 * An OpenAI Agents SDK run: per model request, the raw provider response the SDK keeps (`providerData`)
 * for non-streamed runs; for streamed runs, the raw model events the caller iterated.
 */
export function fromAgentsRun(result: Obj, iterated?: Obj[]): Expected[] {
  if (!iterated) {
    return result.rawResponses.map((r: Obj) => (r.providerData.object === 'response' ? fromResponse(r.providerData) : fromChat(r.providerData.model, r.providerData.usage)));
  }
  const out: Expected[] = [];
  for (const e of iterated) {
    if (e.type !== 'raw_model_stream_event' || e.data.type !== 'model') continue;
    const raw = e.data.event;
    if (raw.object === 'chat.completion.chunk' && raw.usage) out.push(fromChat(raw.model, raw.usage));
    if (raw.type === 'response.completed') out.push(fromResponse(raw.response));
  }
  return out;
}

const ZERO = (): UsageTotals => ({
  recordCount: 0,
  requests: 0,
  inputTokens: 0,
  cachedInputTokens: 0,
  cacheWriteTokens: 0,
  outputTokens: 0,
  reasoningTokens: 0,
  totalTokens: 0,
  failedCount: 0,
  usageMissingCount: 0,
  costNanoUsd: 0,
  costUsd: '0',
  unpricedCount: 0,
  runCount: 0,
  agentRunCount: 0,
  units: 0,
  exact: {} as UsageTotals['exact'],
});

/** Runs are made by the library (one per outermost tracked call): checked per run with expectGroupsMatch on runId. */
function withoutRuns(t: UsageTotals): Omit<UsageTotals, 'runCount' | 'agentRunCount'> {
  const { runCount: _r, agentRunCount: _a, exact, ...rest } = t;
  const { runCount: _er, agentRunCount: _ea, ...exactRest } = exact;
  return { ...rest, exact: exactRest as UsageTotals['exact'] };
}

/** Expected totals; each request priced on its own, as the library must price it. */
export function expectedTotals(list: readonly Expected[], pricing: UsagePricingService): UsageTotals {
  const t = ZERO();
  for (const e of list) {
    t.recordCount++;
    t.requests++;
    t.inputTokens += e.input;
    t.cachedInputTokens += e.cached;
    t.cacheWriteTokens += e.cacheWrite;
    t.outputTokens += e.output;
    t.reasoningTokens += e.reasoning;
    t.totalTokens += e.total;
    const cost = pricing.priceOf({
      modelName: e.model,
      providerName: e.provider,
      inputTokens: e.input,
      cachedInputTokens: e.cached,
      cacheWriteTokens: e.cacheWrite,
      outputTokens: e.output,
      reasoningTokens: e.reasoning,
    }).costNanoUsd;
    if (cost === null) t.unpricedCount++;
    else t.costNanoUsd += cost;
  }
  t.costUsd = nanoUsdToString(t.costNanoUsd);
  for (const k of USAGE_SUM_FIELDS) t.exact[k] = String(t[k]);
  return t;
}

const KEY_OF: Partial<Record<UsageDimension, (a: Attributed) => string | null>> = {
  agentName: (a) => a.agent,
  userId: (a) => a.user,
  modelName: (a) => a.model,
  providerName: (a) => a.provider,
};

/**
 * Compares every field of getUsageAggregate and of each group-by with the expectation. A new dimension
 * (say `runId`) is one more entry in `keyOf`.
 */
export async function expectExact(
  usage: UsageService,
  pricing: UsagePricingService,
  list: readonly Attributed[],
  dimensions: UsageDimension[] = ['agentName', 'userId', 'modelName', 'providerName'],
  keyOf: Partial<Record<UsageDimension, (a: Attributed) => string | null>> = KEY_OF,
): Promise<void> {
  expect(withoutRuns(await usage.getUsageAggregate())).toEqual(withoutRuns(expectedTotals(list, pricing)));
  for (const dim of dimensions) {
    const by = new Map<string | null, Attributed[]>();
    for (const a of list) {
      const k = keyOf[dim]!(a);
      by.set(k, [...(by.get(k) ?? []), a]);
    }
    const want = [...by.entries()].map(([key, items]) => ({ key, ...withoutRuns(expectedTotals(items, pricing)) }));
    const got = (await usage.getUsageGroupedBy(dim)).map(({ key, ...t }) => ({ key, ...withoutRuns(t) }));
    const sort = (g: { key: string | null }[]) => [...g].sort((a, b) => String(a.key).localeCompare(String(b.key)));
    expect({ dim, groups: sort(got) }).toEqual({ dim, groups: sort(want) });
  }
}

/**
 * For dimensions whose keys the library generates (a run id per outermost tracked call): the group-by
 * must have one group per expected set, with the same totals, whatever the keys are.
 */
export async function expectGroupsMatch(usage: UsageService, pricing: UsagePricingService, dimension: UsageDimension, sets: readonly (readonly Expected[])[]): Promise<void> {
  const norm = (t: UsageTotals) => JSON.stringify([t.recordCount, t.inputTokens, t.cachedInputTokens, t.cacheWriteTokens, t.outputTokens, t.reasoningTokens, t.totalTokens, t.costNanoUsd]);
  const got = (await usage.getUsageGroupedBy(dimension)).map((g) => norm(g)).sort();
  const want = sets.filter((s) => s.length > 0).map((s) => norm(expectedTotals(s, pricing))).sort();
  expect(got).toEqual(want);
}

/** Sum of a field, e.g. to check that a test really exercised cache writes. */
export const sumOf = (list: readonly Expected[], f: keyof Omit<Expected, 'model' | 'provider'>): number => list.reduce((s, e) => s + e[f], 0);

/**
 * Streams and runs are recorded when they end, a tick after the caller sees the end: wait for `count`
 * records, then a few more turns of the event loop so a duplicate record would show up too.
 */
export async function waitForRecords(usage: UsageService, count: number, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while ((await usage.getUsageAggregate()).recordCount < count && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}

/** Consumes an async iterable as a caller would, keeping what it yielded. */
export async function drain(s: AsyncIterable<any>): Promise<any[]> {
  const seen: any[] = [];
  for await (const e of s) seen.push(e);
  return seen;
}
