/**
 * Every analytics answer of UsageService on every built-in driver (memory, file, PostgreSQL, Redis) over the
 * known data set of analytics-dataset.ts (America/New_York, around the end of DST), each figure compared
 * with the oracle computed there from the raw records with BigInt and Luxon.
 */
import { InvalidUsageInputError, type UsageRecord, type UsageService } from 'nestjs-agent-usage';
import {
  EMPTY_DAY,
  RATES,
  TODAY,
  ZONE,
  dataset,
  dayOf,
  days,
  groups,
  halfUp,
  hamilton,
  hourOf,
  inDays,
  pct,
  sums,
  toInput,
  usd,
  type Rec,
} from './analytics-dataset';
import { analyticsDrivers, bootAnalytics, type AnalyticsApp } from './analytics-app';
import { BUDGETS, fleetOracle } from './fleet-oracle';
import { recommendationsOracle } from './recommendations-oracle';
import { DISCOUNT_TIERS, invoiceOracle } from './invoice-oracle';

const DATA = dataset();
const money = (nano: bigint) => ({ n: Number(usd(nano)), s: usd(nano) });

/** The newest-first order of every driver's list: instant desc, then id desc. */
const newestFirst = (a: { ms: number; id: string }, b: { ms: number; id: string }) => (a.ms !== b.ms ? b.ms - a.ms : a.id < b.id ? 1 : a.id > b.id ? -1 : 0);

