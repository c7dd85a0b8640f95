/**
 * PostgreSQL driver against a real server (USAGE_TEST_PG_URL, default postgres://postgres@127.0.0.1:5432/test).
 * Every table this file creates carries a random suffix and is dropped at the end.
 */
import { Logger } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import { TypeOrmModule, getDataSourceToken } from '@nestjs/typeorm';
import { Pool } from 'pg';
import { DataSource } from 'typeorm';
import {
  USAGE_DIMENSIONS,
  type NormalizedUsageFilters,
  type UsageDimension,
  type UsageFilters,
} from '../../libs/agent-usage/src/interfaces/usage-query.interface';
import type { UsageRecord } from '../../libs/agent-usage/src/interfaces/usage-record.interface';
import { normalizeFilters } from '../../libs/agent-usage/src/query/usage-filters';
import { MemoryUsageStorage } from '../../libs/agent-usage/src/storage/memory/memory.storage';
import { InvalidUsageInputError, InvalidUsageOptionsError } from '../../libs/agent-usage/src/common/usage.errors';
import {
  CreateAgentUsageTables1795377442016,
  DatabaseStorageOptionsDto,
  DatabaseUsageStorage,
  UsageQuery,
  createAgentUsageMigration,
  createUsageDailyEntity,
  createUsageDailyUserEntity,
  createUsageHourTotalEntity,
  createUsageHourlyEntity,
  createUsageRecordEntity,
  rebuildAgentUsageRollups,
} from '../../libs/agent-usage/src/storage/database';
import { dtoSectionValidator } from '../../libs/agent-usage/src/options/usage-tracking-options.validator';
import {
  PG_URL,
  TestLogger,
  allTables,
  normGroups,
  normTotals,
  randomRecords,
  storageContext,
  uniqueName,
  userRollupOf,
} from './fixtures/database-test.fixture';

jest.setTimeout(60_000);

const admin = new Pool({ connectionString: PG_URL, max: 2 });
const created: string[] = [];
const drivers: DatabaseUsageStorage[] = [];
const dataSources: DataSource[] = [];

/** Table names for one scenario (the user rollup's is the default `<rollupTableName>_users`), remembered for cleanup. */
function tables(prefix: string) {
  const tableName = uniqueName(`${prefix}_l`);
  const rollupTableName = uniqueName(`${prefix}_r`);
  created.push(...allTables({ tableName, rollupTableName }));
  return { tableName, rollupTableName };
}

async function openDriver(options: ConstructorParameters<typeof DatabaseUsageStorage>[0], timeZone = 'UTC', logger = new TestLogger()) {
  const d = new DatabaseUsageStorage(options);
  await d.init(storageContext(timeZone, {}, undefined, logger));
  drivers.push(d);
  return d;
}

async function openDataSource(): Promise<DataSource> {
  const ds = new DataSource({ type: 'postgres', url: PG_URL, poolSize: 3 });
  await ds.initialize();
  dataSources.push(ds);
  return ds;
}

async function writeInBatches(d: { write(r: readonly UsageRecord[]): Promise<void> }, records: UsageRecord[], size = 500) {
  for (let i = 0; i < records.length; i += size) await d.write(records.slice(i, i + size));
}

const rowsOf = async (sql: string, params: unknown[] = []) => (await admin.query(sql, params)).rows;

afterAll(async () => {
  for (const d of drivers) await d.close().catch(() => undefined);
  for (const ds of dataSources) if (ds.isInitialized) await ds.destroy();
  for (const t of created) await admin.query(`DROP TABLE IF EXISTS "${t}"`);
  await admin.end();
});

function record(id: string, patch: Partial<UsageRecord> = {}): UsageRecord {
  return {
    id,
    agentName: 'support',
    userId: 'u1',
    group: 'g1',
    chatName: 'c1',
    modelName: 'gpt-4o',
    providerName: 'openai',
    category: 'chat',
    units: null,
    inputTokens: 100,
    cachedInputTokens: 40,
    cacheWriteTokens: null,
    outputTokens: 20,
    reasoningTokens: 5,
    totalTokens: 120,
    requests: 1,
    success: true,
    usageMissing: false,
    runId: 'run-1',
    runStart: true,
    agentRunStart: true,
    errorType: null,
    costNanoUsd: 1_234_567,
    priceSource: 'table:2026-10-01:gpt-4o',
    recordedAt: new Date('2026-11-01T10:00:00.123Z'),
    metadata: null,
    ...patch,
  };
}

