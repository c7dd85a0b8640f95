/**
 * The TypeScript half of a write (or clear) of the Redis driver: everything but the atomic part. For a
 * chunk of records it builds the key names, hash fields and per-(hash, field) counter sums, and encodes
 * them as the binary blobs WRITE_SCRIPT reads (cache-storage.scripts.ts). Key layout: cache-storage.keys.ts.
 */
import type { UsageRecord } from '../../interfaces/usage-record.interface';
import { dayKey, hourKey, isUtc } from '../../query/time-zone';
import { UsageTrackingError } from '../../usage.errors';
import {
  COUNTERS,
  INDEXED_DIMENSIONS,
  NULL_VALUE,
  PART_SEPARATOR,
  SCOPE_DIMENSIONS,
  TOTALS_FIELD,
  encodeValue,
  scopeParts,
} from './cache-storage.keys';

const NC = COUNTERS.length;
const TWO_32 = 4_294_967_296;

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

/** Growable buffer of the blob format: u32-length strings, u16 / u32 and signed 64-bit big-endian. */
class BlobWriter {
  private buf: Buffer;
  private pos = 0;

  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(Math.max(256, size));
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  str(s: string): void {
    this.ensure(4 + s.length * 3);
    const n = this.buf.write(s, this.pos + 4, 'utf8');
    this.buf.writeUInt32BE(n, this.pos);
    this.pos += 4 + n;
  }

  u16(v: number): void {
    this.ensure(2);
    this.buf.writeUInt16BE(v, this.pos);
    this.pos += 2;
  }

  u32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32BE(v, this.pos);
    this.pos += 4;
  }

  /** A safe integer, possibly negative. */
  i64(v: number): void {
    this.ensure(8);
    const hi = Math.floor(v / TWO_32);
    this.buf.writeInt32BE(hi, this.pos);
    this.buf.writeUInt32BE(v - hi * TWO_32, this.pos + 4);
    this.pos += 8;
  }

  done(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

interface HashPlan<T> {
  exp: number;
  fields: Map<string, T>;
}

/**
 * Builds the script arguments for `items` (at most 65,535 distinct expiry times). `prefix` is the raw key
 * prefix (the client's own ioredis keyPrefix included: keys inside a blob are not prefixed by ioredis).
 */
export function buildScriptArgs(
  sign: 1 | -1,
  items: readonly PreparedRecord[],
  prefix: string,
  enc: ValueEncoder,
  header: readonly string[],
): (string | Buffer)[] {
  const buckets = new Map<string, HashPlan<number[]>>();
  const identities = new Map<string, HashPlan<number>>();
  const indexes = new Map<string, { exp: number; members: string[] }>();
  const expiries = new Map<number, number>();
  const days = new Set<string>();
  const dayKeys = new Map<string, string[]>();
  const records = new BlobWriter(items.length * 600);
  const recordExpiries: number[] = [];
  records.u32(items.length);
  const scopes = SCOPE_DIMENSIONS.map((scope) => ({ scope, parts: scopeParts(scope) }));

  const expIndex = (e: number): number => {
    if (e === 0) return 0;
    let i = expiries.get(e);
    if (i === undefined) expiries.set(e, (i = expiries.size + 1));
    return i;
  };
  const bucket = (key: string, field: string, c: number[], exp: number): void => {
    let h = buckets.get(key);
    if (!h) buckets.set(key, (h = { exp, fields: new Map() }));
    const sums = h.fields.get(field);
    if (sums === undefined) h.fields.set(field, c.slice());
    else for (let j = 0; j < NC; j++) sums[j] += c[j];
  };
  const index = (key: string, score: string, id: string, exp: number): void => {
    let x = indexes.get(key);
    if (!x) indexes.set(key, (x = { exp, members: [] }));
    else if (exp > x.exp) x.exp = exp;
    x.members.push(score, id);
  };

  for (const it of items) {
    const r = it.record;
    const { day, hour, expireAt: exp } = it;
    records.str(`${prefix}rec:${r.id}`);
    records.str(it.json);
    recordExpiries.push(expIndex(exp));
    let dk = dayKeys.get(day);
    if (!dk) {
      const ag = `${prefix}agg:${day}:`;
      dk = [`${ag}day`, `${ag}hour`, `${ag}agentName`, `${ag}userId`, `${ag}group`, `${ag}chatName`, `${ag}modelName`, `${ag}providerName`, ag, `${prefix}ids:${day}`];
      dayKeys.set(day, dk);
      days.add(day);
    }
    const c = it.counters;
    const e = {
      agentName: enc.encode(r.agentName),
      userId: enc.encode(r.userId),
      group: enc.encode(r.group),
      chatName: enc.encode(r.chatName),
      modelName: enc.encode(r.modelName),
      providerName: enc.encode(r.providerName),
    };
    bucket(dk[0], TOTALS_FIELD, c, exp);
    bucket(dk[1], hour, c, exp);
    bucket(dk[2], e.agentName, c, exp);
    bucket(dk[3], e.userId, c, exp);
    bucket(dk[4], e.group, c, exp);
    bucket(dk[5], e.chatName, c, exp);
    bucket(dk[6], e.modelName, c, exp);
    bucket(dk[7], e.providerName, c, exp);
    for (const { scope, parts } of scopes) {
      if (r[scope] === null) continue;
      let field = hour;
      for (const d of parts) field += PART_SEPARATOR + e[d as keyof typeof e];
      bucket(`${dk[8]}${scope}=${e[scope as keyof typeof e]}`, field, c, exp);
    }
    let ids = identities.get(dk[9]);
    if (!ids) identities.set(dk[9], (ids = { exp, fields: new Map() }));
    const ident = JSON.stringify([r.agentName, r.userId, r.group, r.chatName]);
    ids.fields.set(ident, (ids.fields.get(ident) ?? 0) + 1);

    const score = String(r.recordedAt.getTime());
    index(`${prefix}idx:all`, score, r.id, exp);
    for (const d of INDEXED_DIMENSIONS) {
      if (r[d] !== null) index(`${prefix}idx:${d}:${e[d]}`, score, r.id, exp);
    }
  }
  if (expiries.size > 65_535) throw new UsageTrackingError('cache usage storage: too many distinct expiry times in one chunk');

  const bb = new BlobWriter(buckets.size * 64 + items.length * 6 * 140);
  for (const [key, h] of buckets) {
    bb.str(key);
    bb.u16(expIndex(h.exp));
    bb.u32(h.fields.size);
    for (const [field, sums] of h.fields) {
      bb.str(field);
      for (let j = 0; j < NC; j++) bb.i64(sign * sums[j]);
    }
  }
  const ib = new BlobWriter(items.length * 80);
  for (const [key, h] of identities) {
    ib.str(key);
    ib.u16(expIndex(h.exp));
    ib.u32(h.fields.size);
    for (const [field, n] of h.fields) {
      ib.str(field);
      ib.i64(sign * n);
    }
  }
  const xb = new BlobWriter(items.length * 5 * 50);
  for (const [key, x] of indexes) {
    xb.str(key);
    xb.u16(expIndex(x.exp));
    xb.u32(x.members.length / 2);
    for (const m of x.members) xb.str(m);
  }
  const eb = new BlobWriter(expiries.size ? items.length * 2 : 0);
  if (expiries.size) for (const e of recordExpiries) eb.u16(e);
  const args: (string | Buffer)[] = [String(sign), ...header, String(expiries.size)];
  for (const e of expiries.keys()) args.push(String(e));
  args.push(records.done(), eb.done(), bb.done(), ib.done(), xb.done());
  if (sign > 0) for (const d of days) args.push(d);
  return args;
}
