/**
 * Failed tracked calls: recorded with success false, the error's class name and whatever usage the error
 * carries (none: usage missing), then the same error object is rethrown. Plain errors, and the real
 * `openai` client getting HTTP 429 / 500 / a cut stream from a local server.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Injectable, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import OpenAI from 'openai';
import { TrackUsage, UsageService, UsageTrackingModule, type UsageRecord } from 'nestjs-agent-usage';

/** An error that carries the usage of the request that failed half-way. */
class PartialAnswerError extends Error {
  readonly model = 'gpt-4o';
  readonly usage = { prompt_tokens: 300, completion_tokens: 20, total_tokens: 320 };
}

const thrown: unknown[] = [];

@Injectable()
@TrackUsage({ agentName: 'flaky', model: 'gpt-4o', provider: 'openai' })
class Flaky {
  failSync(): never {
    const err = new TypeError('bad argument');
    thrown.push(err);
    throw err;
  }
  async failAsync(): Promise<never> {
    await new Promise((r) => setImmediate(r));
    const err = new PartialAnswerError('cut off');
    thrown.push(err);
    throw err;
  }
  async failWithString(): Promise<never> {
    throw 'plain string';
  }
  ok() {
    return { object: 'chat.completion', model: 'gpt-4o', usage: { prompt_tokens: 10, completion_tokens: 2, total_tokens: 12 } };
  }
}

@Injectable()
@TrackUsage({ agentName: 'orchestrator' })
class Orchestrator {
  constructor(private readonly flaky: Flaky) {}
  async rethrows() {
    return this.flaky.failAsync(); // the same error passes through two tracked calls
  }
  async recovers() {
    try {
      await this.flaky.failAsync();
    } catch {
      return this.flaky.ok();
    }
  }
}

@Injectable()
@TrackUsage({ agentName: 'sdk-agent' })
class SdkAgent {
  client!: OpenAI;
  async ask(model: string) {
    try {
      return await this.client.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }] });
    } catch (err) {
      thrown.push(err);
      throw err;
    }
  }
  async stream(model: string) {
    return this.client.chat.completions.create({ model, stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'hi' }] });
  }
  helperStream(model: string) {
    return this.client.chat.completions.stream({ model, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'hi' }] });
  }
}

let server: Server;
let app: INestApplication;
let usage: UsageService;

function chunk(model: string, content: string): string {
  return `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model, choices: [{ index: 0, delta: { content }, finish_reason: null }] })}\n\n`;
}

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      const { model } = JSON.parse(body) as { model: string };
      if (model === 'limited') {
        res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '0' });
        return res.end(JSON.stringify({ error: { message: 'Rate limit reached', type: 'rate_limit_error', code: 'rate_limit_exceeded' } }));
      }
      if (model === 'broken') {
        res.writeHead(500, { 'content-type': 'application/json' });
        return res.end(JSON.stringify({ error: { message: 'The server had an error', type: 'server_error' } }));
      }
      if (model === 'cut-stream') {
        // Two chunks, then the connection drops before any usage chunk.
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(chunk(model, 'Hel'));
        res.write(chunk(model, 'lo'));
        setTimeout(() => res.socket?.destroy(), 20);
        return;
      }
      res.writeHead(404).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const mod = await Test.createTestingModule({
    imports: [UsageTrackingModule.forRoot({ trackUsage: true })],
    providers: [Flaky, Orchestrator, SdkAgent],
  }).compile();
  app = mod.createNestApplication();
  await app.init();
  usage = app.get(UsageService);
  app.get(SdkAgent).client = new OpenAI({ apiKey: 'test', baseURL: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, maxRetries: 0 });
});
afterAll(async () => {
  await app.close();
  await new Promise((r) => server.close(r));
});
beforeEach(async () => {
  thrown.length = 0;
  await usage.clearUsage({}, { all: true });
});

async function records(): Promise<UsageRecord[]> {
  await usage.flush();
  return (await usage.getUsage({ limit: 1000 })).items;
}