describe('write and read back', () => {
  it('stores every field exactly: null counts, jsonb metadata, timestamptz to the millisecond', async () => {
    const names = tables('rt');
    const d = await openDriver({ url: PG_URL, ...names });
    const records = [
      record('a-1', { metadata: { nested: { list: [1, 'two', null, { three: 3 }] }, quote: `it's "x" \\ y`, n: 1.5, big: 9007199254740991 } }),
      record('a-2', {
        agentName: null,
        userId: null,
        group: null,
        chatName: null,
        modelName: null,
        providerName: null,
        inputTokens: null,
        cachedInputTokens: null,
        cacheWriteTokens: null,
        outputTokens: null,
        reasoningTokens: null,
        totalTokens: null,
        usageMissing: true,
        success: false,
        costNanoUsd: null,
        priceSource: null,
        requests: 0,
        recordedAt: new Date('1999-12-31T23:59:59.999Z'),
      }),
      record('a-3', { inputTokens: Number.MAX_SAFE_INTEGER, costNanoUsd: Number.MAX_SAFE_INTEGER, agentName: 'Ünïcode ✓ 🤖', recordedAt: new Date(0) }),
    ];
    await d.write(records);
    const back = await d.list({}, 10, 0);
    expect(back).toEqual([records[0], records[1], records[2]].sort((a, b) => b.recordedAt.getTime() - a.recordedAt.getTime()));
    expect(back.find((r) => r.id === 'a-1')!.recordedAt.toISOString()).toBe('2026-11-01T10:00:00.123Z');
    // Stored as real SQL types, not strings: jsonb is queryable, recorded_at is an instant.
    const [row] = await rowsOf(
      `SELECT metadata->'nested'->'list'->3->>'three' AS three, pg_typeof(metadata)::text AS mt, pg_typeof(recorded_at)::text AS rt,
              to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS') AS utc FROM "${names.tableName}" WHERE record_id = 'a-1'`,
    );
    expect(row).toEqual({ three: '3', mt: 'jsonb', rt: 'timestamp with time zone', utc: '2026-11-01 10:00:00.123' });
  });

  it('stores metadata holding a NUL character (jsonb cannot) with U+FFFD instead of failing the batch forever', async () => {
    const names = tables('nul');
    const d = await openDriver({ url: PG_URL, ...names });
    await d.write([record('nul-1', { metadata: { s: 'a\u0000b', list: ['\u0000'] } }), record('nul-2')]);
    const back = await d.list({}, 10, 0);
    expect(back.map((r) => r.id)).toEqual(['nul-2', 'nul-1']);
    expect(back[1].metadata).toEqual({ s: 'a\uFFFDb', list: ['\uFFFD'] });
  });

  it('is idempotent on id: a retried batch changes neither the ledger nor either rollup', async () => {
    const names = tables('idem');
    const d = await openDriver({ url: PG_URL, ...names });
    const batch = randomRecords(300, 11);
    await d.write(batch);
    const totals = await d.aggregate({});
    const rollups = [names.rollupTableName, userRollupOf(names.rollupTableName)];
    const snapshot = () => Promise.all(rollups.map((t) => rowsOf(`SELECT * FROM "${t}" ORDER BY 1, 2, 3, 4, 5`)));
    const before = await snapshot();
    await d.write(batch);
    await d.write([...batch.slice(0, 50), ...batch.slice(0, 50)]); // duplicates inside one batch too
    expect(await d.aggregate({})).toEqual(totals);
    expect(await snapshot()).toEqual(before);
    expect(totals.recordCount).toBe('300');
    // A half-new batch adds exactly the new half.
    const more = randomRecords(100, 12, { idPrefix: 'more-' });
    await d.write([...batch.slice(0, 100), ...more]);
    expect((await d.aggregate({})).recordCount).toBe('400');
    for (const t of rollups) expect(await rowsOf(`SELECT sum(record_count)::int AS n FROM "${t}"`)).toEqual([{ n: 400 }]);
  });

  it('keeps one row per (day, agent, group, model, provider, category), per (day, user, agent, model, provider, category) and per (hour, agent, model, provider, category)', async () => {
    const names = tables('keys');
    const d = await openDriver({ url: PG_URL, ...names });
    const data = randomRecords(1500, 13);
    await writeInBatches(d, data, 300);
    const day = (r: UsageRecord) => r.recordedAt.toISOString().slice(0, 10);
    const distinct = (key: (r: UsageRecord) => unknown[]) => new Set(data.map((r) => JSON.stringify(key(r).map((v) => v ?? '')))).size;
    const [agent] = await rowsOf(`SELECT count(*)::int AS n FROM "${names.rollupTableName}"`);
    const [user] = await rowsOf(`SELECT count(*)::int AS n FROM "${userRollupOf(names.rollupTableName)}"`);
    const [hour] = await rowsOf(`SELECT count(*)::int AS n FROM "${names.rollupTableName}_hours"`);
    const [hourTotal] = await rowsOf(`SELECT count(*)::int AS n FROM "${names.rollupTableName}_hour_totals"`);
    expect(agent.n).toBe(distinct((r) => [day(r), r.agentName, r.group, r.modelName, r.providerName, r.category]));
    expect(user.n).toBe(distinct((r) => [day(r), r.userId, r.agentName, r.modelName, r.providerName, r.category]));
    expect(hour.n).toBe(distinct((r) => [r.recordedAt.toISOString().slice(0, 13), r.agentName, r.modelName, r.providerName, r.category]));
    expect(hourTotal.n).toBe(distinct((r) => [r.recordedAt.toISOString().slice(0, 13), r.category]));
    const columns = async (t: string) =>
      (await rowsOf(`SELECT column_name FROM information_schema.columns WHERE table_name = $1 AND column_name LIKE '%_name' OR table_name = $1 AND column_name = 'user_id' ORDER BY 1`, [t])).map(
        (r) => r.column_name,
      );
    expect(await columns(names.rollupTableName)).toEqual(['agent_name', 'group_name', 'model_name', 'provider_name']);
    expect(await columns(userRollupOf(names.rollupTableName))).toEqual(['agent_name', 'model_name', 'provider_name', 'user_id']);
  });

  it('returns sums as exact integer strings beyond 2^53', async () => {
    const names = tables('big');
    const d = await openDriver({ url: PG_URL, ...names });
    await d.write([1, 2, 3].map((i) => record(`big-${i}`, { costNanoUsd: Number.MAX_SAFE_INTEGER, inputTokens: Number.MAX_SAFE_INTEGER })));
    const expected = (3n * BigInt(Number.MAX_SAFE_INTEGER)).toString();
    const viaLedger = await d.aggregate({ chatName: ['c1'] });
    const viaRollup = await d.aggregate({});
    expect(viaLedger.costNanoUsd).toBe(expected);
    expect(viaRollup.costNanoUsd).toBe(expected);
    expect(viaRollup.inputTokens).toBe(expected);
  });
});

/** Filter sets: some whole-day (rollup-eligible), some not; some with hostile values. */
function filterCases(timeZone: string): [string, NormalizedUsageFilters][] {
  const f = (x: UsageFilters) => normalizeFilters(x, timeZone);
  return [
    ['everything', {}],
    ['one agent', f({ agentName: 'support' })],
    ['agents x model', f({ agentName: ['support', 'sales'], modelName: 'gpt-4o' })],
    ['user x group (ledger only)', f({ userId: 'u1', group: 'g1' })],
    ['one user', f({ userId: ['u2', 'Ünïcode ✓'] })],
    ['user x agent x model x provider', f({ userId: 'u3', agentName: ['support', 'group'], modelName: ['gpt-4o', 'gemini-2.5-pro'], providerName: 'openai' })],
    ['reserved word and SQL as values', f({ agentName: ['group', "x'; DROP TABLE agent_usage_records; --"], group: 'select' })],
    ['provider', f({ providerName: ['anthropic', 'google'] })],
    ['chat (ledger only)', f({ chatName: 'c1' })],
    ['failed (ledger only)', f({ success: false })],
    ['one day', f({ date: '2026-03-08' })],
    ['day range across DST', f({ dateFrom: '2026-03-07', dateTo: '2026-11-01' })],
    ['from day only', f({ dateFrom: '2026-10-31', agentName: 'sales' })],
    ['user over days', f({ dateFrom: '2026-03-08', dateTo: '2026-10-31', userId: 'u1' })],
    ['to day only', f({ dateTo: '2026-03-08' })],
    ['instants, not day-aligned', f({ from: '2026-03-08T05:30:00Z', to: '2026-11-01T07:00:00.001Z' })],
    ['empty range', f({ date: '2025-01-01' })],
    ['nothing matches', f({ agentName: 'nobody' })],
  ];
}

