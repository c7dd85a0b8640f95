/**
 * The conformance suite every storage driver must pass (the built-in ones run it in the library's own
 * tests). Use it for your own driver inside a Jest test file:
 *
 *   import { runStorageConformance } from 'nestjs-agent-usage/testing';
 *   runStorageConformance('my driver', async ({ timeZone }) => {
 *     const storage = new MyStorage(...);
 *     await storage.init?.({ name: 'mine', timeZone, logger: new Logger(), moduleRef: undefined as any, options: {} });
 *     return { storage, teardown: () => storage.close?.() };
 *   });
 *
 * Reference answers are computed here by plain loops, independently of the library's own in-memory
 * query code, so the memory driver is checked too. The records include runs (ids with separators and
 * quotes, first-record marks) and error types: `runId` / `errorType` filters and dimensions, and the
 * `runCount` / `agentRunCount` totals, are checked like every other field.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { UsageStorage } from '../interfaces/usage-storage.interface';
import { prng } from './prng';
import type { UsageRecord } from '../interfaces/usage-record.interface';
import type {
  NormalizedUsageFilters,
  RawCount,
  RawUsageTotals,
  UsageDimension,
  UsageIdentity,
} from '../interfaces/usage-query.interface';

export interface ConformanceFixture {
  storage: UsageStorage;
  teardown?: () => Promise<void> | void;
}
export type ConformanceFactory = (context: { timeZone: string }) => Promise<ConformanceFixture>;

/** Values chosen to break naive key encodings and SQL: quotes, separators, the word `group`, unicode. */
const AGENTS = ['support', 'research', "o'brien; DROP TABLE x;--", 'a:b|c*d', null];
const USERS = ['u1', 'u2', 'u 3', 'ünï', null];
const GROUPS = ['group', 'team-a', null];
const CHATS = ['c1', 'c2', null];
const MODELS = ['gpt-4o', 'claude-sonnet-4', 'gemini-2.5-pro', null];
const PROVIDERS = ['openai', 'anthropic', 'google', null];
/** Run ids (hostile ones too) and error class names; a record outside any run has runId null. */
const RUNS = ['run-1', 'run-2', 'run-3', "run'4|x:y", 'run 5', 'run-6', null];
const ERROR_TYPES = ['RateLimitError', 'APIError', 'TypeError', "Err'x|y", null];
/** 2026-03-07 .. 2026-03-10 UTC, crossing midnight in New York too. */
const BASE = Date.UTC(2026, 2, 7, 0, 0, 0);

export function conformanceRecords(count = 240, seed = 42): UsageRecord[] {
  const rnd = prng(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)];
  const out: UsageRecord[] = [];
  for (let i = 0; i < count; i++) {
    const missing = rnd() < 0.05;
    const input = missing ? null : Math.floor(rnd() * 5000);
    const cached = input === null ? null : rnd() < 0.3 ? null : Math.floor(input * rnd() * 0.5);
    const write = input === null || cached === null ? null : Math.floor((input - cached) * rnd() * 0.3);
    const output = missing ? null : Math.floor(rnd() * 2000);
    const reasoning = output === null || rnd() < 0.5 ? null : Math.floor(output * rnd());
    out.push({
      id: `rec-${seed}-${String(i).padStart(5, '0')}`,
      agentName: pick(AGENTS),
      userId: pick(USERS),
      group: pick(GROUPS),
      chatName: pick(CHATS),
      modelName: pick(MODELS),
      providerName: pick(PROVIDERS),
      inputTokens: input,
      cachedInputTokens: cached,
      cacheWriteTokens: write,
      outputTokens: output,
      reasoningTokens: reasoning,
      totalTokens: input === null || output === null ? null : input + output,
      requests: 1 + Math.floor(rnd() * 2),
      success: rnd() > 0.1,
      usageMissing: missing,
      runId: null,
      runStart: false,
      agentRunStart: false,
      errorType: null,
      costNanoUsd: rnd() < 0.2 ? null : Math.floor(rnd() * 50_000_000),
      priceSource: rnd() < 0.5 ? null : 'table:test',
      // Whole milliseconds over ~3.5 days; a few share an instant to exercise the id tie-break.
      recordedAt: new Date(BASE + Math.floor(rnd() * 3.5 * 86_400_000)),
      metadata: rnd() < 0.3 ? { traceId: `t${i}`, nested: { n: i, ok: true } } : null,
    });
  }
  // Runs and errors from their own sequence (the fields above stay what they were for a given seed). The
  // first record of a run (and of each agent in it), in generation order, carries its marks.
  const rr = prng(seed + 1000);
  const runs = new Map<string, Set<string>>();
  for (const r of out) {
    r.runId = RUNS[Math.floor(rr() * RUNS.length)];
    r.errorType = r.success ? null : ERROR_TYPES[Math.floor(rr() * ERROR_TYPES.length)];
    r.runStart = false;
    r.agentRunStart = false;
    if (r.runId === null) continue;
    let agents = runs.get(r.runId);
    if (!agents) {
      runs.set(r.runId, (agents = new Set()));
      r.runStart = true;
    }
    if (!agents.has(r.agentName ?? '')) {
      agents.add(r.agentName ?? '');
      r.agentRunStart = true;
    }
  }
  // Same instant for two records: list order must fall back to id descending.
  if (out.length > 1) out[1].recordedAt = new Date(out[0].recordedAt.getTime());
  return out;
}

