/**
 * The scan path of the Redis driver's reads: the smallest time-ordered index in range (per
 * agentName/userId/group/chatName/runId value, else all records) is walked day by day with ZRANGEBYLEX in
 * chunks (cache-storage.cursor.ts), records fetched from the day's record hash with HMGET and filtered here:
 * O(records in range of that index), bounded memory. `list` reads one page with ZREVRANGEBYLEX ... LIMIT
 * (days skipped whole by ZLEXCOUNT) when one index alone answers the filters, else walks the smallest index
 * newest first until `offset + limit` matches are found. Every command names keys of one day (one slot).
 */
import type { NormalizedUsageFilters } from '../../interfaces/usage-query.interface';
import type { AttributionField, UsageRecord } from '../../interfaces/usage-record.interface';
import { compareRecordsDesc, matchesFilters } from '../../query/in-memory-query';
import { dayKey } from '../../query/time-zone';
import { recordFromJson } from '../usage-record.json';
import { INDEXED_DIMENSIONS, indexStart } from './cache-storage.keys';
import { IndexCursor, lexRange, memberId } from './cache-storage.cursor';
import { attributionFilters, filterValues } from './cache-storage.filters';
import { pipelined } from './cache-storage.commands';
import { type CacheDriverState, type Fetched, PRUNE_COMMAND, type Scripted } from './cache-storage.state';

/** Visits the records of a scan a chunk at a time (the class's `scan`, which the read paths call). */
export type ScanVisit = (batch: Fetched[]) => Promise<void> | void;
export type Scan = (f: NormalizedUsageFilters, visit: ScanVisit) => Promise<void>;

/** Days (in the buckets' zone, oldest first) that may hold records of the range. */
async function daysInRange(s: CacheDriverState, f: NormalizedUsageFilters): Promise<string[]> {
  const min = f.from ? `[${dayKey(f.from, s.bucketTimeZone)}` : '-';
  const max = f.to ? `[${dayKey(new Date(f.to.getTime() - 1), s.bucketTimeZone)}` : '+';
  return s.client!.zrangebylex(s.keys.days(), min, max);
}

/**
 * The index to walk: all records, or the union of one indexed dimension's per-value indexes, whichever
 * holds fewest members in range (ZLEXCOUNT per day, O(log n) each). `exact` = the index alone answers
 * the filters. Returns the member starts (one per value) and the days.
 */
async function chooseIndex(s: CacheDriverState, f: NormalizedUsageFilters): Promise<{ starts: string[]; days: string[]; exact: boolean }> {
  const attrs = attributionFilters(f);
  const days = await daysInRange(s, f);
  const candidates: { dim: AttributionField | null; starts: string[] }[] = [{ dim: null, starts: [indexStart(null, null)] }];
  for (const d of INDEXED_DIMENSIONS) {
    if (f[d]) candidates.push({ dim: d, starts: filterValues(f, d).map((v) => indexStart(d, v)) });
  }
  let best = candidates[0];
  if (candidates.length > 1 && days.length) {
    const counts = new Map<string, number>();
    const pairs = candidates.flatMap((c) => c.starts.flatMap((start) => days.map((day) => [start, day] as const)));
    await pipelined(s.client!, pairs, (p, [start, day]) => p.zlexcount(s.keys.index(day), ...lexRange(start, f.from, f.to)), (n: number, [start]) =>
      counts.set(start, (counts.get(start) ?? 0) + Number(n)),
    );
    let bestCount = Infinity;
    for (const c of candidates) {
      const total = c.starts.reduce((a, st) => a + (counts.get(st) ?? 0), 0);
      if (total < bestCount || (total === bestCount && c.dim !== null)) [best, bestCount] = [c, total];
    }
  }
  const residual = f.success !== undefined || attrs.some((d) => d !== best.dim);
  return { starts: best.starts, days, exact: !residual && best.starts.length === 1 };
}

