/**
 * Provider responses -> one shape. Counts follow the record's inclusive semantics (see UsageRecord):
 * OpenAI and Gemini prompts already include cached tokens (and OpenAI's cache writes); Anthropic and
 * Bedrock inputs exclude cache reads and writes, so those are added; Gemini's prompt excludes the
 * tool-use prompt and its candidates exclude thoughts, so both are added. A count the provider did not
 * send stays null.
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
    cacheWriteTokens: n(u.prompt_tokens_details?.cache_write_tokens),
    outputTokens: output,
    reasoningTokens: n(u.completion_tokens_details?.reasoning_tokens),
    totalTokens: totalOf(input, output, u.total_tokens),
    usageMissing: input === null && output === null,
  };
}

/**
 * One detail count from a details object, or summed over an array of them: the OpenAI Agents SDK
 * (0.20) keeps one details object per request in `Usage.inputTokensDetails` / `outputTokensDetails`.
 */
function detail(details: unknown, snake: string, camel: string): number | null {
  if (Array.isArray(details)) {
    let total: number | null = null;
    for (const d of details) {
      const v = isObj(d) ? n(d[snake] ?? d[camel]) : null;
      if (v !== null) total = (total ?? 0) + v;
    }
    return total;
  }
  return isObj(details) ? n(details[snake] ?? details[camel]) : null;
}

/** OpenAI Responses API usage, and the OpenAI Agents SDK Usage (camelCase, details per request). */
function openAiResponses(u: Obj, provider: string | null, model: string | null): NormalizedUsage {
  const input = n(u.input_tokens ?? u.inputTokens);
  const output = n(u.output_tokens ?? u.outputTokens);
  const inDetails = u.input_tokens_details ?? u.inputTokensDetails;
  const outDetails = u.output_tokens_details ?? u.outputTokensDetails;
  return {
    providerName: provider,
    modelName: model,
    inputTokens: input,
    cachedInputTokens: detail(inDetails, 'cached_tokens', 'cachedTokens'),
    cacheWriteTokens: detail(inDetails, 'cache_write_tokens', 'cacheWriteTokens'),
    outputTokens: output,
    reasoningTokens: detail(outDetails, 'reasoning_tokens', 'reasoningTokens'),
    totalTokens: totalOf(input, output, u.total_tokens ?? u.totalTokens),
    usageMissing: input === null && output === null,
  };
}

/** Anthropic Messages: input_tokens excludes cache reads and writes; thinking is part of output_tokens. */
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
    reasoningTokens: n(u.output_tokens_details?.thinking_tokens),
    totalTokens: input !== null && output !== null ? input + output : null,
    usageMissing: input === null && output === null,
  };
}

/**
 * Gemini usageMetadata: the prompt includes cached content but not the tool-use prompt (which
 * totalTokenCount counts); candidates exclude thoughts.
 */
function gemini(u: Obj, provider: string | null, model: string | null): NormalizedUsage {
  const promptOnly = n(u.promptTokenCount);
  const prompt = promptOnly === null ? null : promptOnly + (n(u.toolUsePromptTokenCount) ?? 0);
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
export function fromUsageObject(u: Obj, provider: string | null, model: string | null): NormalizedUsage {
  if ('prompt_tokens' in u || 'completion_tokens' in u) return openAiChat(u, provider ?? 'openai', model);
  if ('cache_read_input_tokens' in u || 'cache_creation_input_tokens' in u || isObj(u.output_tokens_details) && 'thinking_tokens' in u.output_tokens_details) {
    return anthropic(u, provider ?? 'anthropic', model);
  }
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
 * Vercel AI SDK steps (`generateText` / `streamText` results): one per model request. The model is the
 * one the API answered (`response.modelId`), the provider the SDK's (`openai.responses` -> `openai`).
 */
export function normalizeAiSdkSteps(steps: readonly unknown[]): NormalizedUsage[] {
  const out: NormalizedUsage[] = [];
  for (const step of steps) {
    if (!isObj(step)) continue;
    const provider = str(step.model?.provider)?.split('.')[0] ?? null;
    const model = str(step.response?.modelId) ?? str(step.model?.modelId);
    out.push(isObj(step.usage) ? generic(step.usage, provider, model) : missing(provider, model));
  }
  return out;
}
