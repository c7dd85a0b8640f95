import { createHash } from 'node:crypto';
import type { Logger } from '@nestjs/common';
import type { UsageRedisCommands } from '../connections/redis.connection';
import { isRedisCluster } from '../connections/redis-cluster.source';
import type { CompiledBudget } from './budget-options.interface';
import { MIN_ESTIMATE_SAMPLES, type BudgetTarget } from './budget-counter.memory';

/**
 * Check-and-reserve across instances, atomically. Per target: KEYS used-hash, reservations-zset;
 * ARGV: ttl ms, reservation id, then per target limit, estimate floor, key expiry (epoch ms).
 * Reservations carry their expiry as score (Redis TIME, so instance clocks do not matter) and are
 * purged on every admission: a caller that crashed never holds budget beyond its TTL.
 * The largest settled amount counts as one call's worth only after ARGV[last] settlements (see
 * MIN_ESTIMATE_SAMPLES); before that a call is admitted only when none is in flight.
 * Returns {1} admitted, {0, i, used} target i spent, {-1, i, used} target i busy (calls in flight may spend it).
 */
const ADMIT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[1])
local id = ARGV[2]
local n = #KEYS / 2
for i = 1, n do
  local h, z = KEYS[2 * i - 1], KEYS[2 * i]
  local limit = tonumber(ARGV[3 * i])
  local floor = tonumber(ARGV[3 * i + 1])
  redis.call('ZREMRANGEBYSCORE', z, '-inf', now)
  local used = tonumber(redis.call('HGET', h, 'used') or '0')
  if used >= limit then return {0, i, tostring(used)} end
  local open = redis.call('ZCARD', z)
  if open > 0 then
    local seen = tonumber(redis.call('HGET', h, 'n') or '0')
    local largest = 0
    if seen >= tonumber(ARGV[#ARGV]) then largest = tonumber(redis.call('HGET', h, 'max') or '0') end
    local est = math.max(largest, floor)
    if est <= 0 or used + (open + 1) * est > limit then return {-1, i, tostring(used)} end
  end
end
for i = 1, n do
  local h, z = KEYS[2 * i - 1], KEYS[2 * i]
  redis.call('ZADD', z, now + ttl, id)
  redis.call('PEXPIREAT', z, tonumber(ARGV[3 * i + 2]))
end
return {1, 0, '0'}
`;

/** Adds a record's amount; keeps the largest single amount as the estimate of one call (KEYS used-hash; ARGV amount, expiry). */
const SETTLE = `
local amt = tonumber(ARGV[1])
local used = redis.call('HINCRBY', KEYS[1], 'used', amt)
redis.call('HINCRBY', KEYS[1], 'n', 1)
if amt > tonumber(redis.call('HGET', KEYS[1], 'max') or '0') then redis.call('HSET', KEYS[1], 'max', amt) end
redis.call('PEXPIREAT', KEYS[1], tonumber(ARGV[2]))
return used
`;

/** Raises the counter to a stored total (never lowers it, so nothing counts twice). KEYS used-hash; ARGV total, estimate, expiry. */
const SEED = `
local used = tonumber(redis.call('HGET', KEYS[1], 'used') or '0')
if tonumber(ARGV[1]) > used then redis.call('HSET', KEYS[1], 'used', ARGV[1]) used = tonumber(ARGV[1]) end
if tonumber(ARGV[2]) > 0 and redis.call('HEXISTS', KEYS[1], 'max') == 0 then redis.call('HSET', KEYS[1], 'max', ARGV[2]) end
redis.call('PEXPIREAT', KEYS[1], tonumber(ARGV[3]))
return tostring(used)
`;

const sha = (s: string) => createHash('sha1').update(s).digest('hex');
const ADMIT_SHA = sha(ADMIT);

/** Keys stay an hour past their window, then Redis drops them. */
const GRACE_MS = 3_600_000;

/** A queued settlement: add a record's amount, or release a call's reservation. */
export type RedisSettleOp =
  | { kind: 'incr'; target: BudgetTarget; window: { start: number; end: number }; amount: number }
  | { kind: 'release'; target: BudgetTarget; windowStart: number; id: string };

/**
 * Hard-budget counters shared by every instance through Redis. Admission is one script call per
 * tracked call; settlements (record amounts, reservation releases) are queued by the synchronous
 * record listener and sent in one pipeline per event-loop turn.
 *
 * On a Redis Cluster each target's two keys share a hash tag (`<prefix>{<budget>:<value>:<window>}:used`
 * and `:res`), so one target's check-and-reserve stays one atomic script on one slot; a call under
 * several budgets is admitted target by target (see admit). Standalone keys keep their names
 * (`<prefix><budget>:<value>:<window>:used`): counters of a running window survive the upgrade.
 */
export class RedisBudgetCounter {
  private queue: RedisSettleOp[] = [];
  private flushing: Promise<void> | null = null;
  private scheduled = false;
  /** Failed settlements (logged); the job's reconcile raises counters back from the store. */
  errors = 0;
  /** Keys hash-tagged per target, admission per target, settlements routed one by one. */
  private readonly cluster: boolean;

  constructor(
    private readonly client: UsageRedisCommands,
    private readonly prefix: string,
    private readonly logger: Logger,
  ) {
    this.cluster = isRedisCluster(client);
  }

  /**
   * Key parts are URI-encoded so a ':' in a user id cannot collide with another budget's key (and a
   * '{' or '}' in one cannot make a hash tag of its own: encodeURIComponent escapes both).
   */
  private base(budget: CompiledBudget, value: string, windowStart: number): string {
    const id = `${encodeURIComponent(budget.name)}:${encodeURIComponent(value)}:${windowStart}`;
    return this.cluster ? `${this.prefix}{${id}}` : `${this.prefix}${id}`;
  }
  usedKey(budget: CompiledBudget, value: string, windowStart: number): string {
    return `${this.base(budget, value, windowStart)}:used`;
  }
  reservationsKey(budget: CompiledBudget, value: string, windowStart: number): string {
    return `${this.base(budget, value, windowStart)}:res`;
  }

  private async script(src: string, digest: string, keys: string[], args: (string | number)[]): Promise<unknown> {
    try {
      return await this.client.evalsha(digest, keys.length, ...keys, ...args);
    } catch (e) {
      if (!/NOSCRIPT/.test((e as Error).message)) throw e;
      return this.client.eval(src, keys.length, ...keys, ...args);
    }
  }

  async admit(
    targets: BudgetTarget[],
    windows: { start: number; end: number }[],
    id: string,
    ttlMs: number,
  ): Promise<AdmitResult> {
    if (this.cluster && targets.length > 1) return this.admitEach(targets, windows, id, ttlMs);
    const keys: string[] = [];
    const args: (string | number)[] = [ttlMs, id];
    targets.forEach((t, i) => {
      keys.push(this.usedKey(t.budget, t.value, windows[i].start), this.reservationsKey(t.budget, t.value, windows[i].start));
      args.push(t.budget.limit, t.budget.reserve, windows[i].end + GRACE_MS);
    });
    args.push(MIN_ESTIMATE_SAMPLES);
    const [code, index, used] = (await this.script(ADMIT, ADMIT_SHA, keys, args)) as [number, number, string];
    if (code === 1) return { status: 'admitted' };
    return { status: code === 0 ? 'refused' : 'busy', index: index - 1, used: Number(used) };
  }

  /**
   * Cluster, several targets (their keys on different slots): reserve target by target in a fixed order,
   * and on a refusal release what this call reserved. Each step is atomic, so no target is ever admitted
   * past its limit; the cost is that a reservation held for a moment by a call refused further on can
   * make another call wait ('busy') and retry, never spend.
   */
  private async admitEach(targets: BudgetTarget[], windows: { start: number; end: number }[], id: string, ttlMs: number): Promise<AdmitResult> {
    for (let i = 0; i < targets.length; i++) {
      let r: AdmitResult;
      try {
        r = await this.admit([targets[i]], [windows[i]], id, ttlMs);
      } catch (e) {
        await this.releaseFirst(targets, windows, id, i);
        throw e;
      }
      if (r.status !== 'admitted') {
        await this.releaseFirst(targets, windows, id, i);
        return { ...r, index: i };
      }
    }
    return { status: 'admitted' };
  }

  /** Drops this call's reservations on targets [0, n); one that fails expires with its TTL. */
  private async releaseFirst(targets: BudgetTarget[], windows: { start: number; end: number }[], id: string, n: number): Promise<void> {
    const keys = targets.slice(0, n).map((t, i) => this.reservationsKey(t.budget, t.value, windows[i].start));
    await Promise.allSettled(keys.map((k) => this.client.zrem(k, id)));
  }

  async used(budget: CompiledBudget, value: string, windowStart: number): Promise<number> {
    return Number((await this.client.hget(this.usedKey(budget, value, windowStart), 'used')) ?? 0);
  }

  async seed(budget: CompiledBudget, value: string, window: { start: number; end: number }, total: number, estimate: number): Promise<number> {
    const r = await this.client.eval(SEED, 1, this.usedKey(budget, value, window.start), total, Math.max(0, Math.round(estimate)), window.end + GRACE_MS);
    return Number(r);
  }

  /** Called from the record listener: O(1), no I/O here. */
  enqueue(op: RedisSettleOp): void {
    this.queue.push(op);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        void this.flush();
      });
    }
  }

  /** Sends queued settlements (one pipeline); waits for a flush already in progress. */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.queue.length === 0) return;
    const ops = this.queue;
    this.queue = [];
    this.flushing = this.send(ops).finally(() => (this.flushing = null));
    await this.flushing;
  }

  private async send(ops: RedisSettleOp[]): Promise<void> {
    try {
      if (this.cluster) await this.sendEach(ops);
      else await this.sendPipeline(ops);
    } catch (e) {
      this.errors++;
      this.logger.error(
        `budget counters: ${ops.length} settlement(s) did not reach Redis (${(e as Error).message}); the threshold job will raise the counters from the store`,
      );
    }
  }

  /** One settlement as a command, on a pipeline or straight on the client. */
  private settleCommand<R>(
    c: { zrem(key: string, member: string): R; eval(script: string, numKeys: number, ...args: (string | number)[]): R },
    op: RedisSettleOp,
  ): R {
    return op.kind === 'release'
      ? c.zrem(this.reservationsKey(op.target.budget, op.target.value, op.windowStart), op.id)
      : c.eval(SETTLE, 1, this.usedKey(op.target.budget, op.target.value, op.window.start), op.amount, op.window.end + GRACE_MS);
  }

  private async sendPipeline(ops: RedisSettleOp[]): Promise<void> {
    const p = this.client.pipeline();
    for (const op of ops) this.settleCommand(p, op);
    const results = (await p.exec()) ?? [];
    const failed = results.filter(([err]) => err);
    if (failed.length) throw failed[0][0];
  }

  /**
   * A Cluster pipeline must stay on one node, and these keys spread over the slots: one command each,
   * sent in the same turn (ioredis writes them back to back on each node's connection).
   */
  private async sendEach(ops: RedisSettleOp[]): Promise<void> {
    const results = await Promise.allSettled(
      ops.map((op) => this.settleCommand(this.client, op)),
    );
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
  }
}

type AdmitResult = { status: 'admitted' } | { status: 'refused' | 'busy'; index: number; used: number };
