import type { DecimalInput } from '../../pricing/pricing-options.interface';

/** Record fields a runtime alert can be scoped to. */
export const USAGE_ALERT_DIMENSIONS = ['agentName', 'userId', 'group', 'modelName', 'providerName', 'category'] as const;
export type UsageAlertDimension = (typeof USAGE_ALERT_DIMENSIONS)[number];

export const USAGE_ALERT_ACTIONS = ['webhook', 'pause_agent'] as const;
export type UsageAlertAction = (typeof USAGE_ALERT_ACTIONS)[number];

export const USAGE_ALERT_WINDOWS = ['hour', 'day', 'week', 'month'] as const;
export const USAGE_ALERT_METRICS = ['cost', 'tokens'] as const;

/** One level of a runtime alert: at `percent` of the limit, do `action` (once per window, across instances). */
export interface UsageAlertLevel {
  /** Integer 1..1000. */
  percent: number;
  action: UsageAlertAction;
}

/**
 * A budget made at run time (`UsageService.createAlert()`, or `POST alerts` of the HTTP module). Validated
 * like the module's `budgets` option. Give `agentName` (shorthand for `scope: { dimension: 'agentName' }`)
 * or `scope`; `dailyBudget` (USD, a day window of cost) or `limit` (+ `window`, `metric`).
 */
export interface UsageAlertInput {
  agentName?: string;
  scope?: { dimension: UsageAlertDimension; value: string };
  /** USD per calendar day (module time zone): `limit` with `window: 'day'` and `metric: 'cost'`. */
  dailyBudget?: DecimalInput;
  /** USD decimal for `cost`, a positive integer for `tokens`. */
  limit?: DecimalInput;
  /** Default `day`. */
  window?: 'hour' | 'day' | 'week' | 'month';
  /** Default `cost`. */
  metric?: 'cost' | 'tokens';
  alerts: UsageAlertLevel[];
  /** http(s) URL receiving the JSON POST of `webhook` levels (required by them). */
  webhookUrl?: string;
}

/** A stored runtime alert. */
export interface UsageAlert extends UsageAlertInput {
  id: string;
  /** ISO instant. */
  createdAt: string;
  /** A `pause_agent` level fired in the current window: tracked calls of the scope value are refused until it resets. */
  paused: boolean;
  /** ISO instant the pause ends (the window's end), or null. */
  pausedUntil: string | null;
}
