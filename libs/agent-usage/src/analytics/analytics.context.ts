import type { UsageDimension, UsageFilters, UsageGroup } from '../interfaces/usage-query.interface';
import type { UsageReader } from '../storage/usage-storage.reader';
import type { UsagePricingService } from '../pricing/pricing.service';
import type { UsageBudgetService } from '../budgets/budget.service';
import type { CompiledBudget } from '../budgets/budget-options.interface';
import type { UsageAnalyticsOptions, UsagePeriod, UsageRangeQuery } from './analytics.interfaces';
import type { ResolvedRange } from './usage-range.resolver';

/** A cost budget on one agent (or on every agent: `agentName` null), from options or a runtime alert. */
export interface AgentCostBudget {
  /** Budget name, or `alert:<id>`. */
  source: string;
  /** null: a per-agent budget that applies to every agent. */
  agentName: string | null;
  window: 'hour' | 'day' | 'week' | 'month';
  limitNano: bigint;
}

/** What every analytics answer reads: the store (through the reader), the clock, prices and budgets. */
export interface AnalyticsContext {
  reader: UsageReader;
  timeZone: string;
  now(): Date;
  pricing: UsagePricingService;
  budgets: UsageBudgetService;
  options: UsageAnalyticsOptions;
  /** Runtime alerts as compiled budgets (fresh from their store); none with `scheduler.runtimeAlerts: false`. */
  runtimeBudgets(): Promise<CompiledBudget[]>;
  resolve(query: UsageRangeQuery, defaultPeriod: UsagePeriod, extraKeys?: readonly string[]): Promise<ResolvedRange>;
  /** `getUsageGroupedBy` of the primary driver. */
  groupBy(dimension: UsageDimension, filters: UsageFilters): Promise<UsageGroup[]>;
}
