// Type-checked by run.sh (tsc, module nodenext, strict, skipLibCheck false), never run: an ESM TypeScript
// host on NestJS 12 imports the CommonJS package, its /cache subpath and the threshold event types next to
// @nestjs/schedule 12. ioredis 6 is installed (smoke.mjs runs the cache driver on it) but its types are
// not imported here: ioredis 6.1.0's own .d.ts files fail with skipLibCheck false (TS7016, 'redis-errors'
// has no types), which is why the library keeps ioredis types out of everything but its /cache internals.
import 'reflect-metadata';
import { Injectable, Module } from '@nestjs/common';
import { ScheduleModule } from '@nestjs/schedule';
import {
  TrackUsage,
  UsageService,
  UsageTrackingModule,
  type UsageRedisClient,
  type UsageThresholdEvent,
  type UsageTotals,
  type UsageTrackingModuleOptions,
} from 'nestjs-agent-usage';
import { CacheUsageStorage } from 'nestjs-agent-usage/cache';

@Injectable()
@TrackUsage({ agentName: 'typed' })
export class TypedAgent {
  constructor(private readonly usage: UsageService) {}

  async spent(): Promise<string> {
    const totals: UsageTotals = await this.usage.getUsageAggregate({ agentName: 'typed' });
    return totals.exact.costNanoUsd;
  }
}

export function options(client: UsageRedisClient): UsageTrackingModuleOptions[] {
  const redisOptions = { host: '127.0.0.1', port: 6379, enableOfflineQueue: false };
  return [
    { storage: 'cache', cache: { client } },
    { storage: ['cache', 'memory'], cache: { url: 'redis://127.0.0.1:6379', redisOptions } },
    { scheduler: { onThreshold: (e: UsageThresholdEvent) => void e.budget } },
  ];
}

@Module({
  imports: [ScheduleModule.forRoot(), UsageTrackingModule.forRoot({ trackUsage: true, storage: 'memory' })],
  providers: [TypedAgent],
})
export class TypedModule {}

export const driver: typeof CacheUsageStorage = CacheUsageStorage;
