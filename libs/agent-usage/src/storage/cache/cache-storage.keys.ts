/**
 * Key layout of the Redis driver, shared by the TypeScript reads, the write plan (cache-storage.plan.ts)
 * and the Lua script (cache-storage.scripts.ts). Bump LAYOUT_VERSION on any change.
 *
 * Every key is `<P>{<tag>}<rest>`: Redis Cluster hashes only the `{<tag>}` part, so all keys of one tag
 * live in one slot and one script call may touch them all. The tag of a day's data is the day itself,
 * so a write splits its records by day and sends one script call per day (reads fan out over the days).
 *
 *   <P>{m}meta                     hash  layout version and the time zone the buckets use (global)
 *   <P>{m}days                     zset  days that have data (score 0, ordered by name; global: listed
 *                                        before the day's script runs, so no day holds data unlisted)
 *   <P>{<day>}rec                  hash  record id -> the record as JSON (written once per id)
 *   <P>{<day>}idx                  zset  the day's time-ordered indexes, all in one set (score 0, by member):
 *                                        `*|<time>|<id>` for every record and `<code>|<enc>|<time>|<id>` per
 *                                        value of agentName, userId, group, chatName, runId (INDEX_CODES);
 *                                        `<time>` is TIME_WIDTH digits, so lexical order is time order
 *   <P>{<day>}agg:day              hash  `t` -> the day's counters (packed, see below)
 *   <P>{<day>}agg:<dim>            hash  <enc> -> counters, per value of each BUCKET_DIMENSIONS dimension,
 *                                        and per hour for <dim> = hour
 *   <P>{<day>}agg:<scope>#<k>      hash  <enc>|<hour>|<enc>|<enc>|<enc>|<enc>|<enc> -> counters: one field
 *                                        per combination of an agentName / userId / category value, hour and
 *                                        the other SCOPED_BREAKDOWNS (scopeParts order); the values spread
 *                                        over SCOPE_SHARDS hashes by scopeShard(<enc>), so a chunk touches at
 *                                        most that many per scope (not one per value), and one value is read
 *                                        with HSCAN MATCH `<enc>|*` on its shard alone
 *   <P>{<day>}ids                  hash  ["agent","user","group","chat"] JSON -> record count
 *
 * One script call therefore costs a handful of commands per day and key, not per record: one HMGET (the
 * ids check) and one HSET for the records, one ZADD for every index entry of the chunk, one HMGET/HSET
 * per bucket hash (at most 9 + 3 x SCOPE_SHARDS of them). With retentionDays every key of a day expires with the day (PEXPIREAT), so retention
 * drops whole days; nothing is trimmed member by member.
 *
 * Counters are packed: one hash field holds all 15 counters (COUNTERS order) as big-endian signed 64-bit
 * integers (120 bytes), so one record costs one field update per bucket instead of one per counter. The
 * script adds them in Lua numbers, exact below 2^53; a counter that would reach 2^53 moves to its own
 * exact integer field `<field>:<code>` (HINCRBY), which reads add to the packed value ("spill" field).
 *
 * `<day>` is `YYYY-MM-DD` and hours `YYYY-MM-DDTHH`, both in the time zone stored in meta.
 * `<enc>` is `encodeValue()`: `-` for null, else `v` + the value with `% : | { } * ? [ ] \`, white space,
 * control characters and lone surrogates escaped, so no value can forge a separator or a key.
 * Layout 4 (before hash tags) kept its meta in `<P>meta`: a prefix holding it is refused at start.
 */
import { ATTRIBUTION_FIELDS, type AttributionField } from '../../interfaces/usage-record.interface';

/**
 * 3: runId and errorType (errorType bucketed, runId indexed), run counters in the packed value.
 * 4: category (bucketed, a scope, and a part of every per-scope field), the units counter.
 * 5: hash tags (Redis Cluster): every key under `{<day>}` or `{m}`; records in one hash per day; the
 *    indexes in one lexically ordered set per day; per-scope buckets in SCOPE_SHARDS hashes per scope.
 */
export const LAYOUT_VERSION = '5';