describe.each(['UTC', 'America/New_York'])('same answers as MemoryUsageStorage on 2000 random records (%s)', (timeZone) => {
  const data = randomRecords(2000, timeZone === 'UTC' ? 1 : 2);
  let memory: MemoryUsageStorage;
  let viaRollups: DatabaseUsageStorage;
  let viaLedger: DatabaseUsageStorage;
  let ds: DataSource;
  let names: { tableName: string; rollupTableName: string };

  beforeAll(async () => {
    names = tables('cmp');
    memory = new MemoryUsageStorage();
    memory.init(storageContext(timeZone));
    ds = await openDataSource();
    viaRollups = await openDriver({ dataSource: ds, autoMigrate: true, ...names }, timeZone);
    viaLedger = await openDriver({ url: PG_URL, useRollups: false, ...names }, timeZone);
    await writeInBatches(memory, data);
    await writeInBatches(viaRollups, data, 400);
  });

  const drivers = () => [
    ['rollups', viaRollups],
    ['ledger', viaLedger],
  ] as const;

  it.each(filterCases(timeZone))('aggregate, every groupBy, identities and list: %s', async (_label, filters) => {
    const expectedTotals = normTotals(await memory.aggregate(filters));
    const expectedIdentities = (await memory.identities(filters)).map((i) => JSON.stringify(i)).sort();
    const expectedPage = await memory.list(filters, 25, 10);
    for (const [, d] of drivers()) {
      expect(normTotals(await d.aggregate(filters))).toEqual(expectedTotals);
      for (const dim of USAGE_DIMENSIONS) {
        expect({ dim, groups: normGroups(await d.groupBy(dim, filters)) }).toEqual({ dim, groups: normGroups(await memory.groupBy(dim, filters)) });
      }
      expect((await d.identities(filters)).map((i) => JSON.stringify(i)).sort()).toEqual(expectedIdentities);
      expect(await d.list(filters, 25, 10)).toEqual(expectedPage);
    }
  });

  /** Which table the driver's last statement read: 'agent' rollup, 'user' rollup or 'ledger'. */
  const tableRead = (spy: jest.SpyInstance): string => {
    const sql = String(spy.mock.calls[spy.mock.calls.length - 1][0]);
    const table = /FROM ("[^"]+")/.exec(sql)?.[1];
    if (table === `"${names.rollupTableName}_hours"`) return 'hour';
    if (table === `"${names.rollupTableName}_hour_totals"`) return 'hourTotal';
    return table === `"${names.rollupTableName}"` ? 'agent' : table === `"${userRollupOf(names.rollupTableName)}"` ? 'user' : table === `"${names.tableName}"` ? 'ledger' : `? ${sql}`;
  };

  it('reads the agent rollup, the user rollup or the ledger as the query needs', async () => {
    const spy = jest.spyOn(ds, 'query');
    const read = async (fn: () => Promise<unknown>) => {
      spy.mockClear();
      await fn();
      return tableRead(spy);
    };
    const f = (x: UsageFilters) => normalizeFilters(x, timeZone);
    expect(await read(() => viaRollups.aggregate(f({ dateFrom: '2026-03-07', dateTo: '2026-03-09', agentName: 'support' })))).toBe('agent');
    expect(await read(() => viaRollups.groupBy('day', {}))).toBe('agent');
    expect(await read(() => viaRollups.groupBy('modelName', f({ date: '2026-11-01' })))).toBe('agent');
    expect(await read(() => viaRollups.groupBy('group', f({ providerName: 'openai' })))).toBe('agent');
    expect(await read(() => viaRollups.groupBy('userId', f({ date: '2026-11-01' })))).toBe('user');
    expect(await read(() => viaRollups.aggregate(f({ userId: 'u1', agentName: 'support', modelName: 'gpt-4o' })))).toBe('user');
    expect(await read(() => viaRollups.groupBy('day', f({ userId: 'u1' })))).toBe('user');
    expect(await read(() => viaRollups.groupBy('group', f({ userId: 'u1' })))).toBe('ledger');
    expect(await read(() => viaRollups.groupBy('userId', f({ group: 'g1' })))).toBe('ledger');
    expect(await read(() => viaRollups.groupBy('hour', {}))).toBe('hourTotal');
    expect(await read(() => viaRollups.groupBy('hour', f({ dateFrom: '2026-03-07', dateTo: '2026-03-09', category: 'image' })))).toBe('hourTotal');
    expect(await read(() => viaRollups.groupBy('hour', f({ dateFrom: '2026-03-07', dateTo: '2026-03-09', agentName: 'support', category: 'chat' })))).toBe('hour');
    expect(await read(() => viaRollups.groupBy('hour', f({ date: '2026-11-01', modelName: 'gpt-4o', providerName: 'openai' })))).toBe('hour');
    expect(await read(() => viaRollups.groupBy('hour', f({ userId: 'u1' })))).toBe('ledger');
    expect(await read(() => viaRollups.groupBy('hour', f({ from: '2026-03-08T01:00:00Z' })))).toBe('ledger');
    expect(await read(() => viaRollups.groupBy('category', f({ date: '2026-11-01' })))).toBe('agent');
    expect(await read(() => viaRollups.groupBy('category', f({ userId: 'u1' })))).toBe('user');
    expect(await read(() => viaRollups.groupBy('chatName', {}))).toBe('ledger');
    expect(await read(() => viaRollups.aggregate(f({ chatName: 'c1' })))).toBe('ledger');
    expect(await read(() => viaRollups.aggregate(f({ success: true })))).toBe('ledger');
    expect(await read(() => viaRollups.aggregate(f({ from: '2026-03-08T01:00:00Z' })))).toBe('ledger');
    expect(await read(() => viaRollups.aggregate(f({ userId: 'u1', to: '2026-03-08T01:00:00Z' })))).toBe('ledger');
    spy.mockRestore();
  });

  // Every combination of the attribution filters the rollups hold (two values each, so the null
  // attribution stored as '' must not match), with no range, a range across DST and one day.
  const FILTER_VALUES = {
    agentName: ['support', 'group'],
    userId: ['u1', 'Ünïcode ✓'],
    group: ['g1', 'select'],
    modelName: ['gpt-4o', 'claude-sonnet-4'],
    providerName: ['openai', 'anthropic'],
    category: ['chat', 'image'],
  } as const;
  const FIELDS = Object.keys(FILTER_VALUES) as (keyof typeof FILTER_VALUES)[];
  const AGENT_FIELDS: readonly string[] = ['agentName', 'group', 'modelName', 'providerName', 'category'];
  const USER_FIELDS: readonly string[] = ['userId', 'agentName', 'modelName', 'providerName', 'category'];
  const HOUR_FIELDS: readonly string[] = ['agentName', 'modelName', 'providerName', 'category'];
  const expectedTable = (fields: readonly string[], dim?: UsageDimension) => {
    if (dim === 'hour') return fields.every((x) => x === 'category') ? 'hourTotal' : fields.every((x) => HOUR_FIELDS.includes(x)) ? 'hour' : 'ledger';
    const needed = dim === undefined || dim === 'day' ? fields : [...fields, dim];
    if (needed.every((x) => AGENT_FIELDS.includes(x))) return 'agent';
    if (needed.every((x) => USER_FIELDS.includes(x))) return 'user';
    return 'ledger';
  };
  const subsets = Array.from({ length: 1 << FIELDS.length }, (_, m) => FIELDS.filter((_x, i) => m & (1 << i)));

  it.each(subsets.map((fields) => [fields.join(' + ') || 'nothing', fields] as const))(
    'rollups answer exactly what the ledger does, for every dimension, filtered by %s',
    async (_label, fields) => {
      const spy = jest.spyOn(ds, 'query');
      try {
        for (const range of [{}, { dateFrom: '2026-03-08', dateTo: '2026-11-01' }, { date: '2026-11-01' }]) {
          const filters = normalizeFilters({ ...Object.fromEntries(fields.map((x) => [x, [...FILTER_VALUES[x]]])), ...range }, timeZone);
          spy.mockClear();
          const totals = normTotals(await viaRollups.aggregate(filters));
          expect({ range, table: tableRead(spy) }).toEqual({ range, table: expectedTable(fields) });
          expect(totals).toEqual(normTotals(await viaLedger.aggregate(filters)));
          for (const dim of USAGE_DIMENSIONS) {
            spy.mockClear();
            const groups = normGroups(await viaRollups.groupBy(dim, filters));
            expect({ range, dim, table: tableRead(spy) }).toEqual({ range, dim, table: expectedTable(fields, dim) });
            expect({ range, dim, groups }).toEqual({ range, dim, groups: normGroups(await viaLedger.groupBy(dim, filters)) });
          }
        }
      } finally {
        spy.mockRestore();
      }
    },
  );

  it('clear removes the same records and keeps both rollups exact', async () => {
    const f = (x: UsageFilters) => normalizeFilters(x, timeZone);
    const clears: NormalizedUsageFilters[] = [
      f({ agentName: 'sales', date: '2026-03-08' }),
      f({ userId: 'u2', dateFrom: '2026-10-31', dateTo: '2026-11-01' }),
      f({ chatName: 'c2' }),
      f({ success: false, modelName: 'gpt-4o' }),
      f({ from: '2026-11-01T03:17:00Z', to: '2026-11-01T09:00:00Z' }),
      f({ group: 'g1', userId: ['u1', 'u3'] }),
    ];
    // Read through the agent rollup ({}), the user rollup (userId) and both with a day range.
    const reads = [{}, f({ userId: ['u1', 'u2', 'Ünïcode ✓'] }), f({ dateFrom: '2026-03-07', dateTo: '2026-10-31' }), f({ userId: 'u3', date: '2026-11-01' })];
    const rollups = [names.rollupTableName, userRollupOf(names.rollupTableName), `${names.rollupTableName}_hours`, `${names.rollupTableName}_hour_totals`];
    for (const c of clears) {
      const n = await memory.clear(c);
      expect(await viaRollups.clear(c)).toBe(n);
      for (const [, d] of drivers()) {
        for (const r of reads) {
          expect(normTotals(await d.aggregate(r))).toEqual(normTotals(await memory.aggregate(r)));
          for (const dim of ['day', 'hour', 'agentName', 'userId', 'modelName', 'category'] as const) {
            expect({ dim, r, groups: normGroups(await d.groupBy(dim, r)) }).toEqual({ dim, r, groups: normGroups(await memory.groupBy(dim, r)) });
          }
        }
      }
      // No rollup row is left without records.
      for (const t of rollups) expect(await rowsOf(`SELECT * FROM "${t}" WHERE record_count <= 0`)).toEqual([]);
    }
    const remaining = (await memory.aggregate({})).recordCount;
    expect(await viaLedger.clear({})).toBe(remaining);
    for (const t of rollups) expect(await rowsOf(`SELECT count(*)::int AS n FROM "${t}"`)).toEqual([{ n: 0 }]);
    expect(normTotals(await viaRollups.aggregate({}))).toEqual(normTotals(await new MemoryUsageStorage().aggregate({})));
  });
});

