/**
 * The script arguments of one chunk of a write (or clear) of the Redis driver: per-(hash, field) counter
 * sums, identities, time indexes and expiries, encoded as the binary blobs WRITE_SCRIPT reads
 * (cache-storage.scripts.ts). Records and key names come prepared from cache-storage.plan.ts.
 */
import { ATTRIBUTION_FIELDS } from '../../interfaces/usage-record.interface';
import { UsageTrackingError } from '../../common/usage.errors';
import {
  BUCKET_DIMENSIONS,
  COUNTERS,
  INDEXED_DIMENSIONS,
  NULL_VALUE,
  PART_SEPARATOR,
  SCOPE_DIMENSIONS,
  TOTALS_FIELD,
  scopeParts,
} from './cache-storage.keys';
import type { PlanKeys, PreparedRecord, ValueEncoder } from './cache-storage.plan';
import { BlobWriter } from './cache-storage.blob';

const NC = COUNTERS.length;

const SCOPES = SCOPE_DIMENSIONS.map((scope) => ({
  at: ATTRIBUTION_FIELDS.indexOf(scope),
  parts: scopeParts(scope).map((d) => ATTRIBUTION_FIELDS.indexOf(d)),
}));
const INDEXED_AT = INDEXED_DIMENSIONS.map((d) => ATTRIBUTION_FIELDS.indexOf(d));
const BUCKET_AT = BUCKET_DIMENSIONS.map((d) => ATTRIBUTION_FIELDS.indexOf(d));
const NB = BUCKET_DIMENSIONS.length;
// The per-scope field below is written out for 5 parts.
if (SCOPES.some((x) => x.parts.length !== 5)) throw new Error('cache-storage.script-args: a per-scope field has 5 parts');

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
  const plan = new ScriptArgsPlan(sign, items.length, keys, enc);
  let position = 0;
  for (const it of items) plan.add(it, ++position);
  return plan.args(header);
}

/** The plan of one chunk, record by record; `args` encodes it. */
class ScriptArgsPlan {
  private readonly buckets = new Map<string, HashPlan>();
  private readonly identities = new Map<string, Map<string, number>>();
  private readonly identityExpiry = new Map<string, number>();
  private readonly indexes = new Map<string, { exp: number; members: number[] }>();
  private readonly expiries = new Map<number, number>();
  private readonly days = new Set<string>();
  private readonly records: BlobWriter;
  private readonly members: BlobWriter;
  private readonly recordExpiries: number[] = [];
  /** Counters of every (hash, field) of the chunk, NC per slot. */
  private pool: Float64Array;
  private slots = 0;
  /** Encoded attribution values of the current record, in ATTRIBUTION_FIELDS order. */
  private readonly e: string[] = new Array(ATTRIBUTION_FIELDS.length);
  /** Per day of the chunk: the plans of its day, hour and dimension hashes (all records of a day share its expiry). */
  private readonly dayPlans = new Map<string, HashPlan[]>();

  constructor(
    private readonly sign: 1 | -1,
    private readonly count: number,
    private readonly keys: PlanKeys,
    private readonly enc: ValueEncoder,
  ) {
    this.records = new BlobWriter(count * 600);
    this.members = new BlobWriter(count * 60);
    this.pool = new Float64Array(count * 8 * NC);
    this.records.u32(count);
  }

  /** Adds the record at 1-based `position` of the chunk. */
  add(it: PreparedRecord, position: number): void {
    const r = it.record;
    const { day, hour, expireAt: exp } = it;
    const keys = this.keys;
    const e = this.e;
    this.records.str(`${keys.prefix}rec:${r.id}`);
    this.records.str(it.json);
    this.recordExpiries.push(this.expIndex(exp));
    const k = keys.day(day).keys;
    let dp = this.dayPlans.get(day);
    if (!dp) {
      this.days.add(day);
      dp = k.slice(0, 2 + NB).map((key) => this.plan(key, exp));
      this.dayPlans.set(day, dp);
    }
    const c = it.counters;
    for (let i = 0; i < ATTRIBUTION_FIELDS.length; i++) e[i] = this.enc.encode(r[ATTRIBUTION_FIELDS[i]]);
    this.sum(dp[0], TOTALS_FIELD, c);
    this.sum(dp[1], hour, c);
    for (let i = 0; i < NB; i++) this.sum(dp[2 + i], e[BUCKET_AT[i]], c);
    for (let si = 0; si < SCOPES.length; si++) {
      const { at, parts } = SCOPES[si];
      if (e[at] === NULL_VALUE) continue;
      const field = `${hour}${PART_SEPARATOR}${e[parts[0]]}${PART_SEPARATOR}${e[parts[1]]}${PART_SEPARATOR}${e[parts[2]]}${PART_SEPARATOR}${e[parts[3]]}${PART_SEPARATOR}${e[parts[4]]}`;
      this.sum(this.plan(keys.scope(day, si, e[at]), exp), field, c);
    }
    this.identity(k[2 + NB], JSON.stringify([r.agentName, r.userId, r.group, r.chatName]), exp);
    this.members.str(String(r.recordedAt.getTime()));
    this.members.str(r.id);
    this.index(keys.all, position, exp);
    for (let i = 0; i < INDEXED_AT.length; i++) {
      const v = e[INDEXED_AT[i]];
      if (v !== NULL_VALUE) this.index(keys.index(i, v), position, exp);
    }
  }

