/**
 * The demo app (src/) over HTTP: agents answer, every model call is recorded with the attribution
 * set by the controller, and the read endpoints return exact totals. Expected counts come from the
 * fake model's documented formula (src/fake-model/fake-model.client.ts), written out again here.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import type { UsageTotals } from 'nestjs-agent-usage';
import { AppModule } from '../../src/app.module';
import { DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL, usageOptionsFromEnv } from '../../src/usage-options';

type Tokens = Pick<
  UsageTotals,
  'recordCount' | 'requests' | 'inputTokens' | 'cachedInputTokens' | 'cacheWriteTokens' | 'outputTokens' | 'reasoningTokens' | 'totalTokens'
>;

/** u = ceil(characters / 4), the fake model's user-prompt token count. */
const u = (prompt: string) => Math.max(1, Math.ceil(prompt.length / 4));
/** One recorded call, inclusive counts: OpenAI and Gemini report the same totals in their own shapes. */
const openAiOrGemini = (prompt: string): Tokens => ({
  recordCount: 1,
  requests: 1,
  inputTokens: 24 + u(prompt),
  cachedInputTokens: 24,
  cacheWriteTokens: 0,
  outputTokens: 2 * u(prompt) + 8,
  reasoningTokens: u(prompt),
  totalTokens: 3 * u(prompt) + 32,
});
/** Anthropic: input_tokens (u) + cache reads (24) + cache writes (16); reasoning not reported. */
const anthropic = (prompt: string): Tokens => ({
  recordCount: 1,
  requests: 1,
  inputTokens: u(prompt) + 40,
  cachedInputTokens: 24,
  cacheWriteTokens: 16,
  outputTokens: 2 * u(prompt) + 8,
  reasoningTokens: 0,
  totalTokens: 3 * u(prompt) + 48,
});
const sum = (...rows: Tokens[]): Tokens => {
  const out = { ...rows[0] };
  for (const r of rows.slice(1)) for (const k of Object.keys(out) as (keyof Tokens)[]) out[k] += r[k];
  return out;
};
/** The count fields of a totals object (cost is left to the pricing suites). */
const tokensOf = (t: Record<string, unknown>): Tokens => ({
  recordCount: t.recordCount as number,
  requests: t.requests as number,
  inputTokens: t.inputTokens as number,
  cachedInputTokens: t.cachedInputTokens as number,
  cacheWriteTokens: t.cacheWriteTokens as number,
  outputTokens: t.outputTokens as number,
  reasoningTokens: t.reasoningTokens as number,
  totalTokens: t.totalTokens as number,
});

const P1 = 'Where is my order #1234?'; // 24 chars, u = 6
const P2 = 'I want a refund'; // 15 chars, u = 4
const P3 = 'Compare vector databases for RAG in 2026'; // 40 chars, u = 10
const P4 = 'Summarize: the meeting moved to Friday at 10.'; // 45 chars, u = 12

const SUPPORT = sum(openAiOrGemini(P1), openAiOrGemini(P2));
const RESEARCH = sum(anthropic(P3), anthropic(P3)); // two model calls per question
const SUMMARIZER = openAiOrGemini(P4);
const ALL = sum(SUPPORT, RESEARCH, SUMMARIZER);

const ENV_KEYS = ['USAGE_STORAGE', 'USAGE_DATA_DIR', 'DEMO_SUPPORT_TOKENS_PER_HOUR'] as const;
let savedEnv: Record<string, string | undefined>;
beforeAll(() => {
  savedEnv = Object.fromEntries(ENV_KEYS.map((k) => [k, process.env[k]]));
});
afterAll(() => {
  for (const k of ENV_KEYS) {
    if (savedEnv[k] === undefined) delete process.env[k];
    else process.env[k] = savedEnv[k];
  }
});

async function boot(): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile();
  const app = moduleRef.createNestApplication({ logger: ['error', 'warn'] });
  await app.init();
  return app;
}

