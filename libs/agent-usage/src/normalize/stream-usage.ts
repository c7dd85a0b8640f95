import { NormalizedUsage, missing, normalizeResponse } from './normalize-usage';

type Obj = Record<string, any>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null;
const TERMINAL_RESPONSE_EVENTS = new Set(['response.completed', 'response.incomplete', 'response.failed']);

/**
 * Follows the chunks of a streamed model response and keeps the usage they carry:
 * - OpenAI Chat: usage only in the last chunk, and only with `stream_options: { include_usage: true }`;
 * - OpenAI Responses: the `response.completed` (or `.incomplete`, `.failed`) event carries the whole response;
 * - Anthropic: `message_start` has the input side, `message_delta` the cumulative output;
 * - Gemini: every chunk's `usageMetadata` is cumulative, the last one wins.
 * `result()` is null when nothing looked like a model stream.
 */
export class StreamUsageCollector {
  private usage: NormalizedUsage | null = null;
  private modelStream = false;
  private model: string | null = null;
  private provider: string | null = null;
  private anthropicStart: Obj | null = null;

  observe(chunk: unknown): void {
    if (!isObj(chunk)) return;
    if (chunk.object === 'chat.completion.chunk') {
      this.mark('openai', chunk.model);
      if (isObj(chunk.usage)) this.usage = normalizeResponse({ object: 'chat.completion', model: chunk.model, usage: chunk.usage });
      return;
    }
    if (typeof chunk.type === 'string' && chunk.type.startsWith('response.')) {
      this.mark('openai', chunk.response?.model);
      // An answer cut short (`response.incomplete`) or failed after generating is billed too.
      if (TERMINAL_RESPONSE_EVENTS.has(chunk.type) && isObj(chunk.response?.usage)) this.usage = normalizeResponse(chunk.response);
      return;
    }
    if (chunk.type === 'message_start' && isObj(chunk.message)) {
      this.mark('anthropic', chunk.message.model);
      this.anthropicStart = { ...chunk.message.usage };
      this.usage = this.anthropic({});
      return;
    }
    if (chunk.type === 'message_delta' && isObj(chunk.usage)) {
      this.mark('anthropic', null);
      this.usage = this.anthropic(chunk.usage);
      return;
    }
    if (isObj(chunk.usageMetadata) || Array.isArray(chunk.candidates)) {
      this.mark('google', chunk.modelVersion);
      if (isObj(chunk.usageMetadata)) this.usage = normalizeResponse(chunk);
    }
  }

  private mark(provider: string, model: unknown): void {
    this.modelStream = true;
    this.provider ??= provider;
    if (typeof model === 'string' && model) this.model = model;
  }

  /** message_delta counts are cumulative and may restate the input side; they win over message_start. */
  private anthropic(delta: Obj): NormalizedUsage | null {
    return normalizeResponse({
      type: 'message',
      role: 'assistant',
      model: this.model,
      usage: { ...this.anthropicStart, ...Object.fromEntries(Object.entries(delta).filter(([, v]) => v !== null && v !== undefined)) },
    });
  }

  result(): NormalizedUsage | null {
    if (!this.modelStream) return null;
    if (this.usage) return { ...this.usage, modelName: this.usage.modelName ?? this.model, providerName: this.usage.providerName ?? this.provider };
    return missing(this.provider, this.model);
  }
}