  /** The script's arguments: sign, header, expiries, then the blobs (and the days written, for a write). */
  args(header: readonly string[]): (string | Buffer)[] {
    if (this.expiries.size > 65_535) throw new UsageTrackingError('cache usage storage: too many distinct expiry times in one chunk');
    const buckets = this.bucketsBlob();
    const identities = this.identitiesBlob();
    const indexes = this.indexesBlob();
    const eb = new BlobWriter(this.expiries.size ? this.count * 2 : 0);
    if (this.expiries.size) for (const i of this.recordExpiries) eb.u16(i);
    const args: (string | Buffer)[] = [String(this.sign), ...header, String(this.expiries.size)];
    for (const x of this.expiries.keys()) args.push(String(x));
    args.push(this.records.done(), this.members.done(), eb.done(), buckets, identities, indexes);
    if (this.sign > 0) for (const d of this.days) args.push(d);
    return args;
  }

  private expIndex(e: number): number {
    if (e === 0) return 0;
    let i = this.expiries.get(e);
    if (i === undefined) this.expiries.set(e, (i = this.expiries.size + 1));
    return i;
  }

  private plan(key: string, exp: number): HashPlan {
    let h = this.buckets.get(key);
    if (!h) this.buckets.set(key, (h = new HashPlan(exp)));
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
        this.pool = next;
      }
      const o = slot * NC;
      for (let j = 0; j < NC; j++) this.pool[o + j] = c[j];
    } else {
      const pool = this.pool;
      const o = slot * NC;
      for (let j = 0; j < NC; j++) pool[o + j] += c[j];
    }
  }

  private identity(idKey: string, ident: string, exp: number): void {
    if (exp > (this.identityExpiry.get(idKey) ?? -1)) this.identityExpiry.set(idKey, exp);
    let ids = this.identities.get(idKey);
    if (!ids) this.identities.set(idKey, (ids = new Map()));
    ids.set(ident, (ids.get(ident) ?? 0) + 1);
  }

  private index(key: string, position: number, exp: number): void {
    let x = this.indexes.get(key);
    if (!x) this.indexes.set(key, (x = { exp, members: [] }));
    else if (exp > x.exp) x.exp = exp;
    x.members.push(position);
  }

  private bucketsBlob(): Buffer {
    const bb = new BlobWriter(this.buckets.size * 80 + this.slots * (8 * NC + 60));
    for (const [key, h] of this.buckets) {
      bb.str(key);
      bb.u16(this.expIndex(h.exp));
      bb.u32(h.names.length);
      for (let i = 0; i < h.names.length; i++) {
        bb.str(h.names[i]);
        bb.i64s(this.pool, h.slots[i] * NC, NC, this.sign);
      }
    }
    return bb.done();
  }

  private identitiesBlob(): Buffer {
    const ib = new BlobWriter(this.count * 80);
    const one = new Float64Array(1);
    for (const [key, fields] of this.identities) {
      ib.str(key);
      ib.u16(this.expIndex(this.identityExpiry.get(key)!));
      ib.u32(fields.size);
      for (const [field, n] of fields) {
        ib.str(field);
        one[0] = n;
        ib.i64s(one, 0, 1, this.sign);
      }
    }
    return ib.done();
  }

  private indexesBlob(): Buffer {
    const xb = new BlobWriter(this.indexes.size * 60 + this.count * 5 * 4);
    for (const [key, x] of this.indexes) {
      xb.str(key);
      xb.u16(this.expIndex(x.exp));
      xb.u32(x.members.length);
      for (const m of x.members) xb.u32(m);
    }
    return xb.done();
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
