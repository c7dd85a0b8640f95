/**
 * The TypeScript half of a write (or clear) of the Redis driver: everything but the atomic part. For a
 * chunk of records it builds the key names, hash fields and per-(hash, field) counter sums, and encodes
 * them as the binary blobs WRITE_SCRIPT reads (cache-storage.scripts.ts). This file prepares records and
 * key names; cache-storage.script-args.ts builds the arguments. Key layout: cache-storage.keys.ts.
 */
import type { UsageRecord } from '../../interfaces/usage-record.interface';
import { dayKey, hourKey, isUtc } from '../../query/time-zone';
import { UsageTrackingError } from '../../common/usage.errors';
import { BUCKET_DIMENSIONS, NULL_VALUE, SCOPE_DIMENSIONS, encodeValue, scopeShard } from './cache-storage.keys';

/** One record ready for the script: validated counters, JSON, day, hour and expiry computed once. */
export interface PreparedRecord {
  record: UsageRecord;
  json: string;
  day: string;
  /** Encoded hour (`v` + `YYYY-MM-DDTHH`). */
  hour: string;
  /** Expiry in ms since the epoch, 0 = none. */
  expireAt: number;
  /** Counters in COUNTERS order. */
  counters: number[];
  /** Largest counter: chunks keep the sum of these below 2^53, so every per-field sum stays exact. */
  largest: number;
}

function count(field: string, v: number | null): number {
  if (v === null) return 0;
  if (!Number.isSafeInteger(v) || v < 0) {
    throw new UsageTrackingError(`cache usage storage: ${field} must be a non-negative safe integer, got ${v}`);
  }
  return v;
}

/** Counters of one record in COUNTERS order (validated: the script trusts them). */
export function recordCounters(r: UsageRecord): number[] {
  return [
    1,
    count('requests', r.requests),
    count('inputTokens', r.inputTokens),
    count('cachedInputTokens', r.cachedInputTokens),
    count('cacheWriteTokens', r.cacheWriteTokens),
    count('outputTokens', r.outputTokens),
    count('reasoningTokens', r.reasoningTokens),
    count('totalTokens', r.totalTokens),
    r.success ? 0 : 1,
    r.usageMissing ? 1 : 0,
    count('costNanoUsd', r.costNanoUsd),
    r.costNanoUsd === null ? 1 : 0,
    r.runStart ? 1 : 0,
    r.agentRunStart ? 1 : 0,
    count('units', r.units),
  ];
}

/**
 * Day and encoded hour of instants in one time zone. Outside UTC the zone's formatter is slow, so results
 * are kept per 15-minute slot (every zone offset and transition in use is a multiple of 15 minutes) when
 * both ends of the slot fall in the same local hour; anything else is computed per instant.
 */
export class DayHourClock {
  private readonly utc: boolean;
  private slots = new Map<number, readonly [string, string] | null>();

  constructor(private readonly timeZone: string) {
    this.utc = isUtc(timeZone);
  }

  of(date: Date): readonly [string, string] {
    if (this.utc) {
      const iso = date.toISOString();
      return [iso.slice(0, 10), `v${iso.slice(0, 13)}`];
    }
    const t = date.getTime();
    const slot = Math.floor(t / 900_000);
    let hit = this.slots.get(slot);
    if (hit === undefined) {
      if (this.slots.size > 10_000) this.slots = new Map();
      const start = new Date(slot * 900_000);
      const h = hourKey(start, this.timeZone);
      hit = h === hourKey(new Date(slot * 900_000 + 899_999), this.timeZone) ? [dayKey(start, this.timeZone), `v${h}`] : null;
      this.slots.set(slot, hit);
    }
    return hit ?? [dayKey(date, this.timeZone), `v${hourKey(date, this.timeZone)}`];
  }
}

/** `encodeValue` with a bounded memo: attribution values repeat a lot. */
export class ValueEncoder {
  private memo = new Map<string, string>();

  encode(value: string | null): string {
    if (value === null) return NULL_VALUE;
    let e = this.memo.get(value);
    if (e === undefined) {
      if (this.memo.size > 50_000) this.memo = new Map();
      e = encodeValue(value);
      this.memo.set(value, e);
    }
    return e;
  }
}

/** The key names of one day (one hash tag), built once per day. */
export interface DayKeys {
  /** `{<day>}rec`: KEYS[1] of the day's script call (ioredis Cluster routes the call by it). */
  records: string;
  index: string;
  /** `agg:` day, hour, then the BUCKET_DIMENSIONS, then `ids`. */
  keys: string[];
  scopes: Map<string, string>[];
}

/** Key names that repeat from chunk to chunk, built once per raw prefix (bounded). */
export class PlanKeys {
  private readonly days = new Map<string, DayKeys>();

  constructor(readonly prefix: string) {}

  day(day: string): DayKeys {
    let d = this.days.get(day);
    if (!d) {
      if (this.days.size > 1000) this.days.clear();
      const tag = `${this.prefix}{${day}}`;
      d = {
        records: `${tag}rec`,
        index: `${tag}idx`,
        keys: [`${tag}agg:day`, `${tag}agg:hour`, ...BUCKET_DIMENSIONS.map((f) => `${tag}agg:${f}`), `${tag}ids`],
        scopes: SCOPE_DIMENSIONS.map(() => new Map()),
      };
      this.days.set(day, d);
    }
    return d;
  }

  scope(d: DayKeys, si: number, encoded: string): string {
    const m = d.scopes[si];
    let k = m.get(encoded);
    if (k === undefined) {
      if (m.size > 20_000) m.clear();
      k = `${d.records.slice(0, -3)}agg:${SCOPE_DIMENSIONS[si]}#${scopeShard(encoded)}`;
      m.set(encoded, k);
    }
    return k;
  }
}
