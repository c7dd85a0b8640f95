/**
 * The analytics answers (`UsageService.getUsageSummary()` ... `getRecommendations()`): typed, camelCase,
 * plain JSON apart from `Date`s in records. The HTTP module answers the same objects with keys turned into
 * snake_case, so every key here is camelCase and no key is data (status counts are lower-case fields).
 *
 * Money: every figure is a JSON number in USD plus an exact decimal string twin `<field>Exact` (nine
 * decimals, from integer nano-USD sums); the number is `Number(exact)`, never a float sum. Averages are
 * integer nano-USD rounded half-up. Percents have two decimals; lists of shares sum to exactly 100
 * (largest remainder).
 */
import type { UsageFilters } from '../interfaces/usage-query.interface';
import type { UsageRecord } from '../interfaces/usage-record.interface';
import type { DecimalInput } from '../pricing/pricing-options.interface';

export const USAGE_PERIODS = ['today', 'yesterday', 'week', 'month', 'all_time'] as const;
/** `week` = the calendar week to date, starting Monday; `month` = the calendar month to date; in the module's time zone. */
export type UsagePeriod = (typeof USAGE_PERIODS)[number];

/** The filters of `UsageFilters` but dates (a range query gives its days with a period or start/end days). */
export type UsageAttributionFilters = Omit<UsageFilters, 'date' | 'dateFrom' | 'dateTo' | 'from' | 'to'>;

/**
 * A period, or whole days `startDate`..`endDate` (YYYY-MM-DD, both inclusive, in the module's time zone).
 * Not both. `startDate` alone runs to today. Nothing given: each method's default period (summary,
 * breakdown, analytics, fleet and recommendations: `month`; logs and export: `all_time`).
 */
export interface UsageRangeQuery extends UsageAttributionFilters {
  period?: UsagePeriod;
  startDate?: string;
  endDate?: string;
}

/** The days a query covered. `all_time` starts on the first day with usage (null dates: no usage). */
export interface UsageRange {
  period: UsagePeriod | 'custom';
  startDate: string | null;
  endDate: string | null;
  timeZone: string;
  weekStartsOn: 'monday';
}

export interface UsageTopModel {
  model: string | null;
  /** The provider with the most cost (then calls) for this model; null when none was recorded. */
  provider: string | null;
  cost: number;
  costExact: string;
  calls: number;
  tokens: number;
}

export interface UsageSummary {
  range: UsageRange;
  amountSpent: number;
  amountSpentExact: string;
  operationCount: number;
  totalTokens: number;
  inputTokens: number;
  outputTokens: number;
  cachedTokens: number;
  reasoningTokens: number;
  /** Cost / operations, nano-USD rounded half-up; 0 without operations. */
  avgCostPerOperation: number;
  avgCostPerOperationExact: string;
  /** Successful operations / operations x 100 (two decimals, half-up); null without operations. */
  successRate: number | null;
  /** Up to 5 models ranked by cost (then calls, then name). */
  topModels: UsageTopModel[];
}

export const BREAKDOWN_GROUPS = ['model', 'agent', 'user', 'group', 'provider', 'category'] as const;
export type UsageBreakdownGroup = (typeof BREAKDOWN_GROUPS)[number];

export interface UsageBreakdownItem {
  /** The dimension's value; null collects records without one. */
  key: string | null;
  cost: number;
  costExact: string;
  calls: number;
  tokens: number;
  avgPerCall: number;
  avgPerCallExact: string;
  /** Share of the cost (of the calls when the total cost is 0); the list sums to 100. */
  percent: number;
}

export interface UsageBreakdown {
  range: UsageRange;
  groupBy: UsageBreakdownGroup;
  total: number;
  totalExact: string;
  models?: UsageBreakdownItem[];
  agents?: UsageBreakdownItem[];
  users?: UsageBreakdownItem[];
  groups?: UsageBreakdownItem[];
  providers?: UsageBreakdownItem[];
  categories?: UsageBreakdownItem[];
}

export interface UsageAnalyticsQuery extends UsageRangeQuery {
  groupBy?: 'day' | 'hour';
  splitBy?: 'agent' | 'model';
  /** With `splitBy`: how many keys get a series of their own, 1-50 (default 10); the rest are one `other` series. */
  seriesLimit?: number;
}

export interface UsageDayFigure {
  date: string;
  cost: number;
  costExact: string;
}

export interface UsageDailyPoint extends UsageDayFigure {
  operations: number;
  tokens: number;
}

export interface UsageHourlyPoint {
  /** Hour of the day, 0-23, wall clock in the module's time zone. */
  hour: number;
  /** Cost in that hour summed over the range / days in the range (nano-USD, half-up). */
  avgCost: number;
  avgCostExact: string;
  /** Operations in that hour / days in the range, two decimals (half-up). */
  avgOperations: number;
}

export interface UsageSeries {
  /** Agent or model name; null collects records without one (and, with `other`, the keys past `seriesLimit`). */
  key: string | null;
  /** Set on the null series when it also sums the keys past `seriesLimit` (it is then the last series). */
  other?: true;
  dailyUsage: UsageDailyPoint[];
}

