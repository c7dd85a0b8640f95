/**
 * Redis driver against a real Redis (USAGE_TEST_REDIS_URL, default redis://127.0.0.1:6379): every answer
 * is compared with the memory driver on the same data, on both the bucket path and the scan path.
 */
import Redis from 'ioredis';
import type {
  NormalizedUsageFilters,
  UsageDimension,
  UsageIdentity,
} from '../../libs/agent-usage/src/interfaces/usage-query.interface';
import { USAGE_DIMENSIONS } from '../../libs/agent-usage/src/interfaces/usage-query.interface';
import type { UsageRecord } from '../../libs/agent-usage/src/interfaces/usage-record.interface';
import { dayKey, startOfDay } from '../../libs/agent-usage/src/query/time-zone';
import { createUsageRecord } from '../../libs/agent-usage/src/record/usage-record.factory';
import { CacheStorageOptionsDto, CacheUsageStorage, cacheStorageOptionProblems } from '../../libs/agent-usage/src/storage/cache';
import type { CacheStorageOptions } from '../../libs/agent-usage/src/storage/cache';
import { MemoryUsageStorage } from '../../libs/agent-usage/src/storage/memory/memory.storage';
import { scopeShard } from '../../libs/agent-usage/src/storage/cache/cache-storage.keys';
import { validateSync } from 'class-validator';
import {
  BASE_MS,
  REDIS_URL,
  deleteKeys,
  indexedIds,
  keysUnder,
  storedIds,
  makeRecords,
  norm,
  normGroups,
  testContext,
} from './fixtures/cache-test.helpers';

const PREFIX = `agent-usage-test:cache-e2e:${process.pid}:`;
const HOUR = 3_600_000;
const DAY = 86_400_000;

let admin: Redis;
const opened: CacheUsageStorage[] = [];

async function driver(sub: string, timeZone = 'UTC', extra: CacheStorageOptions = {}): Promise<CacheUsageStorage> {
  const s = new CacheUsageStorage({ url: REDIS_URL, keyPrefix: `${PREFIX}${sub}:`, ...extra });
  await s.init(testContext(timeZone));
  opened.push(s);
  return s;
}

async function memory(records: readonly UsageRecord[], timeZone = 'UTC'): Promise<MemoryUsageStorage> {
  const m = new MemoryUsageStorage({ maxRecords: 1_000_000 });
  m.init(testContext(timeZone));
  await m.write(records);
  return m;
}

const identitySort = (xs: UsageIdentity[]) => xs.map((i) => JSON.stringify([i.agentName, i.userId, i.group, i.chatName])).sort();

beforeAll(async () => {
  admin = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  await admin.ping();
  await deleteKeys(admin, PREFIX);
});

afterAll(async () => {
  for (const s of opened) await s.close();
  await deleteKeys(admin, PREFIX);
  await admin.quit();
});

describe('write and read back', () => {
  it('stores every field exactly (null counts, metadata, Date) and lists newest first', async () => {
    const s = await driver('roundtrip');
    const a = createUsageRecord({
      id: 'a',
      agentName: 'support',
      userId: 'u1',
      modelName: 'gpt-4o',
      providerName: 'openai',
      inputTokens: 120,
      cachedInputTokens: 20,
      outputTokens: 30,
      reasoningTokens: null,
      costNanoUsd: 9_007_199_254_740_991,
      priceSource: 'table:x',
      recordedAt: new Date('2026-03-05T10:00:00.123Z'),
      metadata: { trace: 'x', nested: { list: [1, 'two', null], ok: true } },
    });
    const b = createUsageRecord({
      id: 'b:with|odd*chars and spaces',
      usageMissing: true,
      success: false,
      recordedAt: new Date('2026-03-05T10:00:00.123Z'),
    });
    await s.write([a, b]);
    const got = await s.list({}, 10, 0);
    expect(got).toEqual([b, a]); // same instant: id descending ('b…' > 'a')
    expect(got[1].recordedAt).toBeInstanceOf(Date);
    expect(got[0].inputTokens).toBeNull();
    expect(got[0].costNanoUsd).toBeNull();
    expect(norm(await s.aggregate({}))).toEqual(norm(await (await memory([a, b])).aggregate({})));
  });

  it('is idempotent: the same batch twice, or overlapping, leaves totals unchanged', async () => {
    const s = await driver('idem');
    const records = makeRecords(7, 0, 600);
    await s.write(records.slice(0, 400));
    await s.write(records.slice(0, 400));
    await s.write(records.slice(200, 600));
    await s.write([{ ...records[3], inputTokens: 1_000_000 }]); // same id, other content: ignored
    const m = await memory(records);
    expect(norm(await s.aggregate({}))).toEqual(norm(await m.aggregate({})));
    expect(normGroups(await s.groupBy('agentName', {}))).toEqual(normGroups(await m.groupBy('agentName', {})));
    expect(await storedIds(admin, `${PREFIX}idem:`)).toBe(600);
    expect(s.duplicatesSkipped).toBe(400 + 200 + 1);
  });
});

