import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Injectable, INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  InvalidUsageInputError,
  TrackUsage,
  UsageRecordInput,
  UsageService,
  UsageTrackingModule,
  UsageTrackingModuleOptions,
} from 'nestjs-agent-usage';

async function boot(options: UsageTrackingModuleOptions = {}, providers: any[] = []): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({ imports: [UsageTrackingModule.forRoot(options)], providers }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.init();
  return app;
}

const rec = (over: UsageRecordInput): UsageRecordInput => ({ inputTokens: 10, outputTokens: 5, ...over });

describe('UsageService filters', () => {
  let app: INestApplication;
  let usage: UsageService;
  beforeAll(async () => {
    app = await boot();
    usage = app.get(UsageService);
    // Records on both sides of UTC midnights, and at the very last millisecond of a day. Input tokens are
    // powers of two and output 100x them, so every group's totals say exactly which records it holds.
    usage.record(rec({ id: 'a', agentName: 'support', userId: 'u1', group: 'g1', chatName: 'c1', modelName: 'gpt-4o', providerName: 'openai', inputTokens: 1, outputTokens: 100, recordedAt: '2026-05-01T00:00:00.000Z' }));
    usage.record(rec({ id: 'b', agentName: 'support', userId: 'u2', group: 'g2', chatName: 'c2', modelName: 'gpt-4o-mini', providerName: 'openai', inputTokens: 2, outputTokens: 200, recordedAt: '2026-05-01T23:59:59.999Z' }));
    usage.record(rec({ id: 'c', agentName: 'research', userId: 'u1', group: 'g1', chatName: 'c3', modelName: 'claude-sonnet-4', providerName: 'anthropic', inputTokens: 4, outputTokens: 400, recordedAt: '2026-05-02T00:00:00.000Z' }));
    usage.record(rec({ id: 'd', agentName: 'research', userId: 'u3', modelName: 'gemini-2.5-pro', providerName: 'google', inputTokens: 8, outputTokens: 800, recordedAt: '2026-05-03T12:00:00.000Z', success: false }));
    usage.record(rec({ id: 'e', agentName: 'summarizer', userId: 'u2', modelName: 'gpt-4o', providerName: 'openai', inputTokens: 16, outputTokens: 1600, recordedAt: '2026-04-30T23:59:59.999Z' }));
  });
  afterAll(() => app.close());

  const ids = async (filters: object) => (await usage.getUsage(filters as never)).items.map((r) => r.id).sort().join('');

  it.each([
    ['agentName (one)', { agentName: 'support' }, 'ab'],
    ['agentName (several)', { agentName: ['support', 'summarizer'] }, 'abe'],
    ['userId', { userId: 'u1' }, 'ac'],
    ['group', { group: 'g1' }, 'ac'],
    ['chatName', { chatName: ['c2', 'c3'] }, 'bc'],
    ['modelName', { modelName: 'gpt-4o' }, 'ae'],
    ['providerName', { providerName: 'openai' }, 'abe'],
    ['success', { success: false }, 'd'],
    ['date (a whole UTC day, both ends)', { date: '2026-05-01' }, 'ab'],
    ['dateFrom (inclusive)', { dateFrom: '2026-05-02' }, 'cd'],
    ['dateTo includes the whole end day', { dateTo: '2026-05-01' }, 'abe'],
    ['dateFrom + dateTo', { dateFrom: '2026-05-01', dateTo: '2026-05-02' }, 'abc'],
    ['from (inclusive instant)', { from: '2026-05-01T23:59:59.999Z' }, 'bcd'],
    ['to (exclusive instant)', { to: new Date('2026-05-02T00:00:00.000Z') }, 'abe'],
    ['combined', { providerName: 'openai', dateTo: '2026-05-01', userId: ['u2'] }, 'be'],
  ])('%s', async (_l, filters, expected) => {
    expect(await ids(filters)).toBe(expected);
    expect((await usage.getUsageAggregate(filters as never)).recordCount).toBe(expected.length);
  });

  it('rejects unknown filters, pointing LarAgent-style keys at ours', async () => {
    await expect(usage.getUsage({ agent: 'x' } as never)).rejects.toThrow(/"filters.agent" must be one of .* \(did you mean "agentName"\?\)/);
    await expect(usage.getUsage({ date_to: '2026-01-01' } as never)).rejects.toThrow(/did you mean "dateTo"/);
  });

  it.each([
    [{ date: '2026-02-30' }, 'filters.date', 'a calendar day'],
    [{ dateTo: '05/01/2026' }, 'filters.dateTo', 'a calendar day'],
    [{ from: 'yesterday' }, 'filters.from', 'ISO 8601'],
    [{ agentName: [] }, 'filters.agentName', 'non-empty'],
    [{ userId: 42 }, 'filters.userId', 'a string'],
    [{ success: 'yes' }, 'filters.success', 'a boolean'],
  ])('rejects bad filter %j naming the field', async (filters, field, expected) => {
    const err = await usage.getUsageAggregate(filters as never).catch((e) => e);
    expect(err).toBeInstanceOf(InvalidUsageInputError);
    expect(err.field).toBe(field);
    expect(err.message).toContain(expected);
  });

  it('groups by every dimension, ordered by key with null last, with every total exact', async () => {
    // [key, records, input, output, total tokens, failed], worked out by hand from the five records above.
    const expected: Record<string, [string | null, number, number, number, number, number][]> = {
      agentName: [
        ['research', 2, 12, 1200, 1212, 1],
        ['summarizer', 1, 16, 1600, 1616, 0],
        ['support', 2, 3, 300, 303, 0],
      ],
      userId: [
        ['u1', 2, 5, 500, 505, 0],
        ['u2', 2, 18, 1800, 1818, 0],
        ['u3', 1, 8, 800, 808, 1],
      ],
      group: [
        ['g1', 2, 5, 500, 505, 0],
        ['g2', 1, 2, 200, 202, 0],
        [null, 2, 24, 2400, 2424, 1],
      ],
      chatName: [
        ['c1', 1, 1, 100, 101, 0],
        ['c2', 1, 2, 200, 202, 0],
        ['c3', 1, 4, 400, 404, 0],
        [null, 2, 24, 2400, 2424, 1],
      ],
      modelName: [
        ['claude-sonnet-4', 1, 4, 400, 404, 0],
        ['gemini-2.5-pro', 1, 8, 800, 808, 1],
        ['gpt-4o', 2, 17, 1700, 1717, 0],
        ['gpt-4o-mini', 1, 2, 200, 202, 0],
      ],
      providerName: [
        ['anthropic', 1, 4, 400, 404, 0],
        ['google', 1, 8, 800, 808, 1],
        ['openai', 3, 19, 1900, 1919, 0],
      ],
      day: [
        ['2026-04-30', 1, 16, 1600, 1616, 0],
        ['2026-05-01', 2, 3, 300, 303, 0],
        ['2026-05-02', 1, 4, 400, 404, 0],
        ['2026-05-03', 1, 8, 800, 808, 1],
      ],
    };
    for (const [dimension, rows] of Object.entries(expected)) {
      const groups = await usage.getUsageGroupedBy(dimension as never);
      expect([dimension, groups.map((g) => [g.key, g.recordCount, g.inputTokens, g.outputTokens, g.totalTokens, g.failedCount])]).toEqual([dimension, rows]);
      // Each record is one request here.
      expect(groups.map((g) => g.requests)).toEqual(rows.map((r) => r[1]));
    }
    expect((await usage.getUsageGroupedBy('hour', { date: '2026-05-01' })).map((g) => [g.key, g.totalTokens])).toEqual([
      ['2026-05-01T00', 101],
      ['2026-05-01T23', 202],
    ]);
  });

  it('rejects a dimension outside the whitelist', async () => {
    await expect(usage.getUsageGroupedBy('agent_name; drop table x' as never)).rejects.toThrow(
      /"dimension" must be one of agentName, userId, group, chatName, modelName, providerName, runId, errorType, category, day, hour/,
    );
  });

  it('lists identities', async () => {
    expect(await usage.getUsageIdentities({ agentName: 'research' })).toEqual([
      { agentName: 'research', userId: 'u1', group: 'g1', chatName: 'c3' },
      { agentName: 'research', userId: 'u3', group: null, chatName: null },
    ]);
  });

  it('pages with limit/offset and tells whether there is more', async () => {
    const p1 = await usage.getUsage({ limit: 2 });
    expect(p1.items.map((r) => r.id)).toEqual(['d', 'c']);
    expect(p1.hasMore).toBe(true);
    const p3 = await usage.getUsage({ limit: 2, offset: 4 });
    expect(p3.items.map((r) => r.id)).toEqual(['e']);
    expect(p3.hasMore).toBe(false);
    await expect(usage.getUsage({ limit: 0 })).rejects.toThrow(/"limit" must be an integer from 1 to 10000/);
  });
});

