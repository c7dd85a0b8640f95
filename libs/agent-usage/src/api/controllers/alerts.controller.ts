import { BadRequestException, Body, Delete, HttpCode, NotFoundException, Param, Post } from '@nestjs/common';
import { ALERT_SCOPE_DIMENSIONS, CreateUsageAlertDto } from '../dto/usage-alert.dto';
import { toSnakeCase } from '../http/snake-case';
import { ApiOkResponse, ApiOperation } from '../http/optional-swagger';
import { UsageApiService, UsageApiServiceRef } from '../usage-api.service-ref';
import { UsageApiController, UsageApiGet } from '../http/usage-api.decorators';

type UsageAlertInput = Parameters<UsageApiService['createAlert']>[0];

/** The service's input (camelCase) from the snake_case body; `agent` and `agent_name` are one field. */
function toAlertInput(b: CreateUsageAlertDto): UsageAlertInput {
  if (b.agent !== undefined && b.agent_name !== undefined && b.agent !== b.agent_name) {
    throw new BadRequestException({ statusCode: 400, error: 'Bad Request', message: 'agent and agent_name differ: give one', field: 'agent_name' });
  }
  const input: Record<string, unknown> = {
    agentName: b.agent ?? b.agent_name,
    scope: b.scope ? { dimension: ALERT_SCOPE_DIMENSIONS[b.scope.dimension], value: b.scope.value } : undefined,
    dailyBudget: b.daily_budget,
    limit: b.limit,
    window: b.window,
    metric: b.metric,
    alerts: b.alerts.map((a) => ({ percent: a.percent, action: a.action })),
    webhookUrl: b.webhook_url,
  };
  return Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined)) as unknown as UsageAlertInput;
}

@UsageApiController('alerts')
export class UsageAlertsController {
  constructor(private readonly usage: UsageApiServiceRef) {}

  @Post()
  @ApiOperation({ summary: 'Create a budget alert at run time (stored, so every instance enforces it)' })
  @ApiOkResponse({ description: 'UsageAlert, snake_case' })
  async create(@Body() body: CreateUsageAlertDto): Promise<unknown> {
    return toSnakeCase(await this.usage.service.createAlert(toAlertInput(body)));
  }

  @UsageApiGet('', 'The alerts created at run time', 'UsageAlert[]')
  async list(): Promise<unknown> {
    return toSnakeCase(await this.usage.service.listAlerts());
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete an alert (404 when there is none with this id)' })
  async remove(@Param('id') id: string): Promise<void> {
    if (!(await this.usage.service.deleteAlert(id))) {
      throw new NotFoundException({ statusCode: 404, error: 'Not Found', message: `No alert with id "${id.slice(0, 100)}"`, field: 'id' });
    }
  }
}
