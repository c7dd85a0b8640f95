import { Logger } from '@nestjs/common';
import { PRICE_TABLE_ID } from 'nestjs-agent-usage';
import { pricingService, recordOf } from './pricing.helpers';

/*
 * Every expected cost below is worked out by hand from the published rates bundled in
 * @pydantic/genai-prices 0.1.8 (USD per 1M tokens). Cost in nano-USD = tokens x rate x 1000.
 */
const TABLE = `table:${PRICE_TABLE_ID}`;

describe('cost math on real response shapes (bundled table)', () => {
  const { service } = pricingService();

  it('OpenAI Chat Completions, o4-mini with cached and reasoning tokens', () => {
    const r = recordOf({
      object: 'chat.completion',
      model: 'o4-mini-2025-04-16',
      usage: {
        prompt_tokens: 12345,
        completion_tokens: 6789,
        total_tokens: 19134,
        prompt_tokens_details: { cached_tokens: 4096 },
        completion_tokens_details: { reasoning_tokens: 5120 },
      },
    });
    // o4-mini: input 1.1, cache read 0.275, output 4.4 (no reasoning rate: reasoning bills as output)
    //   uncached input (12345 - 4096) =  8249 x 1.1   x 1000 =  9,073,900
    //   cache reads                     4096 x 0.275 x 1000 =  1,126,400
    //   plain output   (6789 - 5120) =  1669 x 4.4   x 1000 =  7,343,600
    //   reasoning                       5120 x 4.4   x 1000 = 22,528,000
    //   total                                                  40,071,900 nano-USD
    expect(service.price(r)).toEqual({ costNanoUsd: 40_071_900, priceSource: `${TABLE}:openai/o4-mini` });
  });

  it('OpenAI Responses API, gpt-4o with cached tokens', () => {
    const r = recordOf({
      object: 'response',
      model: 'gpt-4o-2024-08-06',
      usage: {
        input_tokens: 2000,
        input_tokens_details: { cached_tokens: 1024 },
        output_tokens: 300,
        output_tokens_details: { reasoning_tokens: 0 },
        total_tokens: 2300,
      },
    });
    // gpt-4o: input 2.5, cache read 1.25, output 10
    //   976 x 2.5 x 1000 = 2,440,000;  1024 x 1.25 x 1000 = 1,280,000;  300 x 10 x 1000 = 3,000,000
    //   total 6,720,000 (billing the 1024 cached tokens again as input would add 2,560,000)
    expect(service.price(r)).toEqual({ costNanoUsd: 6_720_000, priceSource: `${TABLE}:openai/gpt-4o` });
  });

  it('Anthropic Messages with cache reads and cache writes (exclusive input normalized to inclusive)', () => {
    const r = recordOf({
      type: 'message',
      role: 'assistant',
      model: 'claude-sonnet-4-5-20250929',
      content: [],
      usage: { input_tokens: 1500, cache_read_input_tokens: 20000, cache_creation_input_tokens: 3000, output_tokens: 800 },
    });
    expect(r.inputTokens).toBe(24500); // 1500 + 20000 + 3000, below the 200k tier
    // claude-sonnet-4-5 base tier: input 3, cache read 0.3, cache write 3.75, output 15
    //   1500 x 3 x 1000 = 4,500,000;  20000 x 0.3 x 1000 = 6,000,000;  3000 x 3.75 x 1000 = 11,250,000;
    //   800 x 15 x 1000 = 12,000,000;  total 33,750,000
    expect(service.price(r)).toEqual({ costNanoUsd: 33_750_000, priceSource: `${TABLE}:anthropic/claude-sonnet-4-5` });
  });

  it('Anthropic above 200k input tokens: the whole request moves to the long-context tier', () => {
    const r = recordOf({
      type: 'message',
      role: 'assistant',
      model: 'claude-sonnet-4-5',
      content: [],
      usage: { input_tokens: 5000, cache_read_input_tokens: 190000, cache_creation_input_tokens: 10000, output_tokens: 1000 },
    });
    // input 205,000 > 200,000: input 6, cache read 0.6, cache write 7.5, output 22.5
    //   5000 x 6 x 1000 = 30,000,000;  190000 x 0.6 x 1000 = 114,000,000;  10000 x 7.5 x 1000 = 75,000,000;
    //   1000 x 22.5 x 1000 = 22,500,000;  total 241,500,000
    expect(service.price(r).costNanoUsd).toBe(241_500_000);
  });

  it('Gemini with thoughts (candidates exclude thoughts; normalized output includes them)', () => {
    const r = recordOf({
      modelVersion: 'gemini-2.5-flash',
      candidates: [],
      usageMetadata: { promptTokenCount: 1000, cachedContentTokenCount: 400, candidatesTokenCount: 200, thoughtsTokenCount: 300, totalTokenCount: 1500 },
    });
    expect([r.outputTokens, r.reasoningTokens]).toEqual([500, 300]);
    // gemini-2.5-flash: input 0.3, cache read 0.03, output 2.5
    //   600 x 0.3 x 1000 = 180,000;  400 x 0.03 x 1000 = 12,000;  200 x 2.5 x 1000 = 500,000;
    //   300 x 2.5 x 1000 = 750,000;  total 1,442,000
    expect(service.price(r)).toEqual({ costNanoUsd: 1_442_000, priceSource: `${TABLE}:google/gemini-2.5-flash` });
  });

  it('Gemini 2.5 Pro: tiers apply per request on that request input, strictly above 200k', () => {
    const long = recordOf({
      modelVersion: 'gemini-2.5-pro',
      candidates: [],
      usageMetadata: { promptTokenCount: 250000, cachedContentTokenCount: 100000, candidatesTokenCount: 2000, thoughtsTokenCount: 3000 },
    });
    // > 200k: input 2.5, cache read 0.25, output 15
    //   150000 x 2.5 x 1000 = 375,000,000;  100000 x 0.25 x 1000 = 25,000,000;
    //   2000 x 15 x 1000 = 30,000,000;  3000 x 15 x 1000 = 45,000,000;  total 475,000,000
    expect(service.price(long).costNanoUsd).toBe(475_000_000);
    const edge = recordOf({
      modelVersion: 'gemini-2.5-pro',
      candidates: [],
      usageMetadata: { promptTokenCount: 200000, candidatesTokenCount: 1000 },
    });
    // exactly 200k is not above it: base input 1.25, output 10
    //   200000 x 1.25 x 1000 = 250,000,000;  1000 x 10 x 1000 = 10,000,000;  total 260,000,000
    expect(service.price(edge).costNanoUsd).toBe(260_000_000);
  });

  it('prices in effect when the call was recorded (table start dates)', () => {
    const usage = { object: 'chat.completion', model: 'o3', usage: { prompt_tokens: 1000, completion_tokens: 1000 } };
    // o3 before 2025-06-10: input 10, output 40 -> 1000 x 10 x 1000 + 1000 x 40 x 1000 = 50,000,000
    expect(service.price(recordOf(usage, { recordedAt: '2025-06-09T23:59:59Z' })).costNanoUsd).toBe(50_000_000);
    // from 2025-06-10: input 2, output 8 -> 2,000,000 + 8,000,000 = 10,000,000
    expect(service.price(recordOf(usage, { recordedAt: '2025-06-10T00:00:00Z' })).costNanoUsd).toBe(10_000_000);
  });

  it('Bedrock names the provider differently: the table still finds the model', () => {
    const r = recordOf({
      output: { message: { role: 'assistant', content: [] } },
      stopReason: 'end_turn',
      usage: { inputTokens: 100, outputTokens: 10 },
    }, { modelName: 'claude-haiku-4-5' });
    // claude-haiku-4-5: input 1, output 5 -> 100 x 1 x 1000 + 10 x 5 x 1000 = 150,000
    expect(service.price(r).costNanoUsd).toBe(150_000);
  });

  it('a response without usage has an unknown cost (null), not 0, and is not an unknown model', () => {
    const r = recordOf({ object: 'chat.completion', model: 'gpt-4o', choices: [] });
    expect(r.usageMissing).toBe(true);
    expect(service.price(r)).toEqual({ costNanoUsd: null, priceSource: null });
    expect(service.getUnpricedModels()).toEqual([]);
  });

  it('one unknown side counts as 0 (embeddings have no output)', () => {
    const r = recordOf({ model: 'text-embedding-3-small', usage: { prompt_tokens: 1000, total_tokens: 1000 } });
    expect(r.outputTokens).toBeNull();
    // text-embedding-3-small: input 0.02 -> 1000 x 0.02 x 1000 = 20,000
    expect(service.price(r).costNanoUsd).toBe(20_000);
  });
});