/** The time zone recorded on each rollup (agent, user, hour). */
async function markers(names: { rollupTableName: string; schema?: string }): Promise<(string | null)[]> {
  const out: (string | null)[] = [];
  for (const t of [names.rollupTableName, userRollupOf(names.rollupTableName), `${names.rollupTableName}_hours`, `${names.rollupTableName}_hour_totals`]) {
    const target = names.schema ? `"${names.schema}"."${t}_pkey"` : `"${t}_pkey"`;
    const [c] = await rowsOf(`SELECT obj_description(to_regclass($1), 'pg_class') AS c`, [target]);
    out.push(c.c === null ? null : String(c.c).replace('nestjs-agent-usage daily rollup; timeZone=', ''));
  }
  return out;
}

describe('rollup time zone', () => {
  it('rebuilds the rollup when the app switches time zone, and falls back to the ledger when it may not', async () => {
    const names = tables('tz');
    const data = randomRecords(600, 5);
    const utc = await openDriver({ url: PG_URL, ...names }, 'UTC');
    await utc.write(data);
    const ny = new MemoryUsageStorage();
    ny.init(storageContext('America/New_York'));
    await ny.write(data);
    const expected = normGroups(await ny.groupBy('day', {}));

    // The host's connection, no autoMigrate: the rollup's days are UTC days, so it must not be read.
    const logger = new TestLogger();
    const hostLike = await openDriver({ dataSource: await openDataSource(), ...names }, 'America/New_York', logger);
    expect(normGroups(await hostLike.groupBy('day', {}))).toEqual(expected);
    expect(logger.lines.join('\n')).toMatch(/time zone UTC but this app uses America\/New_York/);

    // A driver allowed to migrate rebuilds both once; then rollup reads are right for New York days.
    const rebuilding = await openDriver({ url: PG_URL, ...names }, 'America/New_York');
    expect(normGroups(await rebuilding.groupBy('day', {}))).toEqual(expected);
    expect(normGroups(await rebuilding.groupBy('day', { userId: ['u1'] }))).toEqual(normGroups(await ny.groupBy('day', { userId: ['u1'] })));
    expect(await markers(names)).toEqual(['America/New_York', 'America/New_York', 'America/New_York', 'America/New_York']);
  });
});

