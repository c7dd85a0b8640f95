import { Controller, Get, Query } from '@nestjs/common';
import { UsageBreakdownQueryDto, UsageRangeQueryDto } from '../dto/usage-query.dto';
import { toRange } from '../dto/usage-query.mapper';
import { toSnakeCase } from '../http/snake-case';
import { ApiOkResponse, ApiOperation, ApiTags } from '../http/optional-swagger';
import { UsageApiServiceRef } from '../usage-api.service-ref';

@ApiTags('agent-usage')
@Controller('usage')
export class UsageSummaryController {
  constructor(private readonly usage: UsageApiServiceRef) {}

  @Get()
  @ApiOperation({ summary: 'Spend, operations, tokens, success rate and top models of a period' })
  @ApiOkResponse({ description: 'UsageSummary, snake_case' })
  async summary(@Query() q: UsageRangeQueryDto): Promise<unknown> {
    return toSnakeCase(await this.usage.service.getUsageSummary(toRange(q)));
  }

  @Get('breakdown')
  @ApiOperation({ summary: 'Cost, calls and tokens per model, agent, user, group, provider or category' })
  @ApiOkResponse({ description: 'UsageBreakdown, snake_case' })
  async breakdown(@Query() q: UsageBreakdownQueryDto): Promise<unknown> {
    return toSnakeCase(await this.usage.service.getUsageBreakdown(q.group_by ?? 'model', toRange(q)));
  }

  @Get('optimize')
  @ApiOperation({ summary: 'Recommendations computed from the usage and the price table' })
  @ApiOkResponse({ description: 'UsageRecommendations, snake_case' })
  async optimize(@Query() q: UsageRangeQueryDto): Promise<unknown> {
    return toSnakeCase(await this.usage.service.getRecommendations(toRange(q)));
  }
}