describe('overrides', () => {
  const { service } = pricingService({
    overrides: [
      { match: /^gpt-4o/, input: 100, output: 100 },
      { match: 'GPT-4o', input: '2', cachedInput: '0.5', output: '8' },
      { match: { regex: '^gpt' }, input: 1, output: 1 },
      { match: 'gpt-4o', provider: 'azure', input: 5, output: 15 },
      { match: /^acme-/g, input: '0.1', output: '0.2' },
    ],
  });
  const chat = (model: string, prompt: number, completion: number, cached = 0) => ({
    object: 'chat.completion',
    model,
    usage: { prompt_tokens: prompt, completion_tokens: completion, prompt_tokens_details: { cached_tokens: cached } },
  });

  it('an exact name beats the regexes (case-insensitive) and the table', () => {
    // 800 x 2 x 1000 = 1,600,000;  200 x 0.5 x 1000 = 100,000;  100 x 8 x 1000 = 800,000;  total 2,500,000
    expect(service.price(recordOf(chat('gpt-4o', 1000, 100, 200)))).toEqual({ costNanoUsd: 2_500_000, priceSource: 'override:GPT-4o' });
  });

  it('the first declared regex that matches wins, and beats the table (gpt-4o-mini is in it)', () => {
    // 1000 x 100 x 1000 + 100 x 100 x 1000 = 110,000,000
    expect(service.price(recordOf(chat('gpt-4o-mini', 1000, 100)))).toEqual({ costNanoUsd: 110_000_000, priceSource: 'override:/^gpt-4o/' });
    // only { regex: '^gpt' } matches: 1000 x 1 x 1000 + 100 x 1 x 1000 = 1,100,000
    expect(service.price(recordOf(chat('gpt-5', 1000, 100)))).toEqual({ costNanoUsd: 1_100_000, priceSource: 'override:/^gpt/' });
  });

  it('a provider-specific override applies to that provider only', () => {
    // 1000 x 5 x 1000 + 100 x 15 x 1000 = 6,500,000
    expect(service.price(recordOf(chat('gpt-4o', 1000, 100), { providerName: 'Azure' }))).toEqual({ costNanoUsd: 6_500_000, priceSource: 'override:azure:gpt-4o' });
  });

  it('a RegExp with the g flag matches every time (no lastIndex state)', () => {
    for (const model of ['acme-1', 'acme-2', 'acme-1']) {
      // 1000 x 0.1 x 1000 + 1000 x 0.2 x 1000 = 300,000
      expect(service.price(recordOf(chat(model, 1000, 1000))).costNanoUsd).toBe(300_000);
    }
  });

  it('overrides with tiers: a tier inherits the rates it leaves out from the tier below', () => {
    const { service: s } = pricingService({
      overrides: [{ match: 'long', input: 1, cachedInput: '0.1', output: 4, tiers: [{ aboveInputTokens: 1000, input: 2, output: 6 }] }],
    });
    const rec = (prompt: number) => recordOf(chat('long', prompt, 10, 100));
    // 1000 tokens (not above): 900 x 1 x 1000 + 100 x 0.1 x 1000 + 10 x 4 x 1000 = 900,000 + 10,000 + 40,000 = 950,000
    expect(s.price(rec(1000)).costNanoUsd).toBe(950_000);
    // 1001 tokens: 901 x 2 x 1000 + 100 x 0.1 x 1000 (inherited) + 10 x 6 x 1000 = 1,802,000 + 10,000 + 60,000 = 1,872,000
    expect(s.price(rec(1001)).costNanoUsd).toBe(1_872_000);
  });

  it('effectiveFrom makes a price history; before the first entry the table prices the call', () => {
    const { service: s } = pricingService({
      overrides: [
        { match: 'gpt-4o', effectiveFrom: '2026-07-01', input: 3, output: 3 },
        { match: 'gpt-4o', effectiveFrom: new Date('2026-01-01T00:00:00Z'), input: 2, output: 2 },
      ],
    });
    const at = (recordedAt: string) => s.price(recordOf(chat('gpt-4o', 1000, 1000), { recordedAt }));
    // table (2.5 / 10): 1000 x 2.5 x 1000 + 1000 x 10 x 1000 = 12,500,000
    expect(at('2025-12-31T23:59:59Z')).toEqual({ costNanoUsd: 12_500_000, priceSource: `${TABLE}:openai/gpt-4o` });
    // 1000 x 2 x 1000 x 2 = 4,000,000
    expect(at('2026-03-01T00:00:00Z')).toEqual({ costNanoUsd: 4_000_000, priceSource: 'override:gpt-4o' });
    // 1000 x 3 x 1000 x 2 = 6,000,000
    expect(at('2026-07-01T00:00:00Z').costNanoUsd).toBe(6_000_000);
  });

  it('table: false prices only the overrides', () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const { service: s } = pricingService({ table: false });
    expect(s.price(recordOf(chat('gpt-4o', 10, 10))).costNanoUsd).toBeNull();
    expect(warn).toHaveBeenCalledTimes(1);
    warn.mockRestore();
  });
});

