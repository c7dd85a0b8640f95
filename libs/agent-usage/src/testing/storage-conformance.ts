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
import type { UsageRecord } from '../interfaces/usage-record.interface';
import type { NormalizedUsageFilters, UsageDimension, UsageIdentity } from '../interfaces/usage-query.interface';
import { BASE, conformanceRecords } from './storage-conformance.data';
import { canon, filterCases, groupKeyOf, identityKey, matches, reference, sortDesc } from './storage-conformance.oracle';

export { conformanceRecords } from './storage-conformance.data';

export interface ConformanceFixture {
  storage: UsageStorage;
  teardown?: () => Promise<void> | void;
}
export type ConformanceFactory = (context: { timeZone: string }) => Promise<ConformanceFixture>;

const DIMENSIONS: UsageDimension[] = ['agentName', 'userId', 'group', 'chatName', 'modelName', 'providerName', 'runId', 'errorType', 'category', 'day', 'hour'];

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
        it.each(filterCases(timeZone).filter((_c, i) => i % 3 === 0 || dimension === 'day' || dimension === 'hour' || dimension === 'category'))(
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
