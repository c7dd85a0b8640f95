/**
 * Clock seam for budgets and the threshold job: provide `{ provide: USAGE_CLOCK, useValue: () => Date }`
 * (tests only) to move budget windows without waiting. Looked up with ModuleRef, `strict: false`.
 */
export const USAGE_CLOCK = Symbol('USAGE_CLOCK');
/**
 * Optional host provider receiving every crossed threshold of budgets with the `event` action:
 * an object with `handle(event)` or a function. Looked up with ModuleRef, `strict: false`.
 */
export const USAGE_THRESHOLD_HANDLER = Symbol('USAGE_THRESHOLD_HANDLER');
/** EventEmitter2 event name (when @nestjs/event-emitter is installed and imported by the host). */
export const USAGE_THRESHOLD_EVENT = 'usage.threshold.crossed';

export const BUDGET_SCOPES = ['global', 'agent', 'user', 'group', 'provider', 'model', 'category'] as const;
export const BUDGET_WINDOWS = ['hour', 'day', 'week', 'month'] as const;
export const BUDGET_METRICS = ['cost', 'tokens', 'requests'] as const;
export const BUDGET_ACTIONS = ['event', 'webhook', 'log', 'pause'] as const;

export const DEFAULT_BUDGET_LEVELS = [80, 100];
export const DEFAULT_CRON = '0 * * * *';
export const DEFAULT_JOB_NAME = 'nestjs-agent-usage:thresholds';
/** Outside the cache driver's default `agent-usage:` namespace, so clearing one never touches the other. */
export const DEFAULT_KEY_PREFIX = 'agent-usage-budgets:';
export { DEFAULT_ALERTS_TABLE } from '../storage/database/database-storage.options';
export const DEFAULT_RESERVATION_TTL_MS = 60_000;
export const DEFAULT_ADMISSION_TIMEOUT_MS = 10_000;
export const DEFAULT_WEBHOOK_RETRIES = 3;
export const DEFAULT_WEBHOOK_RETRY_DELAY_MS = 1_000;
export const DEFAULT_WEBHOOK_TIMEOUT_MS = 10_000;
/** Header carrying `sha256=<hex>` of HMAC-SHA256(secret, `${timestamp}.${body}`). */
export const WEBHOOK_SIGNATURE_HEADER = 'x-agent-usage-signature';
export const WEBHOOK_TIMESTAMP_HEADER = 'x-agent-usage-timestamp';
export const WEBHOOK_DELIVERY_HEADER = 'x-agent-usage-delivery';
export const WEBHOOK_EVENT_HEADER = 'x-agent-usage-event';