/** HMGET of a day's records; members whose record is gone (cleared meanwhile) are pruned from the index. */
async function fetchRecords(s: CacheDriverState, day: string, start: string, members: string[]): Promise<Fetched[]> {
  if (members.length === 0) return [];
  const client = s.client!;
  const ids = members.map((m) => memberId(start, m));
  const jsons = await client.hmget(s.keys.records(day), ...ids);
  const out: Fetched[] = [];
  const gone: string[] = [];
  jsons.forEach((json, i) => {
    if (json === null) return void gone.push(members[i], ids[i]);
    const record = recordFromJson(json);
    if (record) out.push({ record, json });
    else s.logger.warn?.(`cache usage storage: record ${ids[i]} is not valid JSON; skipped`);
  });
  if (gone.length) await (client as unknown as Scripted)[PRUNE_COMMAND](s.keys.index(day), s.keys.records(day), ...gone);
  return out;
}

/** Walks the chosen index oldest first, handing matching records to `visit` a chunk at a time. */
export async function scanIndex(s: CacheDriverState, f: NormalizedUsageFilters, visit: ScanVisit): Promise<void> {
  const { starts, days } = await chooseIndex(s, f);
  for (const start of starts) {
    const [min, max] = lexRange(start, f.from, f.to);
    for (const day of days) {
      const cursor = new IndexCursor(s.client!, s.keys.index(day), min, max, false, s.scanChunk);
      while (!cursor.done) {
        const members = await cursor.next();
        const batch = (await fetchRecords(s, day, start, members)).filter((x) => matchesFilters(x.record, f));
        if (batch.length) await visit(batch);
      }
    }
  }
}

/** One page when one index alone answers the filters: whole days skipped by count, then one ranged read. */
async function exactPage(s: CacheDriverState, start: string, days: string[], f: NormalizedUsageFilters, limit: number, offset: number): Promise<UsageRecord[] | null> {
  const client = s.client!;
  const [min, max] = lexRange(start, f.from, f.to);
  const out: UsageRecord[] = [];
  let skip = offset;
  for (let i = days.length - 1; i >= 0 && out.length < limit; i--) {
    const key = s.keys.index(days[i]);
    if (skip > 0) {
      const n = await client.zlexcount(key, min, max);
      if (skip >= n) {
        skip -= n;
        continue;
      }
    }
    const members = await client.zrevrangebylex(key, max, min, 'LIMIT', skip, limit - out.length);
    skip = 0;
    const page = await fetchRecords(s, days[i], start, members);
    if (page.length !== members.length) return null; // records cleared meanwhile (now pruned): walk instead
    for (const x of page) out.push(x.record);
  }
  return out;
}

/** One page of records, newest first (`limit` > 0, the range not empty). */
export async function listRecords(s: CacheDriverState, filters: NormalizedUsageFilters, limit: number, offset: number): Promise<UsageRecord[]> {
  const client = s.client!;
  const { starts, days, exact } = await chooseIndex(s, filters);
  if (exact) {
    const page = await exactPage(s, starts[0], days, filters, limit, offset);
    if (page) return page;
  }
  const want = offset + limit;
  const out: UsageRecord[] = [];
  for (const start of starts) {
    const [min, max] = lexRange(start, filters.from, filters.to);
    let got = 0;
    let boundary: number | null = null;
    walk: for (let i = days.length - 1; i >= 0; i--) {
      const cursor = new IndexCursor(client, s.keys.index(days[i]), min, max, true, s.scanChunk);
      while (!cursor.done) {
        const members = await cursor.next();
        for (const { record } of await fetchRecords(s, days[i], start, members)) {
          if (!matchesFilters(record, filters)) continue;
          const t = record.recordedAt.getTime();
          // Past the want-th match, keep only its ties: the final sort orders them by id.
          if (boundary !== null && t < boundary) break walk;
          out.push(record);
          if (++got === want) boundary = t;
        }
      }
    }
  }
  return out.sort(compareRecordsDesc).slice(offset, want);
}
