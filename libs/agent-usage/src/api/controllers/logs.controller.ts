import { Controller, Get, Query } from '@nestjs/common';
import { UsageLogsQueryDto } from '../dto/usage-query.dto';
import { toRange } from '../dto/usage-query.mapper';
import { toSnakeCase } from '../http/snake-case';
import { ApiOkResponse, ApiOperation, ApiTags } from '../http/optional-swagger';
import { UsageApiServiceRef } from '../usage-api.service-ref';

@ApiTags('agent-usage')
@Controller('logs')
export class UsageLogsController {
  constructor(private readonly usage: UsageApiServiceRef) {}

  @Get()
  @ApiOperation({ summary: 'Spend logs, newest first, with the cost of each record; pass next_cursor as cursor for the next page' })
  @ApiOkResponse({ description: 'UsageSpendLogs, snake_case' })
  async logs(@Query() q: UsageLogsQueryDto): Promise<unknown> {
    const query = { ...toRange(q), ...(q.cursor !== undefined ? { cursor: q.cursor } : {}), ...(q.limit !== undefined ? { limit: q.limit } : {}) };
    return toSnakeCase(await this.usage.service.getSpendLogs(query));
  }
}
