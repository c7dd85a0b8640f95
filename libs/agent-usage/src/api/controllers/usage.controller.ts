import { Query } from '@nestjs/common';
import { UsageBreakdownQueryDto, UsageRangeQueryDto } from '../dto/usage-query.dto';
import { toRange } from '../dto/usage-query.mapper';
import { toSnakeCase } from '../http/snake-case';
import { UsageApiServiceRef } from '../usage-api.service-ref';
import { UsageApiController, UsageApiGet } from '../http/usage-api.decorators';

@UsageApiController('usage')
export class UsageSummaryController {
  constructor(private readonly usage: UsageApiServiceRef) {}

  @UsageApiGet('', 'Spend, operations, tokens, success rate and top models of a period', 'UsageSummary')
  async summary(@Query() q: UsageRangeQueryDto): Promise<unknown> {
    return toSnakeCase(await this.usage.service.getUsageSummary(toRange(q)));
  }

  @UsageApiGet('breakdown', 'Cost, calls and tokens per model, agent, user, group, provider or category', 'UsageBreakdown')
  async breakdown(@Query() q: UsageBreakdownQueryDto): Promise<unknown> {
    return toSnakeCase(await this.usage.service.getUsageBreakdown(q.group_by ?? 'model', toRange(q)));
  }

  @UsageApiGet('optimize', 'Recommendations computed from the usage and the price table', 'UsageRecommendations')
  async optimize(@Query() q: UsageRangeQueryDto): Promise<unknown> {
    return toSnakeCase(await this.usage.service.getRecommendations(toRange(q)));
  }
}
