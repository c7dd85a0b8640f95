/**
 * The record rule, over all four drivers at once: every bad input is refused at record() with an
 * InvalidUsageInputError naming the field; every good one (at the very edges of the rule) is stored
 * and readable in memory, file, PostgreSQL and Redis; nothing is dead-lettered, nothing blocks.
 */
import { rmSync } from 'node:fs';
import { INestApplication } from '@nestjs/common';
import { InvalidUsageInputError, UsageRecordInput, UsageService } from 'nestjs-agent-usage';
import { PG_URL, REDIS_URL, bootUsageApp, deleteRedisKeys, dropTables, tempDir, unique } from './reliability.helpers';

const table = unique('rel_rules');
const prefix = `${unique('rel-rules')}:`;
const dir = tempDir('usage-rules');
let app: INestApplication;
let usage: UsageService;

beforeAll(async () => {
  app = await bootUsageApp({
    storage: ['memory', 'file', 'database', 'cache'],
    file: { directory: `${dir}/files` },
    database: { url: PG_URL, tableName: table, rollupTableName: `${table}_daily` },
    cache: { url: REDIS_URL, keyPrefix: prefix },
    writer: { spoolDirectory: `${dir}/spool`, flushIntervalMs: 20 },
  });
  usage = app.get(UsageService);
});
afterAll(async () => {
  await app?.close();
  await dropTables([table, `${table}_daily`, `${table}_daily_users`]);
  await deleteRedisKeys(prefix);
  rmSync(dir, { recursive: true, force: true });
});

const MAX = Number.MAX_SAFE_INTEGER;
const long = (n: number) => 'x'.repeat(n);

/** [what, input, field named by the error, text the message must contain] */
const BAD: [string, unknown, string, RegExp][] = [
  ['null', null, 'record', /an object/],
  ['a string', 'tokens', 'record', /an object/],
  ['a number', 42, 'record', /an object/],
  ['an array', [{ inputTokens: 1 }], 'record', /an object/],
  ['a misspelled field', { inputToken: 500, outputTokens: 1 }, 'record.inputToken', /did you mean "inputTokens"/],
  ['a snake_case field', { prompt_tokens: 5 }, 'record.prompt_tokens', /did you mean "inputTokens"/],
  ['year 275760', { inputTokens: 1, outputTokens: 1, recordedAt: new Date(8.64e15) }, 'recordedAt', /1970-01-01/],
  ['year 10000 as a string', { inputTokens: 1, recordedAt: '+010000-01-01T00:00:00Z' }, 'recordedAt', /offset/],
  ['year 10000 as a Date', { inputTokens: 1, recordedAt: new Date(Date.UTC(10_000, 0, 1)) }, 'recordedAt', /9999-12-31/],
  ['before 1970', { inputTokens: 1, recordedAt: new Date(-1) }, 'recordedAt', /1970/],
  ['negative year', { inputTokens: 1, recordedAt: new Date(-8.64e15) }, 'recordedAt', /1970/],
  ['February 30', { inputTokens: 1, recordedAt: '2026-02-30T00:00:00Z' }, 'recordedAt', /ISO 8601/],
  ['February 29 of a common year', { inputTokens: 1, recordedAt: '2027-02-29T12:00:00Z' }, 'recordedAt', /ISO 8601/],
  ['hour 24', { inputTokens: 1, recordedAt: '2026-01-01T24:00:00Z' }, 'recordedAt', /ISO 8601/],
  ['no offset', { inputTokens: 1, recordedAt: '2026-01-01T10:00:00' }, 'recordedAt', /with an offset/],
  ['a bare day', { inputTokens: 1, recordedAt: '2026-01-01' }, 'recordedAt', /with an offset/],
  ['free text', { inputTokens: 1, recordedAt: 'yesterday' }, 'recordedAt', /ISO 8601/],
  ['an invalid Date', { inputTokens: 1, recordedAt: new Date(NaN) }, 'recordedAt', /Date/],
  ['NaN ms', { inputTokens: 1, recordedAt: NaN }, 'recordedAt', /epoch milliseconds/],
  ['2^53-1 in and out (sum 2^54-2)', { inputTokens: MAX, outputTokens: MAX }, 'outputTokens', /2\^53-1 together with inputTokens/],
  ['2^53', { inputTokens: 2 ** 53 }, 'inputTokens', /at most 2\^53-1/],
  ['negative', { inputTokens: -1 }, 'inputTokens', /non-negative/],
  ['fractional', { outputTokens: 1.5 }, 'outputTokens', /integer/],
  ['a numeric string', { outputTokens: '15' }, 'outputTokens', /integer/],
  ['Infinity', { totalTokens: Infinity }, 'totalTokens', /integer/],
  ['a bigint', { inputTokens: 10n }, 'inputTokens', /integer/],
  ['negative requests', { inputTokens: 1, requests: -2 }, 'requests', /non-negative/],
  ['100 KB metadata', { inputTokens: 1, metadata: { blob: long(100_000) } }, 'metadata', /at most 16384 characters/],
  ['array metadata', { inputTokens: 1, metadata: [1, 2] }, 'metadata', /plain object/],
  ['cyclic metadata', { inputTokens: 1, metadata: (() => { const o: any = {}; o.self = o; return o; })() }, 'metadata', /JSON-serializable/],
  ['lone surrogate in metadata', { inputTokens: 1, metadata: { s: 'a\ud800b' } }, 'metadata', /lone UTF-16 surrogates/],
  ['256-character agent', { inputTokens: 1, agentName: long(256) }, 'agentName', /1 to 255/],
  ['empty user', { inputTokens: 1, userId: '' }, 'userId', /1 to 255/],
  ['control character', { inputTokens: 1, chatName: 'a\nb' }, 'chatName', /control characters/],
  ['lone surrogate in a name', { inputTokens: 1, group: 'g\udc00' }, 'group', /lone surrogates/],
  ['a number as agent', { inputTokens: 1, agentName: 5 }, 'agentName', /string/],
  ['129-character id', { id: long(129), inputTokens: 1 }, 'id', /1 to 128/],
  ['boolean as string', { inputTokens: 1, success: 'yes' }, 'success', /boolean/],
];

