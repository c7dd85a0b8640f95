import type { UsageAlertPayloadFields } from './thresholds/alert-payload';
import type { BUDGET_ACTIONS, BUDGET_METRICS, BUDGET_SCOPES, BUDGET_WINDOWS } from './budget.constants';

export type UsageBudgetScope = (typeof BUDGET_SCOPES)[number];
export type UsageBudgetWindow = (typeof BUDGET_WINDOWS)[number];
export type UsageBudgetMetric = (typeof BUDGET_METRICS)[number];
export type UsageBudgetAction = (typeof BUDGET_ACTIONS)[number];

export interface UsageBudgetWebhookOptions {
  /** http(s) URL receiving a JSON POST per crossed level. */
  url: string;
  /** Signs each delivery: header `x-agent-usage-signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`. */
  secret?: string;
  /** Retries after the first attempt (exponential backoff). Default 3. */
  retries?: number;
  /** First retry delay, ms (doubles each retry). Default 1000. */
  retryDelayMs?: number;
  /** Per-attempt timeout, ms. Default 10000. */
  timeoutMs?: number;
  /** Extra request headers (e.g. an Authorization header). */
  headers?: Record<string, string>;
}

/**
 * One budget. `scope` x `window` x `metric`, alert `levels` (percent of `limit`) and `actions`.
 *
 * - `match` omitted: each value of the scope has its own budget (e.g. every user gets $5/day);
 *   `match: 'support'` or `['a', 'b']`: one budget shared by those values. Not allowed with `global`.
 * - `limit`: USD decimal for `cost` (a string such as `'25.00'`, up to 9 decimals, converted exactly to
 *   nano-USD); a positive integer for `tokens` (total tokens) and `requests`.
 * - Windows are calendar-aligned in the module's `timeZone` (UTC by default); weeks start on Monday.
 */
export interface UsageBudgetDefinition {
  /** Unique; names the budget in events, errors and `getBudgetStatus()`. */
  name: string;
  scope: UsageBudgetScope;
  match?: string | string[];
  window: UsageBudgetWindow;
  /** Default `cost`. Records without a known cost add nothing to a cost budget. */
  metric?: UsageBudgetMetric;
  limit: string | number;
  /** Percent levels (integers 1..1000) that alert once per window each. Default [80, 100]. */
  levels?: number[];
  /** Default `['event', 'log']`, plus `'webhook'` when `webhook` is set. `pause` makes it a hard budget. */
  actions?: UsageBudgetAction[];
  webhook?: UsageBudgetWebhookOptions;
  /**
   * Hard budgets: the most one call may add (USD decimal for cost, integer otherwise). Calls are admitted
   * concurrently only while `used + (open calls + 1) x reserve <= limit`. Default: the largest record seen.
   */
  reserve?: string | number;
}

/** A budget after validation: limits as integers in the metric's unit (nano-USD for cost). */
export interface CompiledBudget {
  name: string;
  scope: UsageBudgetScope;
  /** null: one budget per scope value. */
  match: string[] | null;
  window: UsageBudgetWindow;
  metric: UsageBudgetMetric;
  limit: number;
  reserve: number;
  levels: number[];
  actions: Set<UsageBudgetAction>;
  webhook: UsageBudgetWebhookOptions | null;
  /** `pause` in actions. */
  hard: boolean;
  /** Set on budgets made at run time (`UsageService.createAlert()`). */
  runtime?: RuntimeBudgetInfo;
}

/** What a runtime alert adds to its compiled budget. */
export interface RuntimeBudgetInfo {
  id: string;
  /** The one scope value the alert watches. */
  value: string;
  /** Actions per percent level. */
  levelActions: Map<number, Set<'webhook' | 'pause_agent'>>;
  /** Epoch ms a `pause_agent` level pauses the scope value until (its window's end), or null. */
  pausedUntil: number | null;
}

/** What `getBudgetStatus()` accepts: a budget name, or a scope (and value) to list every budget that applies. */
export type UsageBudgetStatusQuery = string | { name?: string; scope?: UsageBudgetScope; value?: string };

/** Which spend a budget status is about. */
export interface UsageBudgetScopeRef {
  type: UsageBudgetScope;
  /** The value of a per-value budget (e.g. the user id); null for global and shared (`match`) budgets. */
  value: string | null;
  /** The values a shared budget covers. */
  match?: string[];
}

/** A calendar window, `[start, end)`, aligned in `timeZone`. */
export interface UsageBudgetWindowRef {
  type: UsageBudgetWindow;
  start: Date;
  end: Date;
  timeZone: string;
}

/**
 * A budget's state in its current window. Amounts are integers in the metric's unit: nano-USD (1e-9 USD)
 * for cost, tokens, or requests; cost budgets also carry exact USD decimal strings.
 */
export interface UsageBudgetStatus {
  budget: string;
  scope: UsageBudgetScopeRef;
  metric: UsageBudgetMetric;
  unit: 'nano_usd' | 'tokens' | 'requests';
  window: UsageBudgetWindowRef;
  /** = window.end: when the budget starts from zero again. */
  resetAt: Date;
  limit: number;
  used: number;
  /** max(0, limit - used). */
  remaining: number;
  /** used / limit x 100, two decimals. */
  percent: number;
  /** Linear projection of `used` to the end of the window. */
  projection: number;
  projectedPercent: number;
  /** Hard budget and spent: tracked calls in this scope are refused until `resetAt`. */
  paused: boolean;
  limitUsd?: string;
  usedUsd?: string;
  remainingUsd?: string;
  projectionUsd?: string;
}

/** One entry of the top cost drivers of a crossed threshold. */
export interface UsageCostDriver {
  key: string | null;
  costNanoUsd: number;
  costUsd: string;
  totalTokens: number;
  requests: number;
}

/**
 * Payload of the `usage.threshold.crossed` event, the handler call and the webhook body: the budget
 * status (camelCase) plus the snake_case fields hosted agent-usage APIs send (`alert_type`, `budget`...).
 */
export interface UsageThresholdEvent extends UsageBudgetStatus, UsageAlertPayloadFields {
  type: 'usage.threshold.crossed';
  /** Stable per budget x scope value x window x level: receivers can de-duplicate on it. */
  id: string;
  level: number;
  firedAt: Date;
  topCostDrivers: { models: UsageCostDriver[]; agents: UsageCostDriver[] };
}

/** A host handler for crossed thresholds (`USAGE_THRESHOLD_HANDLER` provider or `scheduler.onThreshold`). */
export interface UsageThresholdHandler {
  handle(event: UsageThresholdEvent): void | Promise<void>;
}
export type UsageThresholdHandlerFn = (event: UsageThresholdEvent) => void | Promise<void>;

/** Counters of the budget machinery (`UsageBudgetService.getStats()`). */
export interface UsageBudgetStats {
  /** Tracked calls refused by a hard budget. */
  refusedCalls: number;
  /** Threshold levels fired (after de-duplication). */
  thresholdsFired: number;
  jobRuns: number;
  jobErrors: number;
  webhookDeliveries: number;
  webhookRetries: number;
  /** Webhooks that failed after every retry (each one logged). */
  webhookFailures: number;
  /** Event emitter / handler errors (logged). */
  handlerErrors: number;
  /** Redis errors on the enforcement path (the check fell back to this process's counters). */
  coordinationErrors: number;
  lastRunAt: Date | null;
}