function localKey(d: Date, timeZone: string, withHour: boolean): string {
  const parts: Record<string, string> = {};
  for (const p of new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
  }).formatToParts(d)) {
    parts[p.type] = p.value;
  }
  const day = `${parts.year}-${parts.month}-${parts.day}`;
  return withHour ? `${day}T${parts.hour}` : day;
}

function matches(r: UsageRecord, f: NormalizedUsageFilters): boolean {
  const inList = (v: string | null, list?: string[]) => !list || (v !== null && list.includes(v));
  return (
    (!f.from || r.recordedAt.getTime() >= f.from.getTime()) &&
    (!f.to || r.recordedAt.getTime() < f.to.getTime()) &&
    (f.success === undefined || r.success === f.success) &&
    inList(r.agentName, f.agentName) &&
    inList(r.userId, f.userId) &&
    inList(r.group, f.group) &&
    inList(r.chatName, f.chatName) &&
    inList(r.modelName, f.modelName) &&
    inList(r.providerName, f.providerName) &&
    inList(r.runId, f.runId) &&
    inList(r.errorType, f.errorType)
  );
}

interface Totals {
  recordCount: string;
  requests: string;
  inputTokens: string;
  cachedInputTokens: string;
  cacheWriteTokens: string;
  outputTokens: string;
  reasoningTokens: string;
  totalTokens: string;
  failedCount: string;
  usageMissingCount: string;
  costNanoUsd: string;
  unpricedCount: string;
  runCount: string;
  agentRunCount: string;
}

function reference(records: UsageRecord[]): Totals {
  const s = (f: (r: UsageRecord) => number) => String(records.reduce((a, r) => a + BigInt(f(r)), 0n));
  return {
    recordCount: String(records.length),
    requests: s((r) => r.requests),
    inputTokens: s((r) => r.inputTokens ?? 0),
    cachedInputTokens: s((r) => r.cachedInputTokens ?? 0),
    cacheWriteTokens: s((r) => r.cacheWriteTokens ?? 0),
    outputTokens: s((r) => r.outputTokens ?? 0),
    reasoningTokens: s((r) => r.reasoningTokens ?? 0),
    totalTokens: s((r) => r.totalTokens ?? 0),
    failedCount: s((r) => (r.success ? 0 : 1)),
    usageMissingCount: s((r) => (r.usageMissing ? 1 : 0)),
    costNanoUsd: s((r) => r.costNanoUsd ?? 0),
    unpricedCount: s((r) => (r.costNanoUsd === null ? 1 : 0)),
    runCount: s((r) => (r.runStart ? 1 : 0)),
    agentRunCount: s((r) => (r.agentRunStart ? 1 : 0)),
  };
}

/** Drivers may return numbers, bigints or numeric strings; compare them as exact integers. */
function canon(raw: RawUsageTotals): Totals {
  const c = (v: RawCount) => {
    const str = String(v).trim();
    const m = /^(-?\d+)(?:\.0*)?$/.exec(str);
    if (!m) throw new Error(`not an exact integer: ${str}`);
    return String(BigInt(m[1]));
  };
  return {
    recordCount: c(raw.recordCount),
    requests: c(raw.requests),
    inputTokens: c(raw.inputTokens),
    cachedInputTokens: c(raw.cachedInputTokens),
    cacheWriteTokens: c(raw.cacheWriteTokens),
    outputTokens: c(raw.outputTokens),
    reasoningTokens: c(raw.reasoningTokens),
    totalTokens: c(raw.totalTokens),
    failedCount: c(raw.failedCount),
    usageMissingCount: c(raw.usageMissingCount),
    costNanoUsd: c(raw.costNanoUsd),
    unpricedCount: c(raw.unpricedCount),
    runCount: c(raw.runCount),
    agentRunCount: c(raw.agentRunCount),
  };
}

