import { Transform, Type } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsIn, IsInt, IsOptional, IsString, Length, Matches, Max, Min } from 'class-validator';
import { BREAKDOWN_GROUPS, USAGE_PERIODS } from '../../analytics/analytics.interfaces';
import { MAX_ATTRIBUTION_LENGTH } from '../../common/usage-tracking.constants';
import { ApiProperty, ApiPropertyOptional } from '../http/optional-swagger';

/**
 * Query parameters, named as on the wire (snake_case), so a 400 names the parameter the client sent.
 * The DTOs check shapes; the service checks meaning (a calendar day, a range) and its errors are mapped
 * to the same 400 by the module's exception filter.
 */

export const EXPORT_FORMATS = ['csv', 'json', 'jsonl'] as const;

/** `agent=a&agent=b` and `agent=a,b` both give ['a', 'b']. */
const toList = ({ value }: { value: unknown }): unknown =>
  value === undefined ? undefined : (Array.isArray(value) ? value : [value]).flatMap((v) => (typeof v === 'string' ? v.split(',') : [v]));

function ListFilter(what: string): PropertyDecorator {
  const decorators: PropertyDecorator[] = [
    ApiPropertyOptional({ type: [String], description: `${what}: repeat the parameter or separate values with commas` }),
    IsOptional(),
    Transform(toList),
    IsArray(),
    ArrayMaxSize(100),
    IsString({ each: true }),
    Length(1, MAX_ATTRIBUTION_LENGTH, { each: true }),
  ];
  return (target, key) => decorators.forEach((d) => d(target, key));
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;

/** Attribution filters: every list matches any of its values; different filters must all match. */
export class UsageFiltersQueryDto {
  @ListFilter('agent names') agent?: string[];
  @ListFilter('user ids') user?: string[];
  @ListFilter('groups') group?: string[];
  @ListFilter('model names') model?: string[];
  @ListFilter('provider names') provider?: string[];
  @ListFilter('categories (chat, image, ...)') category?: string[];
}

/** A period, or a range of whole days (end day inclusive), in the configured time zone. */
export class UsageRangeQueryDto extends UsageFiltersQueryDto {
  @ApiPropertyOptional({ enum: USAGE_PERIODS, description: 'calendar-aligned; week starts on Monday' })
  @IsOptional()
  @IsIn(USAGE_PERIODS)
  period?: (typeof USAGE_PERIODS)[number];

  @ApiPropertyOptional({ example: '2026-11-01', description: 'first day, YYYY-MM-DD' })
  @IsOptional()
  @Matches(DAY, { message: 'start_date must be a day as YYYY-MM-DD' })
  start_date?: string;

  @ApiPropertyOptional({ example: '2026-11-30', description: 'last day (inclusive), YYYY-MM-DD' })
  @IsOptional()
  @Matches(DAY, { message: 'end_date must be a day as YYYY-MM-DD' })
  end_date?: string;
}

export class UsageBreakdownQueryDto extends UsageRangeQueryDto {
  @ApiPropertyOptional({ enum: BREAKDOWN_GROUPS, default: 'model' })
  @IsOptional()
  @IsIn(BREAKDOWN_GROUPS)
  group_by?: (typeof BREAKDOWN_GROUPS)[number];
}

export class UsageAnalyticsQueryDto extends UsageRangeQueryDto {
  @ApiPropertyOptional({ enum: ['day', 'hour'], description: 'hour adds hourly_usage (24 rows)' })
  @IsOptional()
  @IsIn(['day', 'hour'])
  group_by?: 'day' | 'hour';

  @ApiPropertyOptional({ enum: ['agent', 'model'], description: 'adds one daily series per agent or model' })
  @IsOptional()
  @IsIn(['agent', 'model'])
  split_by?: 'agent' | 'model';

  @ApiPropertyOptional({ minimum: 1, maximum: 50, default: 10, description: 'with split_by: keys with a series of their own; the rest are one series with other: true' })
  @IsOptional()
  @Type(() => Number)
  @IsInt({ message: 'series_limit must be an integer from 1 to 50' })
  @Min(1)
  @Max(50)
  series_limit?: number;
}

export class UsageLogsQueryDto extends UsageRangeQueryDto {
  @ApiPropertyOptional({ description: 'next_cursor of the previous page' })
  @IsOptional()
  @IsString()
  @Length(1, 1024)
  cursor?: string;

  @ApiPropertyOptional({ minimum: 1, maximum: 1000, default: 100 })
  @IsOptional()
  @Type(() => Number)
  @IsInt({ message: 'limit must be an integer from 1 to 1000' })
  @Min(1)
  @Max(1000)
  limit?: number;
}

export class UsageExportQueryDto extends UsageRangeQueryDto {
  @ApiPropertyOptional({ enum: EXPORT_FORMATS, default: 'csv' })
  @IsOptional()
  @IsIn(EXPORT_FORMATS)
  format?: (typeof EXPORT_FORMATS)[number];
}

export class UsageInvoiceQueryDto extends UsageFiltersQueryDto {
  @ApiProperty({ example: '2026-11', description: 'the month, YYYY-MM' })
  @Matches(/^\d{4}-(0[1-9]|1[0-2])$/, { message: 'month must be a month as YYYY-MM' })
  month!: string;

  @ApiPropertyOptional({ enum: ['json', 'html'], default: 'json' })
  @IsOptional()
  @IsIn(['json', 'html'])
  format?: 'json' | 'html';
}