/**
 * Which path a query must take, as documented on CacheUsageStorage: buckets when the range is whole days,
 * `success` is not filtered and the attribution filters are at most one the buckets cover, or any of the
 * breakdown dimensions (agentName, userId, group, modelName, providerName, category).
 */
function expectsBuckets(kind: 'aggregate' | 'groupBy' | 'identities', f: NormalizedUsageFilters, timeZone: string, dim?: UsageDimension): boolean {
  const aligned = (d?: Date) => !d || startOfDay(dayKey(d, timeZone), timeZone).getTime() === d.getTime();
  if (!aligned(f.from) || !aligned(f.to) || f.success !== undefined) return false;
  const attrs = (['agentName', 'userId', 'group', 'chatName', 'modelName', 'providerName', 'runId', 'errorType', 'category'] as const).filter((d) => f[d]);
  if (kind === 'identities') return attrs.every((d) => ['agentName', 'userId', 'group', 'chatName'].includes(d));
  // runId has an index but no buckets.
  if (attrs.includes('runId') || dim === 'runId') return false;
  const breakdowns: readonly string[] = ['agentName', 'userId', 'group', 'modelName', 'providerName', 'category'];
  // Per-scope buckets: of a filtered agent, user or category, else of every category.
  const scoped =
    attrs.every((d) => breakdowns.includes(d)) &&
    (dim === undefined || dim === 'hour' || dim === 'day' || breakdowns.includes(dim));
  if (kind === 'aggregate') return attrs.length <= 1 || scoped;
  if (attrs.length === 0 || (attrs.length === 1 && (dim === attrs[0] || dim === 'day'))) return true;
  return scoped;
}

