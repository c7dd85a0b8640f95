import {
  IsBoolean,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  MinLength,
  Validate,
  ValidationArguments,
  ValidatorConstraint,
  ValidatorConstraintInterface,
} from 'class-validator';
import { OPTION_SECTION_VALIDATORS, dtoSectionValidator } from '../../options/usage-tracking-options.validator';
import { isValidTimeZone } from '../../query/time-zone';
import { describe } from '../../common/usage.errors';
import { loadOptional } from '../../common/optional-packages';
import { runtimeWebhookProblems } from '../budget-options.validator';
import { isClusterSpec, redisClusterProblems } from '../../connections/redis-cluster.source';

/** Checked with the cron package @nestjs/schedule uses, when it is installed (else at registration). */
function cronProblem(value: unknown): string | null {
  if (typeof value !== 'string' || value.trim().length === 0) return `must be a cron expression such as '0 * * * *'; got ${describe(value)}`;
  const cron = loadOptional<{ validateCronExpression?: (e: string) => { valid: boolean; error?: Error } }>('cron', '@nestjs/schedule');
  const result = cron?.validateCronExpression?.(value);
  if (result && !result.valid) return `must be a valid cron expression (e.g. '0 * * * *'); got ${describe(value)}: ${result.error?.message ?? 'invalid'}`;
  return null;
}

/** Table names reach SQL text (quoted): plain lower-case identifiers only. */
export const ALERTS_TABLE_RE = /^[a-z_][a-z0-9_]{0,62}$/;

@ValidatorConstraint({ name: 'cronExpression' })
class CronConstraint implements ValidatorConstraintInterface {
  validate(value: unknown): boolean {
    return cronProblem(value) === null;
  }
  defaultMessage(args: ValidationArguments): string {
    return `${args.property} ${cronProblem(args.value)}`;
  }
}

@ValidatorConstraint({ name: 'schedulerTimeZone' })
class TimeZoneConstraint implements ValidatorConstraintInterface {
  validate(value: unknown): boolean {
    return isValidTimeZone(value);
  }
  defaultMessage(args: ValidationArguments): string {
    return `${args.property} must be an IANA time zone such as 'UTC'; got ${describe(args.value)}`;
  }
}

@ValidatorConstraint({ name: 'redisSpec' })
class RedisConstraint implements ValidatorConstraintInterface {
  validate(value: unknown): boolean {
    if (typeof value === 'string') return /^rediss?:\/\//.test(value);
    // `{ cluster }` is checked field by field below.
    if (isClusterSpec(value)) return true;
    return !!value && typeof value === 'object' && typeof (value as { eval?: unknown }).eval === 'function';
  }
  defaultMessage(args: ValidationArguments): string {
    return `${args.property} must be an ioredis client (Redis or Cluster), a redis:// URL or { cluster: { nodes, options? } }; got ${describe(args.value)}`;
  }
}

@ValidatorConstraint({ name: 'thresholdHandler' })
class HandlerConstraint implements ValidatorConstraintInterface {
  validate(value: unknown): boolean {
    return typeof value === 'function' || (!!value && typeof value === 'object' && typeof (value as { handle?: unknown }).handle === 'function');
  }
  defaultMessage(args: ValidationArguments): string {
    return `${args.property} must be a handler class, an object with handle(event), or a function; got ${describe(args.value)}`;
  }
}

@ValidatorConstraint({ name: 'clockFn' })
class ClockConstraint implements ValidatorConstraintInterface {
  validate(value: unknown): boolean {
    return typeof value === 'function';
  }
  defaultMessage(args: ValidationArguments): string {
    return `${args.property} must be a function returning a Date; got ${describe(args.value)}`;
  }
}

export class UsageSchedulerOptionsDto {
  @IsOptional() @Validate(CronConstraint) cron?: string;
  @IsOptional() @IsBoolean() enabled?: boolean;
  @IsOptional() @IsString() @MinLength(1) @MaxLength(200) name?: string;
  @IsOptional() @Validate(TimeZoneConstraint) timeZone?: string;
  @IsOptional()
  @IsIn(['auto', 'redis', 'database', 'memory'], { message: `coordination must be one of 'auto', 'redis', 'database', 'memory'` })
  coordination?: string;
  @IsOptional() @Validate(RedisConstraint) redis?: unknown;
  @IsOptional() @IsString() @MinLength(1) @MaxLength(200) keyPrefix?: string;
  @IsOptional()
  @IsString()
  @Matches(ALERTS_TABLE_RE, { message: `alertsTable must be a lower-case SQL identifier matching ${ALERTS_TABLE_RE}` })
  alertsTable?: string;
  @IsOptional() @IsBoolean() runtimeAlerts?: boolean;
  @IsOptional() runtimeWebhook?: unknown; // checked below, by the budgets' webhook rules
  @IsOptional() @IsInt() @Min(100) @Max(86_400_000) runtimeRefreshMs?: number;
  @IsOptional()
  @IsString()
  @Matches(ALERTS_TABLE_RE, { message: `runtimeAlertsTable must be a lower-case SQL identifier matching ${ALERTS_TABLE_RE}` })
  runtimeAlertsTable?: string;
  @IsOptional() @IsInt() @Min(1) reservationTtlMs?: number;
  @IsOptional() @IsInt() @Min(0) admissionTimeoutMs?: number;
  @IsOptional() @Validate(HandlerConstraint) onThreshold?: unknown;
  @IsOptional() @Validate(ClockConstraint) clock?: unknown;
}

const checkScheduler = dtoSectionValidator(UsageSchedulerOptionsDto);
OPTION_SECTION_VALIDATORS.scheduler = (value) => {
  const out = checkScheduler(value);
  const hook = (value as { runtimeWebhook?: unknown } | null)?.runtimeWebhook;
  if (hook !== undefined) out.push(...runtimeWebhookProblems(hook));
  const redis = (value as { redis?: unknown } | null)?.redis;
  if (isClusterSpec(redis)) {
    const { cluster, ...rest } = redis as { cluster: unknown } & Record<string, unknown>;
    out.push(...Object.keys(rest).map((k) => `redis.${k} is not an option; allowed: cluster`), ...redisClusterProblems(cluster, 'redis.cluster'));
  }
  return out;
};
