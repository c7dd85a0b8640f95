import { Query } from '@nestjs/common';
import { UsageAnalyticsQueryDto } from '../dto/usage-query.dto';
import { toRange } from '../dto/usage-query.mapper';
import { toSnakeCase } from '../http/snake-case';
import { UsageApiServiceRef } from '../usage-api.service-ref';
import { UsageApiController, UsageApiGet } from '../http/usage-api.decorators';

@UsageApiController('analytics')
export class UsageAnalyticsController {
  constructor(private readonly usage: UsageApiServiceRef) {}

  @UsageApiGet('', 'Daily usage (every day of the range), hourly pattern, per-agent or per-model series', 'UsageAnalytics')
  async analytics(@Query() q: UsageAnalyticsQueryDto): Promise<unknown> {
    const query = { ...toRange(q), ...(q.group_by ? { groupBy: q.group_by } : {}), ...(q.split_by ? { splitBy: q.split_by } : {}), ...(q.series_limit !== undefined ? { seriesLimit: q.series_limit } : {}) };
    return toSnakeCase(await this.usage.service.getUsageAnalytics(query));
  }
}
