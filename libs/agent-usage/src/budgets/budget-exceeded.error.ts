import { HttpException, HttpStatus } from '@nestjs/common';
import type { UsageBudgetStatus } from './budget-options.interface';
import { nanoUsdToString } from '../query/money';

/** JSON body of a refused call (what an HTTP client receives with the 429). */
export interface UsageBudgetExceededBody {
  statusCode: 429;
  error: 'budget_exceeded';
  message: string;
  /**
   * `limit_reached`: the window's budget is spent; `in_flight`: calls already running may spend the rest;
   * `paused`: a runtime alert's `pause_agent` level fired (until the window resets or the alert is deleted).
   */
  reason: 'limit_reached' | 'in_flight' | 'paused';
  budget: string;
  scope: UsageBudgetStatus['scope'];
  metric: UsageBudgetStatus['metric'];
  unit: UsageBudgetStatus['unit'];
  window: { type: string; start: string; end: string; timeZone: string };
  limit: number;
  used: number;
  limitUsd?: string;
  usedUsd?: string;
  /** ISO instant the window ends and calls are admitted again. */
  resetAt: string;
}

function amount(unit: UsageBudgetStatus['unit'], n: number): string {
  return unit === 'nano_usd' ? `${nanoUsdToString(n)} USD` : `${n} ${unit}`;
}

/**
 * Thrown (before the agent runs) when a tracked call would spend a hard (`pause`) budget. An
 * `HttpException` with status 429, so inside an HTTP request Nest answers 429 with `getResponse()` as body.
 */
export class UsageBudgetExceededError extends HttpException {
  readonly body: UsageBudgetExceededBody;

  constructor(
    status: Pick<UsageBudgetStatus, 'budget' | 'scope' | 'metric' | 'unit' | 'window' | 'limit' | 'used' | 'resetAt'>,
    reason: UsageBudgetExceededBody['reason'] = 'limit_reached',
  ) {
    const scope = status.scope.value !== null ? `${status.scope.type}=${status.scope.value}` : status.scope.match ? `${status.scope.type} in [${status.scope.match.join(', ')}]` : 'global';
    const message =
      reason === 'paused'
        ? // The spend that crossed the level was counted by the instance that fired it: `used` is this process's view.
          `Usage alert "${status.budget}" paused ${scope} (${status.window.type} window, limit ${amount(status.unit, status.limit)}): its pause_agent level was crossed; calls resume at ${status.resetAt.toISOString()} or when the alert is deleted`
        : reason === 'limit_reached'
        ? `Usage budget "${status.budget}" (${scope}, ${status.window.type}) is spent: used ${amount(status.unit, status.used)} of ${amount(status.unit, status.limit)}; resets at ${status.resetAt.toISOString()}`
        : `Usage budget "${status.budget}" (${scope}, ${status.window.type}) is nearly spent and calls in flight may spend the rest (used ${amount(status.unit, status.used)} of ${amount(status.unit, status.limit)}); retry shortly or after ${status.resetAt.toISOString()}`;
    const body: UsageBudgetExceededBody = {
      statusCode: HttpStatus.TOO_MANY_REQUESTS,
      error: 'budget_exceeded',
      message,
      reason,
      budget: status.budget,
      scope: status.scope,
      metric: status.metric,
      unit: status.unit,
      window: {
        type: status.window.type,
        start: status.window.start.toISOString(),
        end: status.window.end.toISOString(),
        timeZone: status.window.timeZone,
      },
      limit: status.limit,
      used: status.used,
      ...(status.unit === 'nano_usd' ? { limitUsd: nanoUsdToString(status.limit), usedUsd: nanoUsdToString(status.used) } : {}),
      resetAt: status.resetAt.toISOString(),
    };
    super(body, HttpStatus.TOO_MANY_REQUESTS);
    this.body = body;
    this.name = 'UsageBudgetExceededError';
  }
}