describe('per-agent pricing (LiteLLM style)', () => {
  const { service } = pricingService({
    agents: {
      support: { costPerQuery: '0.05' },
      researcher: { inputCostPerToken: '0.000002', outputCostPerToken: 0.000008 },
      addon: { costPerQuery: 0.001, mode: 'add' },
    },
  });
  const response = { object: 'chat.completion', model: 'gpt-4o', usage: { prompt_tokens: 1500, completion_tokens: 400, prompt_tokens_details: { cached_tokens: 500 } } };

  it('flat cost per query replaces the model price, and needs no token counts', () => {
    // 0.05 USD = 50,000,000 nano-USD
    expect(service.price(recordOf(response, { agentName: 'support' }))).toEqual({ costNanoUsd: 50_000_000, priceSource: 'agent:support' });
    expect(service.price(recordOf({ object: 'chat.completion', model: 'gpt-4o' }, { agentName: 'support' })).costNanoUsd).toBe(50_000_000);
    // once per query, not per model request: a record outside any run is one query whatever its requests
    expect(service.price(recordOf(response, { agentName: 'support', requests: 3 })).costNanoUsd).toBe(50_000_000);
    // in a run: the agent's first record carries it, its later records cost nothing
    expect(service.price(recordOf(response, { agentName: 'support', runId: 'r1', agentRunStart: true })).costNanoUsd).toBe(50_000_000);
    expect(service.price(recordOf(response, { agentName: 'support', runId: 'r1', agentRunStart: false })).costNanoUsd).toBe(0);
  });

  it('per-token agent prices apply to the inclusive counts', () => {
    // 1500 x 0.000002 = 0.003 USD = 3,000,000;  400 x 0.000008 = 0.0032 USD = 3,200,000;  total 6,200,000
    expect(service.price(recordOf(response, { agentName: 'researcher' }))).toEqual({ costNanoUsd: 6_200_000, priceSource: 'agent:researcher' });
    expect(service.price(recordOf({ object: 'chat.completion', model: 'gpt-4o' }, { agentName: 'researcher' })).costNanoUsd).toBeNull();
  });

  it("mode 'add' adds the agent price to the model price", () => {
    // gpt-4o: 1000 x 2.5 x 1000 + 500 x 1.25 x 1000 + 400 x 10 x 1000 = 2,500,000 + 625,000 + 4,000,000 = 7,125,000
    // + 0.001 USD = 1,000,000  -> 8,125,000
    expect(service.price(recordOf(response, { agentName: 'addon' }))).toEqual({
      costNanoUsd: 8_125_000,
      priceSource: `${TABLE}:openai/gpt-4o+agent:addon`,
    });
  });
});