describe('rollup time zone on a fresh install', () => {
  it("adopts the app's time zone when the migration used another one and the ledger is still empty", async () => {
    const names = tables('fresh');
    const ds = await openDataSource();
    const qr = ds.createQueryRunner();
    await new (createAgentUsageMigration(names))().up(qr); // default: UTC days
    await qr.release();
    const logger = new TestLogger();
    const d = await openDriver({ dataSource: ds, ...names }, 'America/New_York', logger);
    expect(await markers(names)).toEqual(['America/New_York', 'America/New_York', 'America/New_York', 'America/New_York']);
    const spy = jest.spyOn(ds, 'query');
    await d.groupBy('day', {});
    expect(String(spy.mock.calls[0][0])).toContain(`"${names.rollupTableName}"`);
    await d.groupBy('userId', {});
    expect(String(spy.mock.calls[1][0])).toContain(`"${userRollupOf(names.rollupTableName)}"`);
    spy.mockRestore();
  });
});

describe('rollup recovery and upgrade', () => {
  const data = randomRecords(400, 6);
  const expectExact = async (d: DatabaseUsageStorage, timeZone = 'UTC') => {
    const memory = new MemoryUsageStorage();
    memory.init(storageContext(timeZone));
    await memory.write(data);
    expect(normTotals(await d.aggregate({}))).toEqual(normTotals(await memory.aggregate({})));
    for (const dim of ['day', 'agentName', 'userId', 'group'] as const) {
      expect({ dim, groups: normGroups(await d.groupBy(dim, {})) }).toEqual({ dim, groups: normGroups(await memory.groupBy(dim, {})) });
    }
    expect(normGroups(await d.groupBy('modelName', { userId: ['u1'] }))).toEqual(normGroups(await memory.groupBy('modelName', { userId: ['u1'] })));
  };

  it('refills a dropped rollup table from the ledger when autoMigrate recreates it', async () => {
    const names = tables('refill');
    const first = await openDriver({ url: PG_URL, ...names });
    await first.write(data);
    await admin.query(`DROP TABLE "${names.rollupTableName}"`);
    await expectExact(await openDriver({ url: PG_URL, ...names }));
    await admin.query(`DROP TABLE "${userRollupOf(names.rollupTableName)}"`);
    await expectExact(await openDriver({ url: PG_URL, ...names }));
  });

  it('adds the user rollup next to an existing ledger and rollup, filled in the rollup’s time zone', async () => {
    const names = tables('adduser');
    const first = await openDriver({ url: PG_URL, ...names }, 'America/New_York');
    await first.write(data);
    await admin.query(`DROP TABLE "${userRollupOf(names.rollupTableName)}"`);
    // The migration (UTC by default) keeps the existing rollup's zone for the new one, so both agree.
    const ds = await openDataSource();
    const qr = ds.createQueryRunner();
    await new (createAgentUsageMigration(names))().up(qr);
    await qr.release();
    expect(await markers(names)).toEqual(['America/New_York', 'America/New_York', 'America/New_York', 'America/New_York']);
    await expectExact(await openDriver({ dataSource: ds, ...names }, 'America/New_York'), 'America/New_York');
  });

  it("replaces an earlier version's single wide rollup by the two narrow ones", async () => {
    const names = tables('wide');
    const first = await openDriver({ url: PG_URL, ...names });
    await first.write(data);
    await first.close();
    // The layout of earlier versions: one rollup keyed by user too, no user rollup.
    const r = `"${names.rollupTableName}"`;
    await admin.query(`DROP TABLE ${r}, "${userRollupOf(names.rollupTableName)}", "${names.rollupTableName}_hours", "${names.rollupTableName}_hour_totals"`);
    await admin.query(`CREATE TABLE ${r} (day date NOT NULL, agent_name varchar(255) NOT NULL DEFAULT '', user_id varchar(255) NOT NULL DEFAULT '',
      group_name varchar(255) NOT NULL DEFAULT '', model_name varchar(255) NOT NULL DEFAULT '', provider_name varchar(255) NOT NULL DEFAULT '',
      record_count bigint NOT NULL DEFAULT 0, CONSTRAINT "${names.rollupTableName}_pkey" PRIMARY KEY (day, agent_name, user_id, group_name, model_name, provider_name))`);
    await admin.query(`INSERT INTO ${r} SELECT recorded_at::date, COALESCE(agent_name, ''), COALESCE(user_id, ''), COALESCE(group_name, ''),
      COALESCE(model_name, ''), COALESCE(provider_name, ''), count(*) FROM "${names.tableName}" GROUP BY 1, 2, 3, 4, 5, 6`);
    await admin.query(`COMMENT ON INDEX "${names.rollupTableName}_pkey" IS 'nestjs-agent-usage daily rollup; timeZone=America/New_York'`);

    // Not allowed to migrate: a clear error, nothing touched.
    const ds = await openDataSource();
    await expect(new DatabaseUsageStorage({ dataSource: ds, ...names }).init(storageContext('America/New_York'))).rejects.toThrow(
      /is the daily rollup of an earlier version \(keyed by user too\)\. Run createAgentUsageMigration\(.*\) again .* or set database\.autoMigrate: true/,
    );
    // The migration run again (default time zone UTC) replaces it, filled from the ledger in the zone the
    // old rollup was kept in, which the app uses.
    const qr = ds.createQueryRunner();
    await new (createAgentUsageMigration({ ...names, name: 'UpgradeAgentUsageRollups1795900000000' }))().up(qr);
    await qr.release();
    expect(await markers(names)).toEqual(['America/New_York', 'America/New_York', 'America/New_York', 'America/New_York']);
    const [wide] = await rowsOf(`SELECT count(*)::int AS n FROM information_schema.columns WHERE table_name = $1 AND column_name = 'user_id'`, [names.rollupTableName]);
    expect(wide.n).toBe(0);
    const logger = new TestLogger();
    await expectExact(await openDriver({ dataSource: ds, ...names }, 'America/New_York', logger), 'America/New_York');
    expect(logger.lines).toEqual([]); // read from the rollups, no rebuild needed
  });

  it('rebuildAgentUsageRollups recomputes both rollups after the ledger was loaded by other means', async () => {
    const names = tables('rebuild');
    const d = await openDriver({ url: PG_URL, ...names }, 'America/New_York');
    await d.write(data.slice(0, 100));
    // Rows copied straight into the ledger (as COPY or a restore would): the rollups do not know them.
    const rest = data.slice(100);
    const scratch = { tableName: names.tableName, rollupTableName: uniqueName('scratch_r') };
    created.push(...allTables(scratch));
    await (await openDriver({ url: PG_URL, ...scratch }, 'America/New_York')).write(rest);
    const ds = await openDataSource();
    await ds.transaction((m) => rebuildAgentUsageRollups(m, names, 'America/New_York'));
    await expectExact(d, 'America/New_York');
    expect(await markers(names)).toEqual(['America/New_York', 'America/New_York', 'America/New_York', 'America/New_York']);
  });
});

