import type { UsageRedisCommands } from '../../connections/redis.connection';
import { isRedisCluster } from '../../connections/redis-cluster.source';
import type { RuntimeAlertStore, StoredUsageAlert } from './runtime-alert.store';
import type { UsageAlertInput } from './runtime-alert.interface';

/** Sets the pause only while the alert exists, keeping a later pause: a delete racing a fire leaves no orphan. */
const PAUSE_SCRIPT = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
local cur = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if tonumber(ARGV[2]) > cur then redis.call('HSET', KEYS[2], ARGV[1], ARGV[2]) end
return 1`;
const REMOVE_SCRIPT = `redis.call('HDEL', KEYS[2], ARGV[1]) return redis.call('HDEL', KEYS[1], ARGV[1])`;
const LIST_SCRIPT = `return { redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2]) }`;

/**
 * Runtime alerts in two hashes under the budgets' key prefix: `<prefix>runtime-alerts` (id -> JSON of
 * the input and creation time) and `<prefix>runtime-alerts:paused` (id -> epoch ms the pause ends).
 * On a Redis Cluster both names carry the hash tag `{runtime-alerts}` (the scripts read or write both
 * keys in one call, so they must share a slot); standalone names are unchanged, so stored alerts stay.
 */
export class RedisRuntimeAlertStore implements RuntimeAlertStore {
  readonly kind = 'redis' as const;
  private readonly alertsKey: string;
  private readonly pausedKey: string;

  constructor(
    private readonly client: UsageRedisCommands,
    prefix: string,
  ) {
    const name = isRedisCluster(client) ? '{runtime-alerts}' : 'runtime-alerts';
    this.alertsKey = `${prefix}${name}`;
    this.pausedKey = `${prefix}${name}:paused`;
  }

  async list(): Promise<StoredUsageAlert[]> {
    const [alerts, paused] = (await this.client.eval(LIST_SCRIPT, 2, this.alertsKey, this.pausedKey)) as [string[], string[]];
    const pauses = new Map<string, number>();
    for (let i = 0; i < paused.length; i += 2) pauses.set(paused[i], Number(paused[i + 1]));
    const out: StoredUsageAlert[] = [];
    for (let i = 0; i < alerts.length; i += 2) {
      const { input, createdAt } = JSON.parse(alerts[i + 1]) as { input: UsageAlertInput; createdAt: string };
      out.push({ id: alerts[i], input, createdAt: new Date(createdAt), pausedUntil: pauses.get(alerts[i]) ?? null });
    }
    return out.sort((x, y) => x.createdAt.getTime() - y.createdAt.getTime() || (x.id < y.id ? -1 : 1));
  }

  async insert(a: StoredUsageAlert): Promise<void> {
    await this.client.eval(`redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) return 1`, 1, this.alertsKey, a.id, JSON.stringify({ input: a.input, createdAt: a.createdAt.toISOString() }));
  }

  async remove(id: string): Promise<boolean> {
    return Number(await this.client.eval(REMOVE_SCRIPT, 2, this.alertsKey, this.pausedKey, id)) === 1;
  }

  async pause(id: string, untilMs: number): Promise<boolean> {
    return Number(await this.client.eval(PAUSE_SCRIPT, 2, this.alertsKey, this.pausedKey, id, untilMs)) === 1;
  }
}
