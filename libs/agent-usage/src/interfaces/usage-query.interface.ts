import { TOKEN_FIELDS, type AttributionField, type UsageRecord } from './usage-record.interface';

/** A value or a list of values (any of them matches). */
export type OneOrMany<T> = T | readonly T[];

/** Filters accepted by every `UsageService` read. All given filters must match (AND). */
export interface UsageFilters {
  agentName?: OneOrMany<string>;
  userId?: OneOrMany<string>;
  group?: OneOrMany<string>;
  chatName?: OneOrMany<string>;
  modelName?: OneOrMany<string>;
  providerName?: OneOrMany<string>;
  /** Records of these runs. */
  runId?: OneOrMany<string>;
  /** Failed records whose error has this class name (e.g. `RateLimitError`). */
  errorType?: OneOrMany<string>;
  /** Records of these operation categories ("chat" for model calls). */
  category?: OneOrMany<string>;
  /** One whole day, `YYYY-MM-DD`, in the configured time zone (UTC by default). */
  date?: string;
  /** First whole day, `YYYY-MM-DD`, inclusive. */
  dateFrom?: string;
  /** Last whole day, `YYYY-MM-DD`, inclusive: the whole of that day is included. */
  dateTo?: string;
  /** Instant, inclusive. */
  from?: Date | string;
  /** Instant, exclusive. */
  to?: Date | string;
  success?: boolean;
}

/**
 * Filters after validation, as drivers receive them: attribution lists and one half-open
 * instant range `[from, to)`. Day filters have already been turned into instants.
 */
export interface NormalizedUsageFilters {
  agentName?: string[];
  userId?: string[];
  group?: string[];
  chatName?: string[];
  modelName?: string[];
  providerName?: string[];
  runId?: string[];
  errorType?: string[];
  category?: string[];
  from?: Date;
  to?: Date;
  success?: boolean;
}

export interface UsagePageOptions {
  /** 1..10000, default 100. */
  limit?: number;
  /** Default 0. */
  offset?: number;
}

export interface UsagePage {
  items: UsageRecord[];
  limit: number;
  offset: number;
  hasMore: boolean;
}

/** Dimensions a group-by may use. Anything else is rejected before it reaches a driver. */
export const USAGE_DIMENSIONS = [
  'agentName',
  'userId',
  'group',
  'chatName',
  'modelName',
  'providerName',
  'runId',
  'errorType',
  'category',
  'day',
  'hour',
] as const;
export type UsageDimension = (typeof USAGE_DIMENSIONS)[number];
export type AttributionDimension = Extract<UsageDimension, AttributionField>;

/** The sums of `UsageTotals` (every numeric field); `exact` repeats each as a decimal string. */
export const USAGE_SUM_FIELDS = [
  'recordCount',
  'requests',
  ...TOKEN_FIELDS,
  'failedCount',
  'usageMissingCount',
  'costNanoUsd',
  'unpricedCount',
  'runCount',
  'agentRunCount',
  'units',
] as const;
export type UsageSumField = (typeof USAGE_SUM_FIELDS)[number];
/** Every sum as a decimal integer string (e.g. `"9007199254740993"`): exact at any size, JSON-safe. */
export type UsageExactTotals = Record<UsageSumField, string>;

/**
 * Sums over a set of records. Unknown (null) counts add nothing; `usageMissingCount` tells how many.
 *
 * Every sum is a `number`, exact up to `Number.MAX_SAFE_INTEGER` (2^53-1: about 9 quadrillion tokens, or
 * about $9M as nano-USD). Beyond that a number holds the nearest double, while `exact` (and `costUsd`) keep
 * the exact value at any size: read `exact.costNanoUsd` (`BigInt(totals.exact.costNanoUsd)` for arithmetic)
 * when a sum may be that large. The object is plain JSON: return it from a controller as it is.
 */
export interface UsageTotals {
  recordCount: number;
  requests: number;
  inputTokens: number;
  cachedInputTokens: number;
  cacheWriteTokens: number;
  outputTokens: number;
  reasoningTokens: number;
  totalTokens: number;
  failedCount: number;
  usageMissingCount: number;
  /** Sum of known costs, integer nano-USD. */
  costNanoUsd: number;
  /** The same sum as an exact decimal string in USD, e.g. "0.000123450". */
  costUsd: string;
  /** Records whose cost is unknown (no price for the model). */
  unpricedCount: number;
  /**
   * Runs started among these records: a run counts where its first record is (its agent, model, day...).
   * Exact for filters and groups that hold for a whole run (user, group, chat, run); see `agentRunCount`
   * for runs per agent.
   */
  runCount: number;
  /** Runs of each agent: a (run, agent) pair counts once, on that agent's first record in the run. */
  agentRunCount: number;
  /** Units of per-unit operations (records without units add nothing). */
  units: number;
  /** Every sum above as an exact decimal integer string. */
  exact: UsageExactTotals;
}

export interface UsageGroup extends UsageTotals {
  /** The dimension's value: an attribution value, `YYYY-MM-DD` for day, `YYYY-MM-DDTHH` for hour. */
  key: string | null;
}

/** A distinct combination of attribution values that has usage. */
export interface UsageIdentity {
  agentName: string | null;
  userId: string | null;
  group: string | null;
  chatName: string | null;
}

/**
 * What a driver returns for sums: numbers (safe integers only), bigints or integer strings (SQL
 * bigint/numeric) once a sum may pass 2^53-1. The service turns them into `UsageTotals`, exactly.
 */
export type RawCount = number | bigint | string;
export interface RawUsageTotals {
  recordCount: RawCount;
  requests: RawCount;
  inputTokens: RawCount;
  cachedInputTokens: RawCount;
  cacheWriteTokens: RawCount;
  outputTokens: RawCount;
  reasoningTokens: RawCount;
  totalTokens: RawCount;
  failedCount: RawCount;
  usageMissingCount: RawCount;
  costNanoUsd: RawCount;
  unpricedCount: RawCount;
  runCount: RawCount;
  agentRunCount: RawCount;
  units: RawCount;
}
export interface RawUsageGroup extends RawUsageTotals {
  key: string | null;
}