export interface UsageAnalytics {
  range: UsageRange;
  /** Every day of the range, zeros included. */
  dailyUsage: UsageDailyPoint[];
  summary: {
    total: number;
    totalExact: string;
    /** Total / days in the range (nano-USD, half-up). */
    dailyAverage: number;
    dailyAverageExact: string;
    /** Highest-cost day (earliest on ties); null for an empty range. */
    peakDay: UsageDayFigure | null;
    /** Lowest-cost day, zero days included (earliest on ties). */
    lowestDay: UsageDayFigure | null;
    operations: number;
  };
  /** With `groupBy: 'hour'`: 24 rows. */
  hourlyUsage?: UsageHourlyPoint[];
  /** With `splitBy`: one series per agent / model with usage, highest cost first (the top `seriesLimit`, then the rest as one). */
  series?: UsageSeries[];
}

/** LOW < 50 %, NORMAL < 80 %, WARNING < 95 %, CRITICAL >= 95 % of the budget; null without a budget. */
export type UsageFleetStatus = 'LOW' | 'NORMAL' | 'WARNING' | 'CRITICAL';

export interface UsageFleetProjection {
  /** Window spend extrapolated linearly to the end of the budget window (nano-USD, half-up). */
  estimatedTotal: number;
  estimatedTotalExact: string;
  /** estimatedTotal / budget x 100. */
  percent: number;
  willExceedBudget: boolean;
  windowStart: string;
  windowEnd: string;
}

export interface UsageFleetAgent {
  name: string;
  /** Spend in the query's range. */
  spent: number;
  spentExact: string;
  operations: number;
  /** The cost budget that applies (the most used one when several do); null without one. */
  budget: number | null;
  budgetExact: string | null;
  /** Where the budget comes from: a configured budget's name, or `alert:<id>` for a runtime alert. */
  budgetSource: string | null;
  budgetWindow: 'hour' | 'day' | 'week' | 'month' | null;
  /** Spend in the budget's current window (what the budget counts). */
  windowSpent: number | null;
  windowSpentExact: string | null;
  /** windowSpent / budget x 100 (two decimals, half-up). */
  percent: number | null;
  status: UsageFleetStatus | null;
  projection: UsageFleetProjection | null;
}

export interface UsageFleet {
  range: UsageRange;
  /** Agents with usage in the range, then agents with a budget of their own; highest spend first. */
  agents: UsageFleetAgent[];
  totals: {
    spent: number;
    spentExact: string;
    /** Sum of the budgets listed. */
    budget: number;
    budgetExact: string;
    operations: number;
    agents: number;
    statusCounts: { low: number; normal: number; warning: number; critical: number; noBudget: number };
  };
}

export interface UsageSpendLogsQuery extends UsageRangeQuery {
  /** `nextCursor` of the previous page; `limit` 1..1000, default 50. */
  cursor?: string;
  limit?: number;
}

export type UsageSpendLogItem = UsageRecord & { cost: number | null; costExact: string | null };

export interface UsageSpendLogs {
  /** Newest first (then id descending). */
  items: UsageSpendLogItem[];
  /** Null on the last page. Stays correct when records arrive between pages. */
  nextCursor: string | null;
  limit: number;
}

export interface UsageInvoiceQuery extends UsageAttributionFilters {
  /** YYYY-MM, in the module's time zone. */
  month: string;
}

export interface UsageInvoiceLine {
  category: string;
  /** "chat" lines: one per model (`Chat: <model>`); other categories: one line each. */
  description: string;
  /** Tokens for chat lines, units for operation lines (`unit` says which). */
  usage: number;
  unit: 'tokens' | 'units';
  cost: number;
  costExact: string;
}

export interface UsageInvoice {
  /** First and last day of the month, YYYY-MM-DD. */
  periodStart: string;
  periodEnd: string;
  timeZone: string;
  currency: 'USD';
  lineItems: UsageInvoiceLine[];
  subtotal: number;
  subtotalExact: string;
  /** The highest tier whose `aboveUsd` the subtotal exceeds; 0 without one. */
  discountPercent: number;
  discount: number;
  discountExact: string;
  total: number;
  totalExact: string;
}

export type UsageRecommendationType = 'switch_model' | 'enable_prompt_caching' | 'fix_failures';

export interface UsageRecommendation {
  /** Stable for the same finding: `<type>:<subject>`. */
  id: string;
  type: UsageRecommendationType;
  title: string;
  problem: string;
  solution: string;
  /** USD per day: the range's saving / days in the range. */
  estimatedSavings: number;
  estimatedSavingsExact: string;
  /** Saving / the current cost of what it is about x 100. */
  percentReduction: number;
  /** By the saving's share of the range's total spend: high >= 10 %, medium >= 2 %, else low. */
  priority: 'high' | 'medium' | 'low';
  action: { type: UsageRecommendationType; [key: string]: unknown };
  /** Every input of the figures above (counts, prices, thresholds). */
  evidence: Record<string, unknown>;
}

export interface UsageRecommendations {
  range: UsageRange;
  /** Highest saving first. */
  recommendations: UsageRecommendation[];
  totalEstimatedSavings: number;
  totalEstimatedSavingsExact: string;
}

/** `UsageTrackingModuleOptions.analytics`. */
export interface UsageAnalyticsOptions {
  invoice?: {
    /** Volume discounts: a subtotal above `aboveUsd` gets `percent` off (0-100, up to 2 decimals). */
    discountTiers?: { aboveUsd: DecimalInput; percent: number }[];
  };
}
