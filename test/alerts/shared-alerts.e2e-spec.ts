/**
 * Runtime alerts across two real app instances sharing PostgreSQL (then Redis): A in this process, B in
 * a child process. An alert made on A is enforced by both; usage recorded on both; each level reaches the
 * webhook receiver (a real local HTTP server) exactly once; the pause_agent level refuses the agent's
 * calls on both; deleting the alert on B lifts the pause on A within a refresh.
 */
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { Pool } from 'pg';
import Redis from 'ioredis';
import { UsageBudgetExceededError, UsageRuntimeAlerts, UsageService, verifyUsageWebhook } from 'nestjs-agent-usage';
import { spawnFixture } from '../reliability/reliability.helpers';
import { HOOK_SECRET, OTHER, OtherAgent, PG_URL, REDIS_URL, WATCHED, WatchedAgent, bootAlertsApp, callOutcome, sharedOptions, sleep, waitFor, webhookReceiver } from './alerts-test.helpers';

jest.setTimeout(120_000);

const FIXTURE = join(__dirname, 'fixtures', 'alerts-app.fixture.ts');
const REFRESH_MS = 250;

describe.each(['database', 'redis'] as const)('runtime alerts shared through %s', (kind) => {
  const id = `al_${kind.slice(0, 2)}_${process.pid}_${Date.now().toString(36)}`;
  const options = sharedOptions(kind, id, REFRESH_MS);
  let a: INestApplication;
  let b: ReturnType<typeof spawnFixture>;
  let hooks: Awaited<ReturnType<typeof webhookReceiver>>;
  const ask = async (line: string) => {
    b.proc.stdin.write(`${line}\n`);
    return JSON.parse(await b.next());
  };

  beforeAll(async () => {
    hooks = await webhookReceiver();
    a = await bootAlertsApp(options);
    b = spawnFixture(FIXTURE, { OPTIONS: JSON.stringify(options) });
    expect(await b.next()).toBe('ready');
  });

  afterAll(async () => {
    b?.proc.stdin.end();
    await b?.exited();
    await a?.close();
    await hooks?.close();
    if (kind === 'database') {
      const pg = new Pool({ connectionString: PG_URL, max: 1 });
      for (const t of ['rec', 'day', 'dayu', 'fired', 'rt']) await pg.query(`DROP TABLE IF EXISTS "${id}_${t}"`);
      await pg.end();
    } else {
      const redis = new Redis(REDIS_URL);
      const keys = await redis.keys(`${id}:*`);
      if (keys.length) await redis.del(...keys);
      redis.disconnect();
    }
  });

  it('fires each level once, pauses the agent on both instances, and a delete on B un-pauses A', async () => {
    const usage = a.get(UsageService);
    expect(a.get(UsageRuntimeAlerts).storeKind).toBe(kind);
    const alert = await usage.createAlert({
      agentName: WATCHED,
      dailyBudget: '1.00',
      alerts: [
        { percent: 50, action: 'webhook' },
        { percent: 100, action: 'webhook' },
        { percent: 100, action: 'pause_agent' },
      ],
      webhookUrl: hooks.url,
    });
    expect(alert).toMatchObject({ agentName: WATCHED, scope: { dimension: 'agentName', value: WATCHED }, limit: '1.00', window: 'day', metric: 'cost', paused: false });
    // B sees it through the shared store.
    expect((await ask('list')).map((x: { id: string }) => x.id)).toEqual([alert.id]);

    // 0.30 on A (gpt-4o) + 0.25 on B (claude) for the watched agent; another agent's spend does not count.
    usage.record({ agentName: WATCHED, modelName: 'gpt-4o', providerName: 'openai', inputTokens: 100, outputTokens: 10, costNanoUsd: 300_000_000 });
    await usage.flush();
    expect(await ask(`record ${JSON.stringify({ agentName: WATCHED, modelName: 'claude-sonnet-4', providerName: 'anthropic', inputTokens: 50, outputTokens: 5, costNanoUsd: 250_000_000 })}`)).toEqual({ ok: true });
    expect(await ask(`record ${JSON.stringify({ agentName: OTHER, modelName: 'gpt-4o', providerName: 'openai', inputTokens: 9, outputTokens: 9, costNanoUsd: 5_000_000_000 })}`)).toEqual({ ok: true });

    await waitFor('the 50% webhook', () => hooks.received.length >= 1);
    await sleep(REFRESH_MS * 6); // both instances refreshed and checked several times since
    expect(hooks.received).toHaveLength(1);
    const first = hooks.received[0].body;
    expect(first).toMatchObject({
      type: 'usage.threshold.crossed',
      budget: `alert:${alert.id}`,
      level: 50,
      alert_type: 'budget_threshold',
      agent_id: WATCHED,
      budget_usage: { limit: 1, limit_exact: '1.000000000', amount_spent: 0.55, amount_spent_exact: '0.550000000', percent_used: 55, amount_remaining: 0.45, amount_remaining_exact: '0.450000000' },
      top_cost_drivers: [
        { model: 'gpt-4o', cost: 0.3, cost_exact: '0.300000000', percent: 54.55 },
        { model: 'claude-sonnet-4', cost: 0.25, cost_exact: '0.250000000', percent: 45.45 },
      ],
    });
    const { headers } = hooks.received[0];
    expect(headers['x-agent-usage-delivery']).toBe(first.id);
    // Signed with scheduler.runtimeWebhook.secret (the body re-serializes to the same bytes: key order is kept).
    expect(verifyUsageWebhook(HOOK_SECRET, JSON.stringify(first), { timestamp: headers['x-agent-usage-timestamp'] as string, signature: headers['x-agent-usage-signature'] as string })).toBe(true);
    expect(Date.parse(first.timestamp)).toBeGreaterThan(Date.parse(alert.createdAt) - 1);
    // Linear projection of the window so far: 0.55 over the elapsed part of the day.
    const start = Date.parse(first.window.start);
    const elapsed = Date.parse(first.timestamp) - start;
    const day = Date.parse(first.window.end) - start;
    // Computed a few ms before the timestamp, which near the window's start moves it visibly: the instant the
    // projection implies (0.55 spent by then, extrapolated over the day) must lie between the alert's creation
    // and the timestamp.
    const implied = start + (0.55 * day) / first.budget_projection.estimated_total;
    expect(first.budget_projection.estimated_total).toBeGreaterThanOrEqual(0.55);
    expect(implied).toBeGreaterThanOrEqual(Date.parse(alert.createdAt) - 1);
    expect(implied).toBeLessThanOrEqual(Date.parse(first.timestamp) + 1);
    expect(first.budget_projection.hours_until_depleted).toBeCloseTo((0.45 * elapsed) / 0.55 / 3_600_000, 1);
    expect(first.budget_projection.will_exceed_budget).toBe(first.budget_projection.estimated_total > 1);
    expect(first.recommendations[0]).toContain('gpt-4o is 54.55%');
    expect(first.recommendations[0]).toContain('$0.3');

    // Nobody paused yet: tracked calls run on both.
    expect(await callOutcome(() => a.get(WatchedAgent).respond())).toEqual({ ok: true });
    expect(await ask('call watched')).toEqual({ ok: true });

    // B spends 0.50 more: 1.05 of 1.00.
    await ask(`record ${JSON.stringify({ agentName: WATCHED, modelName: 'claude-sonnet-4', providerName: 'anthropic', inputTokens: 50, outputTokens: 5, costNanoUsd: 500_000_000 })}`);
    await waitFor('the 100% webhook', () => hooks.received.length >= 2);
    // The agent is paused on B (whichever instance fired, B learns it from the shared store).
    const refusedOnB = await waitFor('B refusing the watched agent', async () => {
      const r = await ask('call watched');
      return r.ok ? undefined : r;
    });
    expect(refusedOnB).toMatchObject({ ok: false, error: 'UsageBudgetExceededError', reason: 'paused' });
    expect(refusedOnB.message).toContain(`alert:${alert.id}`);
    expect(await ask('call other')).toEqual({ ok: true }); // other agents are not paused
    const refusedOnA = await waitFor('A refusing the watched agent', async () => {
      const r = await callOutcome(() => a.get(WatchedAgent).respond());
      return r.ok ? undefined : r;
    });
    expect(refusedOnA).toMatchObject({ reason: 'paused' });
    await expect(a.get(WatchedAgent).respond()).rejects.toBeInstanceOf(UsageBudgetExceededError);
    expect(await callOutcome(() => a.get(OtherAgent).respond())).toEqual({ ok: true });
    const [listed] = await usage.listAlerts();
    expect(listed).toMatchObject({ id: alert.id, paused: true });
    expect(Date.parse(listed.pausedUntil!)).toBe(Date.parse(first.window.end));

    await sleep(REFRESH_MS * 6);
    expect(hooks.received).toHaveLength(2); // 100% fired once, on one instance
    const second = hooks.received[1].body;
    expect(second).toMatchObject({
      level: 100,
      alert_type: 'agent_paused',
      paused: true,
      agent_id: WATCHED,
      budget_usage: { amount_spent: 1.05, amount_spent_exact: '1.050000000', percent_used: 105, amount_remaining: 0, amount_remaining_exact: '0.000000000' },
      budget_projection: { hours_until_depleted: 0, will_exceed_budget: true },
      top_cost_drivers: [
        { model: 'claude-sonnet-4', cost: 0.75, cost_exact: '0.750000000', percent: 71.43 },
        { model: 'gpt-4o', cost: 0.3, cost_exact: '0.300000000', percent: 28.57 },
      ],
    });
    expect(second.recommendations.join(' ')).toContain('claude-sonnet-4 is 71.43%');
    expect(second.recommendations.join(' ')).toContain('refused until');

    // Deleted on B: A lets the agent through again after its refresh; the alert is gone everywhere.
    expect(await ask(`delete ${alert.id}`)).toEqual({ deleted: true });
    expect(await ask('call watched')).toEqual({ ok: true }); // at once on the instance that deleted it
    await waitFor('A admitting the watched agent', async () => (await callOutcome(() => a.get(WatchedAgent).respond())).ok);
    expect(await usage.listAlerts()).toEqual([]);
    expect(await usage.deleteAlert(alert.id)).toBe(false);
    expect(hooks.received).toHaveLength(2);
  });
});
