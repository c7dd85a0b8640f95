/**
 * Structural stand-ins for the optional peers' types in the main entry's options, so a host without
 * typeorm or ioredis still type-checks with `skipLibCheck: false`. The real objects fit them: a TypeORM
 * (0.3 or 1.x) `DataSource` is a `UsageDataSource`, an ioredis (5 or 6) `Redis` is a `UsageRedisClient`.
 * The `/database` and `/cache` entry points use the real types.
 */

/** What the library uses of a TypeORM DataSource (PostgreSQL). */
export interface UsageDataSource {
  readonly isInitialized: boolean;
  readonly options: { readonly type?: unknown };
  initialize(): Promise<unknown>;
  query(query: string, parameters?: any[]): Promise<any>;
}

/** An ioredis client (`new Redis(...)`). */
export interface UsageRedisClient {
  readonly status: string;
  quit(): Promise<unknown>;
}

/** ioredis `RedisOptions`, passed to ioredis unchanged. */
export type UsageRedisOptions = object;

/** One seed node of a Redis Cluster: `{ host, port }`, or `'host:port'` / `'redis://host:port'`. */
export type UsageRedisClusterNode = { host: string; port: number } | string;

/**
 * A Redis Cluster the library connects to itself (and quits on shutdown): seed nodes, and ioredis
 * `ClusterOptions` passed to `new Cluster(nodes, options)` (its `redisOptions` are merged over the
 * library's fail-fast defaults, see `DEFAULT_CACHE_CLIENT_OPTIONS`).
 */
export interface UsageRedisClusterSource {
  nodes: UsageRedisClusterNode[];
  options?: object;
}
