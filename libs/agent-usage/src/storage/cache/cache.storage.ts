// Type-only: ioredis is an optional peer, required at runtime only when this driver creates a client.
import type { Redis } from 'ioredis';
import type {
  NormalizedUsageFilters,
  RawUsageGroup,
  RawUsageTotals,
  UsageDimension,
  UsageIdentity,
} from '../../interfaces/usage-query.interface';
import type { UsageRecord } from '../../interfaces/usage-record.interface';
import type { UsageStorage, UsageStorageContext } from '../../interfaces/usage-storage.interface';
import { TotalsAccumulator, groupKeyOf, identityKey, identityOf } from '../../query/in-memory-query';
import { InvalidUsageOptionsError, UsageTrackingError } from '../../common/usage.errors';
import { UsageRedisConnection, redisSourceOf } from '../../connections/redis.connection';
import { describeRedisTarget } from '../../connections/redis-cluster.source';
import { getUsageConnectionToken } from '../../connections/usage-connection.tokens';
import { CacheKeys, LAYOUT_VERSION } from './cache-storage.keys';
import {
  DEFAULT_CACHE_KEY_PREFIX,
  DEFAULT_CACHE_SCAN_CHUNK,
  DEFAULT_CACHE_WRITE_CHUNK,
  type CacheStorageOptions,
  cacheStorageOptionProblems,
} from './cache-storage.options';
import { DayHourClock, PlanKeys } from './cache-storage.plan';
import { PRUNE_SCRIPT, WRITE_SCRIPT } from './cache-storage.scripts';
import { DAY_MS, PRUNE_COMMAND, WRITE_COMMAND, initialState } from './cache-storage.state';
import { isCacheDataError, writeRecords } from './cache-storage.write';
import { emptyRange } from './cache-storage.filters';
import { aggregateFromBuckets, groupFromBuckets, identitiesFromBuckets, zeroTotals } from './cache-storage.buckets';
import { type ScanVisit, listRecords, scanIndex } from './cache-storage.index-scan';
import { clearRecords } from './cache-storage.clear';

const CLIENT_SOURCE_KEYS = ['client', 'clientToken', 'url', 'redisOptions', 'cluster'] as const;

/**
 * Redis driver ("cache"). Append-only: each record is one field of its day's record hash, written once,
 * plus index entries and exact counters, all applied by one Lua script per day and chunk of records
 * (cache-storage.scripts.ts; one hash tag per call, so it runs on Redis Cluster too): the script
 * first checks that none of the chunk's ids is stored, and stores and counts only then, so a retried batch
 * never double counts and several app instances can write at once (no read-modify-write of any list).
 * The counters are summed per bucket in TypeScript first (cache-storage.plan.ts). Key layout:
 * cache-storage.keys.ts.
 *
 * Reads that cost O(days x groups), from the pre-aggregated hashes (the range must be whole days in the
 * configured zone, or open, and `success` unfiltered):
 * - `aggregate` with at most one attribution filter, on any dimension, or with several on the breakdown
 *   dimensions (agentName, userId, group, modelName, providerName, category);
 * - `groupBy(d)` unfiltered, filtered on `d` itself, or `groupBy('day')` filtered on any one dimension;
 * - `groupBy` of hour, day or a breakdown dimension filtered on breakdown dimensions (the per-value buckets
 *   of a filtered agentName, userId or category, else of every category; these cost O(days x combinations
 *   of hour and those dimensions seen with that value));
 * - `identities` filtered on any of agentName, userId, group, chatName (any number of them).
 * Everything else scans: the smallest time-ordered index in range (per agentName/userId/group/chatName
 * value, else all records) is walked day by day with ZRANGEBYLEX in chunks, records fetched with HMGET and
 * filtered here: O(records in range of that index), bounded memory. `clear` always walks an index,
 * deleting and uncounting a chunk of records at a time. `list` walks the smallest index newest first
 * until `offset + limit` matches are found.
 *
 * This class wires the parts: the write path (cache-storage.write.ts), bucket reads
 * (cache-storage.buckets.ts), index walks and `list` (cache-storage.index-scan.ts), `clear`
 * (cache-storage.clear.ts), sharing one state (cache-storage.state.ts).
 */
