/**
 * Provider responses -> one shape. Counts follow the record's inclusive semantics (see UsageRecord):
 * OpenAI and Gemini prompts already include cached tokens; Anthropic and Bedrock inputs exclude cache
 * reads and writes, so those are added; Gemini candidates exclude thoughts, so thoughts are added.
 * A count the provider did not send stays null.
 */
export interface NormalizedUsage {
  providerName: string | null;
  modelName: string | null;
  inputTokens: number | null;
  cachedInputTokens: number | null;
  cacheWriteTokens: number | null;
  outputTokens: number | null;
  reasoningTokens: number | null;
  totalTokens: number | null;
  /** A model response was recognised, but it carried no usage. */
  usageMissing: boolean;
}

type Obj = Record<string, any>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null;
/** A count only when the provider sent a usable one. */
const n = (v: unknown): number | null => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : null);
const sum = (...vs: (number | null)[]): number | null => {
  if (vs[0] === null) return null;
  let s = 0;
  for (const v of vs) s += v ?? 0;
  return s;
};
const str = (v: unknown): string | null => (typeof v === 'string' && v.length > 0 ? v : null);

/** A recognised model response that carried no usage: every count unknown. */
export function missing(providerName: string | null, modelName: string | null): NormalizedUsage {
  return {
    providerName,
    modelName,
    inputTokens: null,
    cachedInputTokens: null,
    cacheWriteTokens: null,
    outputTokens: null,
    reasoningTokens: null,
    totalTokens: null,
    usageMissing: true,
  };
}

function totalOf(input: number | null, output: number | null, reported: unknown): number | null {
  return n(reported) ?? (input !== null && output !== null ? input + output : null);
}

/** OpenAI Chat Completions usage (also many OpenAI-compatible APIs). */
function openAiChat(u: Obj, provider: string | null, model: string | null): NormalizedUsage {
  const input = n(u.prompt_tokens);
  const output = n(u.completion_tokens);
  return {
    providerName: provider,
    modelName: model,
    inputTokens: input,
    cachedInputTokens: n(u.prompt_tokens_details?.cached_tokens),
    cacheWriteTokens: null,
    outputTokens: output,
    reasoningTokens: n(u.completion_tokens_details?.reasoning_tokens),
    totalTokens: totalOf(input, output, u.total_tokens),
    usageMissing: input === null && output === null,
  };
}

/** OpenAI Responses API usage, and the OpenAI Agents SDK Usage (camelCase details). */
function openAiResponses(u: Obj, provider: string | null, model: string | null): NormalizedUsage {
  const input = n(u.input_tokens ?? u.inputTokens);
  const output = n(u.output_tokens ?? u.outputTokens);
  const inDetails = u.input_tokens_details ?? u.inputTokensDetails;
  const outDetails = u.output_tokens_details ?? u.outputTokensDetails;
  return {
    providerName: provider,
    modelName: model,
    inputTokens: input,
    cachedInputTokens: n(inDetails?.cached_tokens ?? inDetails?.cachedTokens),
    cacheWriteTokens: null,
    outputTokens: output,
    reasoningTokens: n(outDetails?.reasoning_tokens ?? outDetails?.reasoningTokens),
    totalTokens: totalOf(input, output, u.total_tokens ?? u.totalTokens),
    usageMissing: input === null && output === null,
  };
}

/** Anthropic Messages: input_tokens excludes cache reads and writes. */
function anthropic(u: Obj, provider: string | null, model: string | null): NormalizedUsage {
  const base = n(u.input_tokens);
  const read = n(u.cache_read_input_tokens);
  const write = n(u.cache_creation_input_tokens);
  const input = sum(base, read, write);
  const output = n(u.output_tokens);
  return {
    providerName: provider,
    modelName: model,
    inputTokens: input,
    cachedInputTokens: base === null ? null : (read ?? 0),
    cacheWriteTokens: base === null ? null : (write ?? 0),
    outputTokens: output,
    reasoningTokens: null,
    totalTokens: input !== null && output !== null ? input + output : null,
    usageMissing: input === null && output === null,
  };
}

/** Gemini usageMetadata: prompt includes cached content; candidates exclude thoughts. */
function gemini(u: Obj, provider: string | null, model: string | null): NormalizedUsage {
  const prompt = n(u.promptTokenCount);
  const candidates = n(u.candidatesTokenCount);
  const thoughts = n(u.thoughtsTokenCount);
  const output = candidates === null && thoughts === null ? null : (candidates ?? 0) + (thoughts ?? 0);
  return {
    providerName: provider,
    modelName: model,
    inputTokens: prompt,
    cachedInputTokens: prompt === null ? null : (n(u.cachedContentTokenCount) ?? 0),
    cacheWriteTokens: null,
    outputTokens: output,
    reasoningTokens: output === null ? null : (thoughts ?? 0),
    totalTokens: totalOf(prompt, output, u.totalTokenCount),
    usageMissing: prompt === null && output === null,
  };
}

