import { Logger, type LoggerService } from '@nestjs/common';
// Type-only: ioredis is an optional peer, required at runtime only when this driver creates a client.
import type { ChainableCommander, Redis } from 'ioredis';
import type {
  NormalizedUsageFilters,
  RawUsageGroup,
  RawUsageTotals,
  UsageDimension,
  UsageIdentity,
} from '../../interfaces/usage-query.interface';
import { ATTRIBUTION_FIELDS, type AttributionField, type UsageRecord } from '../../interfaces/usage-record.interface';
import type { UsageStorage, UsageStorageContext } from '../../interfaces/usage-storage.interface';
import {
  TotalsAccumulator,
  compareRecordsDesc,
  groupKeyOf,
  identityKey,
  identityOf,
  matchesFilters,
} from '../../query/in-memory-query';
import { dayKey, endOfDayExclusive, isStartOfDay } from '../../query/time-zone';
import { recordFromJson, recordToJson } from '../usage-record.json';
import { InvalidUsageOptionsError, UsageTrackingError } from '../../common/usage.errors';
import { UsageRedisConnection } from '../../connections/redis.connection';
import { getUsageConnectionToken } from '../../connections/usage-connection.tokens';
import {
  CacheKeys,
  COUNTERS,
  COUNTER_CODES,
  INDEXED_DIMENSIONS,
  LAYOUT_VERSION,
  PART_SEPARATOR,
  SCOPE_DIMENSIONS,
  SCOPED_BREAKDOWNS,
  addBucketValue,
  decodeValue,
  encodeValue,
  parseBucketField,
  scopeParts,
  valueFields,
} from './cache-storage.keys';
import {
  DEFAULT_CACHE_KEY_PREFIX,
  DEFAULT_CACHE_SCAN_CHUNK,
  DEFAULT_CACHE_WRITE_CHUNK,
  type CacheStorageOptions,
  cacheStorageOptionProblems,
} from './cache-storage.options';
import { DayHourClock, PlanKeys, type PreparedRecord, ValueEncoder, recordCounters } from './cache-storage.plan';
import { buildScriptArgs } from './cache-storage.script-args';
import { IndexCursor } from './cache-storage.cursor';
import { PRUNE_SCRIPT, WRITE_SCRIPT } from './cache-storage.scripts';

/** Command names registered on the client with `defineCommand` (versioned: the layout is in the name). */
const WRITE_COMMAND = `agentUsageWriteV${LAYOUT_VERSION}`;
const PRUNE_COMMAND = `agentUsagePruneV${LAYOUT_VERSION}`;
/** Commands per pipeline for bucket reads (one round trip each). */
const PIPELINE_CHUNK = 200;
const DAY_MS = 86_400_000;
const IDENTITY_DIMENSIONS: readonly AttributionField[] = ['agentName', 'userId', 'group', 'chatName'];
const CLIENT_SOURCE_KEYS = ['client', 'clientToken', 'url', 'redisOptions'] as const;

type Sums = bigint[];
type Scripted = Record<string, (...args: (string | number | Buffer)[]) => Promise<unknown>>;
interface Fetched {
  record: UsageRecord;
  json: string;
}

const zeroSums = (): Sums => COUNTER_CODES.map(() => 0n);

function sumsToRaw(s: Sums): RawUsageTotals {
  const out: Record<string, number | bigint> = {};
  COUNTERS.forEach(([, name], i) => {
    const v = s[i];
    out[name] = v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v;
  });
  return out as unknown as RawUsageTotals;
}

/**
 * Redis driver ("cache"). Append-only: each record is one key written once plus index entries and exact
 * counters, all applied by one Lua script per chunk of records (cache-storage.scripts.ts): the script
 * first checks that none of the chunk's ids is stored, and stores and counts only then, so a retried batch
 * never double counts and several app instances can write at once (no read-modify-write of any list).
 * The counters are summed per bucket in TypeScript first (cache-storage.plan.ts). Key layout:
 * cache-storage.keys.ts.
 *
 * Reads that cost O(days x groups), from the pre-aggregated hashes (the range must be whole days in the
 * configured zone, or open, and `success` unfiltered):
 * - `aggregate` with at most one attribution filter, on any dimension;
 * - `groupBy(d)` unfiltered, filtered on `d` itself, or `groupBy('day')` filtered on any one dimension;
 * - `groupBy` of agentName, userId, group, modelName, providerName or hour filtered on agentName or userId
 *   (their per-value buckets; these cost O(days x combinations of hour and those dimensions seen with
 *   that value));
 * - `identities` filtered on any of agentName, userId, group, chatName (any number of them).
 * Everything else scans: the smallest time-ordered index in range (per agentName/userId/group/chatName
 * value, else all records) is walked with ZRANGEBYSCORE in chunks, records fetched with MGET and filtered
 * here: O(records in range of that index), bounded memory. `clear` always walks an index, deleting and
 * uncounting a chunk of records at a time. `list` reads one page with ZREVRANGEBYSCORE ... LIMIT when one index alone
 * answers the filters, else walks the smallest index newest first until `offset + limit` matches are found.
 */
