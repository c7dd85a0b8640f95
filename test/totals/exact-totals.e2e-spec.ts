/**
 * Sums past Number.MAX_SAFE_INTEGER (2^53-1) stay exact end to end on every built-in driver: a real Nest
 * app records through UsageService, then getUsageAggregate and getUsageGroupedBy (by agent and by day,
 * which the PostgreSQL driver answers from its rollups) must neither throw nor round. The expected values
 * are BigInt sums computed here; the odd totals chosen are not representable as doubles, so any
 * conversion through a number would show.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Client } from 'pg';
import { UsageService, UsageTrackingModule, type UsageRecordInput, type UsageTotals, type UsageTrackingModuleOptions } from 'nestjs-agent-usage';
import { PG_URL, allTables, uniqueName } from '../database/fixtures/database-test.fixture';
import { REDIS_URL } from '../cache/fixtures/cache-test.helpers';

// Each record stays within 2^53-1 per field (input + output = total); only the sums pass it.
const BIG = 4_600_000_000_000_001; // 4.6e15 + 1
const DAY = '2026-03-05';
const records: UsageRecordInput[] = [
  { agentName: 'big', inputTokens: BIG, outputTokens: 1, costNanoUsd: BIG, recordedAt: `${DAY}T01:00:00.000Z` },
  { agentName: 'big', inputTokens: BIG, outputTokens: 2, costNanoUsd: BIG, recordedAt: `${DAY}T02:00:00.000Z` },
  { agentName: 'big', inputTokens: 1, outputTokens: 3, costNanoUsd: 1, recordedAt: `${DAY}T03:00:00.000Z` },
  { agentName: 'small', inputTokens: 10, outputTokens: 20, costNanoUsd: 7, recordedAt: `${DAY}T04:00:00.000Z` },
].map((r, i) => ({ id: `exact-${i}`, modelName: 'm', providerName: 'p', ...r }));

function expected(of: UsageRecordInput[]) {
  const sum = (f: (r: UsageRecordInput) => number | null | undefined) => of.reduce((a, r) => a + BigInt(f(r) ?? 0), 0n);
  const input = sum((r) => r.inputTokens);
  const output = sum((r) => r.outputTokens);
  return { inputTokens: input, outputTokens: output, totalTokens: input + output, costNanoUsd: sum((r) => r.costNanoUsd), recordCount: BigInt(of.length) };
}

function expectExact(t: UsageTotals, want: ReturnType<typeof expected>) {
  for (const [field, value] of Object.entries(want) as [keyof typeof want, bigint][]) {
    expect([field, t.exact[field]]).toEqual([field, value.toString()]);
    expect([field, t[field]]).toEqual([field, Number(value)]); // the nearest double; exact while safe
  }
  const usd = want.costNanoUsd;
  expect(t.costUsd).toBe(`${usd / 1_000_000_000n}.${(usd % 1_000_000_000n).toString().padStart(9, '0')}`);
  // Plain JSON, as a controller would send it, and the exact strings survive the round trip.
  expect(JSON.parse(JSON.stringify(t)).exact).toEqual(t.exact);
}

interface DriverCase {
  name: string;
  options: () => UsageTrackingModuleOptions;
  cleanup: () => Promise<void>;
}

const tmp = mkdtempSync(join(tmpdir(), 'exact-totals-'));
const tables = { tableName: uniqueName('exact_rec'), rollupTableName: uniqueName('exact_day') };
const keyPrefix = `exact-totals-${process.pid}-${Date.now()}:`;

const drivers: DriverCase[] = [
  { name: 'memory', options: () => ({ storage: 'memory' }), cleanup: async () => {} },
  { name: 'file', options: () => ({ storage: 'file', file: { directory: join(tmp, 'file') } }), cleanup: async () => rmSync(tmp, { recursive: true, force: true }) },
  {
    name: 'cache (Redis)',
    options: () => ({ storage: 'cache', cache: { url: REDIS_URL, keyPrefix } }),
    cleanup: async () => {},
  },
  {
    name: 'database (PostgreSQL)',
    options: () => ({ storage: 'database', database: { url: PG_URL, ...tables } }),
    cleanup: async () => {
      const c = new Client({ connectionString: PG_URL });
      await c.connect();
      try {
        for (const t of allTables(tables)) await c.query(`DROP TABLE IF EXISTS "${t}"`);
      } finally {
        await c.end();
      }
    },
  },
];

describe.each(drivers)('totals beyond 2^53 on the $name driver', ({ options, cleanup }) => {
  let app: INestApplication;
  let usage: UsageService;

  beforeAll(async () => {
    const moduleRef = await Test.createTestingModule({ imports: [UsageTrackingModule.forRoot({ trackUsage: true, ...options() })] }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    usage = app.get(UsageService);
    for (const r of records) expect(usage.record(r)).not.toBeNull();
  });
  afterAll(async () => {
    if (usage) await usage.clearUsage({}, { all: true });
    await app?.close();
    await cleanup();
  });

  it('aggregates every record exactly (by instants and by whole days)', async () => {
    const want = expected(records);
    expect(want.inputTokens > BigInt(Number.MAX_SAFE_INTEGER)).toBe(true);
    expect(want.costNanoUsd > BigInt(Number.MAX_SAFE_INTEGER)).toBe(true);
    expectExact(await usage.getUsageAggregate(), want);
    expectExact(await usage.getUsageAggregate({ date: DAY }), want);
    expectExact(await usage.getUsageAggregate({ from: `${DAY}T00:30:00.000Z`, to: `${DAY}T23:00:00.000Z` }), want);
  });

  it('groups exactly, by agent and by day', async () => {
    const byAgent = await usage.getUsageGroupedBy('agentName', { date: DAY });
    expect(byAgent.map((g) => g.key)).toEqual(['big', 'small']);
    expectExact(byAgent[0], expected(records.filter((r) => r.agentName === 'big')));
    expectExact(byAgent[1], expected(records.filter((r) => r.agentName === 'small')));
    const byAgentInstants = await usage.getUsageGroupedBy('agentName', { from: `${DAY}T00:30:00.000Z` });
    expectExact(byAgentInstants[0], expected(records.filter((r) => r.agentName === 'big')));
    const byDay = await usage.getUsageGroupedBy('day');
    expect(byDay.map((g) => g.key)).toEqual([DAY]);
    expectExact(byDay[0], expected(records));
  });

  it('uncounts exactly: clearing the big records leaves the small one', async () => {
    expect(await usage.clearUsage({ agentName: 'big' })).toBe(3);
    expectExact(await usage.getUsageAggregate({ date: DAY }), expected(records.filter((r) => r.agentName === 'small')));
  });
});