function groupKeyOf(r: UsageRecord, d: UsageDimension, tz: string): string | null {
  if (d === 'day') return localKey(r.recordedAt, tz, false);
  if (d === 'hour') return localKey(r.recordedAt, tz, true);
  return r[d];
}

const sortDesc = (a: UsageRecord, b: UsageRecord) =>
  b.recordedAt.getTime() - a.recordedAt.getTime() || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);

const identityKey = (i: UsageIdentity) => JSON.stringify([i.agentName, i.userId, i.group, i.chatName]);

/** Filter sets every driver must answer exactly; `day` ranges are whole UTC/NY days. */
function filterCases(tz: string): [string, NormalizedUsageFilters][] {
  const dayStart = (iso: string) => {
    // Local midnight of `iso` in tz, found by search (no library code involved).
    const [y, m, d] = iso.split('-').map(Number);
    for (let h = -14; h <= 14; h++) {
      const t = new Date(Date.UTC(y, m - 1, d, 0) - h * 3_600_000);
      if (localKey(t, tz, true) === `${iso}T00`) {
        for (let mi = 0; mi < 60; mi++) {
          const u = new Date(t.getTime() - mi * 60_000);
          if (localKey(u, tz, true) !== `${iso}T00`) return new Date(u.getTime() + 60_000);
        }
        return t;
      }
    }
    throw new Error(`no midnight for ${iso} in ${tz}`);
  };
  return [
    ['no filter', {}],
    ['one agent', { agentName: ['support'] }],
    ['several agents incl. hostile value', { agentName: ['research', "o'brien; DROP TABLE x;--"] }],
    ['user with a space', { userId: ['u 3'] }],
    ['group named "group"', { group: ['group'] }],
    ['chat', { chatName: ['c2'] }],
    ['model and provider', { modelName: ['gpt-4o', 'gemini-2.5-pro'], providerName: ['openai'] }],
    ['separators in value', { agentName: ['a:b|c*d'] }],
    ['failed only', { success: false }],
    ['whole day', { from: dayStart('2026-03-08'), to: dayStart('2026-03-09') }],
    ['whole days + agent', { agentName: ['support'], from: dayStart('2026-03-07'), to: dayStart('2026-03-09') }],
    ['whole days + user', { userId: ['u1', 'u2'], from: dayStart('2026-03-08'), to: dayStart('2026-03-10') }],
    ['instants mid-day', { from: new Date(BASE + 30 * 3_600_000 + 123), to: new Date(BASE + 50 * 3_600_000 + 7) }],
    ['open-ended from', { from: new Date(BASE + 60 * 3_600_000) }],
    ['open-ended to + model', { to: new Date(BASE + 20 * 3_600_000), modelName: ['claude-sonnet-4'] }],
    ['one run', { runId: ['run-2'] }],
    ['runs incl. hostile id + whole days', { runId: ["run'4|x:y", 'run 5'], from: dayStart('2026-03-07'), to: dayStart('2026-03-10') }],
    ['run + agent', { runId: ['run-1', 'run-3'], agentName: ['support', 'research'] }],
    ['error type', { errorType: ['RateLimitError', "Err'x|y"] }],
    ['error type + whole day', { errorType: ['APIError'], from: dayStart('2026-03-08'), to: dayStart('2026-03-09') }],
    ['no match', { agentName: ['nobody'] }],
  ];
}

const DIMENSIONS: UsageDimension[] = ['agentName', 'userId', 'group', 'chatName', 'modelName', 'providerName', 'runId', 'errorType', 'day', 'hour'];