export class CacheUsageStorage implements UsageStorage {
  /**
   * Records per `write` from the library's writer: several chunks of `writeChunkSize` per write are sent
   * back to back, so Redis runs one while the next is prepared here.
   */
  readonly writeBatchSize = 2000;
  /** Client, keys and settings shared with the write and read paths. */
  private readonly state = initialState();
  /** The module's shared connection owner, or one of this driver's own (then closed with the driver). */
  private connection: UsageRedisConnection | null;
  private ownsConnection = false;
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

  private get client(): Redis | undefined {
    return this.state.client;
  }

  init(context: UsageStorageContext): Promise<void> {
    this.initializing ??= this.setUp(context);
    return this.initializing;
  }

  private async setUp(context: UsageStorageContext): Promise<void> {
    const s = this.state;
    s.timeZone = context.timeZone;
    s.bucketTimeZone = context.timeZone;
    s.clock = new DayHourClock(context.timeZone);
    s.logger = context.logger;
    const fromModule = { ...((context.options?.cache ?? {}) as CacheStorageOptions) };
    // Options given to the instance win; a client source given there replaces the module's.
    const ownSource = CLIENT_SOURCE_KEYS.some((k) => this.options[k] !== undefined);
    if (ownSource) for (const k of CLIENT_SOURCE_KEYS) delete fromModule[k];
    const o: CacheStorageOptions = { ...fromModule, ...this.options };
    const problems = cacheStorageOptionProblems(o);
    if (problems.length) throw new InvalidUsageOptionsError(problems.map((p) => `cache.${p}`));

    s.retentionMs = o.retentionDays ? o.retentionDays * DAY_MS : null;
    s.scanChunk = o.scanChunkSize ?? DEFAULT_CACHE_SCAN_CHUNK;
    s.writeChunk = o.writeChunkSize ?? DEFAULT_CACHE_WRITE_CHUNK;
    const prefix = o.keyPrefix ?? DEFAULT_CACHE_KEY_PREFIX;

    this.connection ??= ownSource ? null : sharedConnection(context);
    if (!this.connection) {
      this.connection = new UsageRedisConnection(redisSourceOf(o), context.moduleRef, s.logger, context.name);
      this.ownsConnection = true;
    }
    // Connected (or trying to: Redis being down at boot must not stop the app; the writer retries).
    const client = (await this.connection.get()) as unknown as Redis;
    s.client = client;
    s.keys = new CacheKeys(prefix);
    s.rawPrefix = `${client.options?.keyPrefix ?? ''}${prefix}`;
    s.planKeys = new PlanKeys(s.rawPrefix);
    // KEYS name a key of the call's one hash tag, so an ioredis Cluster routes each call to its slot.
    client.defineCommand(WRITE_COMMAND, { lua: WRITE_SCRIPT, numberOfKeys: 1 });
    client.defineCommand(PRUNE_COMMAND, { lua: PRUNE_SCRIPT, numberOfKeys: 2 });

    await this.ensureMeta().catch(() => undefined);
  }

