import { Inject, Injectable } from '@nestjs/common';
import type { UsageTrackingModuleOptions } from '../interfaces/usage-tracking-options.interface';
import { USAGE_TRACKING_OPTIONS } from '../common/usage-tracking.constants';
import { assertPackagesFor } from '../common/optional-packages';
import { getUsageConnectionToken } from '../connections/usage-connection.tokens';
import { UsageDatabaseConnection } from '../connections/database.connection';
import { UsageRedisConnection, type UsageRedisCommands } from '../connections/redis.connection';

/** A parameterized SQL runner on the shared PostgreSQL connection. */
export interface BudgetSqlClient {
  query<R = Record<string, unknown>>(sql: string, params: unknown[]): Promise<R[]>;
  /** Schema from `database.schema`, when set. */
  schema?: string;
}

/**
 * What budgets and the threshold job share state through, decided once at bootstrap from the injected
 * connection owners (it opens nothing of its own and closes nothing: the owners do).
 * `scheduler.coordination` 'auto': Redis (`scheduler.redis`, else the cache's), then PostgreSQL
 * (`database.dataSource`, `database.url`, the host's TypeORM DataSource), then memory.
 */
@Injectable()
export class UsageBudgetCoordination {
  redis: UsageRedisCommands | null = null;
  sql: BudgetSqlClient | null = null;
  private resolving: Promise<void> | null = null;

  constructor(
    @Inject(USAGE_TRACKING_OPTIONS) private readonly options: UsageTrackingModuleOptions,
    @Inject(getUsageConnectionToken('scheduler-redis')) private readonly redisConnection: UsageRedisConnection,
    @Inject(getUsageConnectionToken('database')) private readonly database: UsageDatabaseConnection,
  ) {}

  get kind(): 'redis' | 'database' | 'memory' {
    return this.redis ? 'redis' : this.sql ? 'database' : 'memory';
  }

  /** Once; later calls share the first. */
  resolve(): Promise<void> {
    this.resolving ??= this.decide();
    return this.resolving;
  }

  private async decide(): Promise<void> {
    const mode = this.options.scheduler?.coordination ?? 'auto';
    if (mode === 'auto' || mode === 'redis') {
      if (this.redisConnection.configured) {
        assertPackagesFor('budgetsRedis');
        this.redis = await this.redisConnection.get();
        return;
      }
      if (mode === 'redis') throw new Error(`scheduler.coordination is 'redis' but no Redis is configured: set scheduler.redis or cache.url / cache.client`);
    }
    if (mode === 'memory') return;
    if (this.database.source === 'url') assertPackagesFor('budgetsPg');
    const db = this.database;
    // Opened on first query, like the driver's: PostgreSQL being down at boot does not stop the app.
    if (db.available()) this.sql = { schema: db.schema, query: (sql, params) => db.query(sql, params) };
    else if (mode === 'database') {
      throw new Error(`scheduler.coordination is 'database' but no PostgreSQL is available: set database.url / database.dataSource or import TypeOrmModule`);
    }
  }
}