export function runStorageConformance(name: string, factory: ConformanceFactory, options: { timeZones?: string[] } = {}): void {
  for (const timeZone of options.timeZones ?? ['UTC', 'America/New_York']) {
    describe(`${name} conformance (${timeZone})`, () => {
      let fx: ConformanceFixture;
      let storage: UsageStorage;
      const records = conformanceRecords();

      beforeAll(async () => {
        fx = await factory({ timeZone });
        storage = fx.storage;
      });
      afterAll(async () => {
        await storage?.clear({});
        await fx?.teardown?.();
      });
      beforeEach(async () => {
        await storage.clear({});
        await storage.write(records.slice(0, 100));
        await storage.write(records.slice(100));
      });

      it('stores every field exactly and lists newest first, ties by id descending', async () => {
        const all = await storage.list({}, records.length + 10, 0);
        expect(all).toEqual([...records].sort(sortDesc));
      });

      it('pages with limit and offset', async () => {
        const sorted = [...records].sort(sortDesc);
        expect(await storage.list({}, 25, 0)).toEqual(sorted.slice(0, 25));
        expect(await storage.list({}, 25, 50)).toEqual(sorted.slice(50, 75));
        expect(await storage.list({ agentName: ['support'] }, 5, 3)).toEqual(sorted.filter((r) => r.agentName === 'support').slice(3, 8));
        expect(await storage.list({}, 10, records.length)).toEqual([]);
      });

      it('is idempotent on id: a retried batch never double counts', async () => {
        const before = canon(await storage.aggregate({}));
        await storage.write(records.slice(0, 150));
        await storage.write([{ ...records[5], inputTokens: 999_999 }]);
        expect(canon(await storage.aggregate({}))).toEqual(before);
        expect(before).toEqual(reference(records));
      });

      it.each(filterCases(timeZone))('aggregates exactly: %s', async (_label, f) => {
        expect(canon(await storage.aggregate(f))).toEqual(reference(records.filter((r) => matches(r, f))));
      });

      it.each(filterCases(timeZone))('lists exactly: %s', async (_label, f) => {
        expect(await storage.list(f, 1000, 0)).toEqual(records.filter((r) => matches(r, f)).sort(sortDesc));
      });

      for (const dimension of DIMENSIONS) {
        it.each(filterCases(timeZone).filter((_c, i) => i % 3 === 0 || dimension === 'day'))(
          `groups by ${dimension} exactly: %s`,
          async (_label, f) => {
            const expected = new Map<string | null, UsageRecord[]>();
            for (const r of records.filter((x) => matches(x, f))) {
              const k = groupKeyOf(r, dimension, timeZone);
              expected.set(k, [...(expected.get(k) ?? []), r]);
            }
            const got = await storage.groupBy(dimension, f);
            const gotMap = new Map(got.map((g) => [g.key, canon(g)]));
            expect(gotMap.size).toBe(got.length); // no duplicate keys
            expect(new Set(gotMap.keys())).toEqual(new Set(expected.keys()));
            for (const [k, rs] of expected) expect(gotMap.get(k)).toEqual(reference(rs));
          },
        );
      }

      it.each(filterCases(timeZone))('lists identities exactly: %s', async (_label, f) => {
        const expected = new Map<string, UsageIdentity>();
        for (const r of records.filter((x) => matches(x, f))) {
          const i = { agentName: r.agentName, userId: r.userId, group: r.group, chatName: r.chatName };
          expected.set(identityKey(i), i);
        }
        const got = await storage.identities(f);
        expect(got.map(identityKey).sort()).toEqual([...expected.keys()].sort());
      });

      it('clears only what matches and reports how many', async () => {
        const f: NormalizedUsageFilters = { agentName: ['support'], modelName: ['gpt-4o'] };
        const doomed = records.filter((r) => matches(r, f));
        expect(doomed.length).toBeGreaterThan(0);
        expect(Number(await storage.clear(f))).toBe(doomed.length);
        const rest = records.filter((r) => !matches(r, f));
        expect(canon(await storage.aggregate({}))).toEqual(reference(rest));
        expect(canon(await storage.aggregate(f))).toEqual(reference([]));
        const byAgent = await storage.groupBy('agentName', {});
        const support = byAgent.find((g) => g.key === 'support');
        expect(support && canon(support)).toEqual(reference(rest.filter((r) => r.agentName === 'support')));
        // A cleared record can be written again (it is gone, not tombstoned).
        await storage.write(doomed);
        expect(canon(await storage.aggregate({}))).toEqual(reference(records));
      });

      it('clears a time range and everything', async () => {
        const f: NormalizedUsageFilters = { from: new Date(BASE + 86_400_000), to: new Date(BASE + 2 * 86_400_000) };
        const n = records.filter((r) => matches(r, f)).length;
        expect(Number(await storage.clear(f))).toBe(n);
        expect(canon(await storage.aggregate({}))).toEqual(reference(records.filter((r) => !matches(r, f))));
        expect(Number(await storage.clear({}))).toBe(records.length - n);
        expect(canon(await storage.aggregate({}))).toEqual(reference([]));
        expect(await storage.list({}, 10, 0)).toEqual([]);
        expect(await storage.identities({})).toEqual([]);
      });
    });
  }
}
