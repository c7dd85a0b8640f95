/**
 * The bucket path of the Redis driver's reads: answers from the pre-aggregated hashes, O(days x groups).
 * The range must be whole days in the configured zone (or open) and `success` unfiltered; each function
 * returns null when its buckets cannot answer, and the caller scans instead (cache-storage.index-scan.ts).
 * Key and field layout: cache-storage.keys.ts.
 */
import type { NormalizedUsageFilters, RawUsageGroup, RawUsageTotals, UsageDimension, UsageIdentity } from '../../interfaces/usage-query.interface';
import type { AttributionField } from '../../interfaces/usage-record.interface';
import { dayKey, isStartOfDay } from '../../query/time-zone';
import {
  COUNTERS,
  COUNTER_CODES,
  PART_SEPARATOR,
  SCOPE_DIMENSIONS,
  SCOPE_SHARDS,
  addBucketValue,
  decodeValue,
  encodeValue,
  parseBucketField,
  scopeParts,
  scopeShard,
  valueFields,
} from './cache-storage.keys';
import { attributionFilters, filterValues } from './cache-storage.filters';
import type { CacheDriverState } from './cache-storage.state';
import { pipelined } from './cache-storage.commands';

const IDENTITY_DIMENSIONS: readonly AttributionField[] = ['agentName', 'userId', 'group', 'chatName'];
/** Fields per value in `valueFields`: the packed one, then one spill field per counter. */
const FIELDS_PER_VALUE = 1 + COUNTER_CODES.length;

type Sums = bigint[];

const zeroSums = (): Sums => COUNTER_CODES.map(() => 0n);

function sumsToRaw(s: Sums): RawUsageTotals {
  const out: Record<string, number | bigint> = {};
  COUNTERS.forEach(([, name], i) => {
    const v = s[i];
    out[name] = v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v;
  });
  return out as unknown as RawUsageTotals;
}

/** Totals of nothing, as `aggregate` answers an empty range. */
export const zeroTotals = (): RawUsageTotals => sumsToRaw(zeroSums());

/** Adds every field of a bucket hash (packed, or spill) to the sums its base field belongs to. */
function addHash(h: Record<string, Buffer>, sumsOf: (base: string) => Sums): void {
  for (const field in h) {
    const { base, counter } = parseBucketField(field);
    if (counter !== -2) addBucketValue(sumsOf(base), counter, h[field]);
  }
}

/** Days with buckets in range, or null when the range is not whole days (then buckets cannot answer). */
async function bucketDays(s: CacheDriverState, f: NormalizedUsageFilters): Promise<string[] | null> {
  if (!s.bucketsUsable) return null;
  if (f.from && !isStartOfDay(f.from, s.timeZone)) return null;
  if (f.to && !isStartOfDay(f.to, s.timeZone)) return null;
  const min = f.from ? `[${dayKey(f.from, s.timeZone)}` : '-';
  const max = f.to ? `(${dayKey(f.to, s.timeZone)}` : '+';
  return s.client!.zrangebylex(s.keys.days(), min, max);
}

/**
 * A per-scope bucket that holds every filter of `attrs` and the group `dimension` (undefined: none): the
 * scope is one of the filters, the other filters and the dimension are parts of its fields.
 */
function scopeFor(attrs: readonly AttributionField[], dimension?: UsageDimension): AttributionField | undefined {
  const fits = (scope: AttributionField) => {
    const parts: readonly string[] = scopeParts(scope);
    const dimFits = dimension === undefined || dimension === 'hour' || dimension === 'day' || dimension === scope || parts.includes(dimension);
    return dimFits && attrs.every((a) => a === scope || parts.includes(a));
  };
  // A filtered scope first; else every category's buckets (categories are few): filters on group, model
  // or provider alone read buckets too.
  return (SCOPE_DIMENSIONS as readonly AttributionField[]).find((scope) => attrs.includes(scope) && fits(scope)) ?? (fits('category') ? 'category' : undefined);
}

/** Reads per-scope shards at once (each a round trip or an HSCAN loop). */
const SHARD_READS = 64;

/**
 * The per-scope bucket fields to sum, per day: those of the filter's values (HSCAN MATCH `<enc>|*` on each
 * value's shard, deduplicated: HSCAN may return a field twice), or (no filter) every shard whole.
 */
