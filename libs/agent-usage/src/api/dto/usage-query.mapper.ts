import type { UsageFiltersQueryDto, UsageRangeQueryDto } from './usage-query.dto';

/** The service's attribution filters (camelCase) from the query's. */
export interface UsageApiFilters {
  agentName?: string[];
  userId?: string[];
  group?: string[];
  modelName?: string[];
  providerName?: string[];
  category?: string[];
}

export interface UsageApiRange extends UsageApiFilters {
  period?: UsageRangeQueryDto['period'];
  startDate?: string;
  endDate?: string;
}

/** Drops what the client did not send, so the service sees only given filters. */
function defined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

export function toFilters(q: UsageFiltersQueryDto): UsageApiFilters {
  return defined({ agentName: q.agent, userId: q.user, group: q.group, modelName: q.model, providerName: q.provider, category: q.category });
}

export function toRange(q: UsageRangeQueryDto): UsageApiRange {
  return defined({ ...toFilters(q), period: q.period, startDate: q.start_date, endDate: q.end_date });
}