describe('days in a configured time zone', () => {
  it('date filters and day groups follow options.timeZone', async () => {
    const app = await boot({ timeZone: 'Asia/Tokyo' });
    const usage = app.get(UsageService);
    usage.record(rec({ id: 'x', recordedAt: '2026-05-01T14:59:59.999Z' })); // 23:59:59.999 in Tokyo
    usage.record(rec({ id: 'y', recordedAt: '2026-05-01T15:00:00.000Z' })); // 00:00 May 2 in Tokyo
    expect((await usage.getUsage({ date: '2026-05-01' })).items.map((r) => r.id)).toEqual(['x']);
    expect((await usage.getUsage({ dateTo: '2026-05-01' })).items.map((r) => r.id)).toEqual(['x']);
    expect((await usage.getUsageGroupedBy('day')).map((g) => g.key)).toEqual(['2026-05-01', '2026-05-02']);
    expect((await usage.getUsageGroupedBy('hour')).map((g) => g.key)).toEqual(['2026-05-01T23', '2026-05-02T00']);
    await app.close();
  });
});

describe('records', () => {
  let app: INestApplication;
  let usage: UsageService;
  beforeEach(async () => {
    app = await boot();
    usage = app.get(UsageService);
  });
  afterEach(() => app.close());

  it('a caller-supplied id makes recording idempotent', async () => {
    usage.record(rec({ id: 'call-1' }));
    usage.record(rec({ id: 'call-1', inputTokens: 1000 }));
    await usage.flush();
    usage.record(rec({ id: 'call-1' }));
    const total = await usage.getUsageAggregate();
    expect(total.recordCount).toBe(1);
    expect(total.inputTokens).toBe(10);
  });

  it.each([
    [{ inputTokens: -1 }, 'inputTokens', 'a non-negative integer'],
    [{ outputTokens: 1.5 }, 'outputTokens', 'a non-negative integer'],
    [{ inputTokens: NaN }, 'inputTokens', 'a non-negative integer'],
    [{ inputTokens: Infinity }, 'inputTokens', 'a non-negative integer'],
    [{ inputTokens: '12' }, 'inputTokens', 'a non-negative integer'],
    [{ inputTokens: 2 ** 60 }, 'inputTokens', 'a non-negative integer'],
    [{ inputTokens: 10, cachedInputTokens: 11 }, 'cachedInputTokens', 'at most inputTokens'],
    [{ outputTokens: 5, reasoningTokens: 6 }, 'reasoningTokens', 'at most outputTokens'],
    [{ agentName: 'x'.repeat(256) }, 'agentName', '1 to 255 characters'],
    [{ userId: '' }, 'userId', '1 to 255 characters'],
    [{ chatName: 'line\nbreak' }, 'chatName', 'without control characters'],
    [{ modelName: 42 }, 'modelName', 'a string'],
    [{ id: '' }, 'id', 'a string of 1 to 128'],
    [{ recordedAt: 'not a date' }, 'recordedAt', 'a valid Date'],
    [{ requests: -2 }, 'requests', 'a non-negative integer'],
    [{ success: 'true' }, 'success', 'a boolean'],
    [{ metadata: [1, 2] }, 'metadata', 'a plain object'],
    [{ metadata: { big: 'x'.repeat(20_000) } }, 'metadata', 'at most 16384 characters'],
  ])('rejects %j naming the field, and keeps what was recorded', async (bad, field, expected) => {
    usage.record(rec({ id: 'good' }));
    let err: any;
    try {
      usage.record(rec(bad as UsageRecordInput));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidUsageInputError);
    expect(err.field).toBe(field);
    expect(err.message).toContain(expected);
    const total = await usage.getUsageAggregate();
    expect(total.recordCount).toBe(1);
    expect(total.inputTokens).toBe(10);
  });

  it('unknown counts stay unknown: usage missing is never recorded as zeros', async () => {
    const r = usage.record({ agentName: 'a', modelName: 'm' })!;
    expect(r).toMatchObject({ inputTokens: null, outputTokens: null, totalTokens: null, usageMissing: true });
    const total = await usage.getUsageAggregate();
    expect(total).toMatchObject({ recordCount: 1, usageMissingCount: 1, inputTokens: 0 });
    expect((await usage.getUsage()).items[0].inputTokens).toBeNull();
  });

  it('fills attribution from runWithContext, nested contexts merge', async () => {
    await usage.runWithContext({ userId: 'u1', group: 'g' }, async () => {
      await Promise.resolve();
      usage.record(rec({ id: '1' }));
      await usage.runWithContext({ chatName: 'c' }, async () => usage.record(rec({ id: '2', userId: 'explicit' })));
    });
    usage.record(rec({ id: '3' }));
    const byId = Object.fromEntries((await usage.getUsage()).items.map((r) => [r.id, [r.userId, r.group, r.chatName]]));
    expect(byId).toEqual({ '1': ['u1', 'g', null], '2': ['explicit', 'g', 'c'], '3': [null, null, null] });
    expect(() => usage.runWithContext({ userId: 7 } as never, () => 1)).toThrow(/"attribution.userId" must be a string/);
  });

  it('clearUsage refuses an empty filter unless told to clear everything', async () => {
    usage.record(rec({ agentName: 'a' }));
    usage.record(rec({ agentName: 'b' }));
    await expect(usage.clearUsage()).rejects.toThrow(/at least one filter, or \{ all: true \}/);
    expect(await usage.clearUsage({ agentName: 'a' })).toBe(1);
    expect(await usage.clearUsage({}, { all: true })).toBe(1);
    expect((await usage.getUsageAggregate()).recordCount).toBe(0);
  });
});

