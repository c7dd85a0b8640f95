/**
 * Pure checks of normalized filters shared by the Redis driver's read paths: which attribution filters
 * are set, their values, the score range of the time-ordered indexes.
 */
import type { NormalizedUsageFilters } from '../../interfaces/usage-query.interface';
import { ATTRIBUTION_FIELDS, type AttributionField } from '../../interfaces/usage-record.interface';

/** Nothing can match: an empty range, or an empty list of accepted values. */
export function emptyRange(f: NormalizedUsageFilters): boolean {
  if (f.from && f.to && f.from.getTime() >= f.to.getTime()) return true;
  return ATTRIBUTION_FIELDS.some((d) => f[d] !== undefined && f[d]!.length === 0);
}

export function attributionFilters(f: NormalizedUsageFilters): AttributionField[] {
  return ATTRIBUTION_FIELDS.filter((d) => f[d] !== undefined);
}

/** Accepted values of one filter, each once (a repeated value must not be summed twice). */
export function filterValues(f: NormalizedUsageFilters, d: AttributionField): string[] {
  return [...new Set(f[d] ?? [])];
}

export function scoreRange(f: NormalizedUsageFilters): [string, string] {
  return [f.from ? String(f.from.getTime()) : '-inf', f.to ? `(${f.to.getTime()}` : '+inf'];
}
