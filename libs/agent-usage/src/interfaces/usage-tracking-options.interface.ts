import type { UsageStorageSpec } from './usage-storage.interface';
import type { PricingOptions } from '../pricing/pricing-options.interface';

/** Per AI-provider settings (keys are provider names such as `openai`, `anthropic`). */
export interface ProviderUsageOptions {
  /** Track calls of agents using this provider (beaten by the agent's class and method decorators). */
  trackUsage?: boolean;
  /** Where this provider's records go (beaten by the decorators). */
  storage?: UsageStorageSpec | UsageStorageSpec[];
}

export interface MemoryStorageOptions {
  /** Records kept before the oldest are evicted (evictions are logged and counted). Default 100000. */
  maxRecords?: number;
}

export interface FileStorageOptions {
  /** Folder of the JSON Lines files, one per UTC day. Default `./.usage-data`. */
  directory?: string;
}

/** The buffered writer that sits between `record()` and every driver. */
export interface UsageWriterOptions {
  /** Records per write. Default 500. */
  batchSize?: number;
  /** Longest time a record waits in the buffer, ms. Default 1000. */
  flushIntervalMs?: number;
  /** Records held in memory per driver before spilling to the spool file. Default 100000. */
  maxBufferedRecords?: number;
  /**
   * Root of the spool folders (one sub-folder per store: `<driver name>-<hash of its target>`).
   * Default `<os tmpdir>/nestjs-agent-usage/<package name>-<hash of the working directory>`: per app.
   */
  spoolDirectory?: string;
  /** First retry delay after a failed write, ms (doubles up to `maxRetryDelayMs`). Default 200. */
  retryDelayMs?: number;
  /** Default 30000. */
  maxRetryDelayMs?: number;
  /** How long shutdown waits for the store before spooling what is left, ms. Default 10000. */
  shutdownTimeoutMs?: number;
}

export interface UsageTrackingModuleOptions {
  /** Global default for tracking; off when absent. Beaten by provider config, class and method. */
  trackUsage?: boolean;
  /** Driver(s) for records; the first one answers reads. Default `memory`. */
  storage?: UsageStorageSpec | UsageStorageSpec[];
  providers?: Record<string, ProviderUsageOptions>;
  /** Provider name used when neither the decorator nor the response tells. */
  defaultProvider?: string;
  /** IANA time zone that defines days and hours in filters and group-bys. Default `UTC`. */
  timeZone?: string;
  /** Reads first wait for this process's buffered writes to the read driver (read-your-writes). Default true. */
  consistentReads?: boolean;
  memory?: MemoryStorageOptions;
  file?: FileStorageOptions;
  writer?: UsageWriterOptions;
  /** PostgreSQL driver settings (see storage/database). */
  database?: import('../storage/database/database-storage.options').DatabaseStorageOptions;
  /** Redis driver settings (see storage/cache). */
  cache?: import('../storage/cache/cache-storage.options').CacheStorageOptions;
  /** Prices (see pricing/). */
  pricing?: PricingOptions;
  /** Budgets and thresholds (see budgets/). */
  budgets?: import('../budgets/budget-options.interface').UsageBudgetDefinition[];
  /** Export of every record as OpenTelemetry GenAI metrics (see telemetry/). */
  telemetry?: import('../telemetry/usage-telemetry.options').UsageTelemetryOptions;
  /** The threshold job and cross-instance budget state (see scheduler/). */
  scheduler?: import('../budgets/thresholds/scheduler-options.interface').UsageSchedulerOptions;
  /** Analytics answers: invoice discount tiers (see analytics/). */
  analytics?: import('../analytics/analytics.interfaces').UsageAnalyticsOptions;
}
