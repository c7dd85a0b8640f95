import { Query } from '@nestjs/common';
import { UsageLogsQueryDto } from '../dto/usage-query.dto';
import { toRange } from '../dto/usage-query.mapper';
import { toSnakeCase } from '../http/snake-case';
import { UsageApiServiceRef } from '../usage-api.service-ref';
import { UsageApiController, UsageApiGet } from '../http/usage-api.decorators';

@UsageApiController('logs')
export class UsageLogsController {
  constructor(private readonly usage: UsageApiServiceRef) {}

  @UsageApiGet('', 'Spend logs, newest first, with the cost of each record; pass next_cursor as cursor for the next page', 'UsageSpendLogs')
  async logs(@Query() q: UsageLogsQueryDto): Promise<unknown> {
    const query = { ...toRange(q), ...(q.cursor !== undefined ? { cursor: q.cursor } : {}), ...(q.limit !== undefined ? { limit: q.limit } : {}) };
    return toSnakeCase(await this.usage.service.getSpendLogs(query));
  }
}
