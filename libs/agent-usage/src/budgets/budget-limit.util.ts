import type { UsageBudgetMetric } from './budget-options.interface';

const USD_RE = /^(\d{1,16})(?:\.(\d{1,9}))?$/;
const INT_RE = /^\d{1,16}$/;

/**
 * An amount of a metric as an exact integer: USD decimal -> nano-USD for cost (string arithmetic, no
 * floats), a non-negative integer for tokens/requests. Returns null when not representable exactly.
 */
export function parseBudgetAmount(metric: UsageBudgetMetric, value: unknown): number | null {
  let text: string;
  if (typeof value === 'string') text = value.trim();
  else if (typeof value === 'number' && Number.isFinite(value) && value >= 0) {
    // A number's shortest decimal form (e.g. 0.1 -> "0.1") is what the user wrote.
    text = String(value);
    if (/e/i.test(text)) return null;
  } else return null;
  if (metric === 'cost') {
    const m = USD_RE.exec(text);
    if (!m) return null;
    const nano = BigInt(m[1]) * 1_000_000_000n + BigInt((m[2] ?? '').padEnd(9, '0'));
    return nano <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(nano) : null;
  }
  if (!INT_RE.test(text)) return null;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : null;
}

export function amountExpectation(metric: UsageBudgetMetric): string {
  return metric === 'cost'
    ? `a USD decimal such as '25.00' (at most 9 decimals, below 9007199.254740991 USD)`
    : 'a non-negative integer';
}
