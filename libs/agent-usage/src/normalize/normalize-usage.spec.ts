import { normalizeResponse } from './normalize-usage';
import { normalizeResponses } from './normalize-responses';
import { StreamUsageCollector } from './stream-usage';

describe('normalizeResponse', () => {
  it('OpenAI Chat Completions: prompt includes cached, completion includes reasoning', () => {
    expect(
      normalizeResponse({
        id: 'chatcmpl-1',
        object: 'chat.completion',
        model: 'o4-mini-2025-04-16',
        choices: [],
        usage: {
          prompt_tokens: 1200,
          completion_tokens: 900,
          total_tokens: 2100,
          prompt_tokens_details: { cached_tokens: 1024, audio_tokens: 0 },
          completion_tokens_details: { reasoning_tokens: 640, audio_tokens: 0 },
        },
      }),
    ).toEqual({
      providerName: 'openai',
      modelName: 'o4-mini-2025-04-16',
      inputTokens: 1200,
      cachedInputTokens: 1024,
      cacheWriteTokens: null,
      outputTokens: 900,
      reasoningTokens: 640,
      totalTokens: 2100,
      usageMissing: false,
    });
  });

  it('OpenAI Responses API', () => {
    expect(
      normalizeResponse({
        object: 'response',
        model: 'gpt-4.1',
        usage: { input_tokens: 300, input_tokens_details: { cached_tokens: 100 }, output_tokens: 50, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 350 },
      }),
    ).toMatchObject({ providerName: 'openai', inputTokens: 300, cachedInputTokens: 100, outputTokens: 50, reasoningTokens: 0, totalTokens: 350 });
  });

  it('Anthropic Messages: input excludes cache reads and writes, so they are added', () => {
    expect(
      normalizeResponse({
        id: 'msg_1',
        type: 'message',
        role: 'assistant',
        model: 'claude-sonnet-4-20250514',
        content: [],
        usage: { input_tokens: 20, cache_creation_input_tokens: 2000, cache_read_input_tokens: 8000, output_tokens: 300 },
      }),
    ).toEqual({
      providerName: 'anthropic',
      modelName: 'claude-sonnet-4-20250514',
      inputTokens: 10020,
      cachedInputTokens: 8000,
      cacheWriteTokens: 2000,
      outputTokens: 300,
      reasoningTokens: null,
      totalTokens: 10320,
      usageMissing: false,
    });
  });

  it('Gemini: prompt includes cached content, candidates exclude thoughts', () => {
    expect(
      normalizeResponse({
        candidates: [],
        modelVersion: 'gemini-2.5-pro',
        usageMetadata: { promptTokenCount: 5000, cachedContentTokenCount: 4000, candidatesTokenCount: 200, thoughtsTokenCount: 800, totalTokenCount: 6000 },
      }),
    ).toEqual({
      providerName: 'google',
      modelName: 'gemini-2.5-pro',
      inputTokens: 5000,
      cachedInputTokens: 4000,
      cacheWriteTokens: null,
      outputTokens: 1000,
      reasoningTokens: 800,
      totalTokens: 6000,
      usageMissing: false,
    });
  });

  it('Bedrock Converse: input excludes cache', () => {
    expect(
      normalizeResponse({
        output: { message: { role: 'assistant', content: [] } },
        stopReason: 'end_turn',
        usage: { inputTokens: 10, outputTokens: 5, totalTokens: 115, cacheReadInputTokens: 100, cacheWriteInputTokens: 0 },
      }),
    ).toMatchObject({ providerName: 'bedrock', inputTokens: 110, cachedInputTokens: 100, cacheWriteTokens: 0, outputTokens: 5, totalTokens: 115 });
  });

  it('plain { model, usage } and Vercel AI SDK results', () => {
    expect(normalizeResponse({ model: 'local-llama', usage: { inputTokens: 7, outputTokens: 3 } })).toMatchObject({
      providerName: null,
      modelName: 'local-llama',
      inputTokens: 7,
      outputTokens: 3,
      totalTokens: 10,
    });
    expect(
      normalizeResponse({ text: 'hi', response: { modelId: 'gpt-4o' }, totalUsage: { inputTokens: 10, outputTokens: 4, totalTokens: 14, reasoningTokens: 1, cachedInputTokens: 2 } }),
    ).toMatchObject({ modelName: 'gpt-4o', inputTokens: 10, cachedInputTokens: 2, reasoningTokens: 1, totalTokens: 14 });
  });

  it('a recognised response without usage is "usage missing", with unknown (null) counts', () => {
    for (const r of [
      { object: 'chat.completion', model: 'gpt-4o', choices: [] },
      { type: 'message', role: 'assistant', model: 'claude' },
      { candidates: [] },
    ]) {
      expect(normalizeResponse(r)).toMatchObject({ usageMissing: true, inputTokens: null, outputTokens: null, totalTokens: null });
    }
  });

  it('unknown counts are unknown, never 0', () => {
    expect(normalizeResponse({ object: 'chat.completion', usage: { prompt_tokens: 5 } })).toMatchObject({
      inputTokens: 5,
      outputTokens: null,
      totalTokens: null,
      cachedInputTokens: null,
    });
  });

  it('non-responses are not model calls', () => {
    for (const v of [null, undefined, 'text', 42, [], { answer: 'x' }, { usage: 'lots' }]) expect(normalizeResponse(v)).toBeNull();
  });

  it('OpenAI Agents SDK run results: one entry per model request', () => {
    const out = normalizeResponses({
      finalOutput: 'x',
      rawResponses: [
        { usage: { requests: 1, inputTokens: 100, outputTokens: 10, totalTokens: 110, inputTokensDetails: { cached_tokens: 50 }, outputTokensDetails: { reasoning_tokens: 4 } } },
        { usage: { requests: 1, inputTokens: 200, outputTokens: 20, totalTokens: 220 } },
      ],
    });
    expect(out.map((u) => [u.inputTokens, u.cachedInputTokens, u.outputTokens, u.reasoningTokens])).toEqual([
      [100, 50, 10, 4],
      [200, null, 20, null],
    ]);
  });

  it('OpenAI cache writes, Anthropic thinking and the Gemini tool-use prompt are counted', () => {
    expect(normalizeResponse({ object: 'chat.completion', usage: { prompt_tokens: 100, completion_tokens: 10, prompt_tokens_details: { cached_tokens: 20, cache_write_tokens: 30 } } })).toMatchObject({ cachedInputTokens: 20, cacheWriteTokens: 30 });
    expect(normalizeResponse({ object: 'response', usage: { input_tokens: 100, output_tokens: 10, input_tokens_details: { cached_tokens: 20, cache_write_tokens: 30 } } })).toMatchObject({ cachedInputTokens: 20, cacheWriteTokens: 30 });
    expect(normalizeResponse({ type: 'message', role: 'assistant', usage: { input_tokens: 5, output_tokens: 40, output_tokens_details: { thinking_tokens: 25 } } })).toMatchObject({ outputTokens: 40, reasoningTokens: 25 });
    expect(normalizeResponse({ usageMetadata: { promptTokenCount: 50, toolUsePromptTokenCount: 7, candidatesTokenCount: 3, totalTokenCount: 60 } })).toMatchObject({ inputTokens: 57, outputTokens: 3, totalTokens: 60 });
  });

  it('Agents SDK 0.20 Usage: details are arrays (one per request) and are summed; the raw response wins', () => {
    const [fromUsage] = normalizeResponses({
      rawResponses: [{ usage: { requests: 1, inputTokens: 100, outputTokens: 10, inputTokensDetails: [{ cached_tokens: 40, cache_write_tokens: 5 }], outputTokensDetails: [{ reasoning_tokens: 4 }] } }],
    });
    expect(fromUsage).toMatchObject({ inputTokens: 100, cachedInputTokens: 40, cacheWriteTokens: 5, reasoningTokens: 4 });
    const [fromRaw] = normalizeResponses({
      lastAgent: { model: 'gpt-4o' },
      rawResponses: [{ usage: { inputTokens: 1, outputTokens: 1 }, providerData: { object: 'chat.completion', model: 'gpt-4o-mini-2024-07-18', usage: { prompt_tokens: 9, completion_tokens: 2 } } }],
    });
    expect(fromRaw).toMatchObject({ modelName: 'gpt-4o-mini-2024-07-18', inputTokens: 9, outputTokens: 2 });
  });

  it('a Responses stream cut short (response.incomplete) is billed from its usage', () => {
    const c = new StreamUsageCollector();
    c.observe({ type: 'response.created', response: { model: 'gpt-4.1-2025-04-14', usage: null } });
    c.observe({ type: 'response.incomplete', response: { object: 'response', model: 'gpt-4.1-2025-04-14', usage: { input_tokens: 30, output_tokens: 500, input_tokens_details: { cached_tokens: 0, cache_write_tokens: 12 } } } });
    expect(c.result()).toMatchObject({ modelName: 'gpt-4.1-2025-04-14', inputTokens: 30, cacheWriteTokens: 12, outputTokens: 500, usageMissing: false });
  });
});
