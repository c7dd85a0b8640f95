import { Logger, type LoggerService, type OnApplicationShutdown } from '@nestjs/common';
import type { ModuleRef } from '@nestjs/core';
// Structural types only: ioredis is an optional peer, required at run time when a client is created here.
import type { UsageRedisClient, UsageRedisClusterSource, UsageRedisOptions } from '../interfaces/peer-types.interface';
import { assertPackagesFor, type OptionalFeature } from '../common/optional-packages';
import { InvalidUsageOptionsError } from '../common/usage.errors';
import { redisClusterProblems } from './redis-cluster.source';

/**
 * Defaults for a client the driver creates itself (a host's client keeps its own settings):
 * - `enableOfflineQueue: false`: while disconnected a command fails at once instead of queueing;
 * - `maxRetriesPerRequest: 1`: a command cut by a dropped connection is retried once after reconnecting;
 * - `commandTimeout: 5000`: no reply in 5 s fails the command (a script that did run is safe to retry:
 *   writes are idempotent);
 * - `socketTimeout: 10000`: a connection that stops answering is dropped and reconnected;
 * - `connectTimeout: 5000`.
 * Reconnection keeps ioredis's default back-off (up to 2 s between attempts, forever).
 */
export const DEFAULT_CACHE_CLIENT_OPTIONS: Readonly<Record<'enableOfflineQueue' | 'maxRetriesPerRequest' | 'commandTimeout' | 'socketTimeout' | 'connectTimeout', number | boolean>> = {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  commandTimeout: 5000,
  socketTimeout: 10_000,
  connectTimeout: 5000,
};

/** The ioredis surface budgets and the threshold job use (the cache driver uses ioredis' own type). */
export interface UsageRedisCommands extends UsageRedisClient {
  eval(script: string, numKeys: number, ...args: (string | number)[]): Promise<unknown>;
  evalsha(sha: string, numKeys: number, ...args: (string | number)[]): Promise<unknown>;
  pipeline(): UsageRedisPipeline;
  set(...args: (string | number)[]): Promise<unknown>;
  hget(key: string, field: string): Promise<string | null>;
  scan(cursor: string | number, ...args: (string | number)[]): Promise<[string, string[]]>;
  del(...keys: string[]): Promise<number>;
  zrem(key: string, ...members: string[]): Promise<number>;
}
export interface UsageRedisPipeline {
  eval(script: string, numKeys: number, ...args: (string | number)[]): UsageRedisPipeline;
  zrem(key: string, ...members: string[]): UsageRedisPipeline;
  exec(): Promise<[Error | null, unknown][] | null>;
}

/** Where a Redis connection comes from: give one of `client`, `clientToken`, `url` / `redisOptions`, `cluster`. */
export interface UsageRedisSource {
  /** A client the host owns (an ioredis `Redis` or `Cluster`): used as is, never closed here. */
  client?: unknown;
  /** Token of a host provider that is an ioredis client (never closed here). */
  clientToken?: string | symbol | (abstract new (...args: any[]) => unknown);
  url?: string;
  redisOptions?: UsageRedisOptions;
  /** A Redis Cluster to connect to (created and quit here). */
  cluster?: UsageRedisClusterSource;
}

/** The client source keys of a section (`cache`, a driver instance's options, `scheduler.redis`). */
export function redisSourceOf(o: UsageRedisSource): UsageRedisSource {
  const { client, clientToken, url, redisOptions, cluster } = o;
  return { client, clientToken, url, redisOptions, cluster };
}

/**
 * Owns the one Redis client of a configured Redis (the `cache` section, or `scheduler.redis`), shared by
 * the cache driver, budget counters and the threshold job. The client is made (or looked up) on first
 * use; one created here is connected then (Redis being down at boot does not stop the app: commands fail
 * until it is back) and quit on shutdown; a host's client is never closed.
 */
export class UsageRedisConnection implements OnApplicationShutdown {
  private client: UsageRedisCommands | null = null;
  private opening: Promise<UsageRedisCommands> | null = null;
  private owned = false;
  private closed = false;
  private errorLogged = false;

  constructor(
    private readonly source: UsageRedisSource,
    private readonly moduleRef?: ModuleRef,
    private readonly logger: LoggerService = new Logger('UsageTracking'),
    /** Prefix of its log lines, e.g. the driver's name. */
    private readonly label = 'Redis',
    /** Named in the install hint when ioredis is missing. */
    private readonly feature: OptionalFeature = 'cache',
  ) {}

  /** True when any client source is set. */
  get configured(): boolean {
    const s = this.source;
    return s.client !== undefined || s.clientToken !== undefined || s.url !== undefined || s.redisOptions !== undefined || s.cluster !== undefined;
  }

