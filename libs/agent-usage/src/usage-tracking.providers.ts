import type { Provider } from '@nestjs/common';
import { USAGE_TRACKING_OPTIONS } from './common/usage-tracking.constants';
import { USAGE_TRACKING_MODULE_OPTIONS } from './usage-tracking.module-definition';
import type { UsageTrackingModuleOptions } from './interfaces/usage-tracking-options.interface';
import { validateUsageTrackingOptions } from './options/usage-tracking-options.validator';
import { UsageStorageRegistry } from './storage/usage-storage.registry';
import { UsageRecorder } from './record/usage.recorder';
import { UsageService } from './usage.service';
import { UsageCaptureExplorer } from './capture/usage-capture.explorer';
import { TrackedCallInvoker } from './capture/tracked-call.invoker';
import { TrackUsageMetadataAccessor } from './capture/track-usage-metadata.accessor';
import { UsageBudgetService } from './budgets/budget.service';
import { UsageThresholdJob } from './budgets/thresholds/threshold.job';
// Side effect: registers the `budgets` and `scheduler` option validators.
import './budgets/budget-options.validator';
import './budgets/thresholds/scheduler-options.validator';
import { UsagePricingService } from './pricing/pricing.service';
import { UsageTelemetryExporter } from './telemetry/usage-telemetry.exporter';
import { usageConnectionProviders } from './connections/usage-connection.providers';
import { UsageBudgetCoordination } from './budgets/budget-coordination';
import { UsageAnalyticsService } from './analytics/usage-analytics.service';
import { UsageRuntimeAlerts } from './budgets/runtime/runtime-alerts.service';

export const usageTrackingProviders: Provider[] = [
  {
    // Validation happens here, while the app boots: a bad option stops the boot with every problem named.
    provide: USAGE_TRACKING_OPTIONS,
    useFactory: (options: UsageTrackingModuleOptions) => validateUsageTrackingOptions(options),
    inject: [USAGE_TRACKING_MODULE_OPTIONS],
  },
  ...usageConnectionProviders,
  UsageStorageRegistry,
  UsageRecorder,
  UsageService,
  TrackedCallInvoker,
  TrackUsageMetadataAccessor,
  UsageCaptureExplorer,
  UsagePricingService,
  UsageBudgetCoordination,
  UsageBudgetService,
  UsageThresholdJob,
  UsageRuntimeAlerts,
  UsageTelemetryExporter,
  UsageAnalyticsService,
];