describe.each(['UTC', 'America/New_York'])('same answers as the memory driver (%s)', (timeZone) => {
  const records = makeRecords(timeZone === 'UTC' ? 11 : 12, 0, 2000);
  let s: CacheUsageStorage;
  let m: MemoryUsageStorage;
  const dayStart = (k: number) => startOfDay(dayKey(new Date(BASE_MS + k * DAY + 12 * HOUR), timeZone), timeZone);

  const cases: [string, NormalizedUsageFilters][] = [
    ['everything', {}],
    ['whole days', { from: dayStart(2), to: dayStart(6) }],
    ['from a day on', { from: dayStart(3) }],
    ['up to a day', { to: dayStart(8) }],
    ['agents incl. separators and unicode', { agentName: ['support', 'a:b:c', 'ユニコード😀', 'pipe|agent'] }],
    ['one user over whole days', { userId: ['u:5'], from: dayStart(1), to: dayStart(9) }],
    ['model with a bar', { modelName: ['gemini|pro', 'gpt-4o'] }],
    ['chats', { chatName: ['chat: x|y', 'chat-3'] }],
    ['group named "group"', { group: ['group'] }],
    ['provider over days', { providerName: ['openai'], from: dayStart(4), to: dayStart(5) }],
    ['instants mid-day', { from: new Date(BASE_MS + 2 * DAY + 3 * HOUR + 17), to: new Date(BASE_MS + 7 * DAY + 11 * HOUR) }],
    ['agent and user', { agentName: ['support', 'sales'], userId: ['u1', 'u2', 'u:5'] }],
    ['failed only', { success: false }],
    ['agent and model mid-day', { agentName: ['star*'], modelName: ['claude-3-5'], from: new Date(BASE_MS + DAY + 1) }],
    ['chat and user', { chatName: ['chat-1', 'chat-2'], userId: ['u3'] }],
    ['model and provider (no index)', { modelName: ['gpt-4o'], providerName: ['openai', 'google'] }],
    ['the tie millisecond', { from: new Date(BASE_MS + 3 * DAY + 7777), to: new Date(BASE_MS + 3 * DAY + 7778) }],
    ['unknown value', { agentName: ['nobody'] }],
    ['runs (their index)', { runId: ['run:11|3', 'run:12|3', 'run:11|200', 'run:12|200'] }],
    ['run and agent', { runId: ['run:11|5', 'run:12|5'], agentName: ['support'] }],
    ['error types over whole days', { errorType: ['RateLimitError', 'Err|x y'], from: dayStart(2), to: dayStart(6) }],
    ['empty range', { from: dayStart(5), to: dayStart(5) }],
    ['one category over whole days', { category: ['image'], from: dayStart(2), to: dayStart(6) }],
    ['categories incl. separators + agent', { category: ['scrape|x:y', 'chat'], agentName: ['support', 'a:b:c'] }],
    ['category + model + provider', { category: ['chat'], modelName: ['gpt-4o', 'gemini|pro'], providerName: ['openai'] }],
    ['category + chat (scan)', { category: ['image'], chatName: ['chat-1', 'chat-2'] }],
    ['model over whole days (every category\'s buckets)', { modelName: ['gpt-4o', 'gemini|pro'], from: dayStart(1), to: dayStart(7) }],
  ];

  beforeAll(async () => {
    s = await driver(`equiv-${timeZone.replace('/', '_')}`, timeZone, { scanChunkSize: 200 });
    for (let i = 0; i < records.length; i += 500) await s.write(records.slice(i, i + 500));
    await s.write(records.slice(100, 400)); // a retried batch
    m = await memory(records, timeZone);
  });

  it.each(cases)('aggregate, groupBy (every dimension) and identities: %s', async (_label, f) => {
    const scan = jest.spyOn(s as any, 'scan');
    const check = async (kind: 'aggregate' | 'groupBy' | 'identities', run: () => Promise<unknown>, dim?: UsageDimension) => {
      const before = scan.mock.calls.length;
      const out = await run();
      const scanned = scan.mock.calls.length > before;
      const emptyRange = !!(f.from && f.to && f.from >= f.to);
      if (!emptyRange) expect(`${kind} ${dim ?? ''} ${scanned ? 'scan' : 'buckets'}`).toBe(`${kind} ${dim ?? ''} ${expectsBuckets(kind, f, timeZone, dim) ? 'buckets' : 'scan'}`);
      return out;
    };
    expect(norm((await check('aggregate', () => s.aggregate(f))) as any)).toEqual(norm(await m.aggregate(f)));
    for (const dim of USAGE_DIMENSIONS) {
      const got = (await check('groupBy', () => s.groupBy(dim, f), dim)) as any;
      expect([dim, normGroups(got)]).toEqual([dim, normGroups(await m.groupBy(dim, f))]);
    }
    const ids = (await check('identities', () => s.identities(f))) as UsageIdentity[];
    expect(identitySort(ids)).toEqual(identitySort(await m.identities(f)));
    scan.mockRestore();
  });

  it.each(cases)('list pages: %s', async (_label, f) => {
    expect(await s.list(f, 10_000, 0)).toEqual(await m.list(f, 10_000, 0));
    for (const [limit, offset] of [[25, 0], [40, 130], [7, 301], [100, 1990]]) {
      expect((await s.list(f, limit, offset)).map((r) => r.id)).toEqual((await m.list(f, limit, offset)).map((r) => r.id));
    }
  });

  it('clears what matches, uncounting it, then everything, leaving no bucket behind', async () => {
    const clears: NormalizedUsageFilters[] = [
      { agentName: ['support'], modelName: ['gpt-4o'] },
      { from: new Date(BASE_MS + 4 * DAY + 5 * HOUR + 1), to: new Date(BASE_MS + 5 * DAY + 2 * HOUR) },
      { userId: ['u|6'], success: false },
      { from: new Date(BASE_MS + 3 * DAY + 7777), to: new Date(BASE_MS + 3 * DAY + 7778) }, // the tie group
    ];
    for (const f of clears) {
      const expected = await m.clear(f);
      expect(expected).toBeGreaterThan(0);
      expect(await s.clear(f)).toBe(expected);
      expect(await s.clear(f)).toBe(0);
    }
    for (const [, f] of cases.slice(0, 10)) {
      expect(norm(await s.aggregate(f))).toEqual(norm(await m.aggregate(f)));
      for (const dim of USAGE_DIMENSIONS) expect(normGroups(await s.groupBy(dim, f))).toEqual(normGroups(await m.groupBy(dim, f)));
      expect(identitySort(await s.identities(f))).toEqual(identitySort(await m.identities(f)));
    }
    expect((await s.list({}, 10_000, 0)).map((r) => r.id)).toEqual((await m.list({}, 10_000, 0)).map((r) => r.id));

    // Cleared records can be written again and count again.
    await s.write(records.slice(0, 50));
    await m.write(records.slice(0, 50));
    expect(norm(await s.aggregate({}))).toEqual(norm(await m.aggregate({})));

    expect(await s.clear({})).toBe(await m.clear({}));
    expect(norm(await s.aggregate({}))).toEqual(norm(await m.aggregate({})));
    const sub = `${PREFIX}equiv-${timeZone.replace('/', '_')}:`;
    // Every counter went back to zero and was dropped: only the meta hash and the day list remain.
    expect((await keysUnder(admin, sub)).map((k) => k.slice(sub.length))).toEqual(['{m}days', '{m}meta']);
  });
});

