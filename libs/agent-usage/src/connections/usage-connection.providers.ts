import { Logger, type Provider } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import type { UsageTrackingModuleOptions } from '../interfaces/usage-tracking-options.interface';
import { USAGE_TRACKING_OPTIONS } from '../common/usage-tracking.constants';
import { UsageDatabaseConnection } from './database.connection';
import { UsageRedisConnection, redisSourceOf, type UsageRedisSource } from './redis.connection';
import { getUsageConnectionToken } from './usage-connection.tokens';
import { isClusterSpec } from './redis-cluster.source';

/** The client source keys of the `cache` section. */
function cacheSource(options: UsageTrackingModuleOptions): UsageRedisSource {
  return redisSourceOf(options.cache ?? {});
}

/** `scheduler.redis`: a `redis://` URL, `{ cluster: { nodes, options? } }`, or a client (Redis or Cluster). */
export function schedulerRedisSource(spec: unknown): UsageRedisSource {
  if (typeof spec === 'string') return { url: spec };
  if (isClusterSpec(spec)) return { cluster: spec.cluster };
  return { client: spec };
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
      return new UsageRedisConnection(schedulerRedisSource(spec), moduleRef, new Logger('UsageBudgets'), 'scheduler.redis', 'budgetsRedis');
    },
    inject: [USAGE_TRACKING_OPTIONS, ModuleRef, getUsageConnectionToken('redis')],
  },
];