describe('record(): one rule for what a record may hold', () => {
  it.each(BAD)('refuses %s, naming the field', (_what, input, field, message) => {
    let error: unknown;
    try {
      usage.record(input as UsageRecordInput);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidUsageInputError);
    expect((error as InvalidUsageInputError).field).toBe(field);
    expect((error as Error).message).toMatch(message);
  });

  it('recordResponse() refuses a misspelled extra field instead of dropping it', () => {
    const response = { model: 'gpt-4o', usage: { prompt_tokens: 3, completion_tokens: 2 } };
    expect(() => usage.recordResponse(response, { userID: 'u1' } as UsageRecordInput)).toThrow(/extra\.userID.*did you mean "userId"/);
  });

  it('stores every good record, edges included, in all four drivers; nothing lost, nothing dead-lettered', async () => {
    const run = unique('good');
    const good: UsageRecordInput[] = [
      { id: `${run}-epoch`, agentName: run, inputTokens: 1, outputTokens: 1, recordedAt: new Date(0) },
      { id: `${run}-last-ms`, agentName: run, inputTokens: 1, outputTokens: 1, recordedAt: new Date(Date.UTC(10_000, 0, 1) - 1) },
      { id: `${run}-leap`, agentName: run, inputTokens: 2, recordedAt: '2028-02-29T23:59:59.999+14:00' },
      { id: `${run}-offset`, agentName: run, inputTokens: 3, recordedAt: '2026-07-01T00:30:00-09:30' },
      { id: `${run}-max`, agentName: run, inputTokens: MAX - 1, outputTokens: 1, requests: 1 },
      { id: `${run}-sql`, agentName: run, userId: "x'); DROP TABLE agent_usage_records; --", group: '{a}:*|%41', inputTokens: 5 },
      { id: `${run}-lua`, agentName: run, chatName: ']] redis.call("FLUSHALL") --[[', modelName: 'ユニコード😀', inputTokens: 6 },
      { id: `${run}-255`, agentName: run, providerName: long(255), inputTokens: 7, outputTokens: 0 },
      { id: `${run}-meta`, agentName: run, inputTokens: 8, metadata: { blob: long(16_000), nul: 'a\u0000b', emoji: '😀', escaped: '\\ud800' } },
      { id: `${run}-missing`, agentName: run },
    ];
    for (const g of good) expect(usage.record(g)).not.toBeNull();
    await usage.flush();
    for (const name of ['memory', 'file', 'database', 'cache']) {
      const reader = usage.storage(name);
      const page = await reader.getUsage({ agentName: run, limit: 100 });
      expect({ name, ids: page.items.map((r) => r.id).sort() }).toEqual({ name, ids: good.map((g) => g.id).sort() });
      const edge = page.items.find((r) => r.id === `${run}-last-ms`)!;
      expect(edge.recordedAt.toISOString()).toBe('9999-12-31T23:59:59.999Z');
      const leap = page.items.find((r) => r.id === `${run}-leap`)!;
      expect(leap.recordedAt.toISOString()).toBe('2028-02-29T09:59:59.999Z');
      const max = page.items.find((r) => r.id === `${run}-max`)!;
      expect([max.inputTokens, max.totalTokens]).toEqual([MAX - 1, MAX]);
      const last = await reader.getUsageAggregate({ agentName: run, dateFrom: '9999-12-31' });
      const first = await reader.getUsageAggregate({ agentName: run, dateTo: '1970-01-01' });
      expect({ name, last: last.recordCount, first: first.recordCount }).toEqual({ name, last: 1, first: 1 });
    }
    for (const s of usage.getStorageStats()) expect(s).toMatchObject({ pending: 0, lost: 0, deadLettered: 0 });
  });
});
