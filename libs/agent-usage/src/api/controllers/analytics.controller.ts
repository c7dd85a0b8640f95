import { Controller, Get, Query } from '@nestjs/common';
import { UsageAnalyticsQueryDto } from '../dto/usage-query.dto';
import { toRange } from '../dto/usage-query.mapper';
import { toSnakeCase } from '../http/snake-case';
import { ApiOkResponse, ApiOperation, ApiTags } from '../http/optional-swagger';
import { UsageApiServiceRef } from '../usage-api.service-ref';

@ApiTags('agent-usage')
@Controller('analytics')
export class UsageAnalyticsController {
  constructor(private readonly usage: UsageApiServiceRef) {}

  @Get()
  @ApiOperation({ summary: 'Daily usage (every day of the range), hourly pattern, per-agent or per-model series' })
  @ApiOkResponse({ description: 'UsageAnalytics, snake_case' })
  async analytics(@Query() q: UsageAnalyticsQueryDto): Promise<unknown> {
    const query = { ...toRange(q), ...(q.group_by ? { groupBy: q.group_by } : {}), ...(q.split_by ? { splitBy: q.split_by } : {}) };
    return toSnakeCase(await this.usage.service.getUsageAnalytics(query));
  }
}
