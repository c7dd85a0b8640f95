/**
 * Hard budgets read the store, with ONE clock for records and budgets (TestClock fakes `Date`), so the
 * records are really in the window under test:
 * - a restart seeds the window from records in the store, and ignores records of another window;
 * - when a window rolls over, the new window is re-seeded from the store (here: a record dated into the
 *   next window, as an import or another instance would write it).
 * On the memory, file, Redis (store and counters) and PostgreSQL stores.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { INestApplication } from '@nestjs/common';
import Redis from 'ioredis';
import { Pool } from 'pg';
import { UsageBudgetExceededError, UsageService, UsageTrackingModuleOptions } from 'nestjs-agent-usage';
import { PG_URL, REDIS_URL, SupportAgent, TestClock, bootApp, unique } from './budget-test.helpers';
import { allTables } from '../database/fixtures/database-test.fixture';
import { deleteKeys } from '../cache/fixtures/cache-test.helpers';

const dir = mkdtempSync(join(tmpdir(), 'budget-seeding-'));
const prefix = `${unique('test-budgets-seeding')}:`;
const tables = { tableName: unique('seed_l').toLowerCase(), rollupTableName: unique('seed_r').toLowerCase() };

const budget = { name: 'daily', scope: 'agent' as const, match: 'support', window: 'day' as const, metric: 'tokens' as const, limit: 1000, actions: ['pause' as const] };

/** Label, options, and whether the store outlives the app (the memory store does not: no restart case). */
const stores: [string, Partial<UsageTrackingModuleOptions>, boolean][] = [
  ['memory store', { storage: 'memory', scheduler: { coordination: 'memory' } }, false],
  ['file store', { storage: 'file', file: { directory: dir }, scheduler: { coordination: 'memory' } }, true],
  ['Redis store and Redis counters', { storage: 'cache', cache: { url: REDIS_URL, keyPrefix: `${prefix}store:` }, scheduler: { redis: REDIS_URL, keyPrefix: `${prefix}budgets:`, coordination: 'redis' } }, true],
  ['PostgreSQL store', { storage: 'database', database: { url: PG_URL, ...tables }, scheduler: { coordination: 'memory' } }, true],
];

afterAll(async () => {
  jest.useRealTimers();
  rmSync(dir, { recursive: true, force: true });
  const redis = new Redis(REDIS_URL);
  await deleteKeys(redis, prefix);
  await redis.quit();
  const pg = new Pool({ connectionString: PG_URL, max: 1 });
  await pg.query(`DROP TABLE IF EXISTS ${allTables(tables).map((t) => `"${t}"`).join(', ')}`);
  await pg.end();
});

/** Calls a zero-token probe (it spends nothing) until the budget refuses it; the refusal, or null after the deadline. */
async function refusalOf(app: INestApplication, timeoutMs = 5000): Promise<UsageBudgetExceededError | null> {
  const agent = app.get(SupportAgent);
  agent.tokens = 0;
  const deadline = Date.now() + timeoutMs;
  do {
    const err = await agent.respond('probe').then(
      () => null,
      (e: unknown) => e,
    );
    if (err instanceof UsageBudgetExceededError) return err;
    if (err) throw err;
    await new Promise((r) => setTimeout(r, 20));
  } while (Date.now() < deadline);
  return null;
}

describe.each(stores)('hard budget seeding: %s', (_label, storeOptions, persistent) => {
  const options = (): UsageTrackingModuleOptions => ({ trackUsage: true, budgets: [budget], ...storeOptions });

  // The memory store has nothing to restart from.
  if (persistent) it('a restart seeds the window from the records in it, and not from another window', async () => {
    const clock = new TestClock(new Date('2031-03-03T10:00:00Z'));
    const first = await bootApp(options(), { clock });
    const a = first.get(SupportAgent);
    a.tokens = 500;
    await a.respond('q');
    await a.respond('q');
    await first.close(); // flushes the store

    clock.set('2031-03-03T15:00:00Z');
    const second = await bootApp(options(), { clock });
    try {
      const err = await second.get(SupportAgent).respond('q').catch((e) => e);
      expect(err).toBeInstanceOf(UsageBudgetExceededError);
      expect(err.body).toMatchObject({ used: 1000, window: { start: '2031-03-03T00:00:00.000Z', end: '2031-03-04T00:00:00.000Z' } });
    } finally {
      await second.close();
    }

    clock.set('2031-03-04T00:00:01Z');
    const third = await bootApp(options(), { clock });
    try {
      third.get(SupportAgent).tokens = 10;
      await expect(third.get(SupportAgent).respond('q')).resolves.toBeDefined();
      const [s] = await third.get(UsageService).getBudgetStatus('daily');
      expect(s).toMatchObject({ used: 10, paused: false });
    } finally {
      await third.close();
    }
  });

  it('re-seeds the new window from the store when the window rolls over', async () => {
    const clock = new TestClock(new Date('2031-04-01T22:00:00Z'));
    const app = await bootApp(options(), { clock });
    try {
      const usage = app.get(UsageService);
      // Dated into tomorrow's window (an import, or another instance ahead of us).
      usage.record({ agentName: 'support', modelName: 'gpt-4o', inputTokens: 1000, outputTokens: 0, recordedAt: '2031-04-02T09:00:00Z' });
      await usage.flush();
      clock.set('2031-04-02T10:00:00Z');
      const err = await refusalOf(app);
      expect(err).toBeInstanceOf(UsageBudgetExceededError);
      expect(err!.body).toMatchObject({ budget: 'daily', used: 1000, window: { start: '2031-04-02T00:00:00.000Z' } });
    } finally {
      await app.close();
    }
  });
});
