import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Controller, Get, INestApplication, Injectable, Query } from '@nestjs/common';
import request from 'supertest';

import { TrackUsage, UsageBudgetExceededError, UsageBudgetService, UsageService } from 'nestjs-agent-usage';
import { ResearchAgent, SupportAgent, TestClock, bootApp, chatResponse } from './budget-test.helpers';

const tokensBudget = { name: 'support-hourly', scope: 'agent' as const, match: 'support', window: 'hour' as const, metric: 'tokens' as const, limit: 2000, actions: ['pause' as const] };

describe('hard budgets (pause), in-process counters', () => {
  let app: INestApplication;
  let clock: TestClock;
  let agent: SupportAgent;
  let usage: UsageService;

  beforeAll(async () => {
    clock = new TestClock(new Date('2031-01-01T10:15:00Z'));
    app = await bootApp(
      {
        trackUsage: true,
        budgets: [tokensBudget, { name: 'per-user-requests', scope: 'user', window: 'day', metric: 'requests', limit: 2, actions: ['pause'] }],
        scheduler: { coordination: 'memory' },
      },
      { clock },
    );
    agent = app.get(SupportAgent);
    usage = app.get(UsageService);
  });
  afterAll(() => app.close());

  it('refuses a call once the window is spent, with a 429 body, until the window resets', async () => {
    agent.tokens = 500;
    for (let i = 0; i < 4; i++) await agent.respond('q');
    expect(agent.calls).toBe(4);
    const err = await agent.respond('q').then(
      () => null,
      (e) => e,
    );
    expect(agent.calls).toBe(4); // refused before the agent ran
    expect(err).toBeInstanceOf(UsageBudgetExceededError);
    expect(err.getStatus()).toBe(429);
    expect(err.getResponse()).toMatchObject({
      statusCode: 429,
      error: 'budget_exceeded',
      reason: 'limit_reached',
      budget: 'support-hourly',
      scope: { type: 'agent', value: null, match: ['support'] },
      metric: 'tokens',
      window: { type: 'hour', start: '2031-01-01T10:00:00.000Z', end: '2031-01-01T11:00:00.000Z', timeZone: 'UTC' },
      limit: 2000,
      used: 2000,
      resetAt: '2031-01-01T11:00:00.000Z',
    });
    // Other agents are not affected.
    await expect(app.get(ResearchAgent).respond('q')).resolves.toBeDefined();

    const [status] = await usage.getBudgetStatus('support-hourly');
    expect(status).toMatchObject({ used: 2000, remaining: 0, percent: 100, paused: true, limit: 2000, metric: 'tokens', unit: 'tokens' });
    expect(status.resetAt.toISOString()).toBe('2031-01-01T11:00:00.000Z');

    clock.set('2031-01-01T10:59:58.000Z'); // the one clock moves on with real time: keep a margin
    await expect(agent.respond('q')).rejects.toBeInstanceOf(UsageBudgetExceededError);
    clock.set('2031-01-01T11:00:00.000Z');
    await expect(agent.respond('q')).resolves.toBeDefined();
    expect(agent.calls).toBe(5);
    const [next] = await usage.getBudgetStatus('support-hourly');
    expect(next).toMatchObject({ used: 500, paused: false, percent: 25 });
    expect(app.get(UsageBudgetService).getStats().refusedCalls).toBe(2);
  });

  it('gives each scope value its own budget when match is omitted', async () => {
    clock.set('2031-02-01T09:00:00Z');
    const as = (userId: string) => usage.runWithContext({ userId }, () => app.get(ResearchAgent).respond('q'));
    await as('u1');
    await as('u1');
    await expect(as('u1')).rejects.toMatchObject({ body: { budget: 'per-user-requests', scope: { type: 'user', value: 'u1' }, used: 2, limit: 2 } });
    await expect(as('u2')).resolves.toBeDefined();
    const statuses = await usage.getBudgetStatus({ scope: 'user' });
    expect(statuses.map((s) => [s.scope.value, s.used, s.paused]).sort()).toEqual([
      ['u1', 2, true],
      ['u2', 1, false],
    ]);
    expect((await usage.getBudgetStatus({ name: 'per-user-requests', value: 'u2' }))[0].remaining).toBe(1);
  });
});

