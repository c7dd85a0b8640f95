import { Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { ConfigurableModuleClass } from './usage-tracking.module-definition';
import { usageTrackingProviders } from './usage-tracking.providers';
import { UsageService } from './usage.service';
import { UsagePricingService } from './pricing/pricing.service';
import { UsageBudgetService } from './budgets/budget.service';
import { UsageThresholdJob } from './budgets/thresholds/threshold.job';
import { UsageRuntimeAlerts } from './budgets/runtime/runtime-alerts.service';

/**
 * `UsageTrackingModule.forRoot(options)` / `forRootAsync({ imports, inject, useFactory | useClass |
 * useExisting, isGlobal })`. Everything else (wrapping @TrackUsage agents, drivers, shutdown drain)
 * happens inside.
 */
@Module({
  imports: [DiscoveryModule],
  providers: usageTrackingProviders,
  exports: [UsageService, UsagePricingService, UsageBudgetService, UsageThresholdJob, UsageRuntimeAlerts],
})
export class UsageTrackingModule extends ConfigurableModuleClass {}