async function scopeFields(
  s: CacheDriverState,
  f: NormalizedUsageFilters,
  scope: AttributionField,
  days: readonly string[],
  take: (day: string, field: string, value: Buffer) => void,
): Promise<void> {
  const client = s.client!;
  const jobs: { day: string; key: string; match?: string }[] = [];
  if (f[scope] !== undefined) {
    for (const day of days) {
      for (const enc of filterValues(f, scope).map(encodeValue)) jobs.push({ day, key: s.keys.scopeBucket(day, scope, scopeShard(enc)), match: `${enc}${PART_SEPARATOR}*` });
    }
  } else {
    for (const day of days) for (let k = 0; k < SCOPE_SHARDS; k++) jobs.push({ day, key: s.keys.scopeBucket(day, scope, k) });
  }
  const run = async (job: (typeof jobs)[number]): Promise<void> => {
    if (!job.match) {
      const h = await client.hgetallBuffer(job.key);
      for (const field in h) take(job.day, field, h[field]);
      return;
    }
    const seen = new Map<string, Buffer>();
    let cursor = '0';
    do {
      const [next, flat] = await client.hscanBuffer(job.key, cursor, 'MATCH', job.match, 'COUNT', 1000);
      cursor = next.toString();
      for (let i = 0; i < flat.length; i += 2) seen.set(flat[i].toString(), flat[i + 1]);
    } while (cursor !== '0');
    for (const [field, v] of seen) take(job.day, field, v);
  };
  for (let i = 0; i < jobs.length; i += SHARD_READS) await Promise.all(jobs.slice(i, i + SHARD_READS).map(run));
}

/**
 * Sums the per-scope buckets of `scope` (its filter values, over `days`) into the group `keyOf` names,
 * keeping only fields whose parts pass the other filters. `keyOf` gets the parts after the value (hour
 * first), the day and the scope value.
 */
async function scopedSums(
  s: CacheDriverState,
  f: NormalizedUsageFilters,
  scope: AttributionField,
  days: readonly string[],
  keyOf: (parts: string[], day: string, value: string | null) => string | null,
  sumsOf: (key: string | null) => Sums,
): Promise<void> {
  const parts = scopeParts(scope);
  const checks = attributionFilters(f)
    .filter((a) => a !== scope)
    .map((a) => ({ at: 1 + parts.indexOf(a), allowed: new Set(filterValues(f, a).map(encodeValue)) }));
  await scopeFields(s, f, scope, days, (day, field, v) => {
    const { base, counter } = parseBucketField(field);
    if (counter === -2) return;
    const split = base.split(PART_SEPARATOR);
    const rest = split.slice(1);
    if (checks.every((c) => c.allowed.has(rest[c.at]))) addBucketValue(sumsOf(keyOf(rest, day, decodeValue(split[0]))), counter, v);
  });
}

/**
 * `aggregate` with at most one attribution filter, on any dimension (runId has no buckets), or with
 * several on the breakdown dimensions (agentName, userId, group, modelName, providerName, category), from
 * the per-scope buckets of one of them (a filtered scope, else every category's).
 */
export async function aggregateFromBuckets(s: CacheDriverState, filters: NormalizedUsageFilters): Promise<RawUsageTotals | null> {
  const attrs = attributionFilters(filters);
  const scope = attrs.length > 1 ? scopeFor(attrs) : undefined;
  if (!(filters.success === undefined && (attrs.length <= 1 || scope) && attrs[0] !== 'runId')) return null;
  const days = await bucketDays(s, filters);
  if (!days) return null;
  const sums = zeroSums();
  if (scope) {
    await scopedSums(s, filters, scope, days, () => null, () => sums);
  } else if (attrs.length === 0) {
    await pipelined(s.client!, days, (p, day) => p.hgetallBuffer(s.keys.dayTotals(day)), (h: Record<string, Buffer>) => addHash(h, () => sums));
  } else {
    const dim = attrs[0];
    const fields = valueFields(filterValues(filters, dim).map(encodeValue));
    await pipelined(s.client!, days, (p, day) => p.hmgetBuffer(s.keys.dayBucket(day, dim), ...fields), (vals: (Buffer | null)[]) => {
      vals.forEach((v, i) => v !== null && addBucketValue(sums, (i % FIELDS_PER_VALUE) - 1, v));
    });
  }
  return sumsToRaw(sums);
}

