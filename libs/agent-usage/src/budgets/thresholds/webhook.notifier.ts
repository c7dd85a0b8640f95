import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Logger } from '@nestjs/common';
import type { UsageBudgetStats, UsageBudgetWebhookOptions, UsageThresholdEvent } from '../budget-options.interface';
import {
  DEFAULT_WEBHOOK_RETRIES,
  DEFAULT_WEBHOOK_RETRY_DELAY_MS,
  DEFAULT_WEBHOOK_TIMEOUT_MS,
  USAGE_THRESHOLD_EVENT,
  WEBHOOK_DELIVERY_HEADER,
  WEBHOOK_EVENT_HEADER,
  WEBHOOK_SIGNATURE_HEADER,
  WEBHOOK_TIMESTAMP_HEADER,
} from '../budget.constants';
import { sleep } from '../../common/sleep';

/** `sha256=<hex>` of HMAC-SHA256(secret, `${timestamp}.${body}`); the timestamp (unix seconds) is signed too, against replays. */
export function signUsageWebhook(secret: string, timestamp: string | number, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/**
 * For receivers: checks the `x-agent-usage-signature` header against the raw body and the
 * `x-agent-usage-timestamp` header, in constant time; rejects timestamps older than `toleranceSec`.
 */
export function verifyUsageWebhook(
  secret: string,
  body: string | Buffer,
  headers: { timestamp: string | undefined; signature: string | undefined },
  toleranceSec = 300,
  nowMs = Date.now(),
): boolean {
  const { timestamp, signature } = headers;
  if (!timestamp || !signature || !/^\d+$/.test(timestamp)) return false;
  if (Math.abs(nowMs / 1000 - Number(timestamp)) > toleranceSec) return false;
  const expected = Buffer.from(signUsageWebhook(secret, timestamp, typeof body === 'string' ? body : body.toString('utf8')));
  const given = Buffer.from(signature);
  return given.length === expected.length && timingSafeEqual(given, expected);
}


/** Statuses worth another attempt; other 4xx are the receiver's final answer. */
const retryable = (status: number) => status >= 500 || status === 408 || status === 429;

/**
 * POSTs threshold events with global fetch: signed when a secret is set, retried with exponential
 * backoff (and jitter), each attempt bounded by a timeout. Never throws: a final failure is logged and
 * counted in `stats.webhookFailures`.
 */
export class UsageWebhookNotifier {
  constructor(
    private readonly logger: Logger,
    private readonly stats: UsageBudgetStats,
    /** True once the app is shutting down: no further retries. */
    private readonly closing: () => boolean,
  ) {}

  async deliver(hook: UsageBudgetWebhookOptions, event: UsageThresholdEvent): Promise<boolean> {
    const body = JSON.stringify(event);
    const retries = hook.retries ?? DEFAULT_WEBHOOK_RETRIES;
    const baseDelay = hook.retryDelayMs ?? DEFAULT_WEBHOOK_RETRY_DELAY_MS;
    let lastError = '';
    let attempts = 0;
    for (let attempt = 0; attempt <= retries; attempt++) {
      if (attempt > 0) {
        if (this.closing()) break;
        this.stats.webhookRetries++;
        await sleep(baseDelay * 2 ** (attempt - 1) * (0.75 + Math.random() * 0.5));
        if (this.closing()) break; // the app began closing during the backoff: no attempt after it
      }
      attempts++;
      const timestamp = String(Math.floor(Date.now() / 1000));
      const headers: Record<string, string> = {
        ...hook.headers,
        'content-type': 'application/json',
        'user-agent': 'nestjs-agent-usage',
        [WEBHOOK_EVENT_HEADER]: USAGE_THRESHOLD_EVENT,
        [WEBHOOK_DELIVERY_HEADER]: event.id,
        [WEBHOOK_TIMESTAMP_HEADER]: timestamp,
      };
      if (hook.secret) headers[WEBHOOK_SIGNATURE_HEADER] = signUsageWebhook(hook.secret, timestamp, body);
      try {
        const res = await fetch(hook.url, {
          method: 'POST',
          headers,
          body,
          signal: AbortSignal.timeout(hook.timeoutMs ?? DEFAULT_WEBHOOK_TIMEOUT_MS),
        });
        await res.arrayBuffer().catch(() => undefined); // free the socket
        if (res.ok) {
          this.stats.webhookDeliveries++;
          return true;
        }
        lastError = `HTTP ${res.status}`;
        if (!retryable(res.status)) break;
      } catch (e) {
        lastError = (e as Error).message;
      }
    }
    this.stats.webhookFailures++;
    this.logger.error(
      `budget "${event.budget}" ${event.level}% webhook to ${redact(hook.url)} failed after ${attempts} attempt(s) (last: ${lastError}); ${this.stats.webhookFailures} webhook failure(s) so far`,
    );
    return false;
  }
}

/** URLs may carry credentials or tokens in the query: log the origin and path only. */
function redact(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return '(invalid url)';
  }
}
