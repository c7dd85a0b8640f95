/**
 * Runs and failures end to end on the persistent drivers: a booted app records concurrent runs (nested
 * tracked calls, tool records, failures) into PostgreSQL or Redis and into the memory driver at once;
 * every total and group-by (run, agent, user, error type, model) read from the store equals the memory
 * driver's and the known run counts.
 */
import { Injectable, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import Redis from 'ioredis';
import { Pool } from 'pg';
import { TrackUsage, UsageService, UsageTrackingModule, type UsageDimension, type UsageReader, type UsageTrackingModuleOptions } from 'nestjs-agent-usage';
import { PG_URL, allTables, uniqueName } from '../database/fixtures/database-test.fixture';
import { REDIS_URL, deleteKeys } from '../cache/fixtures/cache-test.helpers';

jest.setTimeout(90_000);

class UpstreamTimeoutError extends Error {}
const tick = () => new Promise<void>((r) => setImmediate(r));
const completion = (model: string, input: number, output: number) => ({ object: 'chat.completion', model, usage: { prompt_tokens: input, completion_tokens: output, total_tokens: input + output } });

@Injectable()
@TrackUsage({ agentName: 'specialist' })
class Specialist {
  async work(n: number) {
    await tick();
    if (n % 7 === 0) throw new UpstreamTimeoutError('upstream timed out');
    return completion('gpt-4o-mini', 200 + n, 20);
  }
}

@Injectable()
@TrackUsage({ agentName: 'triage' })
class Triage {
  constructor(private readonly specialist: Specialist, private readonly usage: UsageService) {}
  async handle(n: number) {
    this.usage.recordResponse(completion('gpt-4o', 1000 + n, 30));
    for (let i = 0; i < n % 3; i++) await this.specialist.work(n + i).catch(() => undefined);
    this.usage.record({ modelName: 'web-search', providerName: 'tools', inputTokens: 0, outputTokens: 0 });
    return completion('gpt-4o', 2000 + n, 40);
  }
}

const RUNS = 90;
const DIMENSIONS: UsageDimension[] = ['runId', 'agentName', 'userId', 'errorType', 'modelName', 'day'];

async function exercise(options: UsageTrackingModuleOptions): Promise<void> {
  const mod = await Test.createTestingModule({
    imports: [UsageTrackingModule.forRoot({ trackUsage: true, pricing: { agents: { triage: { costPerQuery: '0.01' } } }, ...options })],
    providers: [Triage, Specialist],
  }).compile();
  const app: INestApplication = mod.createNestApplication();
  await app.init();
  try {
    const usage = app.get(UsageService);
    const triage = app.get(Triage);
    await Promise.all(Array.from({ length: RUNS }, (_, n) => usage.runWithContext({ userId: `user-${n % 6}` }, () => triage.handle(n))));
    await usage.flush();
    const memory: UsageReader = usage.storage('memory');
    const total = await usage.getUsageAggregate();
    expect(total).toEqual(await memory.getUsageAggregate());
    const specialistRuns = Array.from({ length: RUNS }, (_, n) => n).filter((n) => n % 3 > 0).length;
    expect(total).toMatchObject({ runCount: RUNS, agentRunCount: RUNS + specialistRuns, costNanoUsd: expect.any(Number) });
    const failures = Array.from({ length: RUNS }, (_, n) => Array.from({ length: n % 3 }, (_, i) => n + i)).flat().filter((k) => k % 7 === 0).length;
    expect(total.failedCount).toBe(failures);
    for (const d of DIMENSIONS) expect([d, await usage.getUsageGroupedBy(d)]).toEqual([d, await memory.getUsageGroupedBy(d)]);
    const byRun = await usage.getUsageGroupedBy('runId');
    expect(byRun).toHaveLength(RUNS);
    expect(byRun.every((g) => g.runCount === 1 && g.recordCount >= 3)).toBe(true);
    const perUser = await usage.getUsageGroupedBy('userId');
    expect(perUser.map((g) => g.runCount)).toEqual(Array(6).fill(RUNS / 6));
    const timeouts = await usage.getUsageAggregate({ errorType: 'UpstreamTimeoutError', agentName: 'specialist' });
    expect(timeouts).toMatchObject({ recordCount: failures, failedCount: failures, usageMissingCount: failures });
    const one = byRun[5].key!;
    expect(await usage.getUsageAggregate({ runId: one })).toEqual(await memory.getUsageAggregate({ runId: one }));
    const triageCost = (await usage.getUsageAggregate({ agentName: 'triage' })).costNanoUsd;
    expect(triageCost).toBe(RUNS * 10_000_000);
  } finally {
    await app.close();
  }
}

it('PostgreSQL ("database") keeps runs and failures exactly like the memory driver', async () => {
  const names = { tableName: uniqueName('runs_e2e_l'), rollupTableName: uniqueName('runs_e2e_r') };
  try {
    await exercise({ storage: ['database', 'memory'], database: { url: PG_URL, ...names } });
  } finally {
    const admin = new Pool({ connectionString: PG_URL, max: 1 });
    for (const t of allTables(names)) await admin.query(`DROP TABLE IF EXISTS "${t}"`);
    await admin.end();
  }
});

it('Redis ("cache") keeps runs and failures exactly like the memory driver', async () => {
  const keyPrefix = `agent-usage-test:runs-e2e:${process.pid}:`;
  const redis = new Redis(REDIS_URL);
  try {
    await exercise({ storage: ['cache', 'memory'], cache: { url: REDIS_URL, keyPrefix } });
  } finally {
    await deleteKeys(redis, keyPrefix);
    await redis.quit();
  }
});
