import { Type } from 'class-transformer';
import { ArrayMaxSize, ArrayMinSize, IsArray, IsIn, IsNumber, IsOptional, IsString, Length, ValidateBy, ValidateNested } from 'class-validator';
import { USAGE_ALERT_ACTIONS, USAGE_ALERT_DIMENSIONS, USAGE_ALERT_METRICS, USAGE_ALERT_WINDOWS, type UsageAlertDimension } from '../../budgets/runtime/runtime-alert.interface';
import { MAX_ATTRIBUTION_LENGTH } from '../../common/usage-tracking.constants';
import { httpFieldName, snakeKey } from '../http/snake-case';
import { ApiProperty, ApiPropertyOptional } from '../http/optional-swagger';

/**
 * Body of `POST alerts`, snake_case. The DTO checks shapes only; the service validates meaning (a budget
 * above zero, percents, a webhook URL) the same way as boot options, and its errors become 400s too.
 */

/**
 * Scope dimensions as the service names them (`agentName`), plus their wire names: snake_case
 * (`agent_name`) and the query parameter names (`agent`).
 */
export const ALERT_SCOPE_DIMENSIONS: Readonly<Record<string, UsageAlertDimension>> = Object.fromEntries(
  USAGE_ALERT_DIMENSIONS.flatMap((d) => [d, snakeKey(d), httpFieldName(d)].map((name) => [name, d] as const)),
);

const IsDecimalInput = (field: string): PropertyDecorator =>
  ValidateBy({
    name: 'isDecimalInput',
    validator: {
      validate: (v: unknown) => (typeof v === 'number' && Number.isFinite(v)) || (typeof v === 'string' && /^\d+(\.\d+)?$/.test(v)),
      defaultMessage: () => `${field} must be a number or a decimal string of USD (e.g. "25.00")`,
    },
  });

export class UsageAlertScopeDto {
  @ApiProperty({ enum: Object.keys(ALERT_SCOPE_DIMENSIONS) })
  @IsIn(Object.keys(ALERT_SCOPE_DIMENSIONS))
  dimension!: string;

  @ApiProperty()
  @IsString()
  @Length(1, MAX_ATTRIBUTION_LENGTH)
  value!: string;
}

export class UsageAlertLevelDto {
  @ApiProperty({ example: 80 })
  @IsNumber({ allowNaN: false, allowInfinity: false })
  percent!: number;

  @ApiProperty({ enum: USAGE_ALERT_ACTIONS })
  @IsIn(USAGE_ALERT_ACTIONS)
  action!: (typeof USAGE_ALERT_ACTIONS)[number];
}

export class CreateUsageAlertDto {
  @ApiPropertyOptional({ description: 'the agent this budget watches (or give scope)' })
  @IsOptional()
  @IsString()
  @Length(1, MAX_ATTRIBUTION_LENGTH)
  agent?: string;

  @ApiPropertyOptional({ description: 'same as agent' })
  @IsOptional()
  @IsString()
  @Length(1, MAX_ATTRIBUTION_LENGTH)
  agent_name?: string;

  @ApiPropertyOptional({ type: UsageAlertScopeDto })
  @IsOptional()
  @ValidateNested()
  @Type(() => UsageAlertScopeDto)
  scope?: UsageAlertScopeDto;

  @ApiPropertyOptional({ example: '25.00', description: 'USD per day (or give limit and window)' })
  @IsOptional()
  @IsDecimalInput('daily_budget')
  daily_budget?: number | string;

  @ApiPropertyOptional({ example: '500', description: 'USD, or tokens with metric tokens' })
  @IsOptional()
  @IsDecimalInput('limit')
  limit?: number | string;

  @ApiPropertyOptional({ enum: USAGE_ALERT_WINDOWS })
  @IsOptional()
  @IsIn(USAGE_ALERT_WINDOWS)
  window?: (typeof USAGE_ALERT_WINDOWS)[number];

  @ApiPropertyOptional({ enum: USAGE_ALERT_METRICS })
  @IsOptional()
  @IsIn(USAGE_ALERT_METRICS)
  metric?: (typeof USAGE_ALERT_METRICS)[number];

  @ApiProperty({ type: [UsageAlertLevelDto] })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(20)
  @ValidateNested({ each: true })
  @Type(() => UsageAlertLevelDto)
  alerts!: UsageAlertLevelDto[];

  @ApiPropertyOptional({ example: 'https://hooks.example.com/usage' })
  @IsOptional()
  @IsString()
  @Length(1, 2048)
  webhook_url?: string;
}
