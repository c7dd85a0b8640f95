import { Injectable, INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { TrackUsage, UsageService, UsageTrackingModule } from 'nestjs-agent-usage';

/** Like the SDKs' stream objects: async-iterable, with other members of their own. */
class FakeStream<T> {
  readonly controller = { aborted: false };
  constructor(private readonly chunks: T[]) {}
  async *[Symbol.asyncIterator]() {
    for (const c of this.chunks) {
      await Promise.resolve();
      yield c;
    }
  }
  toText() {
    return `${this.chunks.length} chunks`;
  }
}

const openAiChunks = (withUsage: boolean) => [
  { object: 'chat.completion.chunk', model: 'gpt-4o', choices: [{ delta: { content: 'Hel' } }] },
  { object: 'chat.completion.chunk', model: 'gpt-4o', choices: [{ delta: { content: 'lo' } }] },
  ...(withUsage
    ? [{ object: 'chat.completion.chunk', model: 'gpt-4o', choices: [], usage: { prompt_tokens: 50, completion_tokens: 7, total_tokens: 57, prompt_tokens_details: { cached_tokens: 32 } } }]
    : []),
];

const anthropicEvents = [
  { type: 'message_start', message: { model: 'claude-sonnet-4', usage: { input_tokens: 12, cache_read_input_tokens: 100, cache_creation_input_tokens: 0, output_tokens: 1 } } },
  { type: 'content_block_delta', delta: { text: 'hi' } },
  { type: 'message_delta', usage: { output_tokens: 15 } },
  { type: 'message_delta', usage: { output_tokens: 42 } }, // cumulative: the last one counts
  { type: 'message_stop' },
];

const geminiChunks = [
  { candidates: [{}], modelVersion: 'gemini-2.5-flash', usageMetadata: { promptTokenCount: 20, candidatesTokenCount: 3 } },
  { candidates: [{}], modelVersion: 'gemini-2.5-flash', usageMetadata: { promptTokenCount: 20, candidatesTokenCount: 9, thoughtsTokenCount: 30, totalTokenCount: 59 } },
];

@Injectable()
@TrackUsage({ agentName: 'streamer' })
class StreamingAgent {
  async openai(withUsage: boolean) {
    return new FakeStream(openAiChunks(withUsage));
  }
  anthropic() {
    return new FakeStream(anthropicEvents);
  }
  async gemini() {
    return new FakeStream(geminiChunks);
  }
  async *generator() {
    yield* openAiChunks(true);
  }
}

describe('streamed responses', () => {
  let app: INestApplication;
  let usage: UsageService;
  let agent: StreamingAgent;
  beforeEach(async () => {
    const m = await Test.createTestingModule({ imports: [UsageTrackingModule.forRoot({ trackUsage: true })], providers: [StreamingAgent] }).compile();
    app = m.createNestApplication({ logger: false });
    await app.init();
    usage = app.get(UsageService);
    agent = app.get(StreamingAgent);
  });
  afterEach(() => app.close());

  const drain = async (s: AsyncIterable<unknown>) => {
    let n = 0;
    for await (const _ of s) n++;
    return n;
  };

  it('OpenAI: records the usage of the last chunk once the stream ends, keeping the stream object usable', async () => {
    const stream = await usage.runWithContext({ userId: 'u1' }, () => agent.openai(true));
    expect(stream.toText()).toBe('3 chunks');
    expect(stream.controller.aborted).toBe(false);
    expect((await usage.getUsageAggregate()).recordCount).toBe(0); // nothing until it is consumed
    expect(await drain(stream)).toBe(3);
    const [r] = (await usage.getUsage()).items;
    expect(r).toMatchObject({ agentName: 'streamer', userId: 'u1', modelName: 'gpt-4o', providerName: 'openai', inputTokens: 50, cachedInputTokens: 32, outputTokens: 7, usageMissing: false });
  });

  it('OpenAI without include_usage: recorded as usage missing', async () => {
    await drain(await agent.openai(false));
    expect(await usage.getUsageAggregate()).toMatchObject({ recordCount: 1, usageMissingCount: 1, totalTokens: 0 });
  });

  it('Anthropic: message_start input + cumulative message_delta output', async () => {
    await drain(agent.anthropic());
    const [r] = (await usage.getUsage()).items;
    expect(r).toMatchObject({ providerName: 'anthropic', modelName: 'claude-sonnet-4', inputTokens: 112, cachedInputTokens: 100, cacheWriteTokens: 0, outputTokens: 42, totalTokens: 154 });
  });

  it('Gemini: the last cumulative usageMetadata, thoughts added to output', async () => {
    await drain(await agent.gemini());
    const [r] = (await usage.getUsage()).items;
    expect(r).toMatchObject({ providerName: 'google', modelName: 'gemini-2.5-flash', inputTokens: 20, outputTokens: 39, reasoningTokens: 30, totalTokens: 59 });
  });

  it('a consumer that stops early still records what it saw, once', async () => {
    const stream = agent.anthropic();
    for await (const e of stream) if ((e as { type: string }).type === 'message_delta') break;
    await drain(stream).catch(() => undefined);
    const total = await usage.getUsageAggregate();
    expect(total.recordCount).toBe(2); // two separate iterations = two observations; each recorded once
    expect((await usage.getUsage()).items.map((r) => r.outputTokens).sort()).toEqual([15, 42]);
  });

  it('async generator methods are captured too', async () => {
    await drain(agent.generator());
    expect(await usage.getUsageAggregate()).toMatchObject({ recordCount: 1, inputTokens: 50 });
  });
});
