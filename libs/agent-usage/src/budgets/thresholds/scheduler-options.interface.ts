import type { UsageThresholdEvent, UsageThresholdHandler } from '../budget-options.interface';

/**
 * `scheduler` section: the threshold job, and how budget state is shared between app instances.
 * The host imports `ScheduleModule.forRoot()` itself; the library only registers its job through
 * `SchedulerRegistry`.
 */
export interface UsageSchedulerOptions {
  /** Cron expression of the threshold job (5 or 6 fields). Default `'0 * * * *'` (hourly). */
  cron?: string;
  /** Register the job. Default true (hard budgets are enforced either way). */
  enabled?: boolean;
  /** Job name in SchedulerRegistry. Default `nestjs-agent-usage:thresholds`. */
  name?: string;
  /** Time zone of the cron expression. Default: the module's `timeZone`. */
  timeZone?: string;
  /**
   * Where thresholds are de-duplicated and hard budgets counted across instances:
   * `auto` (default): Redis if a client is available, else PostgreSQL if a DataSource is, else memory
   * (memory is correct for ONE instance only: several instances would each fire every level and
   * enforce hard budgets with their own counters).
   */
  coordination?: 'auto' | 'redis' | 'database' | 'memory';
  /**
   * ioredis client (`Redis` or `Cluster`), `redis://` URL, or `{ cluster: { nodes, options? } }` (a Cluster
   * created here and quit on shutdown). Default: the cache driver's connection (`cache.client`,
   * `cache.clientToken`, `cache.url` / `cache.redisOptions`, `cache.cluster`).
   */
  redis?: unknown;
  /** Prefix of every Redis key of budgets. Default `agent-usage-budgets:`. */
  keyPrefix?: string;
  /** PostgreSQL table of fired thresholds (created if missing). Default `agent_usage_alerts`. */
  alertsTable?: string;
  /**
   * Runtime alerts (`UsageService.createAlert()`): budgets made at run time, stored in PostgreSQL (when a
   * database is configured), else Redis, else this process's memory (this instance only). Default true.
   */
  runtimeAlerts?: boolean;
  /** How often every instance reloads runtime alerts (and checks their levels), ms. Default 5000. */
  runtimeRefreshMs?: number;
  /** Webhook settings of every runtime alert (each gives its own URL), e.g. `{ secret }` to sign them. */
  runtimeWebhook?: Omit<import('../budget-options.interface').UsageBudgetWebhookOptions, 'url'>;
  /** PostgreSQL table of runtime alerts. Default `agent_usage_runtime_alerts`. */
  runtimeAlertsTable?: string;
  /** How long an admitted call holds its reservation if it never records (crash, error), ms. Default 60000. */
  reservationTtlMs?: number;
  /** How long a call near a hard limit waits for open calls to settle before it is refused, ms. Default 10000. */
  admissionTimeoutMs?: number;
  /** Handler of crossed thresholds: a provider class (resolved through ModuleRef), an instance or a function. */
  onThreshold?: (new (...args: any[]) => UsageThresholdHandler) | UsageThresholdHandler | ((event: UsageThresholdEvent) => void | Promise<void>);
  /** Tests only: the clock budget windows follow (see also the `USAGE_CLOCK` token). */
  clock?: () => Date;
}
