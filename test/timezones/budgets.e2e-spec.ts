/**
 * Budget windows end to end outside UTC: a real app per zone with hour/day/week/month budgets, the one
 * clock (fake `Date`) walked over the Luxon table's transition days, and each status window compared with
 * Luxon's. Then enforcement across a boundary: a spent hour or day budget refuses until the window Luxon
 * gives ends, and admits right after it (the Santiago day that has no midnight, New York's repeated hour).
 */
import { INestApplication } from '@nestjs/common';
import { UsageBudgetExceededError, UsageService } from 'nestjs-agent-usage';
import { SupportAgent, TestClock, bootApp } from '../budgets/budget-test.helpers';
import { ORACLE_ZONES, oracleWindow, zoneTable } from './tz-oracle';

const KINDS = ['hour', 'day', 'week', 'month'] as const;
const iso = (ms: number) => new Date(ms).toISOString();
const budgets = KINDS.map((window) => ({ name: window, scope: 'agent' as const, match: 'support', window, metric: 'requests' as const, limit: 1_000_000 }));

afterAll(() => jest.useRealTimers());

describe.each(ORACLE_ZONES)('budget windows in %s', (zone) => {
  const table = zoneTable(zone, [2026, 2027]);
  // Just after each table day starts and just before it ends; just after each hour of a transition day starts.
  const instants = [...table.days.flatMap((d) => [d.start + 1000, d.end - 60_000]), ...table.hours.map((h) => h.start + 1000)];
  let app: INestApplication;
  let clock: TestClock;

  beforeAll(async () => {
    clock = new TestClock(new Date(instants[0]));
    app = await bootApp({ trackUsage: true, timeZone: zone, budgets, scheduler: { coordination: 'memory' } }, { clock });
  });
  afterAll(() => app?.close());

  it('reports the hour, day, week and month window Luxon gives at every table instant', async () => {
    const wrong: string[] = [];
    for (const t of instants) {
      clock.set(iso(t));
      for (const s of await app.get(UsageService).getBudgetStatus({})) {
        // The fake clock moves on with real time; an instant is always well inside its hour.
        const o = oracleWindow(s.window.type, t, zone);
        if (s.window.start.getTime() !== o.start || s.window.end.getTime() !== o.end) {
          wrong.push(`${s.window.type} at ${iso(t)}: [${s.window.start.toISOString()}, ${s.window.end.toISOString()}) expected [${iso(o.start)}, ${iso(o.end)})`);
        }
        expect(s.window.timeZone).toBe(zone);
      }
    }
    expect(instants.length).toBeGreaterThan(5);
    expect(wrong).toEqual([]);
  });
});

describe('spent budgets reset where the local window really ends', () => {
  const cases: [string, string, 'hour' | 'day', string][] = [
    // Santiago skips 2026-09-06 00:00: the day starts at 01:00 local = 04:00Z.
    ['America/Santiago', 'day', 'day', '2026-09-06T04:00:00.000Z'],
    // New York repeats 01:00-02:00 on 2026-11-01: the first 01:xx hour (EDT) ends at 06:00Z.
    ['America/New_York', 'hour (repeated wall hour)', 'hour', '2026-11-01T06:00:00.000Z'],
    // Lord Howe moves 02:00 to 02:30 on 2026-10-04: the wall hour 01:xx ends at 02:30 local = 15:30Z.
    ['Australia/Lord_Howe', 'hour (30-minute change)', 'hour', '2026-10-03T15:30:00.000Z'],
    ['Asia/Kathmandu', 'day', 'day', '2026-05-04T18:15:00.000Z'],
  ];

  it.each(cases)('%s %s', async (zone, _label, window, boundary) => {
    const end = Date.parse(boundary);
    // The oracle agrees that `boundary` ends a window.
    expect(oracleWindow(window, end - 1, zone).end).toBe(end);
    const clock = new TestClock(new Date(end - 120_000));
    const app = await bootApp(
      { trackUsage: true, timeZone: zone, budgets: [{ name: 'cap', scope: 'agent', match: 'support', window, metric: 'requests', limit: 2, actions: ['pause'] }], scheduler: { coordination: 'memory' } },
      { clock },
    );
    try {
      const agent = app.get(SupportAgent);
      await agent.respond('q');
      await agent.respond('q');
      const err = await agent.respond('q').catch((e) => e);
      expect(err).toBeInstanceOf(UsageBudgetExceededError);
      expect(err.body.window.end).toBe(boundary);
      expect(err.body.window.start).toBe(iso(oracleWindow(window, end - 120_000, zone).start));
      clock.set(boundary);
      await expect(agent.respond('q')).resolves.toBeDefined();
      const [s] = await app.get(UsageService).getBudgetStatus('cap');
      expect(s).toMatchObject({ used: 1, paused: false });
      expect(s.window.start.toISOString()).toBe(boundary);
      expect(s.window.end.getTime()).toBe(oracleWindow(window, end, zone).end);
    } finally {
      await app.close();
    }
  });
});
