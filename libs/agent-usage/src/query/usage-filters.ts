import { MAX_ATTRIBUTION_LENGTH } from '../common/usage-tracking.constants';
import { InvalidUsageInputError, unknownKeyError } from '../common/usage.errors';
import {
  NormalizedUsageFilters,
  USAGE_DIMENSIONS,
  UsageDimension,
  UsageFilters,
} from '../interfaces/usage-query.interface';
import { ATTRIBUTION_FIELDS } from '../interfaces/usage-record.interface';
import { endOfDayExclusive, parseDay, startOfDay } from './time-zone';

const FILTER_KEYS = new Set<string>([...ATTRIBUTION_FIELDS, 'date', 'dateFrom', 'dateTo', 'from', 'to', 'success']);

function attributionList(field: string, value: unknown): string[] {
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0) throw new InvalidUsageInputError(field, 'a non-empty string or a non-empty array of strings', value);
  for (const v of list) {
    if (typeof v !== 'string' || v.length === 0 || v.length > MAX_ATTRIBUTION_LENGTH) {
      throw new InvalidUsageInputError(field, `a string of 1 to ${MAX_ATTRIBUTION_LENGTH} characters (or an array of them)`, v);
    }
  }
  return [...new Set(list as string[])];
}

function instant(field: string, value: unknown): Date {
  const d = value instanceof Date ? new Date(value.getTime()) : typeof value === 'string' ? new Date(value) : undefined;
  if (!d || isNaN(d.getTime()) || (typeof value === 'string' && !/^\d{4}-\d{2}-\d{2}/.test(value))) {
    throw new InvalidUsageInputError(field, 'a Date or an ISO 8601 date-time string', value);
  }
  return d;
}

function day(field: string, value: unknown): string {
  if (typeof value !== 'string' || !parseDay(value)) {
    throw new InvalidUsageInputError(field, 'a calendar day as "YYYY-MM-DD"', value);
  }
  return value;
}

/**
 * Validates user filters and turns them into what drivers take: lists of attribution values and one
 * half-open instant range. Day filters are whole days in `timeZone`; `dateTo` includes its whole day.
 */
export function normalizeFilters(filters: UsageFilters | undefined | null, timeZone: string): NormalizedUsageFilters {
  if (filters === undefined || filters === null) return {};
  if (typeof filters !== 'object' || Array.isArray(filters)) {
    throw new InvalidUsageInputError('filters', 'an object', filters);
  }
  const out: NormalizedUsageFilters = {};
  const lower: Date[] = [];
  const upper: Date[] = [];
  for (const [key, value] of Object.entries(filters)) {
    if (value === undefined) continue;
    if (!FILTER_KEYS.has(key)) throw unknownKeyError(`filters.${key}`, key, FILTER_KEYS);
    switch (key) {
      case 'date': {
        const d = day('filters.date', value);
        lower.push(startOfDay(d, timeZone));
        upper.push(endOfDayExclusive(d, timeZone));
        break;
      }
      case 'dateFrom':
        lower.push(startOfDay(day('filters.dateFrom', value), timeZone));
        break;
      case 'dateTo':
        upper.push(endOfDayExclusive(day('filters.dateTo', value), timeZone));
        break;
      case 'from':
        lower.push(instant('filters.from', value));
        break;
      case 'to':
        upper.push(instant('filters.to', value));
        break;
      case 'success':
        if (typeof value !== 'boolean') throw new InvalidUsageInputError('filters.success', 'a boolean', value);
        out.success = value;
        break;
      default:
        (out as Record<string, string[]>)[key] = attributionList(`filters.${key}`, value);
    }
  }
  if (lower.length) out.from = new Date(Math.max(...lower.map((d) => d.getTime())));
  if (upper.length) out.to = new Date(Math.min(...upper.map((d) => d.getTime())));
  return out;
}

export function assertDimension(dimension: unknown): UsageDimension {
  if (typeof dimension !== 'string' || !(USAGE_DIMENSIONS as readonly string[]).includes(dimension)) {
    throw new InvalidUsageInputError('dimension', `one of ${USAGE_DIMENSIONS.join(', ')}`, dimension);
  }
  return dimension as UsageDimension;
}

export function isEmptyFilter(filters: NormalizedUsageFilters): boolean {
  return Object.values(filters).every((v) => v === undefined);
}
