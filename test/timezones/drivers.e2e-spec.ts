/**
 * Every driver (memory, file, Redis, PostgreSQL) against the Luxon table (tz-oracle.ts) in six zones: records
 * at each table day's first, middle and last millisecond and at each transition-day hour's edges, then the
 * day filters (date, dateFrom/dateTo, from/to), group-bys by day and by hour, PostgreSQL's daily rollup rows
 * and Redis's day and hour buckets, all compared with sums computed from Luxon's day and hour of each record.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { Pool } from 'pg';
import { FileUsageStorage, MemoryUsageStorage } from '../../libs/agent-usage/src';
import { CacheUsageStorage } from '../../libs/agent-usage/src/storage/cache';
import { DatabaseUsageStorage } from '../../libs/agent-usage/src/storage/database';
import type { UsageStorage, UsageStorageContext } from '../../libs/agent-usage/src/interfaces/usage-storage.interface';
import type { UsageRecord } from '../../libs/agent-usage/src/interfaces/usage-record.interface';
import type { UsageFilters } from '../../libs/agent-usage/src/interfaces/usage-query.interface';
import { normalizeFilters } from '../../libs/agent-usage/src/query/usage-filters';
import { PG_URL, allTables, uniqueName } from '../database/fixtures/database-test.fixture';
import { REDIS_URL, deleteKeys } from '../cache/fixtures/cache-test.helpers';
import { ORACLE_ZONES, oracleDayKey, oracleHourKey, oracleInstants, zoneTable } from './tz-oracle';

const silent = { log() {}, error() {}, warn() {}, debug() {}, verbose() {} };
const context = (name: string, timeZone: string, options = {}): UsageStorageContext => ({
  name,
  timeZone,
  logger: silent,
  moduleRef: undefined as never,
  options,
});

interface Sums {
  n: number;
  tokens: number;
}
const sumsOf = (rs: UsageRecord[]): Sums => ({ n: rs.length, tokens: rs.reduce((a, r) => a + (r.totalTokens ?? 0), 0) });
const exact = (t: { recordCount: unknown; totalTokens: unknown }): Sums => ({ n: Number(t.recordCount), tokens: Number(t.totalTokens) });

function keyedSums(rs: UsageRecord[], key: (r: UsageRecord) => string): Record<string, Sums> {
  const out: Record<string, Sums> = {};
  for (const r of rs) {
    const k = key(r);
    out[k] = { n: (out[k]?.n ?? 0) + 1, tokens: (out[k]?.tokens ?? 0) + (r.totalTokens ?? 0) };
  }
  return out;
}

/** Records at the table's instants; token counts 1, 2, 3, ... so a misplaced record changes a total. */
function tableRecords(zone: string, instants: number[]): UsageRecord[] {
  return instants.map((t, i) => ({
    id: `tz-${zone.replace('/', '_')}-${String(i).padStart(5, '0')}`,
    agentName: i % 2 ? 'support' : 'research',
    userId: `u${i % 3}`,
    group: null,
    chatName: null,
    modelName: 'gpt-4o',
    providerName: 'openai',
    category: 'chat',
    units: null,
    inputTokens: i + 1,
    cachedInputTokens: null,
    cacheWriteTokens: null,
    outputTokens: 0,
    reasoningTokens: null,
    totalTokens: i + 1,
    requests: 1,
    success: true,
    usageMissing: false,
    runId: null,
    runStart: false,
    agentRunStart: false,
    errorType: null,
    costNanoUsd: i + 1,
    priceSource: null,
    recordedAt: new Date(t),
    metadata: null,
  }));
}

interface DriverFixture {
  storage: UsageStorage;
  /** Driver-specific look at what it stored per day (rollup rows, Redis buckets); null: nothing to look at. */
  storedDays?: (days: string[]) => Promise<Record<string, Sums>>;
  storedHours?: (days: string[]) => Promise<Record<string, Sums>>;
  teardown(): Promise<void>;
}
type DriverFactory = (zone: string) => Promise<DriverFixture>;

