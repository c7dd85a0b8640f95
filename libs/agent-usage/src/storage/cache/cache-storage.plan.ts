/**
 * The TypeScript half of a write (or clear) of the Redis driver: everything but the atomic part. For a
 * chunk of records it builds the key names, hash fields and per-(hash, field) counter sums, and encodes
 * them as the binary blobs WRITE_SCRIPT reads (cache-storage.scripts.ts). Key layout: cache-storage.keys.ts.
 */
import { ATTRIBUTION_FIELDS, type UsageRecord } from '../../interfaces/usage-record.interface';
import { dayKey, hourKey, isUtc } from '../../query/time-zone';
import { UsageTrackingError } from '../../common/usage.errors';
import {
  BUCKET_DIMENSIONS,
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
    r.runStart ? 1 : 0,
    r.agentRunStart ? 1 : 0,
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

  /** A string as UTF-8 after its byte length (u32). */
  str(s: string): void {
    this.ensure(4 + s.length * 3);
    const n = this.buf.write(s, this.pos + 4, 'utf8');
    this.buf.writeUInt32BE(n, this.pos);
    this.pos += 4 + n;
  }

  u16(v: number): void {
    this.ensure(2);
    this.buf[this.pos] = v >>> 8;
    this.buf[this.pos + 1] = v & 0xff;
    this.pos += 2;
  }

  u32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32BE(v, this.pos);
    this.pos += 4;
  }

  /** Safe integers `values[from .. from + count)`, possibly negative, times `sign`, as signed 64-bit. */
  i64s(values: Float64Array, from: number, count: number, sign: number): void {
    this.ensure(8 * count);
    const buf = this.buf;
    let p = this.pos;
    for (let k = from; k < from + count; k++) {
      const v = sign * values[k];
      let hi = 0;
      let lo = v;
      if (v < 0 || v >= TWO_32) {
        hi = Math.floor(v / TWO_32);
        lo = v - hi * TWO_32;
        hi >>>= 0; // two's complement of the high word
      }
      buf[p] = hi >>> 24;
      buf[p + 1] = (hi >>> 16) & 0xff;
      buf[p + 2] = (hi >>> 8) & 0xff;
      buf[p + 3] = hi & 0xff;
      buf[p + 4] = lo >>> 24;
      buf[p + 5] = (lo >>> 16) & 0xff;
      buf[p + 6] = (lo >>> 8) & 0xff;
      buf[p + 7] = lo & 0xff;
      p += 8;
    }
    this.pos = p;
  }

  done(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

/**
 * A hash of the plan: its expiry and its fields, each with a slot of the counter pool. Most hashes of a
 * chunk get one or two fields (one per scope value): they are searched in the arrays, and a Map is built
 * only past a few fields.
 */
class HashPlan {
  readonly names: string[] = [];
  readonly slots: number[] = [];
  private map?: Map<string, number>;

  constructor(readonly exp: number) {}

  get(name: string): number | undefined {
    if (this.map) return this.map.get(name);
    const names = this.names;
    for (let i = 0; i < names.length; i++) if (names[i] === name) return this.slots[i];
    return undefined;
  }

  add(name: string, slot: number): void {
    this.names.push(name);
    this.slots.push(slot);
    if (this.map) this.map.set(name, slot);
    else if (this.names.length > 8) this.map = new Map(this.names.map((n, i) => [n, this.slots[i]]));
  }
}

/** Key names that repeat from chunk to chunk, built once per raw prefix (bounded). */
export class PlanKeys {
  private readonly days = new Map<string, { keys: string[]; scopes: Map<string, string>[] }>();
  private readonly indexes = INDEXED_DIMENSIONS.map(() => new Map<string, string>());
  readonly all: string;

  constructor(readonly prefix: string) {
    this.all = `${prefix}idx:all`;
  }

  /** `agg:<day>:` day, hour, the BUCKET_DIMENSIONS, then `ids:<day>`. */
  day(day: string): { keys: string[]; scopes: Map<string, string>[] } {
    let d = this.days.get(day);
    if (!d) {
      if (this.days.size > 1000) this.days.clear();
      const ag = `${this.prefix}agg:${day}:`;
      d = {
        keys: [`${ag}day`, `${ag}hour`, ...BUCKET_DIMENSIONS.map((f) => `${ag}${f}`), `${this.prefix}ids:${day}`],
        scopes: SCOPE_DIMENSIONS.map(() => new Map()),
      };
      this.days.set(day, d);
    }
    return d;
  }

  scope(day: string, si: number, encoded: string): string {
    const m = this.day(day).scopes[si];
    let k = m.get(encoded);
    if (k === undefined) {
      if (m.size > 20_000) m.clear();
      k = `${this.prefix}agg:${day}:${SCOPE_DIMENSIONS[si]}=${encoded}`;
      m.set(encoded, k);
    }
    return k;
  }

  index(di: number, encoded: string): string {
    const m = this.indexes[di];
    let k = m.get(encoded);
    if (k === undefined) {
      if (m.size > 20_000) m.clear();
      k = `${this.prefix}idx:${INDEXED_DIMENSIONS[di]}:${encoded}`;
      m.set(encoded, k);
    }
    return k;
  }
}

const SCOPES = SCOPE_DIMENSIONS.map((scope) => ({
  at: ATTRIBUTION_FIELDS.indexOf(scope),
  parts: scopeParts(scope).map((d) => ATTRIBUTION_FIELDS.indexOf(d)),
}));
const INDEXED_AT = INDEXED_DIMENSIONS.map((d) => ATTRIBUTION_FIELDS.indexOf(d));
const BUCKET_AT = BUCKET_DIMENSIONS.map((d) => ATTRIBUTION_FIELDS.indexOf(d));
const NB = BUCKET_DIMENSIONS.length;
// The per-scope field below is written out for 4 parts.
if (SCOPES.some((x) => x.parts.length !== 4)) throw new Error('cache-storage.plan: a per-scope field has 4 parts');

/**
 * Builds the script arguments for `items` (at most 65,535 distinct expiry times). `keys.prefix` is the raw
 * key prefix (the client's own ioredis keyPrefix included: keys inside a blob are not prefixed by ioredis).
 */
export function buildScriptArgs(
  sign: 1 | -1,
  items: readonly PreparedRecord[],
  keys: PlanKeys,
  enc: ValueEncoder,
  header: readonly string[],
): (string | Buffer)[] {
  const prefix = keys.prefix;
  const buckets = new Map<string, HashPlan>();
  const identities = new Map<string, Map<string, number>>();
  const identityExpiry = new Map<string, number>();
  const indexes = new Map<string, { exp: number; members: number[] }>();
  const expiries = new Map<number, number>();
  const days = new Set<string>();
  const records = new BlobWriter(items.length * 600);
  const members = new BlobWriter(items.length * 60);
  const recordExpiries: number[] = [];
  // counters of every (hash, field) of the chunk, NC per slot
  let pool = new Float64Array(items.length * 8 * NC);
  let slots = 0;
  records.u32(items.length);

  const expIndex = (e: number): number => {
    if (e === 0) return 0;
    let i = expiries.get(e);
    if (i === undefined) expiries.set(e, (i = expiries.size + 1));
    return i;
  };
  const plan = (key: string, exp: number): HashPlan => {
    let h = buckets.get(key);
    if (!h) buckets.set(key, (h = new HashPlan(exp)));
    return h;
  };
  const add = (h: HashPlan, field: string, c: number[]): void => {
    let slot = h.get(field);
    if (slot === undefined) {
      slot = slots++;
      h.add(field, slot);
      if (slots * NC > pool.length) {
        const next = new Float64Array(pool.length * 2);
        next.set(pool);
        pool = next;
      }
      const o = slot * NC;
      for (let j = 0; j < NC; j++) pool[o + j] = c[j];
    } else {
      const o = slot * NC;
      for (let j = 0; j < NC; j++) pool[o + j] += c[j];
    }
  };
  const index = (key: string, position: number, exp: number): void => {
    let x = indexes.get(key);
    if (!x) indexes.set(key, (x = { exp, members: [] }));
    else if (exp > x.exp) x.exp = exp;
    x.members.push(position);
  };
  const e: string[] = new Array(ATTRIBUTION_FIELDS.length);
  // per day of the chunk: the plans of its day, hour and dimension hashes (all records of a day share its expiry)
  const dayPlans = new Map<string, HashPlan[]>();

  let position = 0;
  for (const it of items) {
    const r = it.record;
    position++;
    const { day, hour, expireAt: exp } = it;
    records.str(`${prefix}rec:${r.id}`);
    records.str(it.json);
    recordExpiries.push(expIndex(exp));
    const k = keys.day(day).keys;
    let dp = dayPlans.get(day);
    if (!dp) {
      days.add(day);
      dp = k.slice(0, 2 + NB).map((key) => plan(key, exp));
      dayPlans.set(day, dp);
    }
    const c = it.counters;
    for (let i = 0; i < ATTRIBUTION_FIELDS.length; i++) e[i] = enc.encode(r[ATTRIBUTION_FIELDS[i]]);
    add(dp[0], TOTALS_FIELD, c);
    add(dp[1], hour, c);
    for (let i = 0; i < NB; i++) add(dp[2 + i], e[BUCKET_AT[i]], c);
    for (let si = 0; si < SCOPES.length; si++) {
      const { at, parts } = SCOPES[si];
      if (e[at] === NULL_VALUE) continue;
      const field = `${hour}${PART_SEPARATOR}${e[parts[0]]}${PART_SEPARATOR}${e[parts[1]]}${PART_SEPARATOR}${e[parts[2]]}${PART_SEPARATOR}${e[parts[3]]}`;
      add(plan(keys.scope(day, si, e[at]), exp), field, c);
    }
    const idKey = k[2 + NB];
    if (exp > (identityExpiry.get(idKey) ?? -1)) identityExpiry.set(idKey, exp);
    let ids = identities.get(idKey);
    if (!ids) identities.set(idKey, (ids = new Map()));
    const ident = JSON.stringify([r.agentName, r.userId, r.group, r.chatName]);
    ids.set(ident, (ids.get(ident) ?? 0) + 1);

    members.str(String(r.recordedAt.getTime()));
    members.str(r.id);
    index(keys.all, position, exp);
    for (let i = 0; i < INDEXED_AT.length; i++) {
      const v = e[INDEXED_AT[i]];
      if (v !== NULL_VALUE) index(keys.index(i, v), position, exp);
    }
  }
  if (expiries.size > 65_535) throw new UsageTrackingError('cache usage storage: too many distinct expiry times in one chunk');

  const bb = new BlobWriter(buckets.size * 80 + slots * (8 * NC + 60));
  for (const [key, h] of buckets) {
    bb.str(key);
    bb.u16(expIndex(h.exp));
    bb.u32(h.names.length);
    for (let i = 0; i < h.names.length; i++) {
      bb.str(h.names[i]);
      bb.i64s(pool, h.slots[i] * NC, NC, sign);
    }
  }
  const ib = new BlobWriter(items.length * 80);
  const one = new Float64Array(1);
  for (const [key, fields] of identities) {
    ib.str(key);
    ib.u16(expIndex(identityExpiry.get(key)!));
    ib.u32(fields.size);
    for (const [field, n] of fields) {
      ib.str(field);
      one[0] = n;
      ib.i64s(one, 0, 1, sign);
    }
  }
  const xb = new BlobWriter(indexes.size * 60 + items.length * 5 * 4);
  for (const [key, x] of indexes) {
    xb.str(key);
    xb.u16(expIndex(x.exp));
    xb.u32(x.members.length);
    for (const m of x.members) xb.u32(m);
  }
  const eb = new BlobWriter(expiries.size ? items.length * 2 : 0);
  if (expiries.size) for (const i of recordExpiries) eb.u16(i);
  const args: (string | Buffer)[] = [String(sign), ...header, String(expiries.size)];
  for (const x of expiries.keys()) args.push(String(x));
  args.push(records.done(), members.done(), eb.done(), bb.done(), ib.done(), xb.done());
  if (sign > 0) for (const d of days) args.push(d);
  return args;
}