describe('write path: chunks, duplicates and exactness', () => {
  /** Every bucket read the driver has, compared with the memory driver. */
  async function expectSameAnswers(s: CacheUsageStorage, m: MemoryUsageStorage): Promise<void> {
    expect(norm(await s.aggregate({}))).toEqual(norm(await m.aggregate({})));
    for (const dim of USAGE_DIMENSIONS) {
      expect([dim, normGroups(await s.groupBy(dim, {}))]).toEqual([dim, normGroups(await m.groupBy(dim, {}))]);
    }
    for (const f of [{ agentName: ['support', 'a:b:c'] }, { userId: ['u1', 'u|6'] }, { category: ['image'], modelName: ['gpt-4o'] }] as NormalizedUsageFilters[]) {
      expect(norm(await s.aggregate(f))).toEqual(norm(await m.aggregate(f)));
      for (const dim of ['agentName', 'userId', 'group', 'modelName', 'providerName', 'category', 'hour', 'day'] as const) {
        expect([dim, normGroups(await s.groupBy(dim, f))]).toEqual([dim, normGroups(await m.groupBy(dim, f))]);
      }
    }
    expect(identitySort(await s.identities({}))).toEqual(identitySort(await m.identities({})));
  }

  it.each([128, 1000])('a large batch mixing new ids, stored ids and ids repeated in the batch counts each record once (chunks of %i)', async (chunk) => {
    const s = await driver(`dups-${chunk}`, 'America/New_York', { writeChunkSize: chunk });
    const m = await memory([], 'America/New_York');
    const records = makeRecords(61, 0, 4000);
    const changed = (r: UsageRecord) => ({ ...r, inputTokens: 999_999, agentName: 'impostor' });
    const first = records.slice(0, 1000);
    // Stored ids (some with other content), new ids, and new ids repeated later in the batch with other content:
    // the first occurrence wins everywhere, as in the memory driver.
    const batch = [
      ...records.slice(500, 1000).map((r, i) => (i % 2 ? changed(r) : r)),
      ...records.slice(1000, 4000),
      ...records.slice(2000, 2300).map(changed),
      ...records.slice(600, 700),
    ];
    for (const [i, r] of [...batch.entries()].filter(([i]) => i % 7 === 0)) batch.splice(i, 0, r); // repeats next to themselves
    await s.write(first);
    await m.write(first);
    await s.write(batch);
    await m.write(batch);
    expect(await storedIds(admin, `${PREFIX}dups-${chunk}:`)).toBe(4000);
    expect(s.duplicatesSkipped).toBe(batch.length - 3000);
    await expectSameAnswers(s, m);
    expect((await s.list({ agentName: ['impostor'] }, 10, 0)).length).toBe(0);

    // The same batch again (a retry after a lost reply) changes nothing.
    await s.write(batch);
    expect(s.duplicatesSkipped).toBe(2 * batch.length - 3000);
    await expectSameAnswers(s, m);
  });

  it('sends one script call per day and chunk, and a retried chunk of stored ids costs one call', async () => {
    const s = await driver('calls', 'UTC', { writeChunkSize: 500 });
    const records = makeRecords(62, 0, 2000);
    const client = (s as any).client;
    const command = Object.keys(client).find((k) => /^agentUsageWriteV/.test(k)) ?? 'agentUsageWriteV5';
    const spy = jest.spyOn(client, command);
    // One call per day (one hash tag, one Cluster slot) and per 500 records of that day.
    const perDay = (rs: UsageRecord[]) => {
      const m = new Map<string, number>();
      for (const r of rs) m.set(dayKey(r.recordedAt, 'UTC'), (m.get(dayKey(r.recordedAt, 'UTC')) ?? 0) + 1);
      return m;
    };
    const calls = (rs: UsageRecord[]) => [...perDay(rs).values()].reduce((a, n) => a + Math.ceil(n / 500), 0);
    await s.write(records);
    expect(spy).toHaveBeenCalledTimes(calls(records));
    expect(perDay(records).size).toBeGreaterThan(5);
    spy.mockClear();
    await s.write(records.slice(0, 1000));
    expect(spy).toHaveBeenCalledTimes(calls(records.slice(0, 1000)));
    spy.mockClear();
    const stored = records.slice(1000, 1010);
    const fresh = makeRecords(62, 2000, 2010);
    await s.write([...stored, ...fresh]);
    // A day's chunk holding stored ids returns them and goes again without them when anything is left.
    const storedDays = perDay(stored);
    const freshDays = perDay(fresh);
    const days = new Set([...storedDays.keys(), ...freshDays.keys()]);
    expect(spy).toHaveBeenCalledTimes([...days].reduce((a, d) => a + (storedDays.has(d) && freshDays.has(d) ? 2 : 1), 0));
    spy.mockRestore();
    expect(await storedIds(admin, `${PREFIX}calls:`)).toBe(2010);
  });

  it('keeps counters exact past 2^53 (per field, per day) and uncounts them back to nothing', async () => {
    // The memory driver sums tokens in numbers: the reference here is summed in bigints.
    const exact = (rs: UsageRecord[]): Record<string, string> => {
      const sum = (f: (r: UsageRecord) => number | null) => String(rs.reduce((a, r) => a + BigInt(f(r) ?? 0), 0n));
      return {
        recordCount: String(rs.length),
        requests: sum((r) => r.requests),
        inputTokens: sum((r) => r.inputTokens),
        cachedInputTokens: sum((r) => r.cachedInputTokens),
        cacheWriteTokens: sum((r) => r.cacheWriteTokens),
        outputTokens: sum((r) => r.outputTokens),
        reasoningTokens: sum((r) => r.reasoningTokens),
        totalTokens: sum((r) => r.totalTokens),
        failedCount: sum((r) => (r.success ? 0 : 1)),
        usageMissingCount: sum((r) => (r.usageMissing ? 1 : 0)),
        costNanoUsd: sum((r) => r.costNanoUsd),
        unpricedCount: sum((r) => (r.costNanoUsd === null ? 1 : 0)),
        runCount: sum((r) => (r.runStart ? 1 : 0)),
        agentRunCount: sum((r) => (r.agentRunStart ? 1 : 0)),
        units: sum((r) => r.units),
      };
    };
    const s = await driver('big', 'UTC', { writeChunkSize: 2 });
    const max = Number.MAX_SAFE_INTEGER;
    const at = new Date(BASE_MS + 5 * HOUR);
    const big = (i: number, agentName: string) =>
      createUsageRecord({ id: `big-${i}`, agentName, userId: 'u1', modelName: 'm', inputTokens: max, outputTokens: max - i, totalTokens: max, costNanoUsd: max - 1, units: max - 2 * i, recordedAt: at });
    let records = [big(0, 'a'), big(1, 'a'), big(2, 'b'), big(3, 'a'), big(4, 'a'), big(5, 'b'), big(6, 'a')];
    await s.write(records.slice(0, 3));
    await s.write(records.slice(3));
    const sub = `${PREFIX}big:`;
    const day = dayKey(at, 'UTC');
    expect((await admin.hkeys(`${sub}{${day}}agg:day`)).sort()).toEqual(['t', 't:c', 't:in', 't:out', 't:tt', 't:u']);
    const check = async () => {
      const of = (agent: string) => records.filter((r) => r.agentName === agent);
      expect(norm(await s.aggregate({}))).toEqual(exact(records));
      expect(norm(await s.aggregate({ agentName: ['a'] }))).toEqual(exact(of('a')));
      const groups = ['a', 'b'].filter((a) => of(a).length).map((a) => ({ key: a, ...exact(of(a)) }));
      expect(normGroups(await s.groupBy('agentName', {}))).toEqual(groups);
      expect(normGroups(await s.groupBy('agentName', { userId: ['u1'] }))).toEqual(groups);
      expect(normGroups(await s.groupBy('day', { agentName: ['a'] }))).toEqual([{ key: day, ...exact(of('a')) }]);
      expect(normGroups(await s.groupBy('modelName', { agentName: ['a'] }))).toEqual([{ key: 'm', ...exact(of('a')) }]);
    };
    await check();

    expect(await s.clear({ agentName: ['b'] })).toBe(2);
    records = records.filter((r) => r.agentName !== 'b');
    await check();
    expect(await s.clear({})).toBe(5);
    records = [];
    expect(norm(await s.aggregate({}))).toEqual(exact([]));
    expect((await keysUnder(admin, sub)).map((k) => k.slice(sub.length))).toEqual(['{m}days', '{m}meta']);
  });
});