/** Attribution dimensions with a time-ordered id index (model and provider have too few values to pay off). */
export const INDEXED_DIMENSIONS = ['agentName', 'userId', 'group', 'chatName', 'runId'] as const satisfies readonly AttributionField[];

/**
 * Dimensions with day buckets (`{<day>}agg:<dim>`). Not runId: runs are nearly unique, so its bucket would
 * hold about one field per run; a run's records are read through its index instead (a handful of ids).
 */
export const BUCKET_DIMENSIONS = ATTRIBUTION_FIELDS.filter((f) => f !== 'runId');

/**
 * Dimensions whose buckets are also kept per value, so "model breakdown of one agent / one user" and
 * "hours of one category" read buckets. Categories are few, so their per-value buckets stay small in number.
 */
export const SCOPE_DIMENSIONS = ['agentName', 'userId', 'category'] as const satisfies readonly AttributionField[];

/**
 * What those per-value buckets break down (plus `hour`). Not chatName: chats are nearly unique per user,
 * so that breakdown would make about one field per record; "chats of one user" scans that user's index.
 */
export const SCOPED_BREAKDOWNS = ['agentName', 'userId', 'group', 'modelName', 'providerName', 'category'] as const satisfies readonly AttributionField[];

/** Hashes per scope and day holding the per-scope buckets (see scopeShard). */
export const SCOPE_SHARDS = 64;

/** Shard of an encoded scope value: FNV-1a over its UTF-16 code units, mod SCOPE_SHARDS. */
export function scopeShard(encoded: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < encoded.length; i++) {
    h ^= encoded.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % SCOPE_SHARDS;
}

/** Code of each indexed dimension in index members (`*` = every record). */
export const INDEX_CODES = ['a', 'u', 'g', 'c', 'r'] as const;
export const ALL_CODE = '*';
/** Digits of `<time>` in index members: ms since the epoch plus TIME_OFFSET, zero-padded (any valid Date fits). */
export const TIME_WIDTH = 17;
const TIME_OFFSET = 8_640_000_000_000_000;

/** `<time>` of an index member for an instant in ms. */
export function indexTime(ms: number): string {
  return String(ms + TIME_OFFSET).padStart(TIME_WIDTH, '0');
}

/** Counter codes (spill fields), in the order of the packed value. */
export const COUNTERS = [
  ['n', 'recordCount'],
  ['rq', 'requests'],
  ['in', 'inputTokens'],
  ['ci', 'cachedInputTokens'],
  ['cw', 'cacheWriteTokens'],
  ['out', 'outputTokens'],
  ['rs', 'reasoningTokens'],
  ['tt', 'totalTokens'],
  ['f', 'failedCount'],
  ['um', 'usageMissingCount'],
  ['c', 'costNanoUsd'],
  ['up', 'unpricedCount'],
  ['r', 'runCount'],
  ['ar', 'agentRunCount'],
  ['u', 'units'],
] as const;
export const COUNTER_CODES: readonly string[] = COUNTERS.map(([code]) => code);
export const COUNTER_INDEX: ReadonlyMap<string, number> = new Map(COUNTERS.map(([code], i) => [code, i]));

export const NULL_VALUE = '-';
/** Field of the day totals in `{<day>}agg:day` (encoded values start with `v` or are `-`). */
export const TOTALS_FIELD = 't';
/** Bytes of one packed value: 15 signed 64-bit big-endian integers. */
export const PACKED_BYTES = COUNTERS.length * 8;
/** Between a field and a counter code in a spill field (`:` is escaped in encoded values). */
export const SPILL_SEPARATOR = ':';
/** Between the parts of a per-scope field (`|` is escaped in encoded values). */
export const PART_SEPARATOR = '|';

/** Parts of a per-scope field after the hour: the other breakdown dimensions, in SCOPED_BREAKDOWNS order. */
export function scopeParts(scope: AttributionField): AttributionField[] {
  return SCOPED_BREAKDOWNS.filter((d) => d !== scope);
}