describe('unknown models', () => {
  it('cost null (never 0), warned once per model name, counted', () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const { service } = pricingService();
    const rec = (model: string) => recordOf({ object: 'chat.completion', model, usage: { prompt_tokens: 10, completion_tokens: 10 } });
    expect(service.price(rec('my-private-model'))).toEqual({ costNanoUsd: null, priceSource: null });
    service.price(rec('my-private-model'));
    service.price(rec('other-private-model'));
    service.price(recordOf({ usage: { inputTokens: 1, outputTokens: 1 } }));
    expect(service.getUnpricedModels()).toEqual([
      { modelName: 'my-private-model', providerName: 'openai', count: 2 },
      { modelName: 'other-private-model', providerName: 'openai', count: 1 },
      { modelName: null, providerName: null, count: 1 },
    ]);
    const messages = warn.mock.calls.map((c) => String(c[0]));
    expect(messages.filter((m) => m.includes('"my-private-model"'))).toHaveLength(1);
    expect(messages).toHaveLength(3);
    // the calculator does not count
    expect(service.estimate('my-private-model', { inputTokens: 1, outputTokens: 1 }).costNanoUsd).toBeNull();
    expect(service.getUnpricedModels()[0].count).toBe(2);
    warn.mockRestore();
  });
});

describe('rounding: the exact sum of all buckets is rounded half-up once', () => {
  it('sub-nano buckets add up before rounding', () => {
    // 0.0004 USD / 1M tokens = 0.4 nano-USD per token.
    const { service } = pricingService({ overrides: [{ match: 'm', input: '0.0004', output: '0.0004' }] });
    // 1 input token (0.4) + 1 output token (0.4) = 0.8 -> 1. Rounding each bucket would give 0 + 0 = 0.
    expect(service.estimate('m', { inputTokens: 1, outputTokens: 1 }).costNanoUsd).toBe(1);
  });

  it('halves are not rounded per bucket', () => {
    // 0.0005 / 1M = 0.5 nano per token: 0.5 + 0.5 = 1.0 -> 1. Per bucket half-up would give 1 + 1 = 2.
    const { service } = pricingService({ overrides: [{ match: 'm', input: '0.0005', output: '0.0005' }] });
    expect(service.estimate('m', { inputTokens: 1, outputTokens: 1 }).costNanoUsd).toBe(1);
  });

  it('half-up, not half-even', () => {
    // 0.0025 / 1M = 2.5 nano per token -> 3 (half-even would give 2); 0.0035 -> 3.5 -> 4
    const { service } = pricingService({ overrides: [{ match: 'a', input: '0.0025', output: 0 }, { match: 'b', input: '0.0035', output: 0 }] });
    expect(service.estimate('a', { inputTokens: 1, outputTokens: 0 }).costNanoUsd).toBe(3);
    expect(service.estimate('b', { inputTokens: 1, outputTokens: 0 }).costNanoUsd).toBe(4);
  });

  it('no float drift on decimal rates: 0.1 + 0.2 style sums stay exact', () => {
    const { service } = pricingService({ overrides: [{ match: 'm', input: 0.1, cachedInput: 0.2, output: 0.3 }] });
    // 7 x 0.1 x 1000 = 700;  3 x 0.2 x 1000 = 600;  3 x 0.3 x 1000 = 900;  total 2,200 exactly
    const q = service.estimate('m', { inputTokens: 10, cachedInputTokens: 3, outputTokens: 3 });
    expect(q).toEqual({ costNanoUsd: 2200, costUsd: '0.000002200', priceSource: 'override:m' });
  });
});

