import { Query } from '@nestjs/common';
import { UsageRangeQueryDto } from '../dto/usage-query.dto';
import { toRange } from '../dto/usage-query.mapper';
import { toSnakeCase } from '../http/snake-case';
import { UsageApiServiceRef } from '../usage-api.service-ref';
import { UsageApiController, UsageApiGet } from '../http/usage-api.decorators';

@UsageApiController('fleet')
export class UsageFleetController {
  constructor(private readonly usage: UsageApiServiceRef) {}

  @UsageApiGet('', 'Every agent with its spend, budget, status (LOW, NORMAL, WARNING, CRITICAL) and projection', 'UsageFleet')
  async fleet(@Query() q: UsageRangeQueryDto): Promise<unknown> {
    return toSnakeCase(await this.usage.service.getFleet(toRange(q)));
  }
}