const drivers: [string, DriverFactory][] = [
  [
    'memory',
    async (zone) => {
      const storage = new MemoryUsageStorage();
      storage.init(context('memory', zone));
      return { storage, teardown: async () => {} };
    },
  ],
  [
    'file',
    async (zone) => {
      const directory = mkdtempSync(join(tmpdir(), 'usage-tz-'));
      const storage = new FileUsageStorage({ directory });
      await storage.init(context('file', zone, { file: { directory } }));
      return { storage, teardown: async () => rmSync(directory, { recursive: true, force: true }) };
    },
  ],
  [
    'cache (Redis)',
    async (zone) => {
      const keyPrefix = `agent-usage-test:tz:${process.pid}:${zone.replace('/', '_')}:`;
      const storage = new CacheUsageStorage({ url: REDIS_URL, keyPrefix });
      await storage.init(context('cache', zone));
      const redis = new Redis(REDIS_URL);
      // Layout 5 keys (`<prefix>{<day>}agg:...`). Packed counters: 15 big-endian int64; recordCount is the first, totalTokens the eighth.
      const unpack = (b: Buffer): Sums => ({ n: Number(b.readBigInt64BE(0)), tokens: Number(b.readBigInt64BE(7 * 8)) });
      return {
        storage,
        storedDays: async (days) => {
          const out: Record<string, Sums> = {};
          for (const d of days) {
            const b = await redis.hgetBuffer(`${keyPrefix}{${d}}agg:day`, 't');
            if (b) out[d] = unpack(b);
          }
          return out;
        },
        storedHours: async (days) => {
          const out: Record<string, Sums> = {};
          for (const d of days) {
            const h = await redis.hgetallBuffer(`${keyPrefix}{${d}}agg:hour`);
            for (const [field, b] of Object.entries(h)) out[field.replace(/^v/, '')] = unpack(b);
          }
          return out;
        },
        teardown: async () => {
          await storage.close();
          await deleteKeys(redis, keyPrefix);
          await redis.quit();
        },
      };
    },
  ],
  [
    'database (PostgreSQL)',
    async (zone) => {
      const names = { tableName: uniqueName('tz_l'), rollupTableName: uniqueName('tz_r') };
      const storage = new DatabaseUsageStorage({ url: PG_URL, ...names });
      await storage.init(context('database', zone));
      const pool = new Pool({ connectionString: PG_URL, max: 1 });
      return {
        storage,
        storedDays: async () => {
          const { rows } = await pool.query(
            `SELECT to_char(day, 'YYYY-MM-DD') AS day, sum(record_count)::text AS n, sum(total_tokens)::text AS tokens FROM "${names.rollupTableName}" GROUP BY day`,
          );
          return Object.fromEntries(rows.map((r) => [r.day, { n: +r.n, tokens: +r.tokens }]));
        },
        teardown: async () => {
          await storage.close();
          await pool.query(`DROP TABLE IF EXISTS ${allTables(names).map((t) => `"${t}"`).join(', ')}`);
          await pool.end();
        },
      };
    },
  ],
];

describe.each(drivers)('%s against the Luxon table', (_driver, factory) => {
  describe.each(ORACLE_ZONES)('%s', (zone) => {
    const table = zoneTable(zone);
    const records = tableRecords(zone, oracleInstants(table));
    const inRange = (start: number, end: number) => records.filter((r) => start <= r.recordedAt.getTime() && r.recordedAt.getTime() < end);
    let fx: DriverFixture;

    beforeAll(async () => {
      fx = await factory(zone);
      await fx.storage.write(records);
    });
    afterAll(() => fx?.teardown());

    const aggregate = async (f: UsageFilters) => exact(await fx.storage.aggregate(normalizeFilters(f, zone)));

    it('answers date, dateFrom/dateTo and from/to with the records Luxon puts in each day', async () => {
      const got: Record<string, Sums> = {};
      const want: Record<string, Sums> = {};
      for (const d of table.days) {
        const expected = sumsOf(inRange(d.start, d.end));
        expect(expected.n).toBeGreaterThanOrEqual(3);
        want[`date ${d.day}`] = want[`range ${d.day}`] = want[`from/to ${d.day}`] = expected;
        got[`date ${d.day}`] = await aggregate({ date: d.day });
        got[`range ${d.day}`] = await aggregate({ dateFrom: d.day, dateTo: d.day });
        got[`from/to ${d.day}`] = await aggregate({ from: new Date(d.start), to: new Date(d.end) });
      }
      // Multi-day ranges across each transition: the day before through the day after.
      const transitions = table.days.filter((d) => d.why === 'transition');
      for (const t of transitions) {
        const i = table.days.indexOf(t);
        const [before, after] = [table.days[i - 1], table.days[i + 1]];
        want[`range ${before.day}..${after.day}`] = sumsOf(inRange(before.start, after.end));
        got[`range ${before.day}..${after.day}`] = await aggregate({ dateFrom: before.day, dateTo: after.day });
      }
      expect(got).toEqual(want);
    });

    it('groups by day and by hour as Luxon keys them', async () => {
      const byDay = await fx.storage.groupBy('day', {});
      const byHour = await fx.storage.groupBy('hour', {});
      expect(Object.fromEntries(byDay.map((g) => [g.key, exact(g)]))).toEqual(keyedSums(records, (r) => oracleDayKey(r.recordedAt.getTime(), zone)));
      expect(Object.fromEntries(byHour.map((g) => [g.key, exact(g)]))).toEqual(keyedSums(records, (r) => oracleHourKey(r.recordedAt.getTime(), zone)));
    });

    it('groups one whole day (a rollup read where the driver has rollups) by day and hour', async () => {
      for (const d of table.days.filter((x) => x.why === 'transition' || x.why === 'year start')) {
        const f = normalizeFilters({ date: d.day }, zone);
        const inDay = inRange(d.start, d.end);
        const byDay = await fx.storage.groupBy('day', f);
        expect(Object.fromEntries(byDay.map((g) => [g.key, exact(g)]))).toEqual({ [d.day]: sumsOf(inDay) });
        const byHour = await fx.storage.groupBy('hour', f);
        expect(Object.fromEntries(byHour.map((g) => [g.key, exact(g)]))).toEqual(keyedSums(inDay, (r) => oracleHourKey(r.recordedAt.getTime(), zone)));
      }
    });

    it('stores its per-day (and per-hour) aggregates under the days and hours Luxon gives', async () => {
      const days = [...new Set(records.map((r) => oracleDayKey(r.recordedAt.getTime(), zone)))];
      if (fx.storedDays) expect(await fx.storedDays(days)).toEqual(keyedSums(records, (r) => oracleDayKey(r.recordedAt.getTime(), zone)));
      if (fx.storedHours) expect(await fx.storedHours(days)).toEqual(keyedSums(records, (r) => oracleHourKey(r.recordedAt.getTime(), zone)));
      expect(days.length).toBeGreaterThan(10);
    });
  });
});
