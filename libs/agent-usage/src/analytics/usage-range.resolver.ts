/**
 * Turns a range query (a period or whole days, plus attribution filters) into the days it covers and the
 * store filters that select them. Days are calendar days in the module's time zone; `week` starts on
 * Monday and, like `month`, runs to today (to date).
 */
import { InvalidUsageInputError, unknownKeyError } from '../common/usage.errors';
import type { UsageFilters } from '../interfaces/usage-query.interface';
import { ATTRIBUTION_FIELDS } from '../interfaces/usage-record.interface';
import { normalizeFilters } from '../query/usage-filters';
import { dayKey, parseDay } from '../query/time-zone';
import { USAGE_PERIODS, type UsageAttributionFilters, type UsagePeriod, type UsageRange, type UsageRangeQuery } from './analytics.interfaces';

/** Filter keys of a range query besides the attribution fields. */
export const ATTRIBUTION_QUERY_KEYS: readonly string[] = [...ATTRIBUTION_FIELDS, 'success'];
const RANGE_KEYS = ['period', 'startDate', 'endDate'];

export interface ResolvedRange {
  range: UsageRange;
  /** Every day of the range, in order (empty for `all_time` without usage). */
  days: string[];
  /** Attribution filters plus the range as whole days (`dateFrom`/`dateTo`). */
  filters: UsageFilters;
  /** Attribution filters only. */
  attribution: UsageFilters;
}

/** `day` + `n` calendar days. */
export function addDays(day: string, n: number): string {
  const p = parseDay(day)!;
  return new Date(Date.UTC(p.y, p.m - 1, p.d + n)).toISOString().slice(0, 10);
}

/** Every day from `start` to `end`, both included. */
export function daysBetween(start: string, end: string): string[] {
  const out: string[] = [];
  for (let d = start; d <= end; d = addDays(d, 1)) out.push(d);
  return out;
}

/**
 * Validates the attribution part of a query (field names as the caller wrote them) and refuses any key
 * that is neither an attribution filter, a range key nor one of `extraKeys`.
 */
export function attributionFilters(query: object, extraKeys: readonly string[], timeZone: string, rangeKeys = RANGE_KEYS): UsageFilters {
  if (query === null || typeof query !== 'object' || Array.isArray(query)) throw new InvalidUsageInputError('query', 'an object', query);
  const known = new Set([...ATTRIBUTION_QUERY_KEYS, ...rangeKeys, ...extraKeys]);
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(query)) {
    if (!known.has(key)) throw unknownKeyError(key, key, known);
    if (value !== undefined && ATTRIBUTION_QUERY_KEYS.includes(key)) out[key] = value;
  }
  try {
    normalizeFilters(out as UsageFilters, timeZone);
  } catch (e) {
    if (e instanceof InvalidUsageInputError && e.field.startsWith('filters.')) {
      throw new InvalidUsageInputError(e.field.slice('filters.'.length), e.expected, e.received);
    }
    throw e;
  }
  return out as UsageFilters;
}

function dayArg(field: string, value: unknown): string {
  if (typeof value !== 'string' || !parseDay(value)) throw new InvalidUsageInputError(field, 'a calendar day as "YYYY-MM-DD"', value);
  return value;
}

export interface RangeOptions {
  defaultPeriod: UsagePeriod;
  timeZone: string;
  now: Date;
  extraKeys?: readonly string[];
}

/**
 * Validates the query and resolves every period but `all_time` (which needs the store: `null` days).
 * Synchronous, so callers that stream (export) refuse bad input before the first byte.
 */
export function planRange(query: UsageRangeQuery, opts: RangeOptions): ResolvedRange | { allTime: true; attribution: UsageFilters } {
  const attribution = attributionFilters(query ?? {}, opts.extraKeys ?? [], opts.timeZone);
  const q = (query ?? {}) as UsageRangeQuery & UsageAttributionFilters;
  const hasDates = q.startDate !== undefined || q.endDate !== undefined;
  if (q.period !== undefined && hasDates) {
    throw new InvalidUsageInputError('period', 'either a period or startDate/endDate, not both', q.period);
  }
  const today = dayKey(opts.now, opts.timeZone);
  let period: UsagePeriod | 'custom';
  let start: string;
  let end: string;
  if (hasDates) {
    if (q.startDate === undefined) throw new InvalidUsageInputError('startDate', 'a calendar day as "YYYY-MM-DD" (endDate needs a startDate)', undefined);
    start = dayArg('startDate', q.startDate);
    end = q.endDate === undefined ? today : dayArg('endDate', q.endDate);
    if (end < start) throw new InvalidUsageInputError('endDate', `a day on or after startDate (${start})`, end);
    period = 'custom';
  } else {
    period = q.period ?? opts.defaultPeriod;
    if (!(USAGE_PERIODS as readonly string[]).includes(period)) {
      throw new InvalidUsageInputError('period', `one of ${USAGE_PERIODS.join(', ')}`, q.period);
    }
    switch (period) {
      case 'today':
        [start, end] = [today, today];
        break;
      case 'yesterday':
        start = end = addDays(today, -1);
        break;
      case 'week': {
        const p = parseDay(today)!;
        const sinceMonday = (new Date(Date.UTC(p.y, p.m - 1, p.d)).getUTCDay() + 6) % 7;
        [start, end] = [addDays(today, -sinceMonday), today];
        break;
      }
      case 'month':
        [start, end] = [`${today.slice(0, 8)}01`, today];
        break;
      default:
        return { allTime: true, attribution };
    }
  }
  return rangeOf(period, start, end, attribution, opts.timeZone);
}

function rangeOf(period: UsagePeriod | 'custom', start: string, end: string, attribution: UsageFilters, timeZone: string): ResolvedRange {
  return {
    range: { period, startDate: start, endDate: end, timeZone, weekStartsOn: 'monday' },
    days: daysBetween(start, end),
    filters: { ...attribution, dateFrom: start, dateTo: end },
    attribution,
  };
}

/**
 * Resolves the query. `usageDays` answers `all_time` (the first and last day with usage, from one
 * group-by-day query of the store): the range runs from the first day to today (or the last day, if later).
 */
export async function resolveRange(
  query: UsageRangeQuery,
  opts: RangeOptions & { usageDays: (attribution: UsageFilters) => Promise<{ first: string; last: string } | null> },
): Promise<ResolvedRange> {
  const plan = planRange(query, opts);
  if (!('allTime' in plan)) return plan;
  const span = await opts.usageDays(plan.attribution);
  if (!span) {
    const range: UsageRange = { period: 'all_time', startDate: null, endDate: null, timeZone: opts.timeZone, weekStartsOn: 'monday' };
    return { range, days: [], filters: plan.attribution, attribution: plan.attribution };
  }
  const today = dayKey(opts.now, opts.timeZone);
  return rangeOf('all_time', span.first, span.last > today ? span.last : today, plan.attribution, opts.timeZone);
}