// eslint-disable-next-line no-control-regex
const UNSAFE = /[%:|{}*?[\]\\\s\u0000-\u001f\u007f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const ESCAPE = /%(u[0-9a-f]{4}|[0-9a-f]{2})/g;

function escapeChar(c: string): string {
  const code = c.charCodeAt(0);
  return code <= 0xff ? `%${code.toString(16).padStart(2, '0')}` : `%u${code.toString(16).padStart(4, '0')}`;
}

/** Injective, separator-free form of an attribution value for keys and hash fields. */
export function encodeValue(value: string | null): string {
  if (value === null) return NULL_VALUE;
  return `v${value.replace(UNSAFE, escapeChar)}`;
}

export function decodeValue(encoded: string): string | null {
  if (encoded === NULL_VALUE) return null;
  return encoded.slice(1).replace(ESCAPE, (_, hex: string) => String.fromCharCode(parseInt(hex[0] === 'u' ? hex.slice(1) : hex, 16)));
}

/** Builds key names under one prefix (the driver's `keyPrefix`; ioredis adds its own `keyPrefix` itself). */
export class CacheKeys {
  constructor(readonly prefix: string) {}

  meta(): string {
    return `${this.prefix}{m}meta`;
  }
  /** Where layouts up to 4 kept their meta (a prefix holding it is refused). */
  legacyMeta(): string {
    return `${this.prefix}meta`;
  }
  days(): string {
    return `${this.prefix}{m}days`;
  }
  records(day: string): string {
    return `${this.prefix}{${day}}rec`;
  }
  index(day: string): string {
    return `${this.prefix}{${day}}idx`;
  }
  dayTotals(day: string): string {
    return `${this.prefix}{${day}}agg:day`;
  }
  /** `dim` is an attribution field or `hour`. */
  dayBucket(day: string, dim: AttributionField | 'hour'): string {
    return `${this.prefix}{${day}}agg:${dim}`;
  }
  /** Shard `k` of the per-scope buckets of `scope` (a value's shard: scopeShard of its encoded form). */
  scopeBucket(day: string, scope: AttributionField, k: number): string {
    return `${this.prefix}{${day}}agg:${scope}#${k}`;
  }
  identities(day: string): string {
    return `${this.prefix}{${day}}ids`;
  }
}

/**
 * Start of the index members of one dimension's value (null = every record): members are that start,
 * then `<time>|<id>`.
 */
export function indexStart(dim: AttributionField | null, value: string | null): string {
  if (dim === null) return `${ALL_CODE}${PART_SEPARATOR}`;
  const i = (INDEXED_DIMENSIONS as readonly string[]).indexOf(dim);
  return `${INDEX_CODES[i]}${PART_SEPARATOR}${encodeValue(value)}${PART_SEPARATOR}`;
}

/**
 * A bucket field: the packed counters of `base` (counter -1), or the spill field of one counter of `base`
 * (counter = its index in COUNTERS); -2 for a field of another layout.
 */
export function parseBucketField(field: string): { base: string; counter: number } {
  const sep = field.lastIndexOf(SPILL_SEPARATOR);
  if (sep < 0) return { base: field, counter: -1 };
  const i = COUNTER_INDEX.get(field.slice(sep + 1));
  return { base: field.slice(0, sep), counter: i ?? -2 };
}

/** Adds one bucket field's value (packed counters, or the decimal of a spill field) to `sums`. */
export function addBucketValue(sums: bigint[], counter: number, value: Buffer): void {
  if (counter >= 0) {
    sums[counter] += BigInt(value.toString('latin1'));
    return;
  }
  if (counter !== -1 || value.length !== PACKED_BYTES) return; // not ours
  for (let i = 0; i < COUNTERS.length; i++) sums[i] += value.readBigInt64BE(i * 8);
}

/** HMGET fields of these encoded values: each value's packed field, then its spill fields, value-major. */
export function valueFields(encoded: readonly string[]): string[] {
  return encoded.flatMap((enc) => [enc, ...COUNTER_CODES.map((c) => `${enc}${SPILL_SEPARATOR}${c}`)]);
}

export const ATTRIBUTION_INDEX: ReadonlyMap<AttributionField, number> = new Map(ATTRIBUTION_FIELDS.map((f, i) => [f, i]));
