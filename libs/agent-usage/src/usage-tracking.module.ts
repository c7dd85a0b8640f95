import { Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { ConfigurableModuleClass } from './usage-tracking.module-definition';
import { usageTrackingProviders } from './usage-tracking.providers';
import { UsageService } from './usage.service';
import { USAGE_TRACKING_OPTIONS } from './usage-tracking.constants';

/**
 * `UsageTrackingModule.forRoot(options)` / `forRootAsync({ imports, inject, useFactory | useClass |
 * useExisting, isGlobal })`. Everything else (wrapping @TrackUsage agents, drivers, shutdown drain)
 * happens inside.
 */
@Module({
  imports: [DiscoveryModule],
  providers: usageTrackingProviders,
  exports: [UsageService, USAGE_TRACKING_OPTIONS],
})
export class UsageTrackingModule extends ConfigurableModuleClass {}