export class CacheUsageStorage implements UsageStorage {
  /**
   * Records per `write` from the library's writer: several chunks of `writeChunkSize` per write are sent
   * back to back, so Redis runs one while the next is prepared here.
   */
  readonly writeBatchSize = 2000;
  private client?: Redis;
  /** The module's shared connection owner, or one of this driver's own (then closed with the driver). */
  private connection: UsageRedisConnection | null;
  private ownsConnection = false;
  private keys = new CacheKeys(DEFAULT_CACHE_KEY_PREFIX);
  /** Our prefix plus the client's own ioredis `keyPrefix`: key names built inside Lua need both. */
  private rawPrefix = DEFAULT_CACHE_KEY_PREFIX;
  private timeZone = 'UTC';
  /** Zone the buckets of this prefix were written in (from meta); reads use buckets only when it matches. */
  private bucketTimeZone = 'UTC';
  private bucketsUsable = true;
  private retentionMs: number | null = null;
  private scanChunk = DEFAULT_CACHE_SCAN_CHUNK;
  private writeChunk = DEFAULT_CACHE_WRITE_CHUNK;
  private logger: LoggerService = new Logger('CacheUsageStorage');
  private clock = new DayHourClock('UTC');
  private readonly encoder = new ValueEncoder();
  private planKeys = new PlanKeys(DEFAULT_CACHE_KEY_PREFIX);
  private initializing?: Promise<void>;
  private metaReady = false;
  private metaCheck?: Promise<void>;
  /** Records not stored because they were older than the retention window when written. */
  expiredOnWrite = 0;
  /** Records handed to `write` that were already stored (retried batches, replays): skipped, not counted. */
  duplicatesSkipped = 0;

  /**
   * @param connection the module's connection owner (the registry passes it to the `'cache'` alias);
   *   without it the driver uses the module's when its own options name no client, else opens its own.
   */
  constructor(
    private readonly options: CacheStorageOptions = {},
    connection?: UsageRedisConnection,
  ) {
    this.connection = connection ?? null;
  }

  init(context: UsageStorageContext): Promise<void> {
    this.initializing ??= this.setUp(context);
    return this.initializing;
  }

  private async setUp(context: UsageStorageContext): Promise<void> {
    this.timeZone = context.timeZone;
    this.bucketTimeZone = context.timeZone;
    this.clock = new DayHourClock(context.timeZone);
    this.logger = context.logger;
    const fromModule = { ...((context.options?.cache ?? {}) as CacheStorageOptions) };
    // Options given to the instance win; a client source given there replaces the module's.
    const ownSource = CLIENT_SOURCE_KEYS.some((k) => this.options[k] !== undefined);
    if (ownSource) for (const k of CLIENT_SOURCE_KEYS) delete fromModule[k];
    const o: CacheStorageOptions = { ...fromModule, ...this.options };
    const problems = cacheStorageOptionProblems(o);
    if (problems.length) throw new InvalidUsageOptionsError(problems.map((p) => `cache.${p}`));

    this.retentionMs = o.retentionDays ? o.retentionDays * DAY_MS : null;
    this.scanChunk = o.scanChunkSize ?? DEFAULT_CACHE_SCAN_CHUNK;
    this.writeChunk = o.writeChunkSize ?? DEFAULT_CACHE_WRITE_CHUNK;
    const prefix = o.keyPrefix ?? DEFAULT_CACHE_KEY_PREFIX;

    this.connection ??= ownSource ? null : sharedConnection(context);
    if (!this.connection) {
      const { client, clientToken, url, redisOptions } = o;
      this.connection = new UsageRedisConnection({ client, clientToken, url, redisOptions }, context.moduleRef, this.logger, context.name);
      this.ownsConnection = true;
    }
    // Connected (or trying to: Redis being down at boot must not stop the app; the writer retries).
    const client = (await this.connection.get()) as unknown as Redis;
    this.client = client;
    this.keys = new CacheKeys(prefix);
    this.rawPrefix = `${client.options?.keyPrefix ?? ''}${prefix}`;
    this.planKeys = new PlanKeys(this.rawPrefix);
    client.defineCommand(WRITE_COMMAND, { lua: WRITE_SCRIPT, numberOfKeys: 0 });
    client.defineCommand(PRUNE_COMMAND, { lua: PRUNE_SCRIPT, numberOfKeys: 1 });

    await this.ensureMeta().catch(() => undefined);
  }

