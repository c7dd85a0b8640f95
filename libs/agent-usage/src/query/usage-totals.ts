import { USAGE_SUM_FIELDS } from '../interfaces/usage-query.interface';
import type { RawCount, RawUsageTotals, UsageExactTotals, UsageSumField, UsageTotals } from '../interfaces/usage-query.interface';
import { UsageTrackingError } from '../common/usage.errors';
import { nanoUsdToString } from './money';

/** A driver's sum as an exact bigint; a non-integer is a driver bug and is refused, never rounded. */
export function exactCount(field: string, v: RawCount): bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new UsageTrackingError(`storage returned ${field} = ${v}, not a safe integer; return a bigint or an integer string`);
    return BigInt(v);
  }
  const m = /^(-?\d+)(?:\.0*)?$/.exec(v.trim());
  if (!m) throw new UsageTrackingError(`storage returned a non-integer ${field}: ${v}`);
  return BigInt(m[1]);
}

/**
 * The one conversion from a driver's raw sums to the public totals: numbers (exact up to 2^53-1) plus
 * `exact` decimal strings and `costUsd`, so no size of sum throws or loses a digit.
 */
export function toTotals(raw: RawUsageTotals): UsageTotals {
  const numbers = {} as Record<UsageSumField, number>;
  const exact = {} as UsageExactTotals;
  for (const k of USAGE_SUM_FIELDS) {
    const b = exactCount(k, raw[k]);
    numbers[k] = Number(b);
    exact[k] = b.toString();
  }
  return { ...numbers, costUsd: nanoUsdToString(BigInt(exact.costNanoUsd)), exact };
}