describe('ties larger than a scan chunk', () => {
  it('walks, lists and clears 300 records sharing one millisecond with 16-id chunks', async () => {
    const s = await driver('ties', 'UTC', { scanChunkSize: 16 });
    const at = new Date(BASE_MS + 5 * HOUR);
    const records = makeRecords(51, 0, 300).map((r, i) => ({ ...r, recordedAt: i % 10 === 0 ? new Date(at.getTime() + 1) : at }));
    await s.write(records);
    const m = await memory(records);
    const scanned = { success: true };
    expect(norm(await s.aggregate(scanned))).toEqual(norm(await m.aggregate(scanned)));
    for (const f of [{}, scanned, { agentName: ['support', 'sales'] }]) {
      expect((await s.list(f, 1000, 0)).map((r) => r.id)).toEqual((await m.list(f, 1000, 0)).map((r) => r.id));
      expect((await s.list(f, 20, 33)).map((r) => r.id)).toEqual((await m.list(f, 20, 33)).map((r) => r.id));
    }
    expect(await s.clear({ userId: ['u1', 'u2', 'u3'] })).toBe(await m.clear({ userId: ['u1', 'u2', 'u3'] }));
    expect(await s.clear(scanned)).toBe(await m.clear(scanned));
    expect(norm(await s.aggregate({}))).toEqual(norm(await m.aggregate({})));
    expect(await s.clear({})).toBe(await m.clear({}));
    expect((await keysUnder(admin, `${PREFIX}ties:`)).map((k) => k.slice(`${PREFIX}ties:`.length))).toEqual(['{m}days', '{m}meta']);
  });
});

