/**
 * Key layout of the Redis driver, shared by the TypeScript reads and the Lua writes
 * (cache-storage.scripts.ts builds the same names; keep both in step, and bump LAYOUT_VERSION on change).
 *
 *   <P>meta                                  hash   layout version and the time zone the buckets use
 *   <P>rec:<id>                              string one record as JSON (SET NX: the id is stored once)
 *   <P>idx:all                               zset   every record id, score = recordedAt in ms
 *   <P>idx:<dim>:<enc>                       zset   ids per value of agentName, userId, group, chatName
 *   <P>days                                  zset   days that have buckets (score 0, ordered by name)
 *   <P>agg:<day>:day                         hash   <counter> -> sum, the day's totals
 *   <P>agg:<day>:<dim>                       hash   <enc>|<counter> -> sum, per value of each attribution
 *                                                   dimension, and per hour for <dim> = hour
 *   <P>agg:<day>:<scope>=<enc>:<dim>         hash   the same, restricted to one agentName / userId value,
 *                                                   for <dim> in agentName, userId, group, modelName,
 *                                                   providerName, hour (not the scope itself, not chatName)
 *   <P>ids:<day>                             hash   ["agent","user","group","chat"] JSON -> record count
 *
 * `<day>` is `YYYY-MM-DD` and hours `YYYY-MM-DDTHH`, both in the time zone stored in meta.
 * `<enc>` is `encodeValue()`: `-` for null, else `v` + the value with `% : | { } * ? [ ] \`, white space,
 * control characters and lone surrogates escaped, so no value can forge a separator or a key.
 */
import { ATTRIBUTION_FIELDS, type AttributionField } from '../../interfaces/usage-record.interface';

export const LAYOUT_VERSION = '1';

/** Attribution dimensions with a time-ordered id index (model and provider have too few values to pay off). */
export const INDEXED_DIMENSIONS = ['agentName', 'userId', 'group', 'chatName'] as const satisfies readonly AttributionField[];

/** Dimensions whose buckets are also kept per value, so "model breakdown of one agent / one user" reads buckets. */
export const SCOPE_DIMENSIONS = ['agentName', 'userId'] as const satisfies readonly AttributionField[];

/**
 * What those per-value buckets break down (plus `hour`). Not chatName: chats are nearly unique per user,
 * so that breakdown would cost about one hash field set per record; "chats of one user" scans that
 * user's index instead.
 */
export const SCOPED_BREAKDOWNS = ['agentName', 'userId', 'group', 'modelName', 'providerName'] as const satisfies readonly AttributionField[];

/** Counter codes in hash fields, in this exact order in the Lua argument list. */
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
] as const;
export const COUNTER_CODES: readonly string[] = COUNTERS.map(([code]) => code);
export const COUNTER_INDEX: ReadonlyMap<string, number> = new Map(COUNTERS.map(([code], i) => [code, i]));

export const NULL_VALUE = '-';

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
    return `${this.prefix}meta`;
  }
  record(id: string): string {
    return `${this.prefix}rec:${id}`;
  }
  indexAll(): string {
    return `${this.prefix}idx:all`;
  }
  index(dim: AttributionField, value: string): string {
    return `${this.prefix}idx:${dim}:${encodeValue(value)}`;
  }
  days(): string {
    return `${this.prefix}days`;
  }
  dayTotals(day: string): string {
    return `${this.prefix}agg:${day}:day`;
  }
  /** `dim` is an attribution field or `hour`. */
  dayBucket(day: string, dim: AttributionField | 'hour'): string {
    return `${this.prefix}agg:${day}:${dim}`;
  }
  scopedBucket(day: string, scope: AttributionField, value: string, dim: AttributionField | 'hour'): string {
    return `${this.prefix}agg:${day}:${scope}=${encodeValue(value)}:${dim}`;
  }
  identities(day: string): string {
    return `${this.prefix}ids:${day}`;
  }
}

/** `<enc>|<code>` -> [enc, counter index]; undefined for a field of another layout. */
export function parseBucketField(field: string): [string, number] | undefined {
  const bar = field.lastIndexOf('|');
  if (bar < 0) return undefined;
  const i = COUNTER_INDEX.get(field.slice(bar + 1));
  return i === undefined ? undefined : [field.slice(0, bar), i];
}

export const ATTRIBUTION_INDEX: ReadonlyMap<AttributionField, number> = new Map(ATTRIBUTION_FIELDS.map((f, i) => [f, i]));