describe('SQL injection', () => {
  const hostile = [`x'; DROP TABLE agent_usage_records; --`, `"; DROP TABLE x; --`, `group`, `$1`, `\\`, `%_`, `') OR ('1'='1`];

  it('treats every hostile filter value as data', async () => {
    const names = tables('inj');
    const d = await openDriver({ url: PG_URL, ...names });
    await d.write(hostile.map((v, i) => record(`inj-${i}`, { agentName: v, userId: v, group: v, chatName: v, modelName: v, providerName: v, priceSource: v })));
    await d.write([record('plain')]);
    for (const [i, v] of hostile.entries()) {
      for (const field of ['agentName', 'userId', 'group', 'chatName', 'modelName', 'providerName'] as const) {
        const list = await d.list({ [field]: [v] }, 10, 0);
        expect(list.map((r) => r.id)).toEqual([`inj-${i}`]);
        expect((await d.aggregate({ [field]: [v] })).recordCount).toBe('1');
      }
    }
    const groups = await d.groupBy('group', {});
    expect(groups.map((g) => g.key).sort()).toEqual([...hostile, 'g1'].sort());
    expect((await d.aggregate({})).recordCount).toBe(String(hostile.length + 1));
  });

  it('rejects any dimension outside the whitelist before SQL is built', async () => {
    const names = tables('injdim');
    const d = await openDriver({ url: PG_URL, ...names });
    for (const dim of ['agentName; DROP TABLE x', 'agent_name', '__proto__', 'constructor', 'toString', 'recorded_at', '']) {
      await expect(d.groupBy(dim as never, {})).rejects.toThrow(InvalidUsageInputError);
    }
    await expect(d.groupBy('group', {})).resolves.toEqual([]);
  });

  it('rejects table names that are not plain identifiers', async () => {
    for (const bad of [`x"; DROP TABLE y; --`, 'Upper', 'a b', '1abc', 'x'.repeat(64)]) {
      await expect(new DatabaseUsageStorage({ url: PG_URL, tableName: bad }).init(storageContext())).rejects.toThrow(InvalidUsageOptionsError);
      await expect(new DatabaseUsageStorage({ url: PG_URL, userRollupTableName: bad }).init(storageContext())).rejects.toThrow(
        /userRollupTableName must be a lower-case SQL identifier/,
      );
      expect(() => createAgentUsageMigration({ rollupTableName: bad })).toThrow(InvalidUsageOptionsError);
      expect(() => createAgentUsageMigration({ userRollupTableName: bad })).toThrow(InvalidUsageOptionsError);
      expect(() => UsageQuery.on({ query: async () => [] }, { tableName: bad })).toThrow(InvalidUsageOptionsError);
    }
    const validate = dtoSectionValidator(DatabaseStorageOptionsDto);
    expect(validate({ tableName: 'ok_name', rollupTableName: 'ok_daily', userRollupTableName: 'ok_users', url: PG_URL, autoMigrate: true })).toEqual([]);
    const problems = validate({ tableName: 'DROP TABLE', userRollupTableName: 'A;', useRollups: 'yes', url: 'mysql://x', nope: 1 }).join('\n');
    for (const p of [
      /tableName must be a lower-case SQL identifier/,
      /userRollupTableName must be a lower-case SQL identifier/,
      /useRollups must be a boolean/,
      /url must be a postgres/,
      /nope is not an option/,
    ]) {
      expect(problems).toMatch(p);
    }
    // The three tables must be distinct, the derived default included.
    for (const clash of [{ userRollupTableName: 'agent_usage_records' }, { userRollupTableName: 'agent_usage_daily' }, { tableName: 'agent_usage_daily_users' }]) {
      await expect(new DatabaseUsageStorage({ url: PG_URL, ...clash }).init(storageContext())).rejects.toThrow(/userRollupTableName must differ/);
    }
  });

  it('derives the user rollup name from the rollup name, within the 63-byte identifier limit', async () => {
    const Long = createAgentUsageMigration({ rollupTableName: 'r'.repeat(63) });
    expect(new Long().name).toMatch(/^CreateAgentUsageTables_agent_usage_records_r{63}_1795377442016$/);
    const entity = createUsageDailyUserEntity({ rollupTableName: 'r'.repeat(63) });
    expect(entity.options.tableName).toMatch(/^r{48}_[0-9a-f]{8}_users$/);
    expect(createUsageDailyUserEntity({ rollupTableName: 'daily' }).options.tableName).toBe('daily_users');
    expect(createUsageDailyUserEntity({ userRollupTableName: 'per_user' }).options.tableName).toBe('per_user');

    // A custom name is used as given.
    const names = { ...tables('custom'), userRollupTableName: uniqueName('custom_u') };
    created.push(names.userRollupTableName);
    const d = await openDriver({ url: PG_URL, ...names });
    await d.write([record('cu-1')]);
    expect(await rowsOf(`SELECT user_id, record_count::int AS n FROM "${names.userRollupTableName}"`)).toEqual([{ user_id: 'u1', n: 1 }]);
    expect(await rowsOf(`SELECT to_regclass($1) AS t`, [`"${userRollupOf(names.rollupTableName)}"`])).toEqual([{ t: null }]);
  });
});