it('the formula gives the numbers worked out by hand', () => {
  expect([P1, P2, P3, P4].map(u)).toEqual([6, 4, 10, 12]);
  expect(SUPPORT).toEqual({ recordCount: 2, requests: 2, inputTokens: 58, cachedInputTokens: 48, cacheWriteTokens: 0, outputTokens: 36, reasoningTokens: 10, totalTokens: 94 });
  expect(RESEARCH).toEqual({ recordCount: 2, requests: 2, inputTokens: 100, cachedInputTokens: 48, cacheWriteTokens: 32, outputTokens: 56, reasoningTokens: 0, totalTokens: 156 });
  expect(ALL).toEqual({ recordCount: 5, requests: 5, inputTokens: 194, cachedInputTokens: 120, cacheWriteTokens: 32, outputTokens: 124, reasoningTokens: 22, totalTokens: 318 });
});

describe('demo app, memory storage', () => {
  let app: INestApplication;
  let http: ReturnType<typeof request>;
  let day: string;
  const replies: Record<string, any> = {};

  beforeAll(async () => {
    process.env.USAGE_STORAGE = 'memory';
    app = await boot();
    http = request(app.getHttpServer());
    const ask = async (agent: string, body: Record<string, unknown>) => {
      const res = await http.post(`/agents/${agent}/ask`).send(body).expect(200);
      return res.body;
    };
    replies.support1 = await ask('support', { prompt: P1, userId: 'alice', chatName: 'order-1234' });
    replies.support2 = await ask('support', { prompt: P2, userId: 'bob', chatName: 'refund' });
    replies.research = await ask('research', { prompt: P3, userId: 'alice', group: 'research-team' });
    replies.summarizer = await ask('summarizer', { prompt: P4 });
    const list = await http.get('/usage').expect(200);
    day = list.body.items[0].recordedAt.slice(0, 10);
  });
  afterAll(async () => {
    await app?.close();
  });

  it('GET /agents lists the three agents', async () => {
    const res = await http.get('/agents').expect(200);
    expect(res.body.map((a: any) => [a.name, a.provider, a.model])).toEqual([
      ['support', 'openai', 'gpt-5-mini'],
      ['research', 'anthropic', 'claude-sonnet-4-5'],
      ['summarizer', 'google', 'gemini-2.5-flash'],
    ]);
  });

  it('answers in each provider shape and reports the raw usage', () => {
    expect(replies.support1).toMatchObject({ agent: 'support', model: 'gpt-5-mini', modelCalls: 1 });
    expect(replies.support1.answer).toContain(P1);
    expect(replies.support1.providerUsage).toEqual([
      {
        prompt_tokens: 30,
        completion_tokens: 20,
        total_tokens: 50,
        prompt_tokens_details: { cached_tokens: 24, audio_tokens: 0 },
        completion_tokens_details: { reasoning_tokens: 6, audio_tokens: 0 },
      },
    ]);
    expect(replies.research.modelCalls).toBe(2);
    expect(replies.research.providerUsage).toEqual([
      { input_tokens: 10, cache_read_input_tokens: 24, cache_creation_input_tokens: 16, output_tokens: 28 },
      { input_tokens: 10, cache_read_input_tokens: 24, cache_creation_input_tokens: 16, output_tokens: 28 },
    ]);
    expect(replies.summarizer.providerUsage).toEqual([
      { promptTokenCount: 36, cachedContentTokenCount: 24, candidatesTokenCount: 20, thoughtsTokenCount: 12, totalTokenCount: 68 },
    ]);
  });

  it('GET /usage/aggregate sums every call', async () => {
    const res = await http.get('/usage/aggregate').expect(200);
    expect(tokensOf(res.body)).toEqual(ALL);
    expect(res.body).toMatchObject({ failedCount: 0, usageMissingCount: 0 });
    expect(typeof res.body.costUsd).toBe('string');
  });

  it('GET /usage/aggregate filters by agent, several values, user, chat and group', async () => {
    expect(tokensOf((await http.get('/usage/aggregate?agentName=support').expect(200)).body)).toEqual(SUPPORT);
    expect(tokensOf((await http.get('/usage/aggregate?agentName=support&agentName=summarizer').expect(200)).body)).toEqual(
      sum(SUPPORT, SUMMARIZER),
    );
    expect(tokensOf((await http.get('/usage/aggregate?userId=alice').expect(200)).body)).toEqual(
      sum(openAiOrGemini(P1), RESEARCH),
    );
    expect(tokensOf((await http.get('/usage/aggregate?chatName=refund').expect(200)).body)).toEqual(openAiOrGemini(P2));
    expect(tokensOf((await http.get('/usage/aggregate?group=research-team').expect(200)).body)).toEqual(RESEARCH);
    expect(tokensOf((await http.get('/usage/aggregate?providerName=google&modelName=gemini-2.5-flash').expect(200)).body)).toEqual(
      SUMMARIZER,
    );
  });

  it('GET /usage/aggregate filters by day (date, dateFrom/dateTo inclusive)', async () => {
    expect(tokensOf((await http.get(`/usage/aggregate?date=${day}`).expect(200)).body)).toEqual(ALL);
    expect(tokensOf((await http.get(`/usage/aggregate?dateFrom=${day}&dateTo=${day}`).expect(200)).body)).toEqual(ALL);
    const before = new Date(Date.parse(`${day}T00:00:00Z`) - 86_400_000).toISOString().slice(0, 10);
    const none = (await http.get(`/usage/aggregate?date=${before}`).expect(200)).body;
    expect(none).toMatchObject({ recordCount: 0, requests: 0, totalTokens: 0 });
    expect(tokensOf((await http.get(`/usage/aggregate?dateTo=${before}`).expect(200)).body).recordCount).toBe(0);
    expect(tokensOf((await http.get(`/usage/aggregate?dateFrom=${before}`).expect(200)).body)).toEqual(ALL);
  });

  it('GET /usage/by/agentName', async () => {
    const res = await http.get('/usage/by/agentName').expect(200);
    expect(res.body.map((g: any) => [g.key, tokensOf(g)])).toEqual([
      ['research', RESEARCH],
      ['summarizer', SUMMARIZER],
      ['support', SUPPORT],
    ]);
  });

  it('GET /usage/by/userId puts the call without a user last', async () => {
    const res = await http.get('/usage/by/userId').expect(200);
    expect(res.body.map((g: any) => [g.key, tokensOf(g)])).toEqual([
      ['alice', sum(openAiOrGemini(P1), RESEARCH)],
      ['bob', openAiOrGemini(P2)],
      [null, SUMMARIZER],
    ]);
  });

  it('GET /usage/by/modelName, providerName and day', async () => {
    const models = (await http.get('/usage/by/modelName').expect(200)).body;
    expect(models.map((g: any) => [g.key, tokensOf(g)])).toEqual([
      ['claude-sonnet-4-5', RESEARCH],
      ['gemini-2.5-flash', SUMMARIZER],
      ['gpt-5-mini', SUPPORT],
    ]);
    const providers = (await http.get('/usage/by/providerName?userId=alice').expect(200)).body;
    expect(providers.map((g: any) => [g.key, tokensOf(g)])).toEqual([
      ['anthropic', RESEARCH],
      ['openai', openAiOrGemini(P1)],
    ]);
    const days = (await http.get('/usage/by/day').expect(200)).body;
    expect(days.map((g: any) => [g.key, tokensOf(g)])).toEqual([[day, ALL]]);
  });

  it('GET /usage lists records newest first, with attribution, filters and paging', async () => {
    const alice = (await http.get('/usage?userId=alice').expect(200)).body;
    expect(alice).toMatchObject({ limit: 100, offset: 0, hasMore: false });
    expect(alice.items.map((r: any) => r.agentName)).toEqual(['research', 'research', 'support']);
    expect(alice.items[0]).toMatchObject({
      agentName: 'research',
      userId: 'alice',
      group: 'research-team',
      chatName: null,
      providerName: 'anthropic',
      modelName: 'claude-sonnet-4-5',
      inputTokens: 50,
      cachedInputTokens: 24,
      cacheWriteTokens: 16,
      outputTokens: 28,
      reasoningTokens: null, // Anthropic does not report it: unknown, not 0
      totalTokens: 78,
      requests: 1,
      success: true,
      usageMissing: false,
    });
    expect(alice.items[2]).toMatchObject({ agentName: 'support', chatName: 'order-1234', inputTokens: 30, reasoningTokens: 6 });

    const first = (await http.get('/usage?limit=2').expect(200)).body;
    expect(first).toMatchObject({ limit: 2, offset: 0, hasMore: true });
    expect(first.items).toHaveLength(2);
    const last = (await http.get('/usage?limit=2&offset=4').expect(200)).body;
    expect(last).toMatchObject({ limit: 2, offset: 4, hasMore: false });
    expect(last.items).toHaveLength(1);
    expect((await http.get(`/usage?date=${day}&success=true`).expect(200)).body.items).toHaveLength(5);
    expect((await http.get('/usage?success=false').expect(200)).body.items).toHaveLength(0);
  });

  it('GET /usage/identities', async () => {
    const res = await http.get('/usage/identities').expect(200);
    expect(res.body).toEqual([
      { agentName: 'research', userId: 'alice', group: 'research-team', chatName: null },
      { agentName: 'summarizer', userId: null, group: null, chatName: null },
      { agentName: 'support', userId: 'alice', group: null, chatName: 'order-1234' },
      { agentName: 'support', userId: 'bob', group: null, chatName: 'refund' },
    ]);
  });

  it('GET /usage/stats', async () => {
    const res = await http.get('/usage/stats').expect(200);
    expect(res.body.storage).toEqual([{ name: 'memory', pending: 0, spooled: 0, written: 5, failedWrites: 0, lost: 0, deadLettered: 0, lastError: null }]);
    expect(res.body.recorder).toMatchObject({ recorded: 5, skipped: 0, captureErrors: 0 });
  });

  it('GET / renders the totals per agent, model and day', async () => {
    const res = await http.get('/').expect(200).expect('content-type', /text\/html/);
    const row = (key: string, t: Tokens) =>
      `<tr><td>${key}</td>${[t.recordCount, t.requests, t.inputTokens, t.cachedInputTokens, t.cacheWriteTokens, t.outputTokens, t.reasoningTokens, t.totalTokens]
        .map((n) => `<td>${n}</td>`)
        .join('')}`;
    expect(res.text).toContain(row('support', SUPPORT));
    expect(res.text).toContain(row('research', RESEARCH));
    expect(res.text).toContain(row('gemini-2.5-flash', SUMMARIZER));
    expect(res.text).toContain(row(day, ALL));
    expect(res.text).toContain('memory');
  });

  it('answers 400 naming the field for bad filters, and 400/404 for bad asks', async () => {
    const bad = async (url: string, field: string) => {
      const res = await http.get(url).expect(400);
      expect(res.body.field).toBe(field);
    };
    await bad('/usage/by/password', 'dimension');
    await bad('/usage?agent=support', 'filters.agent');
    await bad('/usage?limit=0', 'limit');
    await bad('/usage?limit=ten', 'limit');
    await bad('/usage/aggregate?date=2026-02-30', 'filters.date');
    await bad('/usage/aggregate?success=maybe', 'filters.success');

    await http.post('/agents/support/ask').send({}).expect(400);
    await http.post('/agents/support/ask').send({ prompt: '   ' }).expect(400);
    await http.post('/agents/support/ask').send({ prompt: 'hi', userId: 7 }).expect(400);
    await http.post('/agents/support/ask').send({ prompt: 'hi', userId: 'x'.repeat(256) }).expect(400);
    await http.post('/agents/nobody/ask').send({ prompt: 'hi' }).expect(404);
    // None of the refused asks reached a model.
    expect(tokensOf((await http.get('/usage/aggregate').expect(200)).body)).toEqual(ALL);
  });
});