describe('hostile attribution values', () => {
  it('keeps values with separators, globs, spaces, escapes and unicode apart', async () => {
    const s = await driver('hostile');
    const values = ['A', '%41', 'v%41', 'a:b', 'a|n', 'x*', 'with space', 'group', 'agentName=v1:modelName', '{tag}', '日本語', '😀', '-', 'v-', '\\'];
    const records = values.flatMap((v, i) =>
      [0, 1].map((k) =>
        createUsageRecord({
          id: `h-${i}-${k}`,
          agentName: v,
          userId: values[(i + 1) % values.length],
          group: v,
          chatName: v,
          modelName: v,
          providerName: v,
          inputTokens: 10 + i,
          outputTokens: k,
          costNanoUsd: 1000 * i,
          recordedAt: new Date(BASE_MS + i * HOUR + k),
        }),
      ),
    );
    await s.write(records);
    const m = await memory(records);
    for (const dim of USAGE_DIMENSIONS) {
      expect(normGroups(await s.groupBy(dim, {}))).toEqual(normGroups(await m.groupBy(dim, {})));
    }
    for (const v of values) {
      for (const f of [{ agentName: [v] }, { userId: [v] }, { modelName: [v] }, { chatName: [v] }] as NormalizedUsageFilters[]) {
        expect(norm(await s.aggregate(f))).toEqual(norm(await m.aggregate(f)));
        expect(normGroups(await s.groupBy('modelName', f))).toEqual(normGroups(await m.groupBy('modelName', f)));
        expect((await s.list(f, 10, 0)).map((r) => r.id)).toEqual((await m.list(f, 10, 0)).map((r) => r.id));
      }
    }
    expect(identitySort(await s.identities({ group: ['group'] }))).toEqual(identitySort(await m.identities({ group: ['group'] })));
    // No attribution value reaches a bucket or index key name unescaped.
    const sub = `${PREFIX}hostile:`;
    for (const key of await keysUnder(admin, sub)) {
      // `{<day>}` or `{m}`: the hash tag is ours alone, then the rest of the name.
      const m = /^\{(\d{4}-\d{2}-\d{2}|m)\}(.*)$/.exec(key.slice(sub.length));
      expect(m).not.toBeNull();
      expect(m![2]).toMatch(/^[^\s|*{}\\]*$/);
    }
  });
});