describe('hard budgets: concurrency, leaks, cost, sync methods', () => {
  @Injectable()
  @TrackUsage({ agentName: 'sync-agent' })
  class SyncAgent {
    run() {
      return chatResponse(10);
    }
  }
  @Injectable()
  @TrackUsage({ agentName: 'flaky' })
  class FlakyAgent {
    fail = true;
    async run() {
      if (this.fail) throw new Error('provider down');
      return chatResponse(100);
    }
  }

  let app: INestApplication;
  beforeAll(async () => {
    app = await bootApp(
      {
        trackUsage: true,
        budgets: [
          { name: 'support-tokens', scope: 'agent', match: 'support', window: 'day', metric: 'tokens', limit: 1000, actions: ['pause'] },
          { name: 'sync', scope: 'agent', match: 'sync-agent', window: 'day', metric: 'tokens', limit: 20, actions: ['pause'] },
          { name: 'flaky', scope: 'agent', match: 'flaky', window: 'day', metric: 'tokens', limit: 150, actions: ['pause'] },
          { name: 'cost', scope: 'user', match: 'payer', window: 'day', metric: 'cost', limit: '0.01', actions: ['pause'] },
        ],
        scheduler: { coordination: 'memory', reservationTtlMs: 300, admissionTimeoutMs: 3000 },
        // Known prices, so the cost test can work out the agent's call cost by hand.
        pricing: { overrides: [{ match: 'claude-sonnet-4', input: '3', output: '15' }] },
      },
      { providers: [SyncAgent, FlakyAgent] },
    );
  });
  afterAll(() => app.close());

  it('does not overshoot when many calls race at the limit', async () => {
    const agent = app.get(SupportAgent);
    agent.tokens = 100;
    agent.delayMs = 5;
    const results = await Promise.allSettled(Array.from({ length: 60 }, () => agent.respond('q')));
    const ok = results.filter((r) => r.status === 'fulfilled').length;
    const [s] = await app.get(UsageService).getBudgetStatus('support-tokens');
    expect(ok).toBe(10);
    expect(s.used).toBe(1000);
    expect(results.filter((r) => r.status === 'rejected').every((r) => (r as PromiseRejectedResult).reason instanceof UsageBudgetExceededError)).toBe(true);
  });

  it('keeps a synchronous agent method synchronous (throws, does not return a promise)', () => {
    const a = app.get(SyncAgent);
    expect(a.run()).toMatchObject({ object: 'chat.completion' });
    a.run();
    expect(() => a.run()).toThrow(UsageBudgetExceededError);
  });

  it('a failed call is recorded as failed, which settles its reservation at once (no wait for the TTL)', async () => {
    const a = app.get(FlakyAgent);
    // First admission reserves with an unknown per-call estimate; the call dies, and its failure record
    // (usage missing) releases the reservation. Before failures were recorded it leaked until its 300 ms TTL.
    await expect(a.run()).rejects.toThrow('provider down');
    a.fail = false;
    const t0 = Date.now();
    await expect(a.run()).resolves.toBeDefined();
    expect(Date.now() - t0).toBeLessThan(200);
    await app.get(UsageService).flush();
    expect((await app.get(UsageService).getUsage({ success: false })).items).toEqual([expect.objectContaining({ success: false, errorType: 'Error', usageMissing: true })]);
  });

  it('cost budgets count costNanoUsd exactly (explicit costs and the pricing service)', async () => {
    const usage = app.get(UsageService);
    usage.record({ agentName: 'support', userId: 'payer', modelName: 'gpt-4o', inputTokens: 1, outputTokens: 1, costNanoUsd: 6_000_000 });
    await expect(usage.runWithContext({ userId: 'payer' }, () => app.get(ResearchAgent).respond('q'))).resolves.toBeDefined();
    usage.record({ agentName: 'support', userId: 'payer', modelName: 'gpt-4o', inputTokens: 1, outputTokens: 1, costNanoUsd: 4_000_000 });
    const err = await usage.runWithContext({ userId: 'payer' }, () => app.get(ResearchAgent).respond('q')).catch((e) => e);
    expect(err).toBeInstanceOf(UsageBudgetExceededError);
    // Worked out by hand: the research call is 40 input tokens at $3/M and 10 output at $15/M
    // = 120,000 + 150,000 nano-USD; plus the two explicit costs.
    const expected = 6_000_000 + 120_000 + 150_000 + 4_000_000;
    expect(err.body).toMatchObject({ metric: 'cost', unit: 'nano_usd', limit: 10_000_000, used: expected, limitUsd: '0.010000000', usedUsd: '0.010270000' });
    const [s] = await usage.getBudgetStatus('cost');
    expect(s).toMatchObject({ limitUsd: '0.010000000', used: expected, usedUsd: '0.010270000', remainingUsd: '0.000000000', paused: true });
    expect((await usage.getUsageAggregate({ userId: 'payer' })).costNanoUsd).toBe(expected);
  });
});