/** Bedrock Converse: inputTokens excludes cache reads and writes. */
function bedrock(u: Obj, provider: string | null, model: string | null): NormalizedUsage {
  const base = n(u.inputTokens);
  const read = n(u.cacheReadInputTokens);
  const write = n(u.cacheWriteInputTokens);
  const input = sum(base, read, write);
  const output = n(u.outputTokens);
  return {
    providerName: provider,
    modelName: model,
    inputTokens: input,
    cachedInputTokens: base === null ? null : (read ?? 0),
    cacheWriteTokens: base === null ? null : (write ?? 0),
    outputTokens: output,
    reasoningTokens: null,
    totalTokens: totalOf(input, output, u.totalTokens),
    usageMissing: input === null && output === null,
  };
}

/** Generic camelCase usage (Vercel AI SDK and plain `{ model, usage }` objects): inclusive counts. */
function generic(u: Obj, provider: string | null, model: string | null): NormalizedUsage {
  const input = n(u.inputTokens ?? u.input_tokens ?? u.promptTokens);
  const output = n(u.outputTokens ?? u.output_tokens ?? u.completionTokens);
  return {
    providerName: provider,
    modelName: model,
    inputTokens: input,
    cachedInputTokens: n(u.cachedInputTokens ?? u.cacheReadTokens ?? u.inputTokenDetails?.cacheReadTokens),
    cacheWriteTokens: n(u.cacheWriteTokens ?? u.cacheCreationTokens ?? u.inputTokenDetails?.cacheWriteTokens),
    outputTokens: output,
    reasoningTokens: n(u.reasoningTokens ?? u.outputTokenDetails?.reasoningTokens),
    totalTokens: totalOf(input, output, u.totalTokens ?? u.total_tokens),
    usageMissing: input === null && output === null,
  };
}

/** Dispatches on the usage object's own field names. */
function fromUsageObject(u: Obj, provider: string | null, model: string | null): NormalizedUsage {
  if ('prompt_tokens' in u || 'completion_tokens' in u) return openAiChat(u, provider ?? 'openai', model);
  if ('cache_read_input_tokens' in u || 'cache_creation_input_tokens' in u) return anthropic(u, provider ?? 'anthropic', model);
  if ('input_tokens_details' in u || 'inputTokensDetails' in u || 'output_tokens_details' in u) {
    return openAiResponses(u, provider ?? 'openai', model);
  }
  if ('promptTokenCount' in u || 'candidatesTokenCount' in u) return gemini(u, provider ?? 'google', model);
  if ('cacheReadInputTokens' in u || 'cacheWriteInputTokens' in u) return bedrock(u, provider ?? 'bedrock', model);
  return generic(u, provider, model);
}

/**
 * Recognises one model response and extracts its usage. Returns null when `value` is not a model
 * response at all (a plain string, a DTO...): nothing is recorded for it.
 */
export function normalizeResponse(value: unknown): NormalizedUsage | null {
  if (!isObj(value)) return null;
  const model = str(value.model) ?? str(value.modelVersion) ?? str(value.response?.modelId) ?? str(value.modelId);
  // OpenAI Chat Completions
  if (value.object === 'chat.completion') {
    return isObj(value.usage) ? openAiChat(value.usage, 'openai', model) : missing('openai', model);
  }
  // OpenAI Responses
  if (value.object === 'response') {
    return isObj(value.usage) ? openAiResponses(value.usage, 'openai', model) : missing('openai', model);
  }
  // Anthropic Messages
  if (value.type === 'message' && value.role === 'assistant') {
    return isObj(value.usage) ? anthropic(value.usage, 'anthropic', model) : missing('anthropic', model);
  }
  // Gemini (@google/genai returns the response; the older SDK wraps it in `.response`)
  const gem = isObj(value.usageMetadata) ? value : isObj(value.response?.usageMetadata) ? value.response : null;
  if (gem) return gemini(gem.usageMetadata, 'google', str(gem.modelVersion) ?? model);
  if (Array.isArray(value.candidates)) return missing('google', model);
  // Bedrock Converse
  if (isObj(value.output) && isObj(value.output.message) && 'stopReason' in value) {
    return isObj(value.usage) ? bedrock(value.usage, 'bedrock', model) : missing('bedrock', model);
  }
  // Anything else carrying a usage object: `{ model, usage }`, Vercel AI SDK results, compatible APIs
  const usage = isObj(value.totalUsage) ? value.totalUsage : value.usage;
  if (isObj(usage)) return fromUsageObject(usage, str(value.provider) ?? str(value.providerName), model);
  return null;
}

/**
 * Every model call inside `value`: one for a single response, one per model request for an
 * OpenAI Agents SDK run result (`rawResponses`), so per-request prices and tiers apply per request.
 */
export function normalizeResponses(value: unknown): NormalizedUsage[] {
  if (isObj(value) && Array.isArray(value.rawResponses) && value.rawResponses.length > 0) {
    const out: NormalizedUsage[] = [];
    for (const r of value.rawResponses) {
      if (!isObj(r)) continue;
      const one = isObj(r.usage) ? fromUsageObject(r.usage, 'openai', str(r.model) ?? str(value.lastAgent?.model)) : null;
      if (one) out.push(one);
    }
    if (out.length) return out;
  }
  const one = normalizeResponse(value);
  return one ? [one] : [];
}
