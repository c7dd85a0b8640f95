import { INestApplication } from '@nestjs/common';
import Redis from 'ioredis';
import {
  UsageBudgetDefinition,
  UsageBudgetExceededError,
  UsageBudgetService,
  UsageService,
  UsageThresholdEvent,
  UsageThresholdJob,
} from 'nestjs-agent-usage';
import { REDIS_URL, SupportAgent, TestClock, bootApp, unique } from './budget-test.helpers';

// Every key of this file lives under its own prefix and is deleted afterwards (never FLUSHALL).
const PREFIX = `${unique('test-budgets-redis')}:`;
let redis: Redis;

async function deletePrefix(): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${PREFIX}*`, 'COUNT', 500);
    if (keys.length) await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
}

beforeAll(() => {
  redis = new Redis(REDIS_URL);
});
afterAll(async () => {
  await deletePrefix();
  await redis.quit();
});

/** Two app instances sharing Redis: one opens its own client from the URL, the other is given the host's client. */
async function pair(budgets: UsageBudgetDefinition[], clock: TestClock, extra: object = {}): Promise<[INestApplication, INestApplication]> {
  const base = { trackUsage: true, budgets, ...extra };
  const a = await bootApp({ ...base, scheduler: { redis: REDIS_URL, keyPrefix: PREFIX, coordination: 'redis' } }, { clock });
  const b = await bootApp({ ...base, scheduler: { redis, keyPrefix: PREFIX, coordination: 'redis' } }, { clock });
  return [a, b];
}

describe('two instances sharing Redis', () => {
  it('never double-fire a level', async () => {
    const clock = new TestClock(new Date('2031-05-05T12:00:00Z'));
    const [a, b] = await pair(
      [{ name: 'shared-alerts', scope: 'agent', match: 'support', window: 'day', metric: 'tokens', limit: 1000, levels: [50, 80, 95, 100], actions: ['event'] }],
      clock,
    );
    try {
      const fired: UsageThresholdEvent[] = [];
      const runBoth = async () => {
        const [ra, rb] = await Promise.all([a.get(UsageThresholdJob).run(), b.get(UsageThresholdJob).run()]);
        fired.push(...ra.fired, ...rb.fired);
      };
      // Each instance has its own store here, and both see the thresholds crossed.
      for (const [tokens, runs] of [[600, 3], [250, 3], [200, 4]] as const) {
        for (const app of [a, b]) app.get(UsageService).record({ agentName: 'support', inputTokens: tokens, outputTokens: 0, recordedAt: clock.current });
        for (let i = 0; i < runs; i++) await runBoth();
      }
      expect(fired.map((e) => e.level).sort((x, y) => x - y)).toEqual([50, 80, 95, 100]);
      expect(a.get(UsageBudgetService).getStats().thresholdsFired + b.get(UsageBudgetService).getStats().thresholdsFired).toBe(4);
      // The claim keys expire with the window: at its end (midnight), not a fixed time after the claim.
      const windowEnd = Date.parse('2031-05-06T00:00:00Z');
      for (const level of [50, 80, 95, 100]) {
        const ttl = await redis.pttl(`${PREFIX}fired:shared-alerts:*:${Date.parse('2031-05-05T00:00:00Z')}:${level}`);
        // One clock: the fake Date is in 2031-05-05, about 12 h before the window ends.
        expect(Math.abs(Date.now() + ttl - windowEnd)).toBeLessThan(2_000);
      }
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('200 concurrent calls across two apps at the limit do not overshoot by more than one call', async () => {
    const clock = new TestClock(new Date('2031-05-06T08:00:00Z'));
    const [a, b] = await pair([{ name: 'hard-shared', scope: 'agent', match: 'support', window: 'day', metric: 'tokens', limit: 1000, actions: ['pause'] }], clock);
    try {
      for (const app of [a, b]) {
        app.get(SupportAgent).tokens = 10;
        app.get(SupportAgent).delayMs = 3;
      }
      const calls = [...Array.from({ length: 100 }, () => a.get(SupportAgent).respond('q')), ...Array.from({ length: 100 }, () => b.get(SupportAgent).respond('q'))];
      const results = await Promise.allSettled(calls);
      const admitted = results.filter((r) => r.status === 'fulfilled').length;
      const refused = results.filter((r) => r.status === 'rejected');
      expect(refused.every((r) => (r as PromiseRejectedResult).reason instanceof UsageBudgetExceededError)).toBe(true);
      await Promise.all([a.get(UsageService).flush(), b.get(UsageService).flush()]);
      await new Promise((r) => setTimeout(r, 50)); // settlements are pipelined on the next turn
      const usedKey = `${PREFIX}hard-shared:*:${Date.parse('2031-05-06T00:00:00Z')}:used`;
      const used = Number(await redis.hget(usedKey, 'used'));
      const stored = (await a.get(UsageService).getUsageAggregate()).totalTokens + (await b.get(UsageService).getUsageAggregate()).totalTokens;
      expect(stored).toBe(admitted * 10);
      expect(used).toBe(stored);
      expect(used).toBeGreaterThanOrEqual(1000);
      expect(used).toBeLessThanOrEqual(1000 + 10);
      // Every reservation was released by its call's record (none leaked).
      expect(await redis.zcard(`${PREFIX}hard-shared:*:${Date.parse('2031-05-06T00:00:00Z')}:res`)).toBe(0);
      // Both instances now refuse, including one that made no call of its own since.
      await expect(b.get(SupportAgent).respond('q')).rejects.toMatchObject({ body: { budget: 'hard-shared', used } });
      const [status] = await a.get(UsageService).getBudgetStatus('hard-shared');
      expect(status).toMatchObject({ used, paused: true });

      // The next window starts from zero on both.
      clock.set('2031-05-07T00:00:00Z');
      await expect(a.get(SupportAgent).respond('q')).resolves.toBeDefined();
      await expect(b.get(SupportAgent).respond('q')).resolves.toBeDefined();
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('one instance enforces what another spent', async () => {
    const clock = new TestClock(new Date('2031-05-08T08:00:00Z'));
    const [a, b] = await pair([{ name: 'per-user', scope: 'user', window: 'hour', metric: 'requests', limit: 3, actions: ['pause'] }], clock);
    try {
      const call = (app: INestApplication, userId: string) => app.get(UsageService).runWithContext({ userId }, () => app.get(SupportAgent).respond('q'));
      await call(a, 'u1');
      await call(a, 'u1');
      await call(a, 'u1');
      await a.get(UsageBudgetService).onModuleDestroy(); // flush settlements now
      await expect(call(b, 'u1')).rejects.toMatchObject({ body: { budget: 'per-user', scope: { type: 'user', value: 'u1' }, used: 3, limit: 3 } });
      await expect(call(b, 'u2')).resolves.toBeDefined();
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});