describe('hard budgets survive a restart (seeded from the store)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'budget-seed-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('a new app over the same store is still paused', async () => {
    const options = {
      trackUsage: true,
      storage: 'file',
      file: { directory: dir },
      budgets: [{ name: 'daily', scope: 'agent' as const, match: 'support', window: 'day' as const, metric: 'tokens' as const, limit: 300, actions: ['pause' as const] }],
      scheduler: { coordination: 'memory' as const },
    };
    const first = await bootApp(options);
    const a = first.get(SupportAgent);
    a.tokens = 150;
    await a.respond('q');
    await a.respond('q');
    await expect(a.respond('q')).rejects.toBeInstanceOf(UsageBudgetExceededError);
    await first.close();

    const second = await bootApp(options);
    const err = await second.get(SupportAgent).respond('q').catch((e) => e);
    expect(err).toBeInstanceOf(UsageBudgetExceededError);
    expect(err.body.used).toBe(300);
    await second.close();
  });
});

describe('HTTP: a paused agent answers 429 by itself', () => {
  @Controller('chat')
  class ChatController {
    constructor(private readonly agent: SupportAgent) {}
    @Get()
    async chat(@Query('q') q: string) {
      const r = await this.agent.respond(q);
      return { tokens: r.usage.total_tokens };
    }
  }

  let app: INestApplication;
  beforeAll(async () => {
    app = await bootApp(
      { trackUsage: true, budgets: [{ ...tokensBudget, limit: 250 }], scheduler: { coordination: 'memory' } },
      { controllers: [ChatController] },
    );
  });
  afterAll(() => app.close());

  it('GET /chat -> 200, 200, 200, then 429 with the JSON body', async () => {
    app.get(SupportAgent).tokens = 100;
    for (let i = 0; i < 3; i++) await request(app.getHttpServer()).get('/chat?q=hi').expect(200, { tokens: 100 });
    const res = await request(app.getHttpServer()).get('/chat?q=hi').expect(429).expect('content-type', /json/);
    expect(res.body).toMatchObject({
      statusCode: 429,
      error: 'budget_exceeded',
      budget: 'support-hourly',
      scope: { type: 'agent', match: ['support'] },
      metric: 'tokens',
      limit: 250,
      used: 300,
      window: { type: 'hour' },
    });
    expect(res.body.message).toMatch(/Usage budget "support-hourly" .* is spent: used 300 tokens of 250 tokens; resets at/);
    expect(new Date(res.body.resetAt).getTime()).toBeGreaterThan(Date.now());
  });
});