describe('retention', () => {
  it('expires records, buckets and indexes with their day; refuses records already past it', async () => {
    const s = await driver('ttl', 'UTC', { retentionDays: 2 });
    const now = Date.now();
    const fresh = createUsageRecord({ id: 'fresh', agentName: 'support', inputTokens: 5, outputTokens: 1, recordedAt: new Date(now) });
    const old = createUsageRecord({ id: 'old', agentName: 'support', inputTokens: 7, outputTokens: 1, recordedAt: new Date(now - 10 * DAY) });
    await s.write([fresh, old]);
    expect(s.expiredOnWrite).toBe(1);
    expect(norm(await s.aggregate({}))).toMatchObject({ recordCount: '1', inputTokens: '5' });

    const expireAt = startOfDay(dayKey(new Date(now), 'UTC'), 'UTC').getTime() + DAY + 2 * DAY;
    const day = dayKey(new Date(now), 'UTC');
    const sub = `${PREFIX}ttl:`;
    const keys = ['rec', 'idx', 'agg:day', 'agg:hour', 'agg:agentName', `agg:agentName#${scopeShard('vsupport')}`, 'ids'];
    for (const key of keys) {
      const at = await admin.pexpiretime(`${sub}{${day}}${key}`);
      expect([key, at]).toEqual([key, expireAt]);
    }
    expect(await admin.pttl(`${sub}{m}meta`)).toBe(-1);
    expect(await admin.pttl(`${sub}{m}days`)).toBe(-1);
  });

  it('reads skip records gone from under their index entries (cleared by another instance) and prune those entries', async () => {
    const s = await driver('ttl-prune', 'UTC', { retentionDays: 30 });
    const t = Date.now() - HOUR;
    const records = [0, 1, 2, 3].map((i) => createUsageRecord({ id: `p${i}`, agentName: 'a', inputTokens: 1, outputTokens: 1, recordedAt: new Date(t + i) }));
    await s.write(records);
    const sub = `${PREFIX}ttl-prune:`;
    const day = dayKey(new Date(t), 'UTC');
    await admin.hdel(`${sub}{${day}}rec`, 'p1', 'p2'); // as if another instance had just deleted them
    expect((await s.list({}, 10, 0)).map((r) => r.id)).toEqual(['p3', 'p0']);
    expect((await s.list({ agentName: ['a'], success: true }, 10, 0)).map((r) => r.id)).toEqual(['p3', 'p0']);
    expect(await indexedIds(admin, `${sub}{${day}}idx`)).toEqual(['p0', 'p3']);
    expect(norm(await s.aggregate({ success: true }))).toMatchObject({ recordCount: '2' });
  });
});

describe('several writers at once', () => {
  it('4 clients writing overlapping batches concurrently give exact totals', async () => {
    const records = makeRecords(21, 0, 3000);
    const writers = await Promise.all([0, 1, 2, 3].map(() => driver('concurrent')));
    const ranges = [
      [0, 1200],
      [800, 2000],
      [1600, 3000],
      [0, 3000],
    ];
    await Promise.all(
      writers.map(async (w, i) => {
        const [from, to] = ranges[i];
        for (let k = from; k < to; k += 250) await w.write(records.slice(k, Math.min(k + 250, to)));
      }),
    );
    const m = await memory(records);
    expect(norm(await writers[0].aggregate({}))).toEqual(norm(await m.aggregate({})));
    for (const dim of ['agentName', 'day', 'hour'] as const) {
      expect(normGroups(await writers[1].groupBy(dim, {}))).toEqual(normGroups(await m.groupBy(dim, {})));
    }
    expect(normGroups(await writers[2].groupBy('modelName', { userId: ['u1'] }))).toEqual(normGroups(await m.groupBy('modelName', { userId: ['u1'] })));
    expect(await storedIds(admin, `${PREFIX}concurrent:`)).toBe(3000);

    // Concurrent clears of the same records uncount each record once.
    const f = { agentName: ['sales'] };
    const cleared = await Promise.all(writers.map((w) => w.clear(f)));
    expect(cleared.reduce((a, b) => a + b, 0)).toBe(await m.clear(f));
    expect(norm(await writers[3].aggregate({}))).toEqual(norm(await m.aggregate({})));
  });
});