/**
 * `groupBy(d)` unfiltered, filtered on `d` itself, or `groupBy('day')` filtered on any one dimension; and
 * `groupBy` of hour, day or any SCOPED_BREAKDOWNS dimension filtered on any of those dimensions, from the
 * per-scope buckets of a filtered scope (agentName, userId or category), else of every category (these
 * cost O(days x combinations of hour and the breakdown dimensions seen with that value)).
 */
export async function groupFromBuckets(s: CacheDriverState, dimension: UsageDimension, f: NormalizedUsageFilters): Promise<RawUsageGroup[] | null> {
  const attrs = attributionFilters(f);
  // runId has no buckets (its index serves it); success neither.
  if (f.success !== undefined || dimension === 'runId' || attrs.includes('runId')) return null;
  const filterDim = attrs[0];
  const direct = attrs.length === 0 || (attrs.length === 1 && (dimension === filterDim || dimension === 'day'));
  const scope = direct ? undefined : scopeFor(attrs, dimension);
  if (!direct && !scope) return null;
  const days = await bucketDays(s, f);
  if (!days) return null;

  const groups = new Map<string | null, Sums>();
  const sumsOf = (key: string | null): Sums => {
    let sums = groups.get(key);
    if (!sums) groups.set(key, (sums = zeroSums()));
    return sums;
  };
  if (scope) {
    // One hash per scope value and day; its fields combine the hour and the other breakdowns.
    const at = 1 + scopeParts(scope).indexOf(dimension as AttributionField);
    const keyOf =
      dimension === 'hour'
        ? (parts: string[]) => decodeValue(parts[0])
        : dimension === 'day'
          ? (_p: string[], day: string) => day
          : dimension === scope
            ? (_p: string[], _d: string, value: string | null) => value
            : (parts: string[]) => decodeValue(parts[at]);
    await scopedSums(s, f, scope, days, keyOf, sumsOf);
  } else if (filterDim === undefined) {
    if (dimension === 'day') {
      await pipelined(s.client!, days, (p, day) => p.hgetallBuffer(s.keys.dayTotals(day)), (h: Record<string, Buffer>, day) => addHash(h, () => sumsOf(day)));
    } else {
      await pipelined(s.client!, days, (p, day) => p.hgetallBuffer(s.keys.dayBucket(day, dimension)), (h: Record<string, Buffer>) =>
        addHash(h, (base) => sumsOf(decodeValue(base))),
      );
    }
  } else {
    // groupBy(d) filtered on d, or groupBy('day') filtered on anything: the filter dimension's own buckets.
    const values = filterValues(f, filterDim);
    const fields = valueFields(values.map(encodeValue));
    await pipelined(s.client!, days, (p, day) => p.hmgetBuffer(s.keys.dayBucket(day, filterDim), ...fields), (vals: (Buffer | null)[], day) => {
      values.forEach((value, vi) => {
        if (vals[vi * FIELDS_PER_VALUE] === null) return; // no record of that value on that day
        const sums = sumsOf(dimension === 'day' ? day : value);
        for (let c = 0; c < FIELDS_PER_VALUE; c++) {
          const v = vals[vi * FIELDS_PER_VALUE + c];
          if (v !== null) addBucketValue(sums, c - 1, v);
        }
      });
    });
  }
  const out: RawUsageGroup[] = [];
  for (const [key, sums] of groups) if (sums[0] > 0n) out.push({ key, ...sumsToRaw(sums) });
  return out;
}

/** `identities` filtered on any of agentName, userId, group, chatName (any number of them). */
export async function identitiesFromBuckets(s: CacheDriverState, filters: NormalizedUsageFilters): Promise<UsageIdentity[] | null> {
  const attrs = attributionFilters(filters);
  if (!(filters.success === undefined && attrs.every((d) => IDENTITY_DIMENSIONS.includes(d)))) return null;
  const days = await bucketDays(s, filters);
  if (!days) return null;
  const seen = new Map<string, UsageIdentity>();
  await pipelined(s.client!, days, (p, day) => p.hkeys(s.keys.identities(day)), (fields: string[]) => {
    for (const field of fields) {
      if (seen.has(field)) continue;
      const [agentName, userId, group, chatName] = JSON.parse(field) as (string | null)[];
      const identity = { agentName, userId, group, chatName };
      if (attrs.every((d) => filters[d]!.includes(identity[d as keyof UsageIdentity] as string))) seen.set(field, identity);
    }
  });
  return [...seen.values()];
}
