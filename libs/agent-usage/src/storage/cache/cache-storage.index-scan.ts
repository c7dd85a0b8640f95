/**
 * The scan path of the Redis driver's reads: the smallest time-ordered index in range (per
 * agentName/userId/group/chatName value, else all records) is walked with ZRANGEBYSCORE in chunks
 * (cache-storage.cursor.ts), records fetched with MGET and filtered here: O(records in range of that
 * index), bounded memory. `list` reads one page with ZREVRANGEBYSCORE ... LIMIT when one index alone
 * answers the filters, else walks the smallest index newest first until `offset + limit` matches are found.
 */
import type { NormalizedUsageFilters } from '../../interfaces/usage-query.interface';
import type { AttributionField, UsageRecord } from '../../interfaces/usage-record.interface';
import { compareRecordsDesc, matchesFilters } from '../../query/in-memory-query';
import { recordFromJson } from '../usage-record.json';
import { INDEXED_DIMENSIONS } from './cache-storage.keys';
import { IndexCursor } from './cache-storage.cursor';
import { attributionFilters, filterValues, scoreRange } from './cache-storage.filters';
import { type CacheDriverState, type Fetched, PRUNE_COMMAND, type Scripted } from './cache-storage.state';

/** Visits the records of a scan a chunk at a time (the class's `scan`, which the read paths call). */
export type ScanVisit = (batch: Fetched[], cursor: IndexCursor) => Promise<void> | void;
export type Scan = (f: NormalizedUsageFilters, visit: ScanVisit) => Promise<void>;

/**
 * The index to walk: all records, or the union of one indexed dimension's per-value indexes, whichever
 * holds fewest ids in range (ZCOUNT, O(log n) each). `exact` = the index alone answers the filters.
 */
async function chooseIndex(s: CacheDriverState, f: NormalizedUsageFilters): Promise<{ keys: string[]; exact: boolean }> {
  const [min, max] = scoreRange(f);
  const attrs = attributionFilters(f);
  const candidates: { dim: AttributionField | null; keys: string[] }[] = [{ dim: null, keys: [s.keys.indexAll()] }];
  for (const d of INDEXED_DIMENSIONS) {
    if (f[d]) candidates.push({ dim: d, keys: filterValues(f, d).map((v) => s.keys.index(d, v)) });
  }
  let best = candidates[0];
  if (candidates.length > 1) {
    const pipe = s.client!.pipeline();
    for (const c of candidates) for (const k of c.keys) pipe.zcount(k, min, max);
    const res = (await pipe.exec())!;
    let i = 0;
    let bestCount = Infinity;
    for (const c of candidates) {
      let total = 0;
      for (let j = 0; j < c.keys.length; j++, i++) {
        if (res[i][0]) throw res[i][0];
        total += Number(res[i][1]);
      }
      if (total < bestCount || (total === bestCount && c.dim !== null)) [best, bestCount] = [c, total];
    }
  }
  const residual = f.success !== undefined || attrs.some((d) => d !== best.dim);
  return { keys: best.keys, exact: !residual && best.keys.length === 1 };
}

/** MGET of records; ids whose record is gone (expired, cleared) are pruned from `index` lazily. */
async function fetchRecords(s: CacheDriverState, ids: string[], index: string, cursor?: IndexCursor): Promise<Fetched[]> {
  if (ids.length === 0) return [];
  const client = s.client!;
  const jsons = await client.mget(ids.map((id) => s.keys.record(id)));
  const out: Fetched[] = [];
  const missing: string[] = [];
  jsons.forEach((json, i) => {
    if (json === null) return void missing.push(ids[i]);
    const record = recordFromJson(json);
    if (record) out.push({ record, json });
    else s.logger.warn?.(`cache usage storage: record ${ids[i]} is not valid JSON; skipped`);
  });
  if (missing.length) {
    await (client as unknown as Scripted)[PRUNE_COMMAND](index, `${s.rawPrefix}rec:`, ...missing);
    cursor?.removed(missing);
  }
  return out;
}

/** Walks the chosen index oldest first, handing matching records to `visit` a chunk at a time. */
export async function scanIndex(s: CacheDriverState, f: NormalizedUsageFilters, visit: ScanVisit): Promise<void> {
  const { keys } = await chooseIndex(s, f);
  const [min, max] = scoreRange(f);
  for (const key of keys) {
    const cursor = new IndexCursor(s.client!, key, min, max, false, s.scanChunk);
    while (!cursor.done) {
      const ids = await cursor.next();
      const batch = (await fetchRecords(s, ids, key, cursor)).filter((x) => matchesFilters(x.record, f));
      if (batch.length) await visit(batch, cursor);
    }
  }
}

/** One page of records, newest first (`limit` > 0, the range not empty). */
export async function listRecords(s: CacheDriverState, filters: NormalizedUsageFilters, limit: number, offset: number): Promise<UsageRecord[]> {
  const client = s.client!;
  const { keys, exact } = await chooseIndex(s, filters);
  const [min, max] = scoreRange(filters);
  if (exact) {
    // One index answers the filters: read just the page. Retry when expired ids were pruned meanwhile.
    for (let attempt = 0; attempt < 3; attempt++) {
      const ids = await client.zrevrangebyscore(keys[0], max, min, 'LIMIT', offset, limit);
      const before = ids.length;
      const page = await fetchRecords(s, ids, keys[0]);
      if (page.length === before) return page.map((x) => x.record).sort(compareRecordsDesc);
    }
  }
  const want = offset + limit;
  const out: UsageRecord[] = [];
  for (const key of keys) {
    const cursor = new IndexCursor(client, key, min, max, true, s.scanChunk);
    let got = 0;
    let boundary: number | null = null;
    walk: while (!cursor.done) {
      const ids = await cursor.next();
      for (const { record } of await fetchRecords(s, ids, key, cursor)) {
        if (!matchesFilters(record, filters)) continue;
        const t = record.recordedAt.getTime();
        // Past the want-th match, keep only its ties: the final sort orders them by id.
        if (boundary !== null && t < boundary) break walk;
        out.push(record);
        if (++got === want) boundary = t;
      }
    }
  }
  return out.sort(compareRecordsDesc).slice(offset, want);
}
