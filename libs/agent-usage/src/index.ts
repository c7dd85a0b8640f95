// The public API of `nestjs-agent-usage`, listed by name (the README's "Exports" section lists the same
// names; a test compares them). Everything else is internal. Test seams live in `nestjs-agent-usage/testing`,
// the TypeORM and Redis pieces in `nestjs-agent-usage/database` and `nestjs-agent-usage/cache`.

// Module and services
export { UsageTrackingModule } from './usage-tracking.module';
export type { UsageTrackingModuleAsyncOptions } from './usage-tracking.module-definition';
export type { UsageTrackingModuleOptions } from './interfaces/usage-tracking-options.interface';
export { UsageService } from './usage.service';
export type { UsageReader, ClearUsageOptions } from './storage/usage-storage.reader';
export type { UsageRecorderStats } from './record/usage.recorder';
export { UsagePricingService } from './pricing/pricing.service';
export type { PriceInput, PriceQuote, UnpricedModel } from './pricing/pricing.service';
export type { PricingOptions } from './pricing/pricing-options.interface';
export { PRICE_TABLE_ID } from './pricing/pricing.constants';
export { UsageBudgetService } from './budgets/budget.service';
export { UsageThresholdJob } from './budgets/thresholds/threshold.job';
export { UsageRuntimeAlerts } from './budgets/runtime/runtime-alerts.service';
export type { ThresholdRunResult } from './budgets/thresholds/threshold.job';

// Marking agents
export { TrackUsage } from './capture/track-usage.decorator';
export type { TrackUsageOptions } from './capture/track-usage.decorator';
export { UsageAgentFromParam } from './capture/usage-agent-from-param.decorator';
export type { UsageAttribution, ShouldTrackUsage, TrackUsageCall } from './context/usage-context';

// Records and reads
export type { UsageRecord, UsageRecordInput } from './interfaces/usage-record.interface';
export { RECORD_LIMITS } from './record/usage-record.factory';
export type {
  UsageFilters,
  UsagePageOptions,
  UsagePage,
  UsageDimension,
  UsageTotals,
  UsageGroup,
  UsageIdentity,
  NormalizedUsageFilters,
  RawUsageTotals,
  RawUsageGroup,
} from './interfaces/usage-query.interface';
export { normalizeResponse } from './normalize/normalize-usage';
export type { NormalizedUsage } from './normalize/normalize-usage';
export { nanoUsdToString } from './query/money';

// Analytics answers (UsageService.getUsageSummary() ... getRecommendations())
export type {
  UsagePeriod,
  UsageAttributionFilters,
  UsageRangeQuery,
  UsageRange,
  UsageTopModel,
  UsageSummary,
  UsageBreakdownGroup,
  UsageBreakdownItem,
  UsageBreakdown,
  UsageAnalyticsQuery,
  UsageDailyPoint,
  UsageDayFigure,
  UsageHourlyPoint,
  UsageSeries,
  UsageAnalytics,
  UsageFleetStatus,
  UsageFleetProjection,
  UsageFleetAgent,
  UsageFleet,
  UsageSpendLogsQuery,
  UsageSpendLogItem,
  UsageSpendLogs,
  UsageInvoiceQuery,
  UsageInvoiceLine,
  UsageInvoice,
  UsageRecommendationType,
  UsageRecommendation,
  UsageRecommendations,
  UsageAnalyticsOptions,
} from './analytics/analytics.interfaces';
export { USAGE_PERIODS, BREAKDOWN_GROUPS } from './analytics/analytics.interfaces';

// Storage drivers (database and cache: see the subpaths)
export type { UsageStorage, UsageStorageContext, UsageStorageStats } from './interfaces/usage-storage.interface';
export type { UsageDeadLetter } from './storage/usage-dead-letters';
export { MemoryUsageStorage } from './storage/memory/memory.storage';
export { FileUsageStorage } from './storage/file/file.storage';
export type { UsageDataSource, UsageRedisClient, UsageRedisOptions } from './interfaces/peer-types.interface';

// Budgets and alerts
export type {
  UsageBudgetDefinition,
  UsageBudgetWebhookOptions,
  UsageBudgetStatus,
  UsageBudgetStatusQuery,
  UsageThresholdEvent,
  UsageThresholdHandler,
} from './budgets/budget-options.interface';
export type {
  UsageAlertPayloadFields,
  UsageAlertBudgetFigures,
  UsageAlertProjection,
  UsageAlertCostDriver,
} from './budgets/thresholds/alert-payload';
export type { UsageAlert, UsageAlertInput, UsageAlertLevel, UsageAlertAction, UsageAlertDimension } from './budgets/runtime/runtime-alert.interface';
export { USAGE_ALERT_DIMENSIONS, USAGE_ALERT_ACTIONS } from './budgets/runtime/runtime-alert.interface';
export { UsageBudgetExceededError } from './budgets/budget-exceeded.error';
export type { UsageBudgetExceededBody } from './budgets/budget-exceeded.error';
export { USAGE_THRESHOLD_HANDLER, USAGE_THRESHOLD_EVENT, WEBHOOK_SIGNATURE_HEADER, WEBHOOK_TIMESTAMP_HEADER } from './budgets/budget.constants';
export { signUsageWebhook, verifyUsageWebhook } from './budgets/thresholds/webhook.notifier';

// Errors
export { UsageTrackingError, InvalidUsageInputError, InvalidUsageOptionsError, UnknownUsageStorageError } from './common/usage.errors';
export { MissingUsagePackageError } from './common/optional-packages';
