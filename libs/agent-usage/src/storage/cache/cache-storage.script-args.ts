/**
 * The script arguments of one chunk of a write (or clear) of the Redis driver, all records of one day (one
 * hash tag): per-(hash, field) counter sums, identities and index members, encoded as the binary blobs
 * WRITE_SCRIPT reads (cache-storage.scripts.ts). Records and key names come prepared from
 * cache-storage.plan.ts.
 */
import { ATTRIBUTION_FIELDS } from '../../interfaces/usage-record.interface';
import {
  ALL_CODE,
  BUCKET_DIMENSIONS,
  COUNTERS,
  INDEXED_DIMENSIONS,
  INDEX_CODES,
  NULL_VALUE,
  PART_SEPARATOR,
  SCOPE_DIMENSIONS,
  TOTALS_FIELD,
  indexTime,
  scopeParts,
} from './cache-storage.keys';
import type { DayKeys, PlanKeys, PreparedRecord, ValueEncoder } from './cache-storage.plan';
import { BlobWriter } from './cache-storage.blob';

const NC = COUNTERS.length;

const SCOPES = SCOPE_DIMENSIONS.map((scope) => ({
  at: ATTRIBUTION_FIELDS.indexOf(scope),
  parts: scopeParts(scope).map((d) => ATTRIBUTION_FIELDS.indexOf(d)),
}));
const INDEXED_AT = INDEXED_DIMENSIONS.map((d) => ATTRIBUTION_FIELDS.indexOf(d));
const INDEX_HEADS = INDEX_CODES.map((c) => `${c}${PART_SEPARATOR}`);
const ALL_HEAD = `${ALL_CODE}${PART_SEPARATOR}`;
const BUCKET_AT = BUCKET_DIMENSIONS.map((d) => ATTRIBUTION_FIELDS.indexOf(d));
const NB = BUCKET_DIMENSIONS.length;
// The per-scope field below is written out for 5 parts.
if (SCOPES.some((x) => x.parts.length !== 5)) throw new Error('cache-storage.script-args: a per-scope field has 5 parts');

/**
 * Counter sums of the plan being built, reused by every plan (plans are built one at a time, synchronously,
 * and only the blobs outlive them): one allocation instead of one per chunk.
 */
let sharedPool = new Float64Array(0);

/** One script call: KEYS[1] (the day's record hash, which routes the call on a Cluster) and ARGV. */
export interface ScriptCall {
  key: string;
  args: (string | Buffer)[];
}

/**
 * Builds the script call for `items`, all of one day (so of one expiry). `keys.prefix` is the raw key
 * prefix (the client's own ioredis keyPrefix included: keys inside a blob are not prefixed by ioredis).
 */
export function buildScriptArgs(sign: 1 | -1, items: readonly PreparedRecord[], keys: PlanKeys, enc: ValueEncoder): ScriptCall {
  const dk = keys.day(items[0].day);
  const plan = new ScriptArgsPlan(sign, items, keys, dk, enc);
  for (const it of items) plan.add(it);
  return { key: dk.records, args: plan.args(items[0].expireAt) };
}

/** The plan of one chunk, record by record; `args` encodes it. */
class ScriptArgsPlan {
  private readonly buckets = new Map<string, HashPlan>();
  private readonly identities = new Map<string, number>();
  private readonly records: BlobWriter;
  private readonly members: BlobWriter;
  private memberCount = 0;
  /** Counters of every (hash, field) of the chunk, NC per slot. */
  private pool: Float64Array;
  private slots = 0;
  /** Encoded attribution values of the current record, in ATTRIBUTION_FIELDS order. */
  private readonly e: string[] = new Array(ATTRIBUTION_FIELDS.length);
  /** The plans of the day's day, hour and dimension hashes. */
  private readonly dayPlans: HashPlan[];

  constructor(
    private readonly sign: 1 | -1,
    items: readonly PreparedRecord[],
    private readonly keys: PlanKeys,
    private readonly dk: DayKeys,
    private readonly enc: ValueEncoder,
  ) {
    const count = items.length;
    // Sized up front (UTF-16 length = bytes for ASCII): growing a blob copies it, and every large buffer
    // is external memory that pushes V8 into full collections.
    let chars = 0;
    for (const it of items) chars += it.json.length + 2 * it.record.id.length;
    this.records = new BlobWriter(chars + 8 * count + 64);
    this.members = new BlobWriter(Math.ceil(chars * 0.6) + 8 * 6 * count + 64);
    if (sharedPool.length < count * 8 * NC) sharedPool = new Float64Array(count * 8 * NC);
    this.pool = sharedPool;
    this.records.u32(count);
    this.members.u32(0); // the member count, set in args()
    this.dayPlans = dk.keys.slice(0, 2 + NB).map((key) => this.plan(key));
  }