  /** The client (a created one has been asked to connect). */
  get(): Promise<UsageRedisCommands> {
    if (this.closed) return Promise.reject(new Error('the usage Redis connection is closed'));
    if (this.client) return Promise.resolve(this.client);
    this.opening ??= this.open().finally(() => (this.opening = null));
    return this.opening;
  }

  private async open(): Promise<UsageRedisCommands> {
    const s = this.source;
    if (s.client !== undefined) return (this.client = s.client as UsageRedisCommands);
    if (s.clientToken !== undefined) return (this.client = this.fromToken(s.clientToken));
    assertPackagesFor(this.feature);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mod = require('ioredis');
    const Redis = (mod.default ?? mod.Redis ?? mod) as new (...args: unknown[]) => UsageRedisCommands & EventSource;
    // Fail fast during an outage (see DEFAULT_CACHE_CLIENT_OPTIONS): the writer keeps records, budgets fall
    // back to this process's counters.
    const settings = { ...DEFAULT_CACHE_CLIENT_OPTIONS, connectionName: 'nestjs-agent-usage', ...s.redisOptions, lazyConnect: true };
    const client = s.cluster ? this.newCluster(mod.Cluster, s.cluster) : s.url ? new Redis(s.url, settings) : new Redis(settings);
    this.owned = true;
    // Without a listener ioredis prints every reconnect error; log once per outage instead. A Cluster
    // reports a lost node as 'node error' (a failover in progress), the whole cluster as 'error'.
    const onError = (err: Error) => {
      if (this.errorLogged) return;
      this.errorLogged = true;
      this.logger.warn?.(`[${this.label}] Redis connection error (commands fail until it reconnects): ${err.message}`);
    };
    client.on('error', onError);
    if (s.cluster) client.on('node error', onError);
    client.on('ready', () => {
      if (!this.errorLogged) return;
      this.errorLogged = false;
      this.logger.log(`[${this.label}] Redis connection is back`);
    });
    this.client = client;
    await client.connect().catch((err: Error) => {
      this.logger.warn?.(`[${this.label}] Redis is not reachable yet (${err.message}); commands are retried`);
    });
    return client;
  }

  /**
   * A Cluster with the same fail-fast defaults on each node connection. The cluster level keeps ioredis's
   * redirection handling (MOVED/ASK, CLUSTERDOWN and failover retries, every 100 ms up to 16 times): a
   * failover then costs a short delay, not an error, and a write failed anyway is retried by the writer.
   * `enableOfflineQueue: false` here too: while no slot map is known a command fails at once.
   */
  private newCluster(Cluster: new (...args: unknown[]) => UsageRedisCommands & EventSource, spec: UsageRedisClusterSource) {
    const problems = redisClusterProblems(spec, this.feature === 'budgetsRedis' ? 'scheduler.redis.cluster' : 'cache.cluster');
    if (problems.length) throw new InvalidUsageOptionsError(problems);
    const options = (spec.options ?? {}) as { redisOptions?: object };
    const redisOptions = { ...DEFAULT_CACHE_CLIENT_OPTIONS, connectionName: 'nestjs-agent-usage', ...options.redisOptions };
    return new Cluster(spec.nodes, { enableOfflineQueue: false, ...options, redisOptions, lazyConnect: true });
  }

  private fromToken(token: NonNullable<UsageRedisSource['clientToken']>): UsageRedisCommands {
    const name = String((token as { name?: unknown })?.name ?? String(token));
    let client: unknown;
    try {
      client = this.moduleRef?.get(token as string, { strict: false });
    } catch (err) {
      throw new InvalidUsageOptionsError([`cache.clientToken: no provider ${name} in the container (${(err as Error).message})`]);
    }
    if (!client || typeof (client as { defineCommand?: unknown }).defineCommand !== 'function') {
      throw new InvalidUsageOptionsError(['cache.clientToken must resolve to an ioredis client (Redis or Cluster)']);
    }
    return client as UsageRedisCommands;
  }

  /** After every onModuleDestroy (writers drained, the job's last run done): only then close. */
  onApplicationShutdown(): Promise<void> {
    return this.close();
  }

  /** Quits the client only when it was created here. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    await this.opening?.catch(() => undefined);
    const client = this.client as (UsageRedisCommands & { disconnect?(): void }) | null;
    this.client = null;
    if (!client || !this.owned) return;
    try {
      await client.quit();
    } catch {
      client.disconnect?.(); // not connected: QUIT cannot be sent
    }
  }
}

interface EventSource {
  on(event: string, listener: (...args: any[]) => void): unknown;
  connect(): Promise<void>;
}
