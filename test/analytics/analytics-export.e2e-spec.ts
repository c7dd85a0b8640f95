/**
 * Export of 5,000 records (10 on each millisecond, so page edges fall inside equal timestamps) on every
 * driver: every record once, newest first, read from the store in pages of at most 1,002 records (1,000
 * plus the look-aheads of the export and of `getUsage`; a spy on the driver's `list`, calling through),
 * never the whole range at once.
 */
import type { UsageRecord } from 'nestjs-agent-usage';
import { UsageStorageRegistry } from '../../libs/agent-usage/src/storage/usage-storage.registry';
import { analyticsDrivers, bootAnalytics, type AnalyticsApp } from './analytics-app';

const N = 5000;
const BASE = Date.parse('2026-06-10T03:00:00Z'); // 2026-06-09 23:00 in New York: the records span a local midnight
const records = Array.from({ length: N }, (_, i) => ({
  id: `an-bulk-${String((i * 7919) % N).padStart(5, '0')}`,
  agentName: i % 3 ? 'bulk' : 'other',
  modelName: 'big-model',
  providerName: 'acme',
  inputTokens: 10 + (i % 7),
  outputTokens: 3,
  costNanoUsd: i,
  recordedAt: new Date(BASE + Math.floor(i / 10) * 60_000),
}));

describe.each(analyticsDrivers())('export on the $name driver', (driver) => {
  let t: AnalyticsApp;
  beforeAll(async () => {
    t = await bootAnalytics(driver);
    for (const r of records) t.usage.record(r);
    await t.usage.flush();
  });
  afterAll(async () => {
    if (t) await t.usage.clearUsage({}, { all: true });
    await t?.app.close();
    await driver.cleanup();
  });

  it('streams every record once, newest first, in bounded pages', async () => {
    const store = t.app.get(UsageStorageRegistry).writer(t.app.get(UsageStorageRegistry).primary).storage;
    const list = jest.spyOn(store, 'list');
    const seen: string[] = [];
    let previous: UsageRecord | null = null;
    for await (const r of t.usage.exportUsage({ startDate: '2026-06-09', endDate: '2026-06-13' })) {
      if (previous) expect(previous.recordedAt.getTime() > r.recordedAt.getTime() || (previous.recordedAt.getTime() === r.recordedAt.getTime() && previous.id > r.id)).toBe(true);
      seen.push(r.id);
      previous = r;
    }
    expect(seen.length).toBe(N);
    expect(new Set(seen).size).toBe(N);
    const limits = list.mock.calls.map((c) => c[1]);
    expect(Math.max(...limits)).toBeLessThanOrEqual(1002);
    expect(limits.length).toBeGreaterThanOrEqual(Math.ceil(N / 1002));
    list.mockRestore();
  });

  it('filters: one agent, every record of it', async () => {
    let n = 0;
    for await (const r of t.usage.exportUsage({ period: 'all_time', agentName: 'bulk' })) {
      expect(r.agentName).toBe('bulk');
      n++;
    }
    expect(n).toBe(records.filter((r) => r.agentName === 'bulk').length);
  });
});