describe('priceOf / estimate', () => {
  const { service } = pricingService();

  it('prices counts for a budget reservation', () => {
    // gpt-4o worst case 100k in, 16k out: 100000 x 2.5 x 1000 + 16000 x 10 x 1000 = 250,000,000 + 160,000,000
    expect(service.estimate('gpt-4o', { inputTokens: 100_000, outputTokens: 16_000 })).toEqual({
      costNanoUsd: 410_000_000,
      costUsd: '0.410000000',
      priceSource: `${TABLE}:openai/gpt-4o`,
    });
  });

  it('rejects invalid counts naming the field', () => {
    expect(() => service.estimate('gpt-4o', { inputTokens: -1 })).toThrow(/"inputTokens"/);
    expect(() => service.estimate('gpt-4o', { inputTokens: 10, cachedInputTokens: 11 })).toThrow(/"cachedInputTokens"/);
    expect(() => service.estimate('gpt-4o', { outputTokens: 1, reasoningTokens: 2 })).toThrow(/"reasoningTokens"/);
    expect(() => service.priceOf({ modelName: 'gpt-4o', inputTokens: 1, at: 'soon' })).toThrow(/"at"/);
  });

  it('enabled: false leaves records unpriced but the calculator works', () => {
    const { service: off, registered } = pricingService({ enabled: false });
    expect(registered).toBe(false);
    expect(off.estimate('gpt-4o', { inputTokens: 1000, outputTokens: 0 }).costNanoUsd).toBe(2_500_000);
    expect(pricingService().registered).toBe(true);
  });
});
