/**
 * Budgets, runtime alerts and the threshold job's de-duplication on a real Redis Cluster (3 masters with
 * a replica each, started by the test: test/support/redis-cluster.ts), shared by two app instances: one
 * given a host's ioredis Cluster, the other connecting itself from `{ cluster: { nodes } }`. Every script
 * must keep its keys in one slot (a cross-slot call fails with CROSSSLOT or "non local key").
 */
import type { INestApplication } from '@nestjs/common';
import type { Cluster } from 'ioredis';
import { UsageBudgetExceededError, UsageRuntimeAlerts, UsageService, UsageThresholdJob, type UsageBudgetDefinition, type UsageThresholdEvent } from 'nestjs-agent-usage';
import { startRedisCluster, type RedisClusterHandle } from '../support/redis-cluster';
import { SupportAgent, TestClock, bootApp } from './budget-test.helpers';

jest.setTimeout(60_000);

const PREFIX = 'budgets:';
let cluster: RedisClusterHandle;
let host: Cluster;

beforeAll(async () => {
  cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
  host = cluster.client();
});

afterAll(async () => {
  await host?.quit().catch(() => host.disconnect());
  await cluster?.stop(); // kills every node, also after a failed test
});

/** Instance A connects itself (`scheduler.redis: { cluster }`), B uses the host's Cluster client. */
async function pair(budgets: UsageBudgetDefinition[], clock: TestClock, extra: object = {}): Promise<[INestApplication, INestApplication]> {
  const base = { trackUsage: true, budgets, ...extra };
  const a = await bootApp({ ...base, scheduler: { redis: { cluster: { nodes: cluster.nodes } }, keyPrefix: PREFIX, coordination: 'redis' } }, { clock });
  const b = await bootApp({ ...base, scheduler: { redis: host, keyPrefix: PREFIX, coordination: 'redis' } }, { clock });
  return [a, b];
}

it('two hard budgets on one call (keys on different slots): no overshoot beyond one call, no leaked reservation', async () => {
  const clock = new TestClock(new Date('2031-05-06T08:00:00Z'));
  const budgets: UsageBudgetDefinition[] = [
    { name: 'agent-day', scope: 'agent', match: 'support', window: 'day', metric: 'tokens', limit: 2000, actions: ['pause'] },
    { name: 'user-day', scope: 'user', window: 'day', metric: 'tokens', limit: 600, actions: ['pause'] },
  ];
  const [a, b] = await pair(budgets, clock);
  try {
    for (const app of [a, b]) {
      app.get(SupportAgent).tokens = 10;
      app.get(SupportAgent).delayMs = 3;
    }
    const call = (app: INestApplication) => app.get(UsageService).runWithContext({ userId: 'u1' }, () => app.get(SupportAgent).respond('q'));
    const results = await Promise.allSettled([...Array.from({ length: 100 }, () => call(a)), ...Array.from({ length: 100 }, () => call(b))]);
    const admitted = results.filter((r) => r.status === 'fulfilled').length;
    expect(results.filter((r) => r.status === 'rejected').every((r) => (r as PromiseRejectedResult).reason instanceof UsageBudgetExceededError)).toBe(true);
    await Promise.all([a.get(UsageService).flush(), b.get(UsageService).flush()]);
    await new Promise((r) => setTimeout(r, 100)); // settlements go out on the next turn

    const day = Date.parse('2031-05-06T00:00:00Z');
    // Cluster key names: each target's hash tag holds its two keys together.
    const user = Number(await host.hget(`${PREFIX}{user-day:u1:${day}}:used`, 'used'));
    const agent = Number(await host.hget(`${PREFIX}{agent-day:*:${day}}:used`, 'used'));
    const stored = (await a.get(UsageService).getUsageAggregate()).totalTokens + (await b.get(UsageService).getUsageAggregate()).totalTokens;
    expect(stored).toBe(admitted * 10);
    expect(user).toBe(stored);
    expect(agent).toBe(stored);
    expect(user).toBeGreaterThanOrEqual(600);
    expect(user).toBeLessThanOrEqual(610);
    // A call refused on the second budget released what it had reserved on the first.
    expect(await host.zcard(`${PREFIX}{agent-day:*:${day}}:res`)).toBe(0);
    expect(await host.zcard(`${PREFIX}{user-day:u1:${day}}:res`)).toBe(0);
    await expect(call(b)).rejects.toMatchObject({ body: { budget: 'user-day', used: user } });
    // Another user is still under both budgets.
    await expect(b.get(UsageService).runWithContext({ userId: 'u2' }, () => b.get(SupportAgent).respond('q'))).resolves.toBeDefined();
  } finally {
    await Promise.all([a.close(), b.close()]);
    jest.useRealTimers();
  }
});

it('fires each threshold level once across the two instances', async () => {
  const clock = new TestClock(new Date('2031-05-05T12:00:00Z'));
  const [a, b] = await pair([{ name: 'shared-alerts', scope: 'agent', match: 'support', window: 'day', metric: 'tokens', limit: 1000, levels: [50, 100], actions: ['event'] }], clock);
  try {
    const fired: UsageThresholdEvent[] = [];
    for (const tokens of [600, 500]) {
      for (const app of [a, b]) app.get(UsageService).record({ agentName: 'support', inputTokens: tokens, outputTokens: 0, recordedAt: clock.current });
      for (let i = 0; i < 3; i++) {
        const [ra, rb] = await Promise.all([a.get(UsageThresholdJob).run(), b.get(UsageThresholdJob).run()]);
        fired.push(...ra.fired, ...rb.fired);
      }
    }
    expect(fired.map((e) => e.level).sort((x, y) => x - y)).toEqual([50, 100]);
  } finally {
    await Promise.all([a.close(), b.close()]);
    jest.useRealTimers();
  }
});

it('shares runtime alerts: created on A, paused by spend on B, deleted on B', async () => {
  const extra = { storage: 'memory', writer: { flushIntervalMs: 20 } };
  const opts = (redis: unknown) => ({ trackUsage: true, ...extra, scheduler: { enabled: false, runtimeRefreshMs: 150, redis, keyPrefix: PREFIX, coordination: 'redis' as const } });
  const a = await bootApp(opts({ cluster: { nodes: cluster.nodes } }));
  const b = await bootApp(opts(host));
  try {
    expect(a.get(UsageRuntimeAlerts).storeKind).toBe('redis');
    const alert = await a.get(UsageService).createAlert({ agentName: 'support', dailyBudget: '1.00', alerts: [{ percent: 100, action: 'pause_agent' }] });
    expect((await b.get(UsageService).listAlerts()).map((x) => x.id)).toEqual([alert.id]);
    expect(await host.hexists(`${PREFIX}{runtime-alerts}`, alert.id)).toBe(1);

    b.get(UsageService).record({ agentName: 'support', inputTokens: 1, outputTokens: 1, costNanoUsd: 1_200_000_000 });
    await b.get(UsageService).flush();
    const deadline = Date.now() + 20_000;
    while (!(await a.get(UsageService).listAlerts())[0]?.paused && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect((await a.get(UsageService).listAlerts())[0]).toMatchObject({ id: alert.id, paused: true });
    expect(await host.hexists(`${PREFIX}{runtime-alerts}:paused`, alert.id)).toBe(1);

    expect(await b.get(UsageService).deleteAlert(alert.id)).toBe(true);
    expect(await a.get(UsageService).listAlerts()).toEqual([]);
    expect(await host.hexists(`${PREFIX}{runtime-alerts}:paused`, alert.id)).toBe(0);
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});
