/**
 * What the parts of the Redis driver share: the client, key names and settings fixed by `init` (and the
 * bucket time zone read from meta), held by CacheUsageStorage (cache.storage.ts) and read by the write
 * path (cache-storage.write.ts), the bucket reads (cache-storage.buckets.ts) and the index walks
 * (cache-storage.index-scan.ts).
 */
import { Logger, type LoggerService } from '@nestjs/common';
// Type-only: ioredis is an optional peer, required at runtime only when this driver creates a client.
import type { Redis } from 'ioredis';
import type { UsageRecord } from '../../interfaces/usage-record.interface';
import { CacheKeys, LAYOUT_VERSION } from './cache-storage.keys';
import { DEFAULT_CACHE_KEY_PREFIX, DEFAULT_CACHE_SCAN_CHUNK, DEFAULT_CACHE_WRITE_CHUNK } from './cache-storage.options';
import { DayHourClock, PlanKeys, ValueEncoder } from './cache-storage.plan';

/** Command names registered on the client with `defineCommand` (versioned: the layout is in the name). */
export const WRITE_COMMAND = `agentUsageWriteV${LAYOUT_VERSION}`;
export const PRUNE_COMMAND = `agentUsagePruneV${LAYOUT_VERSION}`;
export const DAY_MS = 86_400_000;

export type Scripted = Record<string, (...args: (string | number | Buffer)[]) => Promise<unknown>>;
export interface Fetched {
  record: UsageRecord;
  json: string;
}

export interface CacheDriverState {
  client?: Redis;
  keys: CacheKeys;
  /** Our prefix plus the client's own ioredis `keyPrefix`: key names built inside Lua need both. */
  rawPrefix: string;
  timeZone: string;
  /** Zone the buckets of this prefix were written in (from meta); reads use buckets only when it matches. */
  bucketTimeZone: string;
  bucketsUsable: boolean;
  retentionMs: number | null;
  scanChunk: number;
  writeChunk: number;
  logger: LoggerService;
  clock: DayHourClock;
  readonly encoder: ValueEncoder;
  planKeys: PlanKeys;
}

/** The state before `init`: UTC, the default prefix and chunk sizes. */
export function initialState(): CacheDriverState {
  return {
    keys: new CacheKeys(DEFAULT_CACHE_KEY_PREFIX),
    rawPrefix: DEFAULT_CACHE_KEY_PREFIX,
    timeZone: 'UTC',
    bucketTimeZone: 'UTC',
    bucketsUsable: true,
    retentionMs: null,
    scanChunk: DEFAULT_CACHE_SCAN_CHUNK,
    writeChunk: DEFAULT_CACHE_WRITE_CHUNK,
    logger: new Logger('CacheUsageStorage'),
    clock: new DayHourClock('UTC'),
    encoder: new ValueEncoder(),
    planKeys: new PlanKeys(DEFAULT_CACHE_KEY_PREFIX),
  };
}