  add(it: PreparedRecord): void {
    const r = it.record;
    const hour = it.hour;
    const e = this.e;
    const id = r.id;
    this.records.str(id);
    this.records.str(it.json);
    const dp = this.dayPlans;
    const c = it.counters;
    for (let i = 0; i < ATTRIBUTION_FIELDS.length; i++) e[i] = this.enc.encode(r[ATTRIBUTION_FIELDS[i]]);
    this.sum(dp[0], TOTALS_FIELD, c);
    this.sum(dp[1], hour, c);
    for (let i = 0; i < NB; i++) this.sum(dp[2 + i], e[BUCKET_AT[i]], c);
    for (let si = 0; si < SCOPES.length; si++) {
      const { at, parts } = SCOPES[si];
      if (e[at] === NULL_VALUE) continue;
      const field = `${e[at]}${PART_SEPARATOR}${hour}${PART_SEPARATOR}${e[parts[0]]}${PART_SEPARATOR}${e[parts[1]]}${PART_SEPARATOR}${e[parts[2]]}${PART_SEPARATOR}${e[parts[3]]}${PART_SEPARATOR}${e[parts[4]]}`;
      this.sum(this.plan(this.keys.scope(this.dk, si, e[at])), field, c);
    }
    const ident = JSON.stringify([r.agentName, r.userId, r.group, r.chatName]);
    this.identities.set(ident, (this.identities.get(ident) ?? 0) + 1);
    // Index members: `<code>|<enc>|<time>|<id>`, one sorted set per day holds them all (cache-storage.keys.ts).
    const tail = `${PART_SEPARATOR}${indexTime(r.recordedAt.getTime())}${PART_SEPARATOR}${id}`;
    const m = this.members;
    m.str(`${ALL_HEAD}${tail.slice(1)}`);
    let k = 1;
    for (let i = 0; i < INDEXED_AT.length; i++) {
      const v = e[INDEXED_AT[i]];
      if (v === NULL_VALUE) continue;
      m.str(`${INDEX_HEADS[i]}${v}${tail}`);
      k++;
    }
    this.memberCount += k;
  }

  /** ARGV: sign, expiry (ms, '' = none), the index key, then the blobs RB, XB, BB, IB. */
  args(expireAt: number): (string | Buffer)[] {
    const xb = this.members.done();
    xb.writeUInt32BE(this.memberCount, 0);
    return [String(this.sign), expireAt ? String(expireAt) : '', this.dk.index, this.records.done(), xb, this.bucketsBlob(), this.identitiesBlob()];
  }

  private plan(key: string): HashPlan {
    let h = this.buckets.get(key);
    if (!h) this.buckets.set(key, (h = new HashPlan()));
    return h;
  }

  /** Adds counters `c` to (hash `h`, `field`). */
  private sum(h: HashPlan, field: string, c: number[]): void {
    let slot = h.get(field);
    if (slot === undefined) {
      slot = this.slots++;
      h.add(field, slot);
      if (this.slots * NC > this.pool.length) {
        const next = new Float64Array(this.pool.length * 2);
        next.set(this.pool);
        this.pool = sharedPool = next;
      }
      const o = slot * NC;
      for (let j = 0; j < NC; j++) this.pool[o + j] = c[j];
    } else {
      const pool = this.pool;
      const o = slot * NC;
      for (let j = 0; j < NC; j++) pool[o + j] += c[j];
    }
  }

  private bucketsBlob(): Buffer {
    const bb = new BlobWriter(this.buckets.size * 80 + this.slots * (8 * NC + 60));
    for (const [key, h] of this.buckets) {
      bb.str(key);
      bb.u32(h.names.length);
      for (let i = 0; i < h.names.length; i++) {
        bb.str(h.names[i]);
        bb.i64s(this.pool, h.slots[i] * NC, NC, this.sign);
      }
    }
    return bb.done();
  }

  private identitiesBlob(): Buffer {
    const ib = new BlobWriter(this.identities.size * 80 + 100);
    const one = new Float64Array(1);
    ib.str(this.dk.keys[2 + NB]);
    ib.u32(this.identities.size);
    for (const [field, n] of this.identities) {
      ib.str(field);
      one[0] = n;
      ib.i64s(one, 0, 1, this.sign);
    }
    return ib.done();
  }
}

/**
 * A hash of the plan: its fields, each with a slot of the counter pool. Most hashes of a
 * chunk get one or two fields (one per scope value): they are searched in the arrays, and a Map is built
 * only past a few fields.
 */
class HashPlan {
  readonly names: string[] = [];
  readonly slots: number[] = [];
  private map?: Map<string, number>;

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