describe.each(analyticsDrivers())('analytics on the $name driver', (driver) => {
  let t: AnalyticsApp;
  let usage: UsageService;

  beforeAll(async () => {
    t = await bootAnalytics(driver, { budgets: BUDGETS, analytics: { invoice: { discountTiers: DISCOUNT_TIERS } } });
    usage = t.usage;
    for (const x of DATA) expect(usage.record(toInput(x))).not.toBeNull();
    await usage.flush();
  });
  afterAll(async () => {
    if (usage) await usage.clearUsage({}, { all: true });
    await t?.app.close();
    await driver.cleanup();
  });

  const periods: [string, { period?: string; startDate?: string; endDate?: string }, string, string][] = [
    ['today', { period: 'today' }, TODAY, TODAY],
    ['yesterday', { period: 'yesterday' }, '2026-11-03', '2026-11-03'],
    ['week (Monday to date)', { period: 'week' }, '2026-11-02', TODAY],
    ['month (to date, the default)', {}, '2026-11-01', TODAY],
    ['all_time (from the first day with usage)', { period: 'all_time' }, dayOf(Math.min(...DATA.map((x) => x.ms))), TODAY],
    ['custom days across the DST change', { startDate: '2026-10-30', endDate: '2026-11-02' }, '2026-10-30', '2026-11-02'],
  ];

  it.each(periods)('summary: %s', async (_label, q, start, end) => {
    const got = await usage.getUsageSummary(q as never);
    const rs = inDays(DATA, start, end);
    const s = sums(rs);
    expect(got.range).toEqual({ period: q.period ?? (q.startDate ? 'custom' : 'month'), startDate: start, endDate: end, timeZone: ZONE, weekStartsOn: 'monday' });
    expect([got.amountSpentExact, got.amountSpent]).toEqual([money(s.cost).s, money(s.cost).n]);
    expect(got.operationCount).toBe(Number(s.calls));
    expect([got.totalTokens, got.inputTokens, got.outputTokens, got.cachedTokens, got.reasoningTokens]).toEqual([s.tokens, s.input, s.output, s.cached, s.reasoning].map(Number));
    expect(got.avgCostPerOperationExact).toBe(usd(halfUp(s.cost, s.calls)));
    expect(got.avgCostPerOperation).toBe(Number(usd(halfUp(s.cost, s.calls))));
    expect(got.successRate).toBe(pct(s.calls - s.failed, s.calls));
    const top = groups(rs, (x) => x.modelName).slice(0, 5);
    expect(got.topModels).toEqual(
      top.map((g) => ({
        model: g.key,
        provider: g.key === null ? null : (groups(rs.filter((x) => x.modelName === g.key), (x) => x.providerName).find((p) => p.key !== null)?.key ?? null),
        cost: money(g.s.cost).n,
        costExact: money(g.s.cost).s,
        calls: Number(g.s.calls),
        tokens: Number(g.s.tokens),
      })),
    );
  });

  it.each([
    ['model', 'models', (x: Rec) => x.modelName],
    ['agent', 'agents', (x: Rec) => x.agentName],
    ['user', 'users', (x: Rec) => x.userId],
    ['provider', 'providers', (x: Rec) => x.providerName],
    ['category', 'categories', (x: Rec) => x.category],
  ] as const)('breakdown by %s: cost, calls, tokens, average and percents summing to 100', async (groupBy, list, key) => {
    const got = await usage.getUsageBreakdown(groupBy, { startDate: '2026-10-31', endDate: '2026-11-03', agentName: ['support', 'sales', 'flaky'] });
    const rs = inDays(DATA, '2026-10-31', '2026-11-03').filter((x) => ['support', 'sales', 'flaky'].includes(x.agentName as string));
    const want = groups(rs, key);
    const percents = hamilton(want.map((g) => g.s.cost));
    expect(got.totalExact).toBe(usd(sums(rs).cost));
    expect(got[list]).toEqual(
      want.map((g, i) => ({
        key: g.key,
        cost: money(g.s.cost).n,
        costExact: money(g.s.cost).s,
        calls: Number(g.s.calls),
        tokens: Number(g.s.tokens),
        avgPerCall: money(halfUp(g.s.cost, g.s.calls)).n,
        avgPerCallExact: money(halfUp(g.s.cost, g.s.calls)).s,
        percent: percents[i],
      })),
    );
    expect(got[list]!.reduce((a, i) => a + Math.round(i.percent * 100), 0)).toBe(10000);
  });

  it('analytics: every day (zeros included), summary, hourly pattern and per-agent series', async () => {
    const [start, end] = ['2026-10-25', TODAY];
    const got = await usage.getUsageAnalytics({ startDate: start, endDate: end, groupBy: 'hour', splitBy: 'agent' });
    const rs = inDays(DATA, start, end);
    const range = days(start, end);
    const point = (xs: Rec[], d: string) => {
      const s = sums(xs.filter((x) => dayOf(x.ms) === d));
      return { date: d, cost: money(s.cost).n, costExact: money(s.cost).s, operations: Number(s.calls), tokens: Number(s.tokens) };
    };
    expect(got.dailyUsage).toEqual(range.map((d) => point(rs, d)));
    expect(got.dailyUsage.find((p) => p.date === EMPTY_DAY)).toEqual({ date: EMPTY_DAY, cost: 0, costExact: '0.000000000', operations: 0, tokens: 0 });
    const total = sums(rs).cost;
    const perDay = range.map((d) => ({ d, c: sums(rs.filter((x) => dayOf(x.ms) === d)).cost }));
    const peak = perDay.reduce((a, b) => (b.c > a.c ? b : a));
    const low = perDay.reduce((a, b) => (b.c < a.c ? b : a));
    expect(got.summary).toEqual({
      total: money(total).n,
      totalExact: money(total).s,
      dailyAverage: money(halfUp(total, BigInt(range.length))).n,
      dailyAverageExact: money(halfUp(total, BigInt(range.length))).s,
      peakDay: { date: peak.d, cost: money(peak.c).n, costExact: money(peak.c).s },
      lowestDay: { date: low.d, cost: money(low.c).n, costExact: money(low.c).s },
      operations: rs.length,
    });
    expect(got.hourlyUsage).toEqual(
      Array.from({ length: 24 }, (_, hour) => {
        const s = sums(rs.filter((x) => hourOf(x.ms) === hour));
        const n = BigInt(range.length);
        return { hour, avgCost: money(halfUp(s.cost, n)).n, avgCostExact: money(halfUp(s.cost, n)).s, avgOperations: Number(halfUp(s.calls * 100n, n)) / 100 };
      }),
    );
    const agents = groups(rs, (x) => x.agentName);
    expect(got.series!.map((x) => x.key)).toEqual(agents.map((g) => g.key));
    for (const s of got.series!) expect(s.dailyUsage).toEqual(range.map((d) => point(rs.filter((x) => x.agentName === s.key), d)));
  });

  it('analytics split by model over the month; 25-hour day and repeated 1 am counted once each', async () => {
    const got = await usage.getUsageAnalytics({ period: 'month', splitBy: 'model', groupBy: 'hour' });
    const rs = inDays(DATA, '2026-11-01', TODAY);
    expect(got.series!.map((x) => x.key)).toEqual(groups(rs, (x) => x.modelName).map((g) => g.key));
    const nov1 = got.dailyUsage.find((p) => p.date === '2026-11-01')!;
    expect(nov1.operations).toBe(rs.filter((x) => dayOf(x.ms) === '2026-11-01').length);
    expect(got.hourlyUsage![1].avgOperations).toBe(Number(halfUp(BigInt(rs.filter((x) => hourOf(x.ms) === 1).length) * 100n, 4n)) / 100);
  });

  it('every answer takes no argument: the month to date (summary, breakdown, analytics, fleet, advice), all time (logs, export)', async () => {
    const month = await usage.getUsageSummary({ period: 'month' });
    expect(await usage.getUsageSummary()).toEqual(month);
    expect(await usage.getUsageBreakdown('agent')).toEqual(await usage.getUsageBreakdown('agent', { period: 'month' }));
    expect(await usage.getUsageAnalytics()).toEqual(await usage.getUsageAnalytics({ period: 'month' }));
    expect(await usage.getFleet()).toEqual(await usage.getFleet({ period: 'month' }));
    expect(await usage.getRecommendations()).toEqual(await usage.getRecommendations({ period: 'month' }));
    expect(month.range.period).toBe('month');
    const logs = await usage.getSpendLogs();
    expect(logs.items.map((i) => i.id)).toEqual((await usage.getSpendLogs({ period: 'all_time' })).items.map((i) => i.id));
    let exported = 0;
    for await (const r of usage.exportUsage()) exported += r.id ? 1 : 0;
    expect(exported).toBe(DATA.length);
  });

  it('seriesLimit: the top keys get a series each, the rest are one series (total minus the named, exactly)', async () => {
    const [start, end] = ['2026-10-25', TODAY];
    const rs = inDays(DATA, start, end);
    const agents = groups(rs, (x) => x.agentName);
    expect(agents.length).toBeGreaterThan(2);
    const got = await usage.getUsageAnalytics({ startDate: start, endDate: end, splitBy: 'agent', seriesLimit: 2 });
    const top = agents.filter((g) => g.key !== null).slice(0, 2).map((g) => g.key);
    expect(got.series!.map((x) => [x.key, x.other ?? false])).toEqual([...top.map((k) => [k, false]), [null, true]]);
    const point = (xs: Rec[], d: string) => {
      const s = sums(xs.filter((x) => dayOf(x.ms) === d));
      return { date: d, cost: money(s.cost).n, costExact: money(s.cost).s, operations: Number(s.calls), tokens: Number(s.tokens) };
    };
    const range = days(start, end);
    expect(got.series![2].dailyUsage).toEqual(range.map((d) => point(rs.filter((x) => !top.includes(x.agentName)), d)));
    for (const s of got.series!.slice(0, 2)) expect(s.dailyUsage).toEqual(range.map((d) => point(rs.filter((x) => x.agentName === s.key), d)));
  });

  it('empty ranges: zero-filled days, null success rate, empty lists; all_time without usage has no dates', async () => {
    const q = { startDate: '2026-09-01', endDate: '2026-09-03' };
    const summary = await usage.getUsageSummary(q);
    expect([summary.amountSpentExact, summary.operationCount, summary.successRate, summary.topModels]).toEqual(['0.000000000', 0, null, []]);
    const a = await usage.getUsageAnalytics(q);
    expect(a.dailyUsage.map((p) => [p.date, p.costExact, p.operations])).toEqual(days('2026-09-01', '2026-09-03').map((d) => [d, '0.000000000', 0]));
    expect(a.summary.peakDay).toEqual({ date: '2026-09-01', cost: 0, costExact: '0.000000000' });
    const b = await usage.getUsageBreakdown('agent', q);
    expect([b.agents, b.totalExact]).toEqual([[], '0.000000000']);
    const none = await usage.getUsageAnalytics({ period: 'all_time', agentName: 'nobody', splitBy: 'agent', groupBy: 'hour' });
    expect([none.range.startDate, none.range.endDate, none.dailyUsage, none.series, none.summary.peakDay]).toEqual([null, null, [], [], null]);
    expect((await usage.getSpendLogs({ agentName: 'nobody' })).items).toEqual([]);
  });

  it('fleet: agents with usage plus budgeted agents, budget windows, status and projection', async () => {
    const got = await usage.getFleet({ period: 'week' });
    const want = fleetOracle(DATA, '2026-11-02', TODAY);
    expect(got.agents).toEqual(want.agents);
    expect(got.totals).toEqual(want.totals);
    expect(new Set(got.agents.map((a) => a.status)).size).toBeGreaterThan(2);
    const one = await usage.getFleet({ period: 'today', agentName: 'support' });
    expect(one.agents.map((a) => a.name)).toEqual(['support']);
  });

  it.each(['2026-10', '2026-11', '2026-09'])('invoice of %s: lines per category and chat model, discount tier, exact totals', async (month) => {
    const got = await usage.getInvoice({ month });
    expect(got).toEqual(invoiceOracle(DATA, month));
    if (month === '2026-09') return;
    expect(got.lineItems.map((l) => l.category)).toEqual(expect.arrayContaining(['chat', 'image', 'web_scrape']));
    expect(got.discountPercent).toBeGreaterThan(0); // the data set passes a tier
  });

  it('invoice for one agent', async () => {
    const got = await usage.getInvoice({ month: '2026-10', agentName: 'support' });
    expect(got).toEqual(invoiceOracle(DATA.filter((x) => x.agentName === 'support'), '2026-10'));
  });

  it('fleet: a runtime alert on an agent is its budget while it exists', async () => {
    // The agent that spent most today, with a daily budget of half of that: over 100 %, so the alert is its most used budget.
    const today = groups(inDays(DATA, TODAY, TODAY), (x) => x.agentName).filter((g) => g.key !== null)[0];
    const limit = usd(today.s.cost / 2n);
    const agent = today.key as string;
    const alert = await usage.createAlert({ agentName: agent, dailyBudget: limit, alerts: [{ percent: 1000, action: 'pause_agent' }] });
    try {
      const got = await usage.getFleet({ period: 'month' });
      const want = fleetOracle(DATA, '2026-11-01', TODAY, [{ name: `alert:${alert.id}`, scope: 'agent', match: agent, window: 'day', limit }]);
      expect(got).toEqual({ range: expect.anything(), ...want });
      expect(got.agents.find((a) => a.name === agent)).toMatchObject({ budgetSource: `alert:${alert.id}`, status: 'CRITICAL', budgetWindow: 'day' });
    } finally {
      expect(await usage.deleteAlert(alert.id)).toBe(true);
    }
    expect((await usage.getFleet({ period: 'month' })).agents.find((a) => a.name === agent)!.budgetSource).not.toBe(`alert:${alert.id}`);
  });

  it('recommendations: figures re-priced from the token mix, with their evidence', async () => {
    const got = await usage.getRecommendations({ period: 'month' });
    const want = recommendationsOracle(inDays(DATA, '2026-11-01', TODAY), 4n);
    expect(got.recommendations.map((r) => [r.id, r.estimatedSavingsExact, r.percentReduction, r.priority])).toEqual(want.map((r) => [r.id, r.perDay, r.percentReduction, r.priority]));
    expect(got.recommendations.map((r) => r.type).sort()).toEqual(['enable_prompt_caching', 'fix_failures', 'switch_model']);
    const sw = got.recommendations.find((r) => r.type === 'switch_model')!;
    expect(sw.action).toEqual({ type: 'switch_model', from: 'big-model', to: 'small-model', provider: 'acme' });
    expect(sw.evidence).toMatchObject({ shortOutputTokens: 500, rangeDays: 4 });
    const total = want.reduce((a, r) => a + r.perDayNano, 0n);
    expect(got.totalEstimatedSavingsExact).toBe(usd(total));
    expect(Object.keys(RATES)).toContain(sw.action.to);
  });

  it('spend logs: newest first across equal timestamps, costs, every record once', async () => {
    const want = [...DATA].sort(newestFirst);
    const seen: UsageRecord[] = [];
    let cursor: string | undefined;
    do {
      const page = await usage.getSpendLogs({ period: 'all_time', limit: 7, cursor });
      expect(page.limit).toBe(7);
      expect(page.items.length).toBeLessThanOrEqual(7);
      for (const item of page.items) {
        const x = DATA.find((d) => d.id === item.id)!;
        expect([item.cost, item.costExact]).toEqual(x.costNanoUsd === null ? [null, null] : [money(BigInt(x.costNanoUsd)).n, money(BigInt(x.costNanoUsd)).s]);
      }
      seen.push(...page.items);
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    expect(seen.map((r) => r.id)).toEqual(want.map((x) => x.id));
    expect((await usage.getSpendLogs()).items.length).toBe(50);
  });

  it('spend logs: a cursor stays correct when records arrive between pages (later, and on its own millisecond)', async () => {
    const day = '2026-11-03';
    const want = inDays(DATA, day, day).sort(newestFirst);
    const sameMs = DATA.find((x) => x.id === 'an-same-00')!.ms;
    const later = want.filter((x) => x.ms > sameMs).length;
    const first = await usage.getSpendLogs({ startDate: day, endDate: day, limit: later + 5 });
    expect(first.items.map((r) => r.id)).toEqual(want.slice(0, later + 5).map((x) => x.id));
    const arrive = (id: string, ms: number) => usage.record({ ...toInput({ ...DATA[0], id, ms }), userId: 'late-arrival' });
    arrive('an-same-99', sameMs); // before the cursor in the list order: must not be repeated or shift the page
    arrive('an-same-000', sameMs); // after the cursor: must come on a later page
    arrive('an-late', sameMs + 60_000); // after the first page was read: not in this walk
    const rest: string[] = [];
    let cursor = first.nextCursor;
    while (cursor) {
      const page = await usage.getSpendLogs({ startDate: day, endDate: day, limit: 4, cursor });
      rest.push(...page.items.map((r) => r.id));
      cursor = page.nextCursor;
    }
    const expectedRest = [...want.slice(later + 5).map((x) => x.id)];
    expectedRest.splice(expectedRest.indexOf('an-same-00'), 0, 'an-same-000'); // id order: ...-01 > ...-000 > ...-00
    expect(rest).toEqual(expectedRest);
    expect(await usage.clearUsage({ userId: 'late-arrival' })).toBe(3);
  });

  it('refuses bad limits and cursors, naming the field', async () => {
    for (const limit of [0, 1001, 1.5]) await expect(usage.getSpendLogs({ limit })).rejects.toMatchObject({ field: 'limit' });
    for (const cursor of ['', 'not a cursor', Buffer.from('[1,"x",0]').toString('base64url')]) {
      await expect(usage.getSpendLogs({ cursor })).rejects.toBeInstanceOf(InvalidUsageInputError);
    }
  });
});