describe('UsageQuery helpers', () => {
  let ds: DataSource;
  let names: { tableName: string; rollupTableName: string };
  let memory: MemoryUsageStorage;
  const data = randomRecords(800, 9);
  // Edges of the end day: its last millisecond is in, the next day's first is out.
  const edges = [
    record('edge-in', { agentName: 'support', modelName: 'gpt-4o', recordedAt: new Date('2026-03-09T23:59:59.999Z') }),
    record('edge-out', { agentName: 'support', modelName: 'gpt-4o', recordedAt: new Date('2026-03-10T00:00:00.000Z') }),
  ];

  beforeAll(async () => {
    names = tables('helpers');
    ds = await openDataSource();
    const d = await openDriver({ dataSource: ds, autoMigrate: true, ...names });
    await d.write([...data, ...edges]);
    memory = new MemoryUsageStorage();
    memory.init(storageContext());
    await memory.write([...data, ...edges]);
  });

  const expectTotalsLike = async (q: UsageQuery, filters: UsageFilters, timeZone = 'UTC') => {
    const mem = new MemoryUsageStorage();
    mem.init(storageContext(timeZone));
    await mem.write([...data, ...edges]);
    const raw = normTotals(await mem.aggregate(normalizeFilters(filters, timeZone)));
    const got = await q.aggregate();
    expect(Object.fromEntries(Object.keys(raw).map((k) => [k, String((got as any)[k])]))).toEqual(raw);
    expect(got.costUsd).toMatch(/^\d+\.\d{9}$/);
  };

  it('filters chain, betweenDates includes the whole end day, aggregate is one statement', async () => {
    const base = UsageQuery.on(ds, { tableName: names.tableName });
    const q = base.forAgent('support').forModel('gpt-4o').betweenDates('2026-03-07', '2026-03-09');
    const ids = (await q.list(10_000)).map((r) => r.id);
    expect(ids).toContain('edge-in');
    expect(ids).not.toContain('edge-out');
    await expectTotalsLike(q, { agentName: 'support', modelName: 'gpt-4o', dateFrom: '2026-03-07', dateTo: '2026-03-09' });
    await expectTotalsLike(base.forUser('u1', 'u2').forGroup(['g1']).forProvider('openai'), { userId: ['u1', 'u2'], group: 'g1', providerName: 'openai' });
    await expectTotalsLike(base.onDate('2026-11-01'), { date: '2026-11-01' });
    await expectTotalsLike(base.forAgent('support', 'sales').forAgent('sales', 'group'), { agentName: 'sales' });
    await expectTotalsLike(base.withSuccess(false), { success: false });
    // The builder is immutable: `base` is still unfiltered.
    await expectTotalsLike(base, {});
    const ny = UsageQuery.on(ds, { tableName: names.tableName, timeZone: 'America/New_York' });
    await expectTotalsLike(ny.betweenDates('2026-10-31', '2026-11-01'), { dateFrom: '2026-10-31', dateTo: '2026-11-01' }, 'America/New_York');

    const spy = jest.spyOn(ds, 'query');
    await q.aggregate();
    expect(spy).toHaveBeenCalledTimes(1);
    spy.mockRestore();
  });

  it('groupByColumn: whitelisted dimensions and column names, the reserved word group, a clear error otherwise', async () => {
    const q = UsageQuery.on(ds, { tableName: names.tableName }).betweenDates('2026-03-07', '2026-06-15');
    const filters = normalizeFilters({ dateFrom: '2026-03-07', dateTo: '2026-06-15' }, 'UTC');
    for (const [column, dim] of [['model_name', 'modelName'], ['group', 'group'], ['day', 'day'], ['agentName', 'agentName']] as const) {
      const got = await q.groupByColumn(column);
      const expected = normGroups(await memory.groupBy(dim, filters));
      expect(normGroups(got.map(({ costUsd: _c, exact: _e, ...g }) => g))).toEqual(expected);
    }
    for (const bad of ['agent_name; DROP TABLE x', 'recorded_at', 'cost_nano_usd', '__proto__', 'hasOwnProperty']) {
      await expect(q.groupByColumn(bad)).rejects.toThrow(/must be one of agentName, userId, group, chatName, modelName, providerName, runId, errorType, category, day, hour/);
    }
    const injected = UsageQuery.on(ds, { tableName: names.tableName }).forAgent(`x'; DROP TABLE "${names.tableName}"; --`);
    expect((await injected.aggregate()).recordCount).toBe(0);
    expect(() => q.betweenDates('2026-02-30', '2026-03-01')).toThrow(InvalidUsageInputError);
    expect((await UsageQuery.on(ds, { tableName: names.tableName }).aggregate()).recordCount).toBe(data.length + edges.length);
  });
});