async function caught(fn: () => unknown): Promise<unknown> {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

async function waitFor(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

it('a synchronous throw is recorded (usage missing) and the same error object is rethrown synchronously', async () => {
  const flaky = app.get(Flaky);
  let err: unknown;
  try {
    flaky.failSync();
  } catch (e) {
    err = e;
  }
  expect(err).toBe(thrown[0]);
  const [r] = await records();
  expect(r).toMatchObject({ agentName: 'flaky', modelName: 'gpt-4o', providerName: 'openai', success: false, errorType: 'TypeError', usageMissing: true, inputTokens: null });
  expect(r.runId).toEqual(expect.any(String));
});

it('a rejection keeps the usage the error carries; through nested tracked calls it counts once', async () => {
  const err = await caught(() => app.get(Orchestrator).rethrows());
  expect(err).toBe(thrown[0]);
  expect(err).toBeInstanceOf(PartialAnswerError);
  const rs = await records();
  expect(rs).toHaveLength(1);
  // The innermost tracked call recorded it, under its own agent name.
  expect(rs[0]).toMatchObject({ agentName: 'flaky', success: false, errorType: 'PartialAnswerError', usageMissing: false, inputTokens: 300, outputTokens: 20, totalTokens: 320 });
});

it('a failure the caller recovers from stays recorded next to the success; success rate per agent follows', async () => {
  await app.get(Orchestrator).recovers();
  await app.get(Orchestrator).recovers();
  expect(await caught(() => app.get(Flaky).failWithString())).toBe('plain string');
  const rs = await records();
  expect(rs).toHaveLength(5);
  expect(rs.find((r) => r.errorType === 'string')).toMatchObject({ success: false, usageMissing: true });
  const flaky = (await usage.getUsageGroupedBy('agentName')).find((g) => g.key === 'flaky')!;
  expect({ recordCount: flaky.recordCount, failedCount: flaky.failedCount }).toEqual({ recordCount: 5, failedCount: 3 });
  expect((await usage.getUsageAggregate({ errorType: 'PartialAnswerError' })).recordCount).toBe(2);
  const byError = Object.fromEntries((await usage.getUsageGroupedBy('errorType')).map((g) => [g.key, g.recordCount]));
  expect(byError).toEqual({ PartialAnswerError: 2, string: 1, null: 2 });
});

it('the real openai client: HTTP 429 and 500 are recorded as RateLimitError / InternalServerError and rethrown untouched', async () => {
  const agent = app.get(SdkAgent);
  const limited = await caught(() => agent.ask('limited'));
  const broken = await caught(() => agent.ask('broken'));
  expect(limited).toBeInstanceOf(OpenAI.RateLimitError);
  expect(broken).toBeInstanceOf(OpenAI.InternalServerError);
  expect(limited).toBe(thrown[0]);
  expect(broken).toBe(thrown[1]);
  const rs = await records();
  expect(rs.map((r) => r.errorType).sort()).toEqual(['InternalServerError', 'RateLimitError']);
  for (const r of rs) expect(r).toMatchObject({ agentName: 'sdk-agent', success: false, usageMissing: true, requests: 1 });
  const agg = await usage.getUsageAggregate({ agentName: 'sdk-agent' });
  expect(agg).toMatchObject({ recordCount: 2, failedCount: 2, usageMissingCount: 2, inputTokens: 0, runCount: 2 });
});

it('the real openai client: a stream cut mid-way is recorded as failed with the error class the caller saw', async () => {
  const stream = await app.get(SdkAgent).stream('cut-stream');
  const seen: string[] = [];
  const err = await caught(async () => {
    for await (const c of stream) seen.push(c.choices[0]?.delta?.content ?? '');
  });
  expect(seen.join('')).toBe('Hello');
  // fetch's own error (undici: "terminated"), from another realm under Jest: compared by class name.
  expect((err as Error).constructor.name).toMatch(/Error$/);
  const rs = await records();
  expect(rs).toHaveLength(1);
  expect(rs[0]).toMatchObject({ agentName: 'sdk-agent', success: false, errorType: (err as Error).constructor.name, usageMissing: true });
});

it('the real openai client: a helper stream (chat.completions.stream) cut mid-way, consumed by finalChatCompletion(), is recorded as failed once', async () => {
  const helper = app.get(SdkAgent).helperStream('cut-stream');
  const err = await caught(() => helper.finalChatCompletion());
  expect(err).toBeDefined();
  await waitFor(async () => (await records()).length >= 1);
  // A few more turns: a second record for the same failure would show up here.
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  const rs = await records();
  expect(rs).toHaveLength(1);
  expect(rs[0]).toMatchObject({ agentName: 'sdk-agent', success: false, errorType: (err as Error).constructor.name, usageMissing: true });
});

it('a call refused by a hard budget never ran: it is not recorded as a failure, nested or not', async () => {
  @Injectable()
  @TrackUsage({ agentName: 'metered' })
  class Metered {
    async ask() {
      return { object: 'chat.completion', model: 'gpt-4o', usage: { prompt_tokens: 50, completion_tokens: 10, total_tokens: 60 } };
    }
  }
  @Injectable()
  @TrackUsage({ agentName: 'caller' })
  class Caller {
    constructor(private readonly metered: Metered) {}
    async delegate() {
      return this.metered.ask();
    }
  }
  const mod = await Test.createTestingModule({
    imports: [
      UsageTrackingModule.forRoot({
        trackUsage: true,
        budgets: [{ name: 'metered', scope: 'agent', match: 'metered', window: 'day', metric: 'tokens', limit: 60, actions: ['pause'] }],
        scheduler: { coordination: 'memory' },
      }),
    ],
    providers: [Metered, Caller],
  }).compile();
  const budgeted = mod.createNestApplication();
  await budgeted.init();
  try {
    const u = budgeted.get(UsageService);
    await budgeted.get(Metered).ask(); // uses the whole budget
    const direct = await caught(() => budgeted.get(Metered).ask());
    const nested = await caught(() => budgeted.get(Caller).delegate());
    expect((direct as Error).constructor.name).toBe('UsageBudgetExceededError');
    expect((nested as Error).constructor.name).toBe('UsageBudgetExceededError');
    await u.flush();
    expect(await u.getUsageAggregate()).toMatchObject({ recordCount: 1, failedCount: 0 });
  } finally {
    await budgeted.close();
  }
});
