import { Controller, Get, Param, Query } from '@nestjs/common';
import { UsageService } from 'nestjs-agent-usage';
import type { UsageDimension, UsageFilters, UsagePageOptions } from 'nestjs-agent-usage';

type QueryParams = Record<string, unknown>;

/** `"12"` -> 12; anything else is passed on as received, so the library's error names it. */
function integerParam(v: unknown): unknown {
  return typeof v === 'string' && /^\d{1,9}$/.test(v) ? Number(v) : v;
}

/** `"true"` / `"false"` -> boolean; anything else is passed on as received (and rejected). */
function booleanParam(v: unknown): unknown {
  return v === 'true' ? true : v === 'false' ? false : v;
}

/**
 * Query string -> library filters. Repeat a key for several values (`?agentName=a&agentName=b`).
 * Keys and values are validated by the library: an unknown key or a bad value is a 400 naming it.
 */
function filtersOf(query: QueryParams): UsageFilters {
  const { success, ...rest } = query;
  const filters: QueryParams = { ...rest };
  if (success !== undefined) filters.success = booleanParam(success);
  return filters as UsageFilters;
}

/**
 * Read endpoints over the recorded usage. Filters on every endpoint: agentName, userId, group,
 * chatName, modelName, providerName (repeatable), date | dateFrom & dateTo (YYYY-MM-DD, whole UTC
 * days, dateTo inclusive), from & to (ISO instants, to exclusive), success (true|false).
 */
@Controller('usage')
export class UsageController {
  constructor(private readonly usage: UsageService) {}

  /** GET /usage: records, newest first; `limit` (1..10000, default 100) and `offset` page them. */
  @Get()
  list(@Query() query: QueryParams) {
    const { limit, offset, ...rest } = query;
    const page: UsagePageOptions = {};
    if (limit !== undefined) page.limit = integerParam(limit) as number;
    if (offset !== undefined) page.offset = integerParam(offset) as number;
    return this.usage.getUsage({ ...filtersOf(rest), ...page });
  }

  /** GET /usage/aggregate: sums of every count, the cost and the record count. */
  @Get('aggregate')
  aggregate(@Query() query: QueryParams) {
    return this.usage.getUsageAggregate(filtersOf(query));
  }

  /** GET /usage/by/:dimension: totals per agentName | userId | group | chatName | modelName | providerName | day | hour. */
  @Get('by/:dimension')
  groupBy(@Param('dimension') dimension: string, @Query() query: QueryParams) {
    return this.usage.getUsageGroupedBy(dimension as UsageDimension, filtersOf(query));
  }

  /** GET /usage/budgets: every budget's state in its current window (limit, used, percent, resetAt...). */
  @Get('budgets')
  budgets() {
    return this.usage.getBudgetStatus({});
  }

  /** GET /usage/identities: distinct (agentName, userId, group, chatName) with usage. */
  @Get('identities')
  identities(@Query() query: QueryParams) {
    return this.usage.getUsageIdentities(filtersOf(query));
  }

  /** GET /usage/stats: health of the write path (per driver) and of the recorder. */
  @Get('stats')
  stats() {
    return { storage: this.usage.getStorageStats(), recorder: this.usage.getRecorderStats() };
  }
}