describe('demo app, file storage (the default)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'demo-usage-'));
    delete process.env.USAGE_STORAGE;
    process.env.USAGE_DATA_DIR = dir;
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps the records across a restart', async () => {
    const first = await boot();
    try {
      await request(first.getHttpServer()).post('/agents/summarizer/ask').send({ prompt: P4, userId: 'carol' }).expect(200);
      await request(first.getHttpServer()).post('/agents/research/ask').send({ prompt: P3, userId: 'carol' }).expect(200);
    } finally {
      await first.close();
    }
    expect((await readdir(dir)).some((f) => f.endsWith('.jsonl'))).toBe(true);

    const second = await boot();
    try {
      const http = request(second.getHttpServer());
      expect(tokensOf((await http.get('/usage/aggregate?userId=carol').expect(200)).body)).toEqual(sum(SUMMARIZER, RESEARCH));
      const stats = (await http.get('/usage/stats').expect(200)).body;
      expect(stats.storage.map((s: any) => s.name)).toEqual(['file']);
      expect((await http.get('/').expect(200)).text).toContain(dir);
    } finally {
      await second.close();
    }
  });
});

describe('usageOptionsFromEnv', () => {
  it('maps USAGE_STORAGE to the library options', () => {
    expect(usageOptionsFromEnv({})).toMatchObject({ trackUsage: true, timeZone: 'UTC', storage: 'file', file: { directory: './.usage-data' } });
    expect(usageOptionsFromEnv({ USAGE_STORAGE: 'memory' })).toMatchObject({ trackUsage: true, timeZone: 'UTC', storage: 'memory' });
    expect(usageOptionsFromEnv({ USAGE_STORAGE: 'database' })).toMatchObject({ storage: 'database', database: { url: DEFAULT_DATABASE_URL } });
    expect(usageOptionsFromEnv({ USAGE_STORAGE: 'database', DATABASE_URL: 'postgres://u:p@db:5432/app' })).toMatchObject({
      database: { url: 'postgres://u:p@db:5432/app' },
    });
    expect(usageOptionsFromEnv({ USAGE_STORAGE: 'cache' })).toMatchObject({ storage: 'cache', cache: { url: DEFAULT_REDIS_URL } });
    expect(usageOptionsFromEnv({ USAGE_STORAGE: ' Cache ', REDIS_URL: 'redis://r:6380' })).toMatchObject({ cache: { url: 'redis://r:6380' } });
  });

  it('refuses an unknown storage, naming the allowed ones', () => {
    expect(() => usageOptionsFromEnv({ USAGE_STORAGE: 'postgres' })).toThrow('USAGE_STORAGE must be one of file, memory, database, cache; got "postgres"');
  });

});

