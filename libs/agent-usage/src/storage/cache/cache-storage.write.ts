/**
 * The write path of the Redis driver (and the uncounting half of `clear`): records are prepared here
 * (cache-storage.plan.ts), split by day (one hash tag each, so one slot per script call on a Cluster),
 * sent in chunks to WRITE_SCRIPT (cache-storage.scripts.ts) with the arguments of
 * cache-storage.script-args.ts, and a chunk that meets already stored ids is sent again without them.
 */
import type { UsageRecord } from '../../interfaces/usage-record.interface';
import { dayKey, endOfDayExclusive } from '../../query/time-zone';
import { recordToJson } from '../usage-record.json';
import { UsageTrackingError } from '../../common/usage.errors';
import { type PreparedRecord, recordCounters } from './cache-storage.plan';
import { buildScriptArgs } from './cache-storage.script-args';
import { type CacheDriverState, DAY_MS, type Scripted, WRITE_COMMAND } from './cache-storage.state';

/**
 * Lists the days of a write in the global days set BEFORE their data is written (a listed day with no data
 * is harmless, data on an unlisted day would be invisible to reads), and drops days past retention from
 * it. Both idempotent, outside the script: the days set lives under its own tag (cache-storage.keys.ts).
 */
async function listDays(s: CacheDriverState, days: Iterable<string>, now: number): Promise<void> {
  const client = s.client!;
  const members: (string | number)[] = [];
  for (const d of days) members.push(0, d);
  if (members.length === 0) return;
  const key = s.keys.days();
  const done: Promise<unknown>[] = [client.zadd(key, ...members)];
  // The data of those days has expired on its own (every key of a day expires with it).
  if (s.retentionMs !== null) done.push(client.zremrangebylex(key, '-', `(${dayKey(new Date(now - s.retentionMs - 2 * DAY_MS), s.bucketTimeZone)}`));
  await Promise.all(done);
}

export function prepareRecord(s: CacheDriverState, r: UsageRecord, json: string, expiry: Map<string, number> | null): PreparedRecord {
  if (!Number.isFinite(r.recordedAt.getTime())) throw new UsageTrackingError(`cache usage storage: record ${r.id} has an invalid recordedAt`);
  const [day, hour] = s.clock.of(r.recordedAt);
  let expireAt = 0;
  if (expiry) {
    let e = expiry.get(day);
    if (e === undefined) expiry.set(day, (e = endOfDayExclusive(day, s.bucketTimeZone).getTime() + s.retentionMs!));
    expireAt = e;
  }
  const counters = recordCounters(r);
  let largest = 1;
  for (const v of counters) if (v > largest) largest = v;
  return { record: r, json, day, hour, expireAt, counters, largest };
}

/**
 * Runs the script over `items`, one call per day (one hash tag) and per `writeChunkSize` records (a chunk is
 * also closed before its counter sums could pass 2^53: the script adds them in Lua numbers). Each call is
 * sent as soon as it is built, so Redis runs one while the next is prepared. A chunk that meets already
 * stored ids (for a clear: records gone or changed) changes nothing and returns them: they are dropped and
 * the rest is sent again. Returns how many records were stored (deleted); `skipped` gets the dropped ones.
 */
