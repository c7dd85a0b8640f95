import { Inject, Injectable } from '@nestjs/common';
import { USAGE_TRACKING_OPTIONS } from '../common/usage-tracking.constants';
import type { UsageDimension, UsageFilters, UsageGroup } from '../interfaces/usage-query.interface';
import type { UsageRecord } from '../interfaces/usage-record.interface';
import type { UsageTrackingModuleOptions } from '../interfaces/usage-tracking-options.interface';
import { UsageBudgetService } from '../budgets/budget.service';
import { UsagePricingService } from '../pricing/pricing.service';
import { UsageStorageRegistry } from '../storage/usage-storage.registry';
import { UsageStorageReader } from '../storage/usage-storage.reader';
import type { AnalyticsContext } from './analytics.context';
import type { CompiledBudget } from '../budgets/budget-options.interface';
import { UsageRuntimeAlerts } from '../budgets/runtime/runtime-alerts.service';
import { compileAlert } from '../budgets/runtime/runtime-alert.validator';
import type {
  UsageAnalytics,
  UsageAnalyticsQuery,
  UsageBreakdown,
  UsageBreakdownGroup,
  UsageFleet,
  UsageInvoice,
  UsageInvoiceQuery,
  UsagePeriod,
  UsageRangeQuery,
  UsageRecommendations,
  UsageSpendLogs,
  UsageSpendLogsQuery,
  UsageSummary,
} from './analytics.interfaces';
import { planRange, resolveRange, type ResolvedRange } from './usage-range.resolver';
import { getUsageSummary } from './summary.analytics';
import { getUsageBreakdown } from './breakdown.analytics';
import { getUsageAnalytics } from './trends.analytics';
import { getFleet } from './fleet.analytics';
import { exportUsage, getSpendLogs } from './spend-logs.analytics';
import { getInvoice } from './invoice.analytics';
import { getRecommendations } from './recommendations.analytics';

/**
 * The analytics answers over the primary driver: every figure comes from the store's sums
 * (`getUsageAggregate`, `getUsageGroupedBy`) or its pages (`getUsage`), never from a range's records
 * loaded into memory. `UsageService` delegates to it.
 */
@Injectable()
export class UsageAnalyticsService implements AnalyticsContext {
  readonly reader: UsageStorageReader;
  readonly timeZone: string;
  readonly options: NonNullable<UsageTrackingModuleOptions['analytics']>;

  constructor(
    @Inject(USAGE_TRACKING_OPTIONS) moduleOptions: UsageTrackingModuleOptions,
    registry: UsageStorageRegistry,
    readonly pricing: UsagePricingService,
    readonly budgets: UsageBudgetService,
    private readonly alerts: UsageRuntimeAlerts,
  ) {
    this.reader = new UsageStorageReader(registry, registry.primary, moduleOptions);
    this.timeZone = moduleOptions.timeZone ?? 'UTC';
    this.options = moduleOptions.analytics ?? {};
  }

  /** The budgets' clock (the `USAGE_CLOCK` seam in tests): "today" is the same day for budgets and periods. */
  now(): Date {
    return this.budgets.now();
  }

  async runtimeBudgets(): Promise<CompiledBudget[]> {
    if (!this.budgets.runtimeEnabled) return [];
    return (await this.alerts.list()).map((a) => compileAlert(a.id, a, null));
  }

  resolve(query: UsageRangeQuery, defaultPeriod: UsagePeriod, extraKeys: readonly string[] = []): Promise<ResolvedRange> {
    return resolveRange(query, {
      defaultPeriod,
      timeZone: this.timeZone,
      now: this.now(),
      extraKeys,
      usageDays: async (attribution) => {
        const days = (await this.groupBy('day', attribution)).filter((g) => g.key !== null && g.recordCount > 0);
        return days.length ? { first: days[0].key as string, last: days[days.length - 1].key as string } : null;
      },
    });
  }

  groupBy(dimension: UsageDimension, filters: UsageFilters): Promise<UsageGroup[]> {
    return this.reader.getUsageGroupedBy(dimension, filters);
  }

  getUsageSummary(query: UsageRangeQuery = {}): Promise<UsageSummary> {
    return getUsageSummary(this, query);
  }

  getUsageBreakdown(groupBy: UsageBreakdownGroup, query: UsageRangeQuery = {}): Promise<UsageBreakdown> {
    return getUsageBreakdown(this, groupBy, query);
  }

  getUsageAnalytics(query: UsageAnalyticsQuery = {}): Promise<UsageAnalytics> {
    return getUsageAnalytics(this, query);
  }

  getFleet(query: UsageRangeQuery = {}): Promise<UsageFleet> {
    return getFleet(this, query);
  }

  getSpendLogs(query: UsageSpendLogsQuery = {}): Promise<UsageSpendLogs> {
    return getSpendLogs(this, query);
  }

  /** Validates the query at once (a stream should refuse bad input before its first byte), then pages lazily. */
  exportUsage(query: UsageRangeQuery = {}): AsyncIterable<UsageRecord> {
    planRange(query, { defaultPeriod: 'all_time', timeZone: this.timeZone, now: this.now() });
    return exportUsage(this, query);
  }

  getInvoice(query: UsageInvoiceQuery): Promise<UsageInvoice> {
    return getInvoice(this, query);
  }

  getRecommendations(query: UsageRangeQuery = {}): Promise<UsageRecommendations> {
    return getRecommendations(this, query);
  }
}
