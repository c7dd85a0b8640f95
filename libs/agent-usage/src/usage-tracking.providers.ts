import type { Provider } from '@nestjs/common';
import { USAGE_TRACKING_OPTIONS } from './usage-tracking.constants';
import { USAGE_TRACKING_MODULE_OPTIONS } from './usage-tracking.module-definition';
import type { UsageTrackingModuleOptions } from './interfaces/usage-tracking-options.interface';
import { validateUsageTrackingOptions } from './options/usage-tracking-options.validator';
import { UsageStorageRegistry } from './storage/usage-storage.registry';
import { UsageRecorder } from './record/usage.recorder';
import { UsageService } from './usage.service';
import { UsageCaptureExplorer } from './capture/usage-capture.explorer';
import { UsageBudgetService } from './budgets/budget.service';
import { UsageThresholdJob } from './scheduler/threshold.job';
// Side effect: registers the `budgets` and `scheduler` option validators.
import './budgets/budget-options.validator';
import './scheduler/scheduler-options.validator';
import { UsagePricingService } from './pricing/pricing.service';
import { UsageTelemetryExporter } from './telemetry/usage-telemetry.exporter';
import { usageConnectionProviders } from './connections/usage-connection.providers';
import { UsageBudgetCoordination } from './budgets/budget-coordination';

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
  UsageCaptureExplorer,
  UsagePricingService,
  UsageBudgetCoordination,
  UsageBudgetService,
  UsageThresholdJob,
  UsageTelemetryExporter,
];