export async function runChunks(
  s: CacheDriverState,
  sign: 1 | -1,
  items: readonly PreparedRecord[],
  now: number,
  skipped: (n: number) => void,
): Promise<number> {
  const client = s.client as unknown as Scripted;
  const byDay = new Map<string, PreparedRecord[]>();
  for (const it of items) {
    const d = byDay.get(it.day);
    if (d) d.push(it);
    else byDay.set(it.day, [it]);
  }
  if (sign > 0) await listDays(s, byDay.keys(), now);
  // KEYS get the client's own ioredis keyPrefix from ioredis; the plan's key names already hold it.
  const own = s.rawPrefix.length - s.keys.prefix.length;
  const run = async (chunk: readonly PreparedRecord[]): Promise<number> => {
    let pending = chunk;
    for (;;) {
      const call = buildScriptArgs(sign, pending, s.planKeys, s.encoder);
      const reply = await client[WRITE_COMMAND](call.key.slice(own), ...call.args);
      if (!Array.isArray(reply)) return Number(reply);
      const bad = new Set((reply as number[]).map((i) => Number(i) - 1));
      const rest = pending.filter((_, i) => !bad.has(i));
      if (rest.length === pending.length) throw new UsageTrackingError('cache usage storage: unexpected script reply');
      skipped(pending.length - rest.length);
      pending = rest;
      if (pending.length === 0) return 0;
    }
  };
  const runs: Promise<number>[] = [];
  for (const dayItems of byDay.values()) {
    let start = 0;
    let bound = 0;
    for (let i = 0; i < dayItems.length; i++) {
      const largest = dayItems[i].largest;
      if (i - start === s.writeChunk || (i > start && bound + largest > Number.MAX_SAFE_INTEGER)) {
        runs.push(run(dayItems.slice(start, i)));
        start = i;
        bound = 0;
      }
      bound += largest;
    }
    runs.push(run(dayItems.slice(start)));
  }
  const results = await Promise.allSettled(runs);
  let n = 0;
  for (const r of results) {
    if (r.status === 'rejected') throw r.reason;
    n += r.value;
  }
  return n;
}

/** Counts of records `writeRecords` did not store, added to the driver's public counters. */
export interface WriteSkips {
  /** Older than the retention window when written. */
  expired(n: number): void;
  /** Already stored, or repeated in the batch. */
  duplicates(n: number): void;
}

export async function writeRecords(s: CacheDriverState, records: readonly UsageRecord[], skips: WriteSkips): Promise<void> {
  const now = Date.now();
  const expiry = s.retentionMs === null ? null : new Map<string, number>();
  const items: PreparedRecord[] = [];
  const seen = new Set<string>();
  let expired = 0;
  let repeated = 0;
  for (const r of records) {
    if (seen.has(r.id)) {
      repeated++; // the first one of an id wins, as when it was stored by an earlier batch
      continue;
    }
    seen.add(r.id);
    const item = prepareRecord(s, r, recordToJson(r), expiry);
    if (expiry && item.expireAt <= now) {
      expired++;
      continue;
    }
    items.push(item);
  }
  if (expired) {
    skips.expired(expired);
    s.logger.warn?.(`cache usage storage: ${expired} record(s) older than retentionDays were not stored`);
  }
  skips.duplicates(repeated);
  if (items.length) await runChunks(s, 1, items, now, (n) => skips.duplicates(n));
}

/**
 * Only this driver's own per-record checks and a script error on the data (Lua raising `ERR ...` on a
 * value, a counter overflow) refuse the records. Connection errors, LOADING, BUSY, READONLY, OOM, WRONGTYPE (a key of another layout) and
 * NOSCRIPT are about the server, not the records: retried, never dead-lettered.
 */
export function isCacheDataError(error: unknown): boolean {
  const e = error as { name?: string; message?: string } | null;
  if (typeof e?.message !== 'string') return false;
  // This driver's own checks of one record's values before it builds the script call.
  if (error instanceof UsageTrackingError) return /^cache usage storage: (?:\w+ must be a non-negative safe integer|record .* has an invalid recordedAt)/.test(e.message);
  if (e.name !== 'ReplyError') return false;
  // Redis Cluster topology errors (a slot moved or migrating, a key on another node) are about where the
  // call went, never about the records: retried, not dead-lettered, even when raised inside the script.
  if (/non local key|CROSSSLOT|TRYAGAIN|CLUSTERDOWN|MOVED|ASK |keys in request don't hash to the same slot/.test(e.message)) return false;
  return /^ERR (?:.*(?:user_script|Error running script)|value is not an? (?:integer|valid float)|increment or decrement would overflow|increment would produce NaN)/.test(
    e.message,
  );
}