describe('migration', () => {
  const schema = uniqueName('usage_mig');

  afterAll(async () => {
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  });

  it('creates the six tables (ledger, four rollups, alerts) and their indexes on an empty schema, idempotently; down() drops them', async () => {
    const ds = await openDataSource();
    const names = { tableName: 'ledger', rollupTableName: 'daily', schema };
    const Migration = createAgentUsageMigration({ ...names, timeZone: 'Europe/Paris' });
    const qr = ds.createQueryRunner();
    try {
      for (let i = 0; i < 2; i++) {
        await qr.startTransaction();
        await new Migration().up(qr);
        await qr.commitTransaction();
      }
    } finally {
      await qr.release();
    }
    // The month partitions' own indexes (made from the ledger's) are left out: partitions.e2e-spec checks them.
    const indexes = await rowsOf(`SELECT tablename, indexname FROM pg_indexes WHERE schemaname = $1 AND tablename !~ '^ledger_p' ORDER BY 1, 2`, [schema]);
    expect(indexes).toEqual([
      { tablename: 'agent_usage_alerts', indexname: 'agent_usage_alerts_pkey' },
      { tablename: 'daily', indexname: 'daily_agent_day_idx' },
      { tablename: 'daily', indexname: 'daily_pkey' },
      { tablename: 'daily_hour_totals', indexname: 'daily_hour_totals_category_hour_idx' },
      { tablename: 'daily_hour_totals', indexname: 'daily_hour_totals_pkey' },
      { tablename: 'daily_hours', indexname: 'daily_hours_agent_hour_idx' },
      { tablename: 'daily_hours', indexname: 'daily_hours_pkey' },
      { tablename: 'daily_users', indexname: 'daily_users_pkey' },
      { tablename: 'daily_users', indexname: 'daily_users_user_day_idx' },
      { tablename: 'ledger', indexname: 'ledger_agent_recorded_idx' },
      { tablename: 'ledger', indexname: 'ledger_model_recorded_idx' },
      { tablename: 'ledger', indexname: 'ledger_pkey' },
      { tablename: 'ledger', indexname: 'ledger_recorded_idx' },
      { tablename: 'ledger', indexname: 'ledger_run_idx' },
      { tablename: 'ledger', indexname: 'ledger_user_recorded_idx' },
    ]);
    const defs = await rowsOf(`SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = $1 ORDER BY 1`, [schema]);
    const def = (name: string) => defs.find((d) => d.indexname === name)?.indexdef.replace(/^.* USING btree /, '');
    expect(def('daily_pkey')).toBe('(day, agent_name, group_name, model_name, provider_name, category)');
    expect(def('daily_agent_day_idx')).toBe('(agent_name, day)');
    expect(def('daily_users_pkey')).toBe('(day, user_id, agent_name, model_name, provider_name, category)');
    expect(def('daily_hours_pkey')).toBe('(hour, agent_name, model_name, provider_name, category)');
    expect(def('daily_hours_agent_hour_idx')).toBe('(agent_name, hour)');
    expect(def('daily_hour_totals_pkey')).toBe('(hour, category)');
    expect(def('daily_users_user_day_idx')).toBe('(user_id, day)');
    expect(def('ledger_recorded_idx')).toBe('(recorded_at)');
    expect(await markers(names)).toEqual(['Europe/Paris', 'Europe/Paris', 'Europe/Paris', 'Europe/Paris']);
    const options = await rowsOf(
      `SELECT relname, reloptions FROM pg_class WHERE relnamespace = to_regnamespace($1) AND relkind IN ('r', 'p') AND NOT relispartition ORDER BY 1`,
      [`"${schema}"`],
    );
    expect(options).toEqual([
      { relname: 'agent_usage_alerts', reloptions: null },
      { relname: 'daily', reloptions: ['fillfactor=70', 'parallel_workers=0'] },
      { relname: 'daily_hour_totals', reloptions: ['fillfactor=70', 'parallel_workers=0'] },
      { relname: 'daily_hours', reloptions: ['fillfactor=70', 'parallel_workers=0'] },
      { relname: 'daily_users', reloptions: ['fillfactor=70', 'parallel_workers=0'] },
      { relname: 'ledger', reloptions: null },
    ]);

    // The entities describe exactly these tables: TypeORM's schema builder wants no change.
    const withEntities = new DataSource({
      type: 'postgres',
      url: PG_URL,
      entities: [createUsageRecordEntity(names), createUsageDailyEntity(names), createUsageDailyUserEntity(names), createUsageHourlyEntity(names), createUsageHourTotalEntity(names)],
    });
    await withEntities.initialize();
    try {
      const pending = await withEntities.driver.createSchemaBuilder().log();
      expect(pending.upQueries.map((q) => q.query)).toEqual([]);
    } finally {
      await withEntities.destroy();
    }

    // A driver on the host's connection with autoMigrate off uses them as they are.
    const d = await openDriver({ dataSource: ds, ...names }, 'Europe/Paris');
    await d.write([record('m-1')]);
    expect((await d.aggregate({})).recordCount).toBe('1');
    await d.close();
    expect(ds.isInitialized).toBe(true); // not ours to close

    const qr2 = ds.createQueryRunner();
    await new Migration().down(qr2);
    await qr2.release();
    expect(await rowsOf(`SELECT tablename FROM pg_tables WHERE schemaname = $1`, [schema])).toEqual([]);
  });

  it('runs through TypeORM migrations, and autoMigrate twice is harmless', async () => {
    const names = tables('mig');
    const migrationsTableName = uniqueName('usage_migrations');
    created.push(migrationsTableName);
    const ds = new DataSource({ type: 'postgres', url: PG_URL, migrations: [createAgentUsageMigration(names)], migrationsTableName });
    await ds.initialize();
    dataSources.push(ds);
    const ran = await ds.runMigrations();
    expect(ran.map((m) => m.name)).toEqual([`CreateAgentUsageTables_${names.tableName}_${names.rollupTableName}_1795377442016`]);
    expect(await ds.runMigrations()).toEqual([]);
    const a = await openDriver({ url: PG_URL, ...names, autoMigrate: true });
    const b = await openDriver({ url: PG_URL, ...names, autoMigrate: true });
    await a.write([record('x-1')]);
    expect((await b.aggregate({})).recordCount).toBe('1');
    expect(new CreateAgentUsageTables1795377442016().name).toBe('CreateAgentUsageTables1795377442016');
  });

  it('fails with a useful message when the tables are missing and it may not create them', async () => {
    const ds = await openDataSource();
    const d = new DatabaseUsageStorage({ dataSource: ds, tableName: uniqueName('missing'), rollupTableName: uniqueName('missing_r') });
    await expect(d.init(storageContext())).rejects.toThrow(/does not exist\. Add createAgentUsageMigration\(.*\) to your TypeORM migrations, or set database\.autoMigrate: true/);
  });
});

describe("the host app's DataSource through Nest", () => {
  it('uses the named TypeOrmModule connection from the ModuleRef and never closes it', async () => {
    const names = tables('nest');
    const migrationsTableName = uniqueName('usage_migrations');
    created.push(migrationsTableName);
    const moduleRef = await Test.createTestingModule({
      imports: [
        TypeOrmModule.forRoot({
          name: 'usage',
          type: 'postgres',
          url: PG_URL,
          migrations: [createAgentUsageMigration(names)],
          migrationsRun: true,
          migrationsTableName,
          retryAttempts: 0,
        }),
      ],
    }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    try {
      const d = new DatabaseUsageStorage();
      await d.init({
        name: 'database',
        timeZone: 'UTC',
        logger: new Logger('test'),
        moduleRef: app.get(ModuleRef),
        options: { database: { connectionName: 'usage', ...names } },
      });
      const data = randomRecords(200, 21);
      await d.write(data);
      const memory = new MemoryUsageStorage();
      memory.init(storageContext());
      await memory.write(data);
      expect(normTotals(await d.aggregate({}))).toEqual(normTotals(await memory.aggregate({})));
      expect(normGroups(await d.groupBy('providerName', {}))).toEqual(normGroups(await memory.groupBy('providerName', {})));
      await d.close();
      const ds = app.get<DataSource>(getDataSourceToken('usage'));
      expect(ds.isInitialized).toBe(true);
      expect(Number((await ds.query(`SELECT count(*) AS n FROM "${names.tableName}"`))[0].n)).toBe(200);

      const unknown = new DatabaseUsageStorage({ connectionName: 'nope' });
      await expect(
        unknown.init({ name: 'database', timeZone: 'UTC', logger: new TestLogger(), moduleRef: app.get(ModuleRef), options: {} }),
      ).rejects.toThrow(/no TypeORM DataSource "nope" found; import TypeOrmModule\.forRoot/);
    } finally {
      await app.close();
    }
  });
});
