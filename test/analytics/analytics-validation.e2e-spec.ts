/**
 * Bad analytics input is refused with InvalidUsageInputError naming the field (camelCase, as the HTTP
 * layer maps it to its query name) before any store is asked; bad `analytics` options stop the boot.
 */
import { Test } from '@nestjs/testing';
import { InvalidUsageInputError, InvalidUsageOptionsError, UsageTrackingModule, type UsageService } from 'nestjs-agent-usage';
import { analyticsDrivers, bootAnalytics, type AnalyticsApp } from './analytics-app';

const memory = analyticsDrivers()[0];

describe('analytics input validation', () => {
  let t: AnalyticsApp;
  let usage: UsageService;
  beforeAll(async () => {
    t = await bootAnalytics(memory);
    usage = t.usage;
  });
  afterAll(() => t?.app.close());

  const field = async (p: Promise<unknown>, name: string) => {
    const e = await p.then(
      () => null,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(InvalidUsageInputError);
    expect((e as InvalidUsageInputError).field).toBe(name);
    return e as InvalidUsageInputError;
  };

  it.each([
    [{ period: 'fortnight' }, 'period'],
    [{ period: 'today', startDate: '2026-11-01' }, 'period'],
    [{ startDate: '2026-02-30' }, 'startDate'],
    [{ startDate: '2026-11-01', endDate: '11/03/2026' }, 'endDate'],
    [{ startDate: '2026-11-05', endDate: '2026-11-01' }, 'endDate'],
    [{ endDate: '2026-11-01' }, 'startDate'],
    [{ agentName: '' }, 'agentName'],
    [{ agentName: ['ok', 42] }, 'agentName'],
    [{ success: 'yes' }, 'success'],
    [{ from: '2026-11-01T00:00:00Z' }, 'from'],
  ])('summary refuses %j naming %s', async (q, name) => {
    await field(usage.getUsageSummary(q as never), name);
  });

  it('an unknown key is named with a hint', async () => {
    const e = await field(usage.getUsageSummary({ agent: 'x' } as never), 'agent');
    expect(e.message).toContain('did you mean "agentName"');
  });

  it('group-bys, splits, months and logs name their fields', async () => {
    await field(usage.getUsageBreakdown('day' as never), 'groupBy');
    await field(usage.getUsageAnalytics({ groupBy: 'week' as never }), 'groupBy');
    await field(usage.getUsageAnalytics({ splitBy: 'user' as never }), 'splitBy');
    for (const seriesLimit of [0, 51, 2.5]) await field(usage.getUsageAnalytics({ splitBy: 'agent', seriesLimit }), 'seriesLimit');
    for (const month of ['2026-13', '2026-1', '', undefined]) await field(usage.getInvoice({ month } as never), 'month');
    await field(usage.getInvoice({ month: '2026-11', period: 'month' } as never), 'period');
    await field(usage.getSpendLogs({ limit: 0 }), 'limit');
    await field(usage.getSpendLogs({ cursor: 'eyJ4IjoxfQ' }), 'cursor');
  });

  it('export refuses bad input at once, before a page is read', () => {
    expect(() => usage.exportUsage({ period: 'yesterday', endDate: '2026-11-01' })).toThrow(InvalidUsageInputError);
    expect(() => usage.exportUsage({ startDate: 'soon' })).toThrow(expect.objectContaining({ field: 'startDate' }));
  });

  it.each([
    [{ invoice: { discountTiers: [{ aboveUsd: '10', percent: 101 }] } }, 'analytics.invoice.discountTiers[0].percent'],
    [{ invoice: { discountTiers: [{ aboveUsd: '-1', percent: 5 }] } }, 'analytics.invoice.discountTiers[0].aboveUsd'],
    [{ invoice: { discountTiers: [{ aboveUsd: '1', percent: 5 }, { aboveUsd: '1.0', percent: 6 }] } }, 'analytics.invoice.discountTiers[1].aboveUsd'],
    [{ invoice: { discountTiers: [{ aboveUsd: '1', percent: 0.125 }] } }, 'analytics.invoice.discountTiers[0].percent'],
    [{ invoice: { tiers: [] } }, 'analytics.invoice.tiers'],
    [{ invoice: { discountTiers: 'x' } }, 'analytics.invoice.discountTiers'],
  ])('boot refuses analytics options %j', async (analytics, path) => {
    const compile = Test.createTestingModule({ imports: [UsageTrackingModule.forRoot({ analytics } as never)] }).compile();
    await expect(compile).rejects.toBeInstanceOf(InvalidUsageOptionsError);
    await expect(Test.createTestingModule({ imports: [UsageTrackingModule.forRoot({ analytics } as never)] }).compile()).rejects.toThrow(path);
  });
});
