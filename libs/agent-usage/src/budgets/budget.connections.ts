import { dirname } from 'node:path';
import type { Logger } from '@nestjs/common';
import type { ModuleRef } from '@nestjs/core';
import type { UsageTrackingModuleOptions } from '../interfaces/usage-tracking-options.interface';
import type { UsageSchedulerOptions } from './thresholds/scheduler-options.interface';
import { assertPackagesFor } from '../common/optional-packages';

/**
 * Requires an optional peer, or returns null when it is not installed. `alignWith` resolves the module
 * from that package's folder first, so e.g. `cron` is the very copy @nestjs/schedule uses.
 */
export function loadOptional<T>(name: string, alignWith?: string): T | null {
  const attempts: (() => string)[] = [];
  if (alignWith) attempts.push(() => require.resolve(name, { paths: [dirname(require.resolve(`${alignWith}/package.json`))] }));
  attempts.push(() => require.resolve(name));
  for (const resolve of attempts) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      return require(resolve()) as T;
    } catch {
      /* try the next location */
    }
  }
  return null;
}

/** The ioredis surface budgets use (typed here so the library does not need ioredis' types). */
export interface BudgetRedisClient {
  eval(script: string, numKeys: number, ...args: (string | number)[]): Promise<unknown>;
  evalsha(sha: string, numKeys: number, ...args: (string | number)[]): Promise<unknown>;
  pipeline(): BudgetRedisPipeline;
  set(...args: (string | number)[]): Promise<unknown>;
  hget(key: string, field: string): Promise<string | null>;
  scan(cursor: string | number, ...args: (string | number)[]): Promise<[string, string[]]>;
  del(...keys: string[]): Promise<number>;
  quit(): Promise<unknown>;
  connect?(): Promise<void>;
  status?: string;
}
export interface BudgetRedisPipeline {
  eval(script: string, numKeys: number, ...args: (string | number)[]): BudgetRedisPipeline;
  zrem(key: string, ...members: string[]): BudgetRedisPipeline;
  exec(): Promise<[Error | null, unknown][] | null>;
}

/** A parameterized SQL runner over a host DataSource or the library's own pg pool. */
export interface BudgetSqlClient {
  query<R = Record<string, unknown>>(sql: string, params: unknown[]): Promise<R[]>;
  /** Schema from `database.schema`, when set. */
  schema?: string;
}

/**
 * Finds what budgets coordinate through, once at bootstrap, and closes only what it opened itself.
 * Order: Redis (`scheduler.redis`, `cache.client`, `cache.url`), then PostgreSQL (`database.dataSource`,
 * `database.url`, the host's TypeORM DataSource), then nothing (memory).
 */
export class BudgetConnections {
  redis: BudgetRedisClient | null = null;
  sql: BudgetSqlClient | null = null;
  private readonly owned: (() => Promise<unknown>)[] = [];

  constructor(
    private readonly options: UsageTrackingModuleOptions,
    private readonly moduleRef: ModuleRef,
    private readonly logger: Logger,
  ) {}

  get kind(): 'redis' | 'database' | 'memory' {
    return this.redis ? 'redis' : this.sql ? 'database' : 'memory';
  }

  async resolve(): Promise<void> {
    const s: UsageSchedulerOptions = this.options.scheduler ?? {};
    const mode = s.coordination ?? 'auto';
    const cache = (this.options.cache ?? {}) as { client?: unknown; clientToken?: unknown; url?: unknown; redisOptions?: Record<string, unknown> };
    if (mode === 'auto' || mode === 'redis') {
      let spec = s.redis ?? cache.client;
      if (spec === undefined && cache.clientToken !== undefined) {
        try {
          spec = this.moduleRef.get(cache.clientToken as any, { strict: false });
        } catch {
          throw new Error(`cache.clientToken: no provider for ${String(cache.clientToken)} (budgets share the cache driver's Redis client)`);
        }
      }
      spec ??= cache.url ?? (cache.redisOptions ? { options: cache.redisOptions } : undefined);
      if (spec) this.redis = await this.openRedis(spec, s.redis === undefined ? cache.redisOptions : undefined);
      else if (mode === 'redis') throw new Error(`scheduler.coordination is 'redis' but no Redis is configured: set scheduler.redis or cache.url / cache.client`);
    }
    if (this.redis || mode === 'memory' || mode === 'redis') return;
    this.sql = await this.openSql();
    if (!this.sql && mode === 'database') {
      throw new Error(`scheduler.coordination is 'database' but no PostgreSQL is available: set database.url / database.dataSource or import TypeOrmModule`);
    }
  }

  /** A client object is the host's (never closed here); a URL or `{ options }` makes our own client. */
  private async openRedis(spec: unknown, extra?: Record<string, unknown>): Promise<BudgetRedisClient> {
    const own = typeof spec === 'string' || (!!spec && typeof spec === 'object' && 'options' in spec && !('eval' in spec));
    if (!own) return spec as BudgetRedisClient;
    assertPackagesFor('budgetsRedis');
    const mod = loadOptional<any>('ioredis');
    const Redis = mod.default ?? mod.Redis ?? mod;
    const options = { ...extra, lazyConnect: true, maxRetriesPerRequest: 2, connectionName: 'nestjs-agent-usage-budgets' };
    const client = (typeof spec === 'string' ? new Redis(spec, options) : new Redis({ ...(spec as { options: object }).options, ...options })) as BudgetRedisClient;
    await client.connect!();
    this.owned.push(() => client.quit());
    return client;
  }

  private async openSql(): Promise<BudgetSqlClient | null> {
    const db = (this.options.database ?? {}) as { dataSource?: any; url?: string; connectionName?: string; schema?: string };
    const schema = typeof db.schema === 'string' ? db.schema : undefined;
    const fromDataSource = (ds: any): BudgetSqlClient => ({ schema, query: (sql, params) => ds.query(sql, params) });
    if (db.dataSource) {
      if (!db.dataSource.isInitialized) await db.dataSource.initialize();
      return fromDataSource(db.dataSource);
    }
    if (typeof db.url === 'string') {
      assertPackagesFor('budgetsPg');
      const pg = loadOptional<any>('pg');
      const pool = new pg.Pool({ connectionString: db.url, max: 2, application_name: 'nestjs-agent-usage-budgets' });
      this.owned.push(() => pool.end());
      return { schema, query: async (sql, params) => (await pool.query(sql, params)).rows };
    }
    const typeorm = loadOptional<{ getDataSourceToken(name?: string): unknown }>('@nestjs/typeorm');
    if (!typeorm) return null;
    try {
      const ds = this.moduleRef.get(typeorm.getDataSourceToken(db.connectionName) as any, { strict: false }) as any;
      if (ds?.isInitialized && ds.options?.type === 'postgres') return fromDataSource(ds);
      if (ds) this.logger.warn(`the host TypeORM DataSource is not an initialized PostgreSQL connection: budget alerts de-duplicate in memory`);
    } catch {
      /* no host TypeORM connection */
    }
    return null;
  }

  async close(): Promise<void> {
    for (const close of this.owned.splice(0)) {
      try {
        await close();
      } catch (e) {
        this.logger.warn(`closing a budget connection failed: ${(e as Error).message}`);
      }
    }
  }
}
