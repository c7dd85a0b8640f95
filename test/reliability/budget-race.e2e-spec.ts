/**
 * Hard budgets under races with varying call sizes: 2 processes x 100 concurrent calls of 1-60 tokens
 * against a 1,000-token limit counted in Redis, 20 times; and the same inside one process (no Redis).
 * Used never passes the limit by more than the largest single call; no reservation is left over.
 * Then: a restart with storage ['memory', 'file'] seeds the counters from the file, not from memory.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { Test } from '@nestjs/testing';
import Redis from 'ioredis';
import { UsageBudgetExceededError, UsageService, UsageTrackingModule, UsageTrackingModuleOptions } from 'nestjs-agent-usage';
import { CALLS, LIMIT, REPS, RacingAgent, race, raceBudgets } from './fixtures/budget-race.fixture';
import { REDIS_URL, deleteRedisKeys, spawnFixture, tempDir, unique } from './reliability.helpers';

jest.setTimeout(300_000);

const FIXTURE = join(__dirname, 'fixtures', 'budget-race.fixture.ts');

const child = (prefix: string, seed: number) => spawnFixture(FIXTURE, { REDIS_URL, PREFIX: prefix, SEED: String(seed) });

describe('hard budget admission with varying call sizes', () => {
  it('2 processes x 100 concurrent calls (1-60 tokens), limit 1,000, 20 times: overshoot < one call, no reservation left', async () => {
    const prefix = `${unique('rel-race')}:`;
    const redis = new Redis(REDIS_URL);
    const kids = [child(prefix, 1), child(prefix, 2)];
    try {
      for (const k of kids) expect(await k.next()).toBe('ready');
      const report: string[] = [];
      for (let rep = 0; rep < REPS; rep++) {
        for (const k of kids) k.proc.stdin.write(`go ${rep}\n`);
        const results = await Promise.all(kids.map(async (k) => JSON.parse(await k.next()) as { admitted: number[] }));
        const admitted = results.flatMap((r) => r.admitted);
        const used = admitted.reduce((a, b) => a + b, 0);
        const largest = Math.max(...admitted);
        report.push(`${used}/${admitted.length}`);
        // The shared counter agrees with what the calls settled, and nothing is still reserved.
        const keys = await redis.keys(`${prefix}race-${rep}:*`);
        const usedKey = keys.find((k) => k.endsWith(':used'))!;
        expect(Number(await redis.hget(usedKey, 'used'))).toBe(used);
        for (const k of keys.filter((k) => k.endsWith(':res'))) expect(await redis.zcard(k)).toBe(0);
        expect(used).toBeGreaterThanOrEqual(LIMIT - 60); // the limit was actually reached (the test can fail)
        expect(used - LIMIT).toBeLessThanOrEqual(largest);
      }
      process.stdout.write(`budget race (used/admitted per repetition, limit ${LIMIT}): ${report.join(' ')}\n`);
    } finally {
      for (const k of kids) k.proc.stdin.end();
      await Promise.all(kids.map((k) => k.exited()));
      redis.disconnect();
      await deleteRedisKeys(prefix);
    }
  });

  it('one process without Redis: 200 concurrent calls (1-60 tokens), limit 1,000, 20 times: overshoot < one call', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [UsageTrackingModule.forRoot({ trackUsage: true, storage: 'memory', budgets: raceBudgets(), scheduler: { enabled: false, coordination: 'memory' } })],
      providers: [RacingAgent],
    }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    try {
      const agent = app.get(RacingAgent);
      const usage = app.get(UsageService);
      const report: string[] = [];
      for (let rep = 0; rep < REPS; rep++) {
        const admitted = (await Promise.all([race(agent, usage, rep, 7000 + rep), race(agent, usage, rep, 9000 + rep)])).flat();
        const used = admitted.reduce((a, b) => a + b, 0);
        report.push(`${used}/${admitted.length}`);
        expect(admitted.length).toBeLessThan(2 * CALLS);
        expect(used).toBeGreaterThanOrEqual(LIMIT - 60);
        expect(used - LIMIT).toBeLessThanOrEqual(Math.max(...admitted));
        const [status] = await usage.getBudgetStatus({ name: `race-${rep}` });
        expect(status.used).toBe(used);
      }
      process.stdout.write(`budget race in one process (used/admitted): ${report.join(' ')}\n`);
    } finally {
      await app.close();
    }
  });

  it("a restart with storage ['memory', 'file'] seeds from the file: spend is not forgotten", async () => {
    const dir = tempDir('usage-seed');
    const options: UsageTrackingModuleOptions = {
      trackUsage: true,
      storage: ['memory', 'file'],
      file: { directory: dir },
      writer: { spoolDirectory: join(dir, 'spool') },
      budgets: [{ name: 'seeded', scope: 'global', window: 'day', metric: 'tokens', limit: 100, actions: ['pause'] }],
      scheduler: { enabled: false, coordination: 'memory' },
    };
    const boot = async () => {
      const m = await Test.createTestingModule({ imports: [UsageTrackingModule.forRoot(options)], providers: [RacingAgent] }).compile();
      const app = m.createNestApplication({ logger: false });
      await app.init();
      return app;
    };
    try {
      const first = await boot();
      await first.get(RacingAgent).call(100, 0);
      await expect(first.get(RacingAgent).call(1, 0)).rejects.toBeInstanceOf(UsageBudgetExceededError);
      await first.close();
      const second = await boot();
      expect((await second.get(UsageService).getBudgetStatus({ name: 'seeded' }))[0].used).toBe(100);
      await expect(second.get(RacingAgent).call(1, 0)).rejects.toBeInstanceOf(UsageBudgetExceededError);
      await second.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