@Injectable()
@TrackUsage({ agentName: 'writer', provider: 'openai' })
class WriterAgent {
  constructor(private readonly usage: UsageService) {}
  /** Two model calls in one method, recorded explicitly: both inherit the agent name. */
  async twoCalls() {
    this.usage.record({ inputTokens: 1, outputTokens: 1, modelName: 'gpt-4o-mini' });
    this.usage.recordResponse({ type: 'message', role: 'assistant', model: 'claude-haiku', usage: { input_tokens: 5, output_tokens: 2, cache_read_input_tokens: 100, cache_creation_input_tokens: 10 } });
    return 'done';
  }
  /** The same response object returned through two tracked methods counts once. */
  async inner() {
    return { object: 'chat.completion', model: 'gpt-4o', usage: { prompt_tokens: 7, completion_tokens: 3 } };
  }
  async outer() {
    return this.inner();
  }
  async noUsage() {
    return { object: 'chat.completion', model: 'gpt-4o', choices: [] };
  }
  plain() {
    return 'just text';
  }
  async explode(): Promise<never> {
    throw new Error('model down');
  }
}

describe('capture', () => {
  let app: INestApplication;
  let usage: UsageService;
  beforeEach(async () => {
    app = await boot({ trackUsage: true }, [WriterAgent]);
    usage = app.get(UsageService);
  });
  afterEach(() => app.close());

  it('records made inside a tracked method inherit its agent name; Anthropic input is normalized', async () => {
    expect(await app.get(WriterAgent).twoCalls()).toBe('done');
    const items = (await usage.getUsage()).items;
    expect(items.map((r) => [r.agentName, r.modelName, r.providerName, r.inputTokens, r.cachedInputTokens, r.cacheWriteTokens]).sort()).toEqual([
      // The declared provider ('openai' on the decorator) beats the response's shape; the model comes
      // from the response (README "What is recorded"; test/core/provider-and-reads.e2e-spec.ts).
      ['writer', 'claude-haiku', 'openai', 115, 100, 10],
      ['writer', 'gpt-4o-mini', 'openai', 1, null, null],
    ]);
  });

  it('one record per model call, not per tracked method it passes through', async () => {
    await app.get(WriterAgent).outer();
    expect((await usage.getUsageAggregate()).recordCount).toBe(1);
  });

  it('a response without usage is recorded as usage missing; non-responses record nothing', async () => {
    await app.get(WriterAgent).noUsage();
    expect(app.get(WriterAgent).plain()).toBe('just text');
    const total = await usage.getUsageAggregate();
    expect(total).toMatchObject({ recordCount: 1, usageMissingCount: 1, totalTokens: 0 });
  });

  it('errors of the agent reach the caller unchanged', async () => {
    await expect(app.get(WriterAgent).explode()).rejects.toThrow('model down');
  });

  it('a storage failure never breaks the agent call: logged, counted, retried', async () => {
    const failing = {
      fails: 2,
      stored: [] as unknown[],
      async write(records: unknown[]) {
        if (this.fails-- > 0) throw new Error('disk on fire');
        this.stored.push(...records);
      },
      async list() { return []; },
      async aggregate() { throw new Error('n/a'); },
      async groupBy() { return []; },
      async identities() { return []; },
      async clear() { return 0; },
    };
    const dir = mkdtempSync(join(tmpdir(), 'usage-spool-'));
    const app2 = await boot({ trackUsage: true, storage: failing as never, writer: { retryDelayMs: 5, flushIntervalMs: 1, spoolDirectory: dir } }, [WriterAgent]);
    const u2 = app2.get(UsageService);
    const agent = app2.get(WriterAgent);
    await expect(agent.inner()).resolves.toMatchObject({ model: 'gpt-4o' });
    await new Promise((r) => setTimeout(r, 100));
    const [stats] = u2.getStorageStats();
    expect(stats.failedWrites).toBe(2);
    expect(stats.lastError).toBe('disk on fire');
    expect(stats.pending).toBe(0);
    expect(failing.stored).toHaveLength(1);
    await app2.close();
  });
});