describe('demo budget', () => {
  it("the README's count is true: with the default budget the README's question is answered 40 times, the 41st gets 429", async () => {
    const readme = readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8');
    expect(readme).toContain(`"prompt":"${P1}"`);
    expect(readme).toContain('forty questions are answered and the 41st gets **429');
    process.env.USAGE_STORAGE = 'memory';
    delete process.env.DEMO_SUPPORT_TOKENS_PER_HOUR;
    const app = await boot();
    const http = request(app.getHttpServer());
    const statuses: number[] = [];
    for (let i = 0; i < 41; i++) statuses.push((await http.post('/agents/support/ask').send({ prompt: P1, userId: 'alice', chatName: 'order-1234' })).status);
    expect(statuses).toEqual([...Array(40).fill(200), 429]);
    await app.close();
  });

  it('the support agent answers 429 once its hourly token budget is spent; the others keep answering', async () => {
    process.env.USAGE_STORAGE = 'memory';
    process.env.DEMO_SUPPORT_TOKENS_PER_HOUR = '300';
    const app = await boot();
    const http = request(app.getHttpServer());
    // P1 costs 3u + 32 = 50 tokens on the fake OpenAI model: 6 calls reach 300.
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await http.post('/agents/support/ask').send({ prompt: P1 })).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 429, 429]);
    const refused = await http.post('/agents/support/ask').send({ prompt: P1 }).expect(429);
    expect(refused.body).toMatchObject({ statusCode: 429, error: 'budget_exceeded', budget: 'support-hourly-tokens', limit: 300, used: 300 });
    await http.post('/agents/summarizer/ask').send({ prompt: P4 }).expect(200);
    const [status] = (await http.get('/usage/budgets').expect(200)).body;
    expect(status).toMatchObject({ budget: 'support-hourly-tokens', metric: 'tokens', limit: 300, used: 300, remaining: 0, percent: 100, paused: true });
    expect((await http.get('/').expect(200)).text).toContain('paused until');
    await app.close();
  });

  it('refuses a bad DEMO_SUPPORT_TOKENS_PER_HOUR', () => {
    expect(() => usageOptionsFromEnv({ DEMO_SUPPORT_TOKENS_PER_HOUR: '-5' })).toThrow('DEMO_SUPPORT_TOKENS_PER_HOUR must be a positive integer; got "-5"');
  });
});
