import { Test } from '@nestjs/testing';
import { InvalidUsageOptionsError, UsageTrackingModule, UsageTrackingModuleOptions } from 'nestjs-agent-usage';
import { parseBudgetAmount } from '../../libs/agent-usage/src/budgets/budget-limit.util';
import { windowAt } from '../../libs/agent-usage/src/budgets/budget-window.util';

async function bootError(options: UsageTrackingModuleOptions): Promise<string> {
  try {
    const m = await Test.createTestingModule({ imports: [UsageTrackingModule.forRoot(options)] }).compile();
    await m.close();
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidUsageOptionsError);
    return (e as Error).message;
  }
  throw new Error('boot did not fail');
}

describe('budget options', () => {
  it('converts cost limits exactly to nano-USD (no floats)', () => {
    expect(parseBudgetAmount('cost', '25.00')).toBe(25_000_000_000);
    expect(parseBudgetAmount('cost', '0.1')).toBe(100_000_000);
    expect(parseBudgetAmount('cost', 0.1)).toBe(100_000_000);
    expect(parseBudgetAmount('cost', '0.000000001')).toBe(1);
    expect(parseBudgetAmount('cost', '1234567.123456789')).toBe(1_234_567_123_456_789);
    expect(parseBudgetAmount('cost', '0.0000000001')).toBeNull(); // below one nano-USD
    expect(parseBudgetAmount('cost', '1e3')).toBeNull();
    expect(parseBudgetAmount('cost', '-1')).toBeNull();
    expect(parseBudgetAmount('tokens', '2000')).toBe(2000);
    expect(parseBudgetAmount('tokens', 2000.5)).toBeNull();
  });

  it('stops the boot naming each bad field', async () => {
    const msg = await bootError({
      budgets: [
        { name: 'a', scope: 'agents' as never, window: 'day', limit: '1' },
        { name: 'b', scope: 'global', match: 'x', window: 'fortnight' as never, metric: 'cost', limit: '1.2345678901' },
        { name: 'c', scope: 'user', window: 'hour', metric: 'tokens', limit: '10.5', levels: [50, 50, 2000], actions: ['webhook', 'shout' as never] },
        { name: 'c', scope: 'user', window: 'hour', metric: 'requests', limit: 5, webhook: { url: 'ftp://x' } },
      ],
      scheduler: { cron: 'every minute', unknownKey: 1 } as never,
    });
    expect(msg).toContain(`budgets.0 ("a").scope must be one of 'global', 'agent', 'user', 'group', 'provider', 'model', 'category'`);
    expect(msg).toContain(`budgets.1 ("b").window must be one of`);
    expect(msg).toContain(`budgets.1 ("b").limit must be a USD decimal`);
    expect(msg).toContain(`budgets.1 ("b").match is not allowed with scope 'global'`);
    expect(msg).toContain(`budgets.2 ("c").limit must be a non-negative integer above zero; got "10.5"`);
    expect(msg).toContain(`budgets.2 ("c").levels must not repeat`);
    expect(msg).toContain(`budgets.2 ("c").levels must be integers from 1 to 1000 (percent of the limit)`);
    expect(msg).toContain(`budgets.2 ("c").actions must each be one of`);
    expect(msg).toContain(`budgets.2 ("c").webhook ({ url, secret?, retries? }) is required by the 'webhook' action`);
    expect(msg).toContain(`budgets.3 ("c").name "c" is already used by budgets.2`);
    expect(msg).toContain(`budgets.3 ("c").webhook.url must be an http:// or https:// URL`);
    expect(msg).toMatch(/scheduler\.cron must be a valid cron expression/);
    expect(msg).toContain('scheduler.unknownKey is not an option');
  });

  it('accepts a valid configuration', async () => {
    const m = await Test.createTestingModule({
      imports: [
        UsageTrackingModule.forRoot({
          budgets: [{ name: 'ok', scope: 'user', window: 'month', limit: '5', levels: [50, 100], actions: ['event', 'log', 'pause'] }],
          scheduler: { cron: '*/5 * * * *', enabled: false, coordination: 'memory' },
        }),
      ],
    }).compile();
    await m.close();
  });
});

describe('budget windows (calendar-aligned in a time zone)', () => {
  const at = (iso: string) => new Date(iso).getTime();
  const iso = (w: { start: number; end: number }) => [new Date(w.start).toISOString(), new Date(w.end).toISOString()];

  it('UTC hour, day, ISO week (Monday) and month', () => {
    const t = at('2026-03-18T13:45:10Z'); // a Wednesday
    expect(iso(windowAt('hour', t, 'UTC'))).toEqual(['2026-03-18T13:00:00.000Z', '2026-03-18T14:00:00.000Z']);
    expect(iso(windowAt('day', t, 'UTC'))).toEqual(['2026-03-18T00:00:00.000Z', '2026-03-19T00:00:00.000Z']);
    expect(iso(windowAt('week', t, 'UTC'))).toEqual(['2026-03-16T00:00:00.000Z', '2026-03-23T00:00:00.000Z']);
    expect(iso(windowAt('month', t, 'UTC'))).toEqual(['2026-03-01T00:00:00.000Z', '2026-04-01T00:00:00.000Z']);
    expect(iso(windowAt('month', at('2026-12-31T23:59:59.999Z'), 'UTC'))).toEqual(['2026-12-01T00:00:00.000Z', '2027-01-01T00:00:00.000Z']);
  });

  it('follows the configured zone, across a DST change', () => {
    // 2026-03-29 is the spring-forward day in Europe/Paris (23 hours long).
    expect(iso(windowAt('day', at('2026-03-29T12:00:00Z'), 'Europe/Paris'))).toEqual(['2026-03-28T23:00:00.000Z', '2026-03-29T22:00:00.000Z']);
    // 23:30 UTC on the 18th is already the 19th in Paris.
    expect(iso(windowAt('day', at('2026-03-18T23:30:00Z'), 'Europe/Paris'))).toEqual(['2026-03-18T23:00:00.000Z', '2026-03-19T23:00:00.000Z']);
    expect(iso(windowAt('month', at('2026-03-31T22:30:00Z'), 'Europe/Paris'))).toEqual(['2026-03-31T22:00:00.000Z', '2026-04-30T22:00:00.000Z']);
    expect(iso(windowAt('hour', at('2026-03-18T10:10:00Z'), 'Asia/Kolkata'))).toEqual(['2026-03-18T09:30:00.000Z', '2026-03-18T10:30:00.000Z']);
    expect(iso(windowAt('week', at('2026-03-22T23:30:00Z'), 'Europe/Paris'))).toEqual(['2026-03-22T23:00:00.000Z', '2026-03-29T22:00:00.000Z']);
  });
});