  /** Reads (once) the layout version and bucket time zone of this prefix, claiming them if new. */
  private ensureMeta(): Promise<void> {
    if (this.metaReady) return Promise.resolve();
    this.metaCheck ??= (async () => {
      const s = this.state;
      const key = s.keys.meta();
      // Layouts up to 4 kept meta in `<P>meta` (another slot than `{m}meta`: read apart, not in the MULTI).
      const legacy = await s.client!.hget(s.keys.legacyMeta(), 'layout');
      if (legacy !== null) throw layoutError(s.keys.prefix, legacy);
      const res = await s.client!.multi()
        .hsetnx(key, 'layout', LAYOUT_VERSION)
        .hsetnx(key, 'timeZone', s.timeZone)
        .hmget(key, 'layout', 'timeZone')
        .exec();
      const [err, values] = res![2];
      if (err) throw err;
      const [layout, zone] = values as (string | null)[];
      if (layout !== LAYOUT_VERSION) throw layoutError(s.keys.prefix, layout);
      if (zone && zone !== s.timeZone) {
        s.bucketTimeZone = zone;
        s.clock = new DayHourClock(zone);
        s.bucketsUsable = false;
        s.logger.warn?.(
          `cache usage storage: buckets under "${s.keys.prefix}" were built in time zone ${zone}, not ${s.timeZone}; ` +
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
      await this.init({ name: 'cache', timeZone: 'UTC', logger: this.state.logger, moduleRef: undefined as any, options: {} });
    }
    await this.initializing;
    await this.ensureMeta();
    return this.state.client!;
  }

  // ---------------------------------------------------------------- writes

  /**
   * Only this driver's own per-record checks and a script error on the data (Lua raising `ERR ...` on a
   * value, a counter overflow) refuse the records; server errors are retried (cache-storage.write.ts).
   */
  isDataError(error: unknown): boolean {
    return isCacheDataError(error);
  }

  target(): string | undefined {
    // A Cluster's options hold no address: describeRedisTarget names its seed nodes instead.
    const where = describeRedisTarget(this.client);
    return where && `${where}#${this.state.rawPrefix}`;
  }

  async write(records: readonly UsageRecord[]): Promise<void> {
    await this.ready();
    if (records.length === 0) return;
    await writeRecords(this.state, records, {
      expired: (n) => (this.expiredOnWrite += n),
      duplicates: (n) => (this.duplicatesSkipped += n),
    });
  }

  // ---------------------------------------------------------------- reads

  /** Walks the chosen index oldest first, handing matching records to `visit` a chunk at a time. */
  private scan(f: NormalizedUsageFilters, visit: ScanVisit): Promise<void> {
    return scanIndex(this.state, f, visit);
  }

  async aggregate(filters: NormalizedUsageFilters): Promise<RawUsageTotals> {
    await this.ready();
    if (emptyRange(filters)) return zeroTotals();
    const fromBuckets = await aggregateFromBuckets(this.state, filters);
    if (fromBuckets) return fromBuckets;
    const acc = new TotalsAccumulator();
    await this.scan(filters, (batch) => batch.forEach((x) => acc.add(x.record)));
    return acc.toRaw();
  }

  async groupBy(dimension: UsageDimension, filters: NormalizedUsageFilters): Promise<RawUsageGroup[]> {
    await this.ready();
    if (emptyRange(filters)) return [];
    const fromBuckets = await groupFromBuckets(this.state, dimension, filters);
    if (fromBuckets) return fromBuckets;
    const groups = new Map<string | null, TotalsAccumulator>();
    await this.scan(filters, (batch) => {
      for (const { record } of batch) {
        const key = groupKeyOf(record, dimension, this.state.timeZone);
        let acc = groups.get(key);
        if (!acc) groups.set(key, (acc = new TotalsAccumulator()));
        acc.add(record);
      }
    });
    return [...groups].map(([key, acc]) => ({ key, ...acc.toRaw() }));
  }

  async identities(filters: NormalizedUsageFilters): Promise<UsageIdentity[]> {
    await this.ready();
    if (emptyRange(filters)) return [];
    const fromBuckets = await identitiesFromBuckets(this.state, filters);
    if (fromBuckets) return fromBuckets;
    const seen = new Map<string, UsageIdentity>();
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
    if (emptyRange(filters) || limit <= 0) return [];
    return listRecords(this.state, filters, limit, offset);
  }

  async clear(filters: NormalizedUsageFilters): Promise<number> {
    await this.ready();
    if (emptyRange(filters)) return 0;
    return clearRecords(this.state, (f, visit) => this.scan(f, visit), filters);
  }

  /**
   * Closes the connection only when this driver opened it (its owner quits a client it created, never a
   * host's); the module's shared one closes at app shutdown.
   */
  async close(): Promise<void> {
    if (this.ownsConnection) await this.connection?.close();
  }
}

function layoutError(prefix: string, layout: string | null): UsageTrackingError {
  return new UsageTrackingError(
    `cache usage storage: keys under "${prefix}" use layout ${layout}, this version writes layout ${LAYOUT_VERSION}; use another keyPrefix`,
  );
}

/** The module's Redis owner, for a driver instance whose own options name no client. */
function sharedConnection(context: UsageStorageContext): UsageRedisConnection | null {
  try {
    return context.moduleRef?.get(getUsageConnectionToken('redis'), { strict: true }) ?? null;
  } catch {
    return null; // used outside the module
  }
}