  /** Reads (once) the layout version and bucket time zone of this prefix, claiming them if new. */
  private ensureMeta(): Promise<void> {
    if (this.metaReady) return Promise.resolve();
    this.metaCheck ??= (async () => {
      const key = this.keys.meta();
      const res = await this.client!.multi()
        .hsetnx(key, 'layout', LAYOUT_VERSION)
        .hsetnx(key, 'timeZone', this.timeZone)
        .hmget(key, 'layout', 'timeZone')
        .exec();
      const [err, values] = res![2];
      if (err) throw err;
      const [layout, zone] = values as (string | null)[];
      if (layout !== LAYOUT_VERSION) {
        throw new UsageTrackingError(
          `cache usage storage: keys under "${this.keys.prefix}" use layout ${layout}, this version writes layout ${LAYOUT_VERSION}; use another keyPrefix`,
        );
      }
      if (zone && zone !== this.timeZone) {
        this.bucketTimeZone = zone;
        this.clock = new DayHourClock(zone);
        this.bucketsUsable = false;
        this.logger.warn?.(
          `cache usage storage: buckets under "${this.keys.prefix}" were built in time zone ${zone}, not ${this.timeZone}; ` +
            'reads scan records instead (use a new keyPrefix, or clear the data, to get bucket reads back)',
        );
      }
      this.metaReady = true;
    })().finally(() => (this.metaCheck = undefined));
    return this.metaCheck;
  }

  private async ready(): Promise<Redis> {
    if (!this.initializing) {
      // Used without the module (tests, scripts): UTC, no container.
      await this.init({ name: 'cache', timeZone: 'UTC', logger: this.logger, moduleRef: undefined as any, options: {} });
    }
    await this.initializing;
    await this.ensureMeta();
    return this.client!;
  }

  // ---------------------------------------------------------------- writes

  private header(now: number): string[] {
    if (this.retentionMs === null) return [this.rawPrefix, '', '', String(now)];
    // Anything recorded before these is expired for sure (a day lasts at most 25 h).
    const cutScore = now - this.retentionMs - 26 * 3_600_000;
    const cutDay = dayKey(new Date(now - this.retentionMs - 2 * DAY_MS), this.bucketTimeZone);
    return [this.rawPrefix, String(cutScore), cutDay, String(now)];
  }

  private prepare(r: UsageRecord, json: string, expiry: Map<string, number> | null): PreparedRecord {
    if (!Number.isFinite(r.recordedAt.getTime())) throw new UsageTrackingError(`cache usage storage: record ${r.id} has an invalid recordedAt`);
    const [day, hour] = this.clock.of(r.recordedAt);
    let expireAt = 0;
    if (expiry) {
      let e = expiry.get(day);
      if (e === undefined) expiry.set(day, (e = endOfDayExclusive(day, this.bucketTimeZone).getTime() + this.retentionMs!));
      expireAt = e;
    }
    const counters = recordCounters(r);
    let largest = 1;
    for (const v of counters) if (v > largest) largest = v;
    return { record: r, json, day, hour, expireAt, counters, largest };
  }

