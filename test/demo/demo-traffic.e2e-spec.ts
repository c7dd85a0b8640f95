/**
 * The traffic `npm run demo` generates at start so the dashboard is not empty: every generated call is
 * stored, the support agent's hourly budget is left whole, history spans 14 earlier days, and a second
 * start rewrites the same history records (fixed ids) instead of adding more.
 */
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { UsageService } from 'nestjs-agent-usage';
import { AppModule } from '../../src/app.module';
import { generateDemoTraffic } from '../../src/demo-traffic';

let app: INestApplication;
const saved = process.env.USAGE_STORAGE;

beforeAll(async () => {
  process.env.USAGE_STORAGE = 'memory';
  const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile();
  app = moduleRef.createNestApplication({ logger: false });
  await app.init();
});

afterAll(async () => {
  await app?.close();
  if (saved === undefined) delete process.env.USAGE_STORAGE;
  else process.env.USAGE_STORAGE = saved;
});

test('generated traffic: stored, 14 days of history, support budget whole, history idempotent', async () => {
  const usage = app.get(UsageService);
  const now = new Date();
  const generated = await generateDemoTraffic(app, now);
  const total = await usage.getUsageAggregate();
  expect(total.recordCount).toBe(generated);
  expect(generated).toBeGreaterThan(100);
  const days = await usage.getUsageGroupedBy('day');
  expect(days.length).toBeGreaterThanOrEqual(14);
  const [budget] = await usage.getBudgetStatus({});
  expect(budget.used).toBe(0);
  const agents = (await usage.getUsageGroupedBy('agentName')).map((g) => g.key).sort();
  expect(agents).toEqual(['billing', 'research', 'summarizer', 'triage']);

  // A second start: the live calls are new, the history (a day or more back) is the same ids written again.
  const dayAgo = new Date(now.getTime() - 86_400_000);
  const history = (await usage.getUsageAggregate({ to: dayAgo })).recordCount;
  expect(history).toBeGreaterThan(100);
  await generateDemoTraffic(app, now);
  expect((await usage.getUsageAggregate({ to: dayAgo })).recordCount).toBe(history);
  expect((await usage.getUsageAggregate()).recordCount).toBe(2 * total.recordCount - history);
});
