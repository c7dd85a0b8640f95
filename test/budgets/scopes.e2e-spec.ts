/**
 * Hard budgets scoped by group, provider and model (per value and with `match`), `defaultProvider` as the
 * provider of agents that declare none, and `reserve`: how many calls may be in flight at once.
 */
import { INestApplication, Injectable } from '@nestjs/common';
import { TrackUsage, UsageBudgetExceededError, UsageService } from 'nestjs-agent-usage';
import { ResearchAgent, SupportAgent, bootApp, chatResponse } from './budget-test.helpers';

/** No provider declared, and its record names none either (an in-house model): defaultProvider applies. */
@Injectable()
@TrackUsage({ agentName: 'plain' })
class PlainAgent {
  constructor(private readonly usage: UsageService) {}
  async respond() {
    this.usage.record({ inputTokens: 5, outputTokens: 5, modelName: 'in-house-model' });
    return 'ok';
  }
}

const refused = (p: Promise<unknown>) =>
  p.then(
    () => null,
    (e: unknown) => (e instanceof UsageBudgetExceededError ? e : Promise.reject(e)),
  );

describe('hard budgets by group, provider and model', () => {
  let app: INestApplication;
  let usage: UsageService;
  beforeAll(async () => {
    app = await bootApp(
      {
        trackUsage: true,
        defaultProvider: 'acme',
        budgets: [
          { name: 'per-group', scope: 'group', window: 'day', metric: 'requests', limit: 2, actions: ['pause'] },
          { name: 'anthropic', scope: 'provider', match: 'anthropic', window: 'day', metric: 'requests', limit: 1, actions: ['pause'] },
          { name: 'acme', scope: 'provider', match: 'acme', window: 'day', metric: 'requests', limit: 1, actions: ['pause'] },
          { name: 'per-model', scope: 'model', window: 'day', metric: 'tokens', limit: 250, actions: ['pause'] },
        ],
        scheduler: { coordination: 'memory' },
      },
      { providers: [PlainAgent] },
    );
    usage = app.get(UsageService);
  });
  afterAll(() => app.close());

  it('group: each group value has its own limit', async () => {
    const inGroup = (group: string) => usage.runWithContext({ group }, () => app.get(SupportAgent).respond('q'));
    app.get(SupportAgent).tokens = 1;
    expect(await refused(inGroup('g1'))).toBeNull();
    expect(await refused(inGroup('g1'))).toBeNull();
    const err = await refused(inGroup('g1'));
    expect(err?.body).toMatchObject({ budget: 'per-group', scope: { type: 'group', value: 'g1' }, used: 2, limit: 2 });
    expect(await refused(inGroup('g2'))).toBeNull();
    // Calls outside any group are not in a group budget.
    expect(await refused(app.get(SupportAgent).respond('q'))).toBeNull();
    const statuses = await usage.getBudgetStatus('per-group');
    expect(statuses.map((s) => [s.scope.value, s.used, s.paused]).sort()).toEqual([
      ['g1', 2, true],
      ['g2', 1, false],
    ]);
  });

  it('provider: the declared provider, and defaultProvider for an agent that declares none', async () => {
    expect(await refused(app.get(ResearchAgent).respond('q'))).toBeNull(); // provider 'anthropic' on the decorator
    expect((await refused(app.get(ResearchAgent).respond('q')))?.body).toMatchObject({ budget: 'anthropic', scope: { type: 'provider', match: ['anthropic'] }, used: 1 });
    expect(await refused(app.get(PlainAgent).respond())).toBeNull();
    expect((await refused(app.get(PlainAgent).respond()))?.body).toMatchObject({ budget: 'acme', used: 1 });
    // The support agent (openai) is in neither provider budget.
    expect(await refused(app.get(SupportAgent).respond('q'))).toBeNull();
  });

  it('model: each model value has its own limit, counted from the records', async () => {
    const [research] = await usage.getBudgetStatus({ name: 'per-model', value: 'claude-sonnet-4' });
    expect(research).toMatchObject({ used: 50, paused: false }); // the research call above: 40 in + 10 out
    const agent = app.get(SupportAgent);
    agent.tokens = 100;
    const before = (await usage.getBudgetStatus({ name: 'per-model', value: 'gpt-4o' }))[0].used;
    let calls = 0;
    while ((await refused(agent.respond('q'))) === null) calls++;
    const [gpt] = await usage.getBudgetStatus({ name: 'per-model', value: 'gpt-4o' });
    expect(gpt.used).toBe(before + calls * 100);
    expect(gpt.used).toBeGreaterThanOrEqual(250);
    expect(gpt.used).toBeLessThan(350);
    expect(gpt.paused).toBe(true);
    // Another model is untouched.
    expect((await usage.getBudgetStatus({ name: 'per-model', value: 'claude-sonnet-4' }))[0]).toMatchObject({ used: 50, paused: false });
  });
});

describe('reserve: calls in flight at once', () => {
  async function maxInFlight(reserve: number | undefined): Promise<{ max: number; ok: number }> {
    @Injectable()
    @TrackUsage({ agentName: 'slow' })
    class SlowAgent {
      inFlight = 0;
      max = 0;
      async respond() {
        this.max = Math.max(this.max, ++this.inFlight);
        await new Promise((r) => setTimeout(r, 40));
        this.inFlight--;
        return chatResponse(100);
      }
    }
    const app = await bootApp(
      {
        trackUsage: true,
        budgets: [{ name: 'slow', scope: 'agent', match: 'slow', window: 'day', metric: 'tokens', limit: 1000, ...(reserve ? { reserve } : {}), actions: ['pause'] }],
        scheduler: { coordination: 'memory', admissionTimeoutMs: 20_000 },
      },
      { providers: [SlowAgent] },
    );
    try {
      const agent = app.get(SlowAgent);
      const results = await Promise.allSettled(Array.from({ length: 8 }, () => agent.respond()));
      return { max: agent.max, ok: results.filter((r) => r.status === 'fulfilled').length };
    } finally {
      await app.close();
    }
  }

  it.each([
    // used + (open + 1) x reserve <= limit: 0 + 4 x 250 = 1000 admits a 4th call, a 5th would not fit.
    [250, 4],
    [400, 2],
    [1000, 1],
  ])('reserve %i admits at most %i concurrent calls (limit 1000)', async (reserve, expected) => {
    const { max, ok } = await maxInFlight(reserve);
    expect(max).toBe(expected);
    expect(ok).toBe(8); // 8 x 100 tokens fit in the limit: every call ran, some waited
  });
});