  /**
   * Runs the script over `items` in chunks of `writeChunkSize` (a chunk is also closed before its counter
   * sums could pass 2^53: the script adds them in Lua numbers). Each chunk is sent as soon as it is built,
   * so Redis runs one while the next is prepared. A chunk that meets already stored ids (for a clear:
   * records gone or changed) changes nothing and returns them: they are dropped and the rest is sent again.
   * Returns how many records were stored (deleted); `skipped` gets the dropped ones.
   */
  private async runChunks(sign: 1 | -1, items: readonly PreparedRecord[], now: number, skipped: (n: number) => void): Promise<number> {
    const client = this.client as unknown as Scripted;
    const header = this.header(now);
    const run = async (chunk: readonly PreparedRecord[]): Promise<number> => {
      let pending = chunk;
      for (;;) {
        const reply = await client[WRITE_COMMAND](...buildScriptArgs(sign, pending, this.planKeys, this.encoder, header));
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
    let start = 0;
    let bound = 0;
    for (let i = 0; i < items.length; i++) {
      const largest = items[i].largest;
      if (i - start === this.writeChunk || (i > start && bound + largest > Number.MAX_SAFE_INTEGER)) {
        runs.push(run(items.slice(start, i)));
        start = i;
        bound = 0;
      }
      bound += largest;
    }
    runs.push(run(items.slice(start)));
    const results = await Promise.allSettled(runs);
    let n = 0;
    for (const r of results) {
      if (r.status === 'rejected') throw r.reason;
      n += r.value;
    }
    return n;
  }

  /**
   * Only this driver's own per-record checks and a script error on the data (Lua raising `ERR ...` on a
   * value, a counter overflow) refuse the records. Connection errors, LOADING, BUSY, READONLY, OOM, WRONGTYPE (a key of another layout) and
   * NOSCRIPT are about the server, not the records: retried, never dead-lettered.
   */
  isDataError(error: unknown): boolean {
    const e = error as { name?: string; message?: string } | null;
    if (typeof e?.message !== 'string') return false;
    // This driver's own checks of one record's values before it builds the script call.
    if (error instanceof UsageTrackingError) return /^cache usage storage: (?:\w+ must be a non-negative safe integer|record .* has an invalid recordedAt)/.test(e.message);
    if (e.name !== 'ReplyError') return false;
    return /^ERR (?:.*(?:user_script|Error running script)|value is not an? (?:integer|valid float)|increment or decrement would overflow|increment would produce NaN)/.test(
      e.message,
    );
  }

  target(): string | undefined {
    const o = this.client?.options as { host?: string; port?: number; db?: number; path?: string } | undefined;
    if (!o) return undefined;
    return `redis://${o.path ?? `${o.host ?? 'localhost'}:${o.port ?? 6379}`}/${o.db ?? 0}#${this.rawPrefix}`;
  }

  async write(records: readonly UsageRecord[]): Promise<void> {
    await this.ready();
    if (records.length === 0) return;
    const now = Date.now();
    const expiry = this.retentionMs === null ? null : new Map<string, number>();
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
      const item = this.prepare(r, recordToJson(r), expiry);
      if (expiry && item.expireAt <= now) {
        expired++;
        continue;
      }
      items.push(item);
    }
    if (expired) {
      this.expiredOnWrite += expired;
      this.logger.warn?.(`cache usage storage: ${expired} record(s) older than retentionDays were not stored`);
    }
    this.duplicatesSkipped += repeated;
    if (items.length) await this.runChunks(1, items, now, (n) => (this.duplicatesSkipped += n));
  }

  // ---------------------------------------------------------------- planning

  /** Nothing can match: an empty range, or an empty list of accepted values. */
  private static emptyRange(f: NormalizedUsageFilters): boolean {
    if (f.from && f.to && f.from.getTime() >= f.to.getTime()) return true;
    return ATTRIBUTION_FIELDS.some((d) => f[d] !== undefined && f[d]!.length === 0);
  }

  private static attributionFilters(f: NormalizedUsageFilters): AttributionField[] {
    return ATTRIBUTION_FIELDS.filter((d) => f[d] !== undefined);
  }

  /** Accepted values of one filter, each once (a repeated value must not be summed twice). */
  private static values(f: NormalizedUsageFilters, d: AttributionField): string[] {
    return [...new Set(f[d] ?? [])];
  }

  private scoreRange(f: NormalizedUsageFilters): [string, string] {
    return [f.from ? String(f.from.getTime()) : '-inf', f.to ? `(${f.to.getTime()}` : '+inf'];
  }

  /** Days with buckets in range, or null when the range is not whole days (then buckets cannot answer). */
  private async bucketDays(f: NormalizedUsageFilters): Promise<string[] | null> {
    if (!this.bucketsUsable) return null;
    if (f.from && !isStartOfDay(f.from, this.timeZone)) return null;
    if (f.to && !isStartOfDay(f.to, this.timeZone)) return null;
    const min = f.from ? `[${dayKey(f.from, this.timeZone)}` : '-';
    const max = f.to ? `(${dayKey(f.to, this.timeZone)}` : '+';
    return this.client!.zrangebylex(this.keys.days(), min, max);
  }

  /**
   * The index to walk: all records, or the union of one indexed dimension's per-value indexes, whichever
   * holds fewest ids in range (ZCOUNT, O(log n) each). `exact` = the index alone answers the filters.
   */
  private async chooseIndex(f: NormalizedUsageFilters): Promise<{ keys: string[]; exact: boolean }> {
    const [min, max] = this.scoreRange(f);
    const attrs = CacheUsageStorage.attributionFilters(f);
    const candidates: { dim: AttributionField | null; keys: string[] }[] = [{ dim: null, keys: [this.keys.indexAll()] }];
    for (const d of INDEXED_DIMENSIONS) {
      if (f[d]) candidates.push({ dim: d, keys: CacheUsageStorage.values(f, d).map((v) => this.keys.index(d, v)) });
    }
    let best = candidates[0];
    if (candidates.length > 1) {
      const pipe = this.client!.pipeline();
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
  private async fetch(ids: string[], index: string, cursor?: IndexCursor): Promise<Fetched[]> {
    if (ids.length === 0) return [];
    const client = this.client!;
    const jsons = await client.mget(ids.map((id) => this.keys.record(id)));
    const out: Fetched[] = [];
    const missing: string[] = [];
    jsons.forEach((json, i) => {
      if (json === null) return void missing.push(ids[i]);
      const record = recordFromJson(json);
      if (record) out.push({ record, json });
      else this.logger.warn?.(`cache usage storage: record ${ids[i]} is not valid JSON; skipped`);
    });
    if (missing.length) {
      await (client as unknown as Scripted)[PRUNE_COMMAND](index, `${this.rawPrefix}rec:`, ...missing);
      cursor?.removed(missing);
    }
    return out;
  }

  /** Walks the chosen index oldest first, handing matching records to `visit` a chunk at a time. */
  private async scan(f: NormalizedUsageFilters, visit: (batch: Fetched[], cursor: IndexCursor) => Promise<void> | void): Promise<void> {
    const { keys } = await this.chooseIndex(f);
    const [min, max] = this.scoreRange(f);
    for (const key of keys) {
      const cursor = new IndexCursor(this.client!, key, min, max, false, this.scanChunk);
      while (!cursor.done) {
        const ids = await cursor.next();
        const batch = (await this.fetch(ids, key, cursor)).filter((x) => matchesFilters(x.record, f));
        if (batch.length) await visit(batch, cursor);
      }
    }
  }

  /** Runs `add` for each item in pipelines of PIPELINE_CHUNK commands, handing each reply to `take`. */
  private async pipelined<T>(items: readonly T[], add: (p: ChainableCommander, item: T) => void, take: (reply: any, item: T) => void): Promise<void> {
    for (let i = 0; i < items.length; i += PIPELINE_CHUNK) {
      const part = items.slice(i, i + PIPELINE_CHUNK);
      const pipe = this.client!.pipeline();
      for (const item of part) add(pipe, item);
      const res = (await pipe.exec())!;
      res.forEach(([err, reply], j) => {
        if (err) throw err;
        take(reply, part[j]);
      });
    }
  }

  // ---------------------------------------------------------------- reads

  async aggregate(filters: NormalizedUsageFilters): Promise<RawUsageTotals> {
    await this.ready();
    if (CacheUsageStorage.emptyRange(filters)) return sumsToRaw(zeroSums());
    const attrs = CacheUsageStorage.attributionFilters(filters);
    if (filters.success === undefined && attrs.length <= 1 && attrs[0] !== 'runId') {
      const days = await this.bucketDays(filters);
      if (days) {
        const sums = zeroSums();
        if (attrs.length === 0) {
          await this.pipelined(days, (p, day) => p.hgetallBuffer(this.keys.dayTotals(day)), (h: Record<string, Buffer>) => addHash(h, () => sums));
        } else {
          const dim = attrs[0];
          const fields = valueFields(CacheUsageStorage.values(filters, dim).map(encodeValue));
          await this.pipelined(days, (p, day) => p.hmgetBuffer(this.keys.dayBucket(day, dim), ...fields), (vals: (Buffer | null)[]) => {
            vals.forEach((v, i) => v !== null && addBucketValue(sums, (i % FIELDS_PER_VALUE) - 1, v));
          });
        }
        return sumsToRaw(sums);
      }
    }
    const acc = new TotalsAccumulator();
    await this.scan(filters, (batch) => batch.forEach((x) => acc.add(x.record)));
    return acc.toRaw();
  }

  async groupBy(dimension: UsageDimension, filters: NormalizedUsageFilters): Promise<RawUsageGroup[]> {
    await this.ready();
    if (CacheUsageStorage.emptyRange(filters)) return [];
    const fromBuckets = await this.groupFromBuckets(dimension, filters);
    if (fromBuckets) return fromBuckets;
    const groups = new Map<string | null, TotalsAccumulator>();
    await this.scan(filters, (batch) => {
      for (const { record } of batch) {
        const key = groupKeyOf(record, dimension, this.timeZone);
        let acc = groups.get(key);
        if (!acc) groups.set(key, (acc = new TotalsAccumulator()));
        acc.add(record);
      }
    });
    return [...groups].map(([key, acc]) => ({ key, ...acc.toRaw() }));
  }

  private async groupFromBuckets(dimension: UsageDimension, f: NormalizedUsageFilters): Promise<RawUsageGroup[] | null> {
    const attrs = CacheUsageStorage.attributionFilters(f);
    // runId has no buckets (its index serves it); success neither.
    if (f.success !== undefined || attrs.length > 1 || dimension === 'runId' || attrs[0] === 'runId') return null;
    const filterDim = attrs[0];
    const scoped = filterDim !== undefined && dimension !== filterDim && dimension !== 'day';
    if (scoped && !(SCOPE_DIMENSIONS as readonly string[]).includes(filterDim)) return null;
    if (scoped && dimension !== 'hour' && !(SCOPED_BREAKDOWNS as readonly string[]).includes(dimension)) return null;
    const days = await this.bucketDays(f);
    if (!days) return null;

    const groups = new Map<string | null, Sums>();
    const sumsOf = (key: string | null): Sums => {
      let s = groups.get(key);
      if (!s) groups.set(key, (s = zeroSums()));
      return s;
    };
    if (filterDim === undefined) {
      if (dimension === 'day') {
        await this.pipelined(days, (p, day) => p.hgetallBuffer(this.keys.dayTotals(day)), (h: Record<string, Buffer>, day) => addHash(h, () => sumsOf(day)));
      } else {
        await this.pipelined(days, (p, day) => p.hgetallBuffer(this.keys.dayBucket(day, dimension)), (h: Record<string, Buffer>) =>
          addHash(h, (base) => sumsOf(decodeValue(base))),
        );
      }
    } else if (!scoped) {
      // groupBy(d) filtered on d, or groupBy('day') filtered on anything: the filter dimension's own buckets.
      const values = CacheUsageStorage.values(f, filterDim);
      const fields = valueFields(values.map(encodeValue));
      await this.pipelined(days, (p, day) => p.hmgetBuffer(this.keys.dayBucket(day, filterDim), ...fields), (vals: (Buffer | null)[], day) => {
        values.forEach((value, vi) => {
          if (vals[vi * FIELDS_PER_VALUE] === null) return; // no record of that value on that day
          const s = sumsOf(dimension === 'day' ? day : value);
          for (let c = 0; c < FIELDS_PER_VALUE; c++) {
            const v = vals[vi * FIELDS_PER_VALUE + c];
            if (v !== null) addBucketValue(s, c - 1, v);
          }
        });
      });
    } else {
      // One hash per scope value and day; its fields combine the hour and the other breakdowns.
      const part = dimension === 'hour' ? 0 : 1 + scopeParts(filterDim).indexOf(dimension as AttributionField);
      const pairs = days.flatMap((day) => CacheUsageStorage.values(f, filterDim).map((value) => [day, encodeValue(value)] as const));
      await this.pipelined(pairs, (p, [day, value]) => p.hgetallBuffer(this.keys.scopeBucket(day, filterDim, value)), (h: Record<string, Buffer>) =>
        addHash(h, (base) => sumsOf(decodeValue(base.split(PART_SEPARATOR)[part]))),
      );
    }
    const out: RawUsageGroup[] = [];
    for (const [key, s] of groups) if (s[0] > 0n) out.push({ key, ...sumsToRaw(s) });
    return out;
  }

  async identities(filters: NormalizedUsageFilters): Promise<UsageIdentity[]> {
    await this.ready();
    if (CacheUsageStorage.emptyRange(filters)) return [];
    const attrs = CacheUsageStorage.attributionFilters(filters);
    const seen = new Map<string, UsageIdentity>();
    if (filters.success === undefined && attrs.every((d) => IDENTITY_DIMENSIONS.includes(d))) {
      const days = await this.bucketDays(filters);
      if (days) {
        await this.pipelined(days, (p, day) => p.hkeys(this.keys.identities(day)), (fields: string[]) => {
          for (const field of fields) {
            if (seen.has(field)) continue;
            const [agentName, userId, group, chatName] = JSON.parse(field) as (string | null)[];
            const identity = { agentName, userId, group, chatName };
            if (attrs.every((d) => filters[d]!.includes(identity[d as keyof UsageIdentity] as string))) seen.set(field, identity);
          }
        });
        return [...seen.values()];
      }
    }
    await this.scan(filters, (batch) => {
      for (const { record } of batch) {
        const k = identityKey(record);
        if (!seen.has(k)) seen.set(k, identityOf(record));
      }
    });
    return [...seen.values()];
  }

  async list(filters: NormalizedUsageFilters, limit: number, offset: number): Promise<UsageRecord[]> {
    await this.ready();
    if (CacheUsageStorage.emptyRange(filters) || limit <= 0) return [];
    const client = this.client!;
    const { keys, exact } = await this.chooseIndex(filters);
    const [min, max] = this.scoreRange(filters);
    if (exact) {
      // One index answers the filters: read just the page. Retry when expired ids were pruned meanwhile.
      for (let attempt = 0; attempt < 3; attempt++) {
        const ids = await client.zrevrangebyscore(keys[0], max, min, 'LIMIT', offset, limit);
        const before = ids.length;
        const page = await this.fetch(ids, keys[0]);
        if (page.length === before) return page.map((x) => x.record).sort(compareRecordsDesc);
      }
    }
    const want = offset + limit;
    const out: UsageRecord[] = [];
    for (const key of keys) {
      const cursor = new IndexCursor(client, key, min, max, true, this.scanChunk);
      let got = 0;
      let boundary: number | null = null;
      walk: while (!cursor.done) {
        const ids = await cursor.next();
        for (const { record } of await this.fetch(ids, key, cursor)) {
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

  async clear(filters: NormalizedUsageFilters): Promise<number> {
    await this.ready();
    if (CacheUsageStorage.emptyRange(filters)) return 0;
    let removed = 0;
    await this.scan(filters, async (batch, cursor) => {
      const seen = new Set<string>();
      const items: PreparedRecord[] = [];
      for (const { record, json } of batch) {
        if (seen.has(record.id)) continue;
        seen.add(record.id);
        items.push(this.prepare(record, json, null));
      }
      // Records another instance deleted meanwhile are skipped: only the one that deletes a record uncounts it.
      removed += await this.runChunks(-1, items, Date.now(), () => undefined);
      cursor.removed(batch.map((x) => x.record.id));
    });
    return removed;
  }

  /**
   * Closes the connection only when this driver opened it (its owner quits a client it created, never a
   * host's); the module's shared one closes at app shutdown.
   */
  async close(): Promise<void> {
    if (this.ownsConnection) await this.connection?.close();
  }
}

/** The module's Redis owner, for a driver instance whose own options name no client. */
function sharedConnection(context: UsageStorageContext): UsageRedisConnection | null {
  try {
    return context.moduleRef?.get(getUsageConnectionToken('redis'), { strict: true }) ?? null;
  } catch {
    return null; // used outside the module
  }
}

/** Fields per value in `valueFields`: the packed one, then one spill field per counter. */
const FIELDS_PER_VALUE = 1 + COUNTER_CODES.length;

/** Adds every field of a bucket hash (packed, or spill) to the sums its base field belongs to. */
function addHash(h: Record<string, Buffer>, sumsOf: (base: string) => Sums): void {
  for (const field in h) {
    const { base, counter } = parseBucketField(field);
    if (counter !== -2) addBucketValue(sumsOf(base), counter, h[field]);
  }
}