describe('clients, options and time zones', () => {
  it('uses a host client (even with its own ioredis keyPrefix) and never closes it', async () => {
    const host = new Redis(REDIS_URL, { keyPrefix: `${PREFIX}host:` });
    const s = new CacheUsageStorage({ client: host, keyPrefix: 'inner:' });
    await s.init(testContext('UTC'));
    const records = makeRecords(31, 0, 300);
    await s.write(records);
    const m = await memory(records);
    expect(norm(await s.aggregate({ agentName: ['support'] }))).toEqual(norm(await m.aggregate({ agentName: ['support'] })));
    expect(norm(await s.aggregate({ success: false }))).toEqual(norm(await m.aggregate({ success: false })));
    expect(await admin.exists(`${PREFIX}host:inner:{m}meta`)).toBe(1);
    expect(await storedIds(admin, `${PREFIX}host:inner:`)).toBe(300);
    expect(await s.clear({ userId: ['u1'] })).toBe(await m.clear({ userId: ['u1'] }));
    expect(normGroups(await s.groupBy('userId', {}))).toEqual(normGroups(await m.groupBy('userId', {})));
    await s.close();
    expect(host.status).toBe('ready');
    await host.quit();
  });

  it('gets the client from the container with clientToken', async () => {
    const host = new Redis(REDIS_URL);
    const token = Symbol('REDIS');
    const moduleRef = { get: (t: unknown, o: unknown) => (t === token && JSON.stringify(o) === '{"strict":false}' ? host : undefined) };
    const s = new CacheUsageStorage({ keyPrefix: `${PREFIX}token:` });
    await s.init(testContext('UTC', { moduleRef: moduleRef as any, options: { cache: { clientToken: token } } }));
    await s.write(makeRecords(32, 0, 10));
    expect(norm(await s.aggregate({})).recordCount).toBe('10');
    await s.close();
    expect(host.status).toBe('ready');
    await host.quit();
  });

  it('validates options', async () => {
    expect(cacheStorageOptionProblems({ keyPrefix: 'ok:prefix-1' })).toEqual([]);
    expect(cacheStorageOptionProblems({ keyPrefix: 'bad prefix*' }).join()).toMatch(/keyPrefix/);
    expect(cacheStorageOptionProblems({ keyPrefix: 'app{1}:' }).join()).toMatch(/keyPrefix/); // would take the hash tag
    expect(cacheStorageOptionProblems({ url: 'http://x' }).join()).toMatch(/url/);
    expect(cacheStorageOptionProblems({ retentionDays: 0 }).join()).toMatch(/retentionDays/);
    expect(cacheStorageOptionProblems({ url: REDIS_URL, client: {} as any }).join()).toMatch(/only one/);
    expect(cacheStorageOptionProblems({ keyPrefx: 'typo:' })).toEqual(['keyPrefx is not an option']);
    expect(cacheStorageOptionProblems('redis://x')).toEqual(['must be an object']);
    await expect(new CacheUsageStorage({ keyPrefix: 'bad prefix' }).init(testContext())).rejects.toThrow(/cache\.keyPrefix must be/);
    expect(validateSync(Object.assign(new CacheStorageOptionsDto(), { keyPrefix: '' })).length).toBe(1);
    expect(validateSync(Object.assign(new CacheStorageOptionsDto(), { keyPrefix: 'a:', retentionDays: 30, scanChunkSize: 500 }))).toEqual([]);
  });

  it('keeps buckets in the zone they were built in and scans when the app zone changes', async () => {
    const records = makeRecords(41, 0, 400);
    const utc = await driver('zone', 'UTC');
    await utc.write(records.slice(0, 200));
    const ny = await driver('zone', 'America/New_York');
    await ny.write(records.slice(200));
    const mNy = await memory(records, 'America/New_York');
    const mUtc = await memory(records, 'UTC');
    for (const dim of ['day', 'hour', 'agentName'] as const) {
      expect(normGroups(await ny.groupBy(dim, {}))).toEqual(normGroups(await mNy.groupBy(dim, {})));
      expect(normGroups(await utc.groupBy(dim, {}))).toEqual(normGroups(await mUtc.groupBy(dim, {})));
    }
    const nyDay = { from: startOfDay('2026-03-08', 'America/New_York'), to: startOfDay('2026-03-10', 'America/New_York') };
    expect(norm(await ny.aggregate(nyDay))).toEqual(norm(await mNy.aggregate(nyDay)));
  });
});
