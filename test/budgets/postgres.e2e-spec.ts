import { INestApplication } from '@nestjs/common';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { UsageBudgetService, UsageService, UsageThresholdEvent, UsageThresholdJob } from 'nestjs-agent-usage';
import { PG_URL, TestClock, bootApp, unique } from './budget-test.helpers';

// This file's own alerts table, dropped afterwards.
const TABLE = unique('alerts').toLowerCase();
let pg: Client;
let dataSource: DataSource;

beforeAll(async () => {
  pg = new Client({ connectionString: PG_URL });
  await pg.connect();
  dataSource = new DataSource({ type: 'postgres', url: PG_URL });
  await dataSource.initialize();
});
afterAll(async () => {
  await pg.query(`DROP TABLE IF EXISTS "${TABLE}"`);
  await pg.end();
  await dataSource.destroy();
});

describe('two instances sharing PostgreSQL (no Redis)', () => {
  let a: INestApplication;
  let b: INestApplication;
  const clock = new TestClock(new Date('2031-06-02T18:00:00Z'));
  const budgets = [
    { name: 'pg-alerts', scope: 'agent' as const, match: 'support', window: 'week' as const, metric: 'tokens' as const, limit: 1000, levels: [50, 80, 95, 100], actions: ['event' as const] },
    { name: 'pg-per-user', scope: 'user' as const, window: 'day' as const, metric: 'requests' as const, limit: 2, levels: [100], actions: ['event' as const] },
  ];

  beforeAll(async () => {
    // Booted together: both create the alerts table at once.
    [a, b] = await Promise.all([
      bootApp({ budgets, database: { url: PG_URL }, scheduler: { alertsTable: TABLE, coordination: 'database' } }, { clock }),
      bootApp({ budgets, database: { dataSource }, scheduler: { alertsTable: TABLE } }, { clock }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
  });

  it('never double-fire a level (INSERT ... ON CONFLICT DO NOTHING RETURNING)', async () => {
    const fired: UsageThresholdEvent[] = [];
    for (const [tokens, runs] of [[500, 2], [300, 3], [200, 3]] as const) {
      for (const app of [a, b]) {
        app.get(UsageService).record({ agentName: 'support', userId: 'u1', inputTokens: tokens, outputTokens: 0, recordedAt: clock.current });
      }
      for (let i = 0; i < runs; i++) {
        const [ra, rb] = await Promise.all([a.get(UsageThresholdJob).run(), b.get(UsageThresholdJob).run()]);
        fired.push(...ra.fired, ...rb.fired);
      }
    }
    expect(fired.filter((e) => e.budget === 'pg-alerts').map((e) => e.level).sort((x, y) => x - y)).toEqual([50, 80, 95, 100]);
    expect(fired.filter((e) => e.budget === 'pg-per-user').map((e) => [e.scope.value, e.level])).toEqual([['u1', 100]]);
    const { rows } = await pg.query(`SELECT budget_name, scope_value, level, window_start FROM "${TABLE}" ORDER BY budget_name, level`);
    expect(rows.map((r) => [r.budget_name, r.scope_value, r.level])).toEqual([
      ['pg-alerts', '*', 50],
      ['pg-alerts', '*', 80],
      ['pg-alerts', '*', 95],
      ['pg-alerts', '*', 100],
      ['pg-per-user', 'u1', 100],
    ]);
    // Weeks start on Monday (2031-06-02 is a Monday).
    expect(new Date(rows[0].window_start).toISOString()).toBe('2031-06-02T00:00:00.000Z');
    expect(a.get(UsageBudgetService).coordination.kind).toBe('database');
    expect(b.get(UsageBudgetService).coordination.kind).toBe('database');
  });

  it('fires again in the next window', async () => {
    clock.set('2031-06-09T01:00:00Z');
    a.get(UsageService).record({ agentName: 'support', inputTokens: 1000, outputTokens: 0, recordedAt: clock.current });
    b.get(UsageService).record({ agentName: 'support', inputTokens: 1000, outputTokens: 0, recordedAt: clock.current });
    const [ra, rb] = await Promise.all([a.get(UsageThresholdJob).run(), b.get(UsageThresholdJob).run()]);
    expect([...ra.fired, ...rb.fired].map((e) => e.level).sort((x, y) => x - y)).toEqual([50, 80, 95, 100]);
  });
});
