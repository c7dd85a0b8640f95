import { Logger, type Provider } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import type { UsageTrackingModuleOptions } from '../interfaces/usage-tracking-options.interface';
import { USAGE_TRACKING_OPTIONS } from '../common/usage-tracking.constants';
import { UsageDatabaseConnection } from './database.connection';
import { UsageRedisConnection, type UsageRedisSource } from './redis.connection';
import { getUsageConnectionToken } from './usage-connection.tokens';

/** The client source keys of the `cache` section. */
function cacheSource(options: UsageTrackingModuleOptions): UsageRedisSource {
  const { client, clientToken, url, redisOptions } = options.cache ?? {};
  return { client, clientToken, url, redisOptions };
}

/**
 * One owner per configured backend, created once per module: nothing connects until a driver, budgets or
 * the threshold job asks, so an app that configures neither pays nothing.
 */
export const usageConnectionProviders: Provider[] = [
  {
    provide: getUsageConnectionToken('database'),
    useFactory: (options: UsageTrackingModuleOptions, moduleRef: ModuleRef) =>
      new UsageDatabaseConnection(options.database ?? {}, moduleRef, new Logger('UsageTracking')),
    inject: [USAGE_TRACKING_OPTIONS, ModuleRef],
  },
  {
    provide: getUsageConnectionToken('redis'),
    useFactory: (options: UsageTrackingModuleOptions, moduleRef: ModuleRef) =>
      new UsageRedisConnection(cacheSource(options), moduleRef, new Logger('UsageTracking'), 'cache'),
    inject: [USAGE_TRACKING_OPTIONS, ModuleRef],
  },
  {
    // `scheduler.redis` is a Redis of its own; without it budgets share the cache's connection.
    provide: getUsageConnectionToken('scheduler-redis'),
    useFactory: (options: UsageTrackingModuleOptions, moduleRef: ModuleRef, cache: UsageRedisConnection) => {
      const spec = options.scheduler?.redis;
      if (spec === undefined) return cache;
      const source: UsageRedisSource = typeof spec === 'string' ? { url: spec } : { client: spec };
      return new UsageRedisConnection(source, moduleRef, new Logger('UsageBudgets'), 'scheduler.redis', 'budgetsRedis');
    },
    inject: [USAGE_TRACKING_OPTIONS, ModuleRef, getUsageConnectionToken('redis')],
  },
];
