import { Controller, Get, Query } from '@nestjs/common';
import { UsageRangeQueryDto } from '../dto/usage-query.dto';
import { toRange } from '../dto/usage-query.mapper';
import { toSnakeCase } from '../http/snake-case';
import { ApiOkResponse, ApiOperation, ApiTags } from '../http/optional-swagger';
import { UsageApiServiceRef } from '../usage-api.service-ref';

@ApiTags('agent-usage')
@Controller('fleet')
export class UsageFleetController {
  constructor(private readonly usage: UsageApiServiceRef) {}

  @Get()
  @ApiOperation({ summary: 'Every agent with its spend, budget, status (LOW, NORMAL, WARNING, CRITICAL) and projection' })
  @ApiOkResponse({ description: 'UsageFleet, snake_case' })
  async fleet(@Query() q: UsageRangeQueryDto): Promise<unknown> {
    return toSnakeCase(await this.usage.service.getFleet(toRange(q)));
  }
}