describe('options are validated when the app boots', () => {
  it.each([
    [{ trackUsage: 'yes' }, /trackUsage must be a boolean value/],
    [{ storage: 'postgres' }, /storage got "postgres"; expected a driver alias \('memory', 'file', 'database', 'cache'\)/],
    [{ storage: ['memory', 42] }, /storage\[1\] got 42/],
    [{ providers: { openai: { trackUsage: 1 } } }, /providers\.openai\.trackUsage must be a boolean/],
    [{ providers: { openai: { store: 'file' } } }, /providers\.openai\.store is not an option; allowed: trackUsage, storage/],
    [{ timeZone: 'Mars/Olympus' }, /timeZone must be an IANA time zone/],
    [{ memory: { maxRecords: 0 } }, /memory\.maxRecords must not be less than 1/],
    [{ writer: { batchSize: 1.5 } }, /writer\.batchSize must be an integer number/],
    [{ trakUsage: true }, /trakUsage is not an option/],
  ])('%j', async (options, message) => {
    const err = await boot(options as never).catch((e) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toMatch(/^Invalid UsageTrackingModule options:/);
    expect(err.message).toMatch(message);
  });

  it('forRootAsync with useFactory, and useClass', async () => {
    const m1 = await Test.createTestingModule({
      imports: [UsageTrackingModule.forRootAsync({ useFactory: async () => ({ trackUsage: true }) })],
      providers: [WriterAgent],
    }).compile();
    const a1 = m1.createNestApplication({ logger: false });
    await a1.init();
    await a1.get(WriterAgent).inner();
    expect((await a1.get(UsageService).getUsageAggregate()).recordCount).toBe(1);
    await a1.close();

    class Factory {
      createUsageTrackingOptions() {
        return { timeZone: 'Nowhere/Land' };
      }
    }
    const m2 = Test.createTestingModule({ imports: [UsageTrackingModule.forRootAsync({ useClass: Factory })] }).compile();
    await expect(m2).rejects.toThrow(/timeZone must be an IANA time zone/);
  });

  it('isGlobal makes UsageService injectable everywhere', async () => {
    const { Module } = await import('@nestjs/common');
    @Module({ providers: [WriterAgent] })
    class FeatureModule {}
    const m = await Test.createTestingModule({
      imports: [UsageTrackingModule.forRoot({ isGlobal: true, trackUsage: true }), FeatureModule],
    }).compile();
    const a = m.createNestApplication({ logger: false });
    await a.init();
    await a.get(WriterAgent).inner();
    expect((await a.get(UsageService).getUsageAggregate()).recordCount).toBe(1);
    await a.close();
  });
});
