import { plainToInstance } from 'class-transformer';
import {
  IsBoolean,
  IsInt,
  IsObject,
  IsOptional,
  IsString,
  Max,
  Min,
  MinLength,
  ValidateNested,
  ValidatorConstraint,
  ValidatorConstraintInterface,
  Validate,
  ValidationArguments,
  validateSync,
  IsArray,
} from 'class-validator';
import type { UsageTrackingModuleOptions } from '../interfaces/usage-tracking-options.interface';
import { STORAGE_ALIASES } from '../common/usage-tracking.constants';
import { InvalidUsageOptionsError, describe } from '../common/usage.errors';
import { isValidTimeZone } from '../query/time-zone';
import { validatePricingOptions } from '../pricing/pricing-options.dto';
import { cacheStorageOptionProblems } from '../storage/cache/cache-storage.options';
import { DatabaseStorageOptionsDto } from '../storage/database/database-storage.options';
import { flattenValidationErrors as flatten } from '../common/validation-errors';
import { telemetryOptionProblems } from '../telemetry/usage-telemetry.options';
import { analyticsOptionProblems } from './analytics-options.validator';

const STORAGE_EXPECTED = `a driver alias (${STORAGE_ALIASES.map((a) => `'${a}'`).join(', ')}), a UsageStorage class or instance, or an array of them`;

function storageProblem(value: unknown): string | null {
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0) return 'must name at least one driver';
  for (const [i, v] of list.entries()) {
    const at = Array.isArray(value) ? `[${i}]` : '';
    if (typeof v === 'string') {
      if (!(STORAGE_ALIASES as readonly string[]).includes(v)) return `${at} got ${describe(v)}; expected ${STORAGE_EXPECTED}`;
    } else if (typeof v === 'function') {
      if (typeof v.prototype?.write !== 'function') return `${at} class ${v.name} does not implement UsageStorage (no write method)`;
    } else if (!v || typeof v !== 'object' || typeof (v as any).write !== 'function' || typeof (v as any).aggregate !== 'function') {
      return `${at} got ${describe(v)}; expected ${STORAGE_EXPECTED}`;
    }
  }
  return null;
}

@ValidatorConstraint({ name: 'storageSpec' })
class StorageSpecConstraint implements ValidatorConstraintInterface {
  private problem: string | null = null;
  validate(value: unknown): boolean {
    this.problem = storageProblem(value);
    return this.problem === null;
  }
  defaultMessage(args: ValidationArguments): string {
    return `${args.property}${storageProblem(args.value) ?? ''}`;
  }
}

@ValidatorConstraint({ name: 'timeZone' })
class TimeZoneConstraint implements ValidatorConstraintInterface {
  validate(value: unknown): boolean {
    return isValidTimeZone(value);
  }
  defaultMessage(args: ValidationArguments): string {
    return `${args.property} must be an IANA time zone such as 'UTC' or 'Europe/Paris'; got ${describe(args.value)}`;
  }
}

@ValidatorConstraint({ name: 'providersMap' })
class ProvidersConstraint implements ValidatorConstraintInterface {
  validate(value: unknown): boolean {
    return providersProblem(value) === null;
  }
  defaultMessage(args: ValidationArguments): string {
    return `${args.property}${providersProblem(args.value)}`;
  }
}

function providersProblem(value: unknown): string | null {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return ` must be an object keyed by provider name; got ${describe(value)}`;
  for (const [name, cfg] of Object.entries(value)) {
    if (!cfg || typeof cfg !== 'object') return `.${name} must be an object ({ trackUsage?, storage? }); got ${describe(cfg)}`;
    for (const key of Object.keys(cfg)) {
      if (key !== 'trackUsage' && key !== 'storage') return `.${name}.${key} is not an option; allowed: trackUsage, storage`;
    }
    const c = cfg as Record<string, unknown>;
    if (c.trackUsage !== undefined && typeof c.trackUsage !== 'boolean') return `.${name}.trackUsage must be a boolean; got ${describe(c.trackUsage)}`;
    if (c.storage !== undefined) {
      const p = storageProblem(c.storage);
      if (p) return `.${name}.storage${p}`;
    }
  }
  return null;
}

class MemoryOptionsDto {
  @IsOptional() @IsInt() @Min(1) maxRecords?: number;
}
class FileOptionsDto {
  @IsOptional() @IsString() @MinLength(1) directory?: string;
}
class WriterOptionsDto {
  @IsOptional() @IsInt() @Min(1) @Max(100_000) batchSize?: number;
  @IsOptional() @IsInt() @Min(0) flushIntervalMs?: number;
  @IsOptional() @IsInt() @Min(1) maxBufferedRecords?: number;
  @IsOptional() @IsString() @MinLength(1) spoolDirectory?: string;
  @IsOptional() @IsInt() @Min(1) retryDelayMs?: number;
  @IsOptional() @IsInt() @Min(1) maxRetryDelayMs?: number;
  @IsOptional() @IsInt() @Min(0) shutdownTimeoutMs?: number;
}

/**
 * Sections owned by other parts of the library register their DTO here (e.g. the database driver),
 * so unknown keys anywhere in the options are reported instead of ignored.
 */
export const OPTION_SECTION_VALIDATORS: Record<string, (value: unknown) => string[]> = {};
// Pricing validates its nested overrides/tiers/agents item by item (dtoSectionValidator is shallow).
OPTION_SECTION_VALIDATORS.pricing = validatePricingOptions;
// The Redis section may hold a live client: its validator checks it without cloning it.
OPTION_SECTION_VALIDATORS.cache = cacheStorageOptionProblems;
OPTION_SECTION_VALIDATORS.database = dtoSectionValidator(DatabaseStorageOptionsDto);
OPTION_SECTION_VALIDATORS.telemetry = telemetryOptionProblems;
OPTION_SECTION_VALIDATORS.analytics = analyticsOptionProblems;

export class UsageTrackingOptionsDto {
  @IsOptional() @IsBoolean() trackUsage?: boolean;
  @IsOptional() @Validate(StorageSpecConstraint) storage?: unknown;
  @IsOptional() @Validate(ProvidersConstraint) providers?: unknown;
  @IsOptional() @IsString() @MinLength(1) defaultProvider?: string;
  @IsOptional() @Validate(TimeZoneConstraint) timeZone?: string;
  @IsOptional() @IsBoolean() consistentReads?: boolean;
  @IsOptional() @ValidateNested() memory?: MemoryOptionsDto;
  @IsOptional() @ValidateNested() file?: FileOptionsDto;
  @IsOptional() @ValidateNested() writer?: WriterOptionsDto;
  @IsOptional() @IsObject() database?: Record<string, unknown>;
  @IsOptional() @IsObject() cache?: Record<string, unknown>;
  @IsOptional() @IsObject() pricing?: Record<string, unknown>;
  @IsOptional() @IsArray() budgets?: unknown[];
  @IsOptional() @IsObject() scheduler?: Record<string, unknown>;
  @IsOptional() @IsObject() telemetry?: Record<string, unknown>;
  @IsOptional() @IsObject() analytics?: Record<string, unknown>;
}

/**
 * Checks the options when the app boots. Throws one error listing every problem, each naming the
 * field and what is allowed. Class instances (drivers) pass through untouched.
 */
export function validateUsageTrackingOptions(options: UsageTrackingModuleOptions | undefined | null): UsageTrackingModuleOptions {
  if (options === undefined || options === null) return {};
  if (typeof options !== 'object' || Array.isArray(options)) {
    throw new InvalidUsageOptionsError([`options must be an object; got ${describe(options)}`]);
  }
  // Shallow copy: driver instances, DataSources and Redis clients must not be deep-cloned (cycles).
  const dto = Object.assign(new UsageTrackingOptionsDto(), options);
  for (const [key, cls] of [['memory', MemoryOptionsDto], ['file', FileOptionsDto], ['writer', WriterOptionsDto]] as const) {
    const v = (options as Record<string, unknown>)[key];
    if (v && typeof v === 'object' && !Array.isArray(v)) (dto as any)[key] = plainToInstance(cls as new () => object, v);
  }
  const problems = flatten(validateSync(dto, { whitelist: true, forbidNonWhitelisted: true, forbidUnknownValues: false }));
  for (const [section, validate] of Object.entries(OPTION_SECTION_VALIDATORS)) {
    const value = (options as Record<string, unknown>)[section];
    if (value !== undefined) problems.push(...validate(value).map((p) => `${section}.${p}`));
  }
  if (problems.length) throw new InvalidUsageOptionsError(problems);
  return options;
}

/** Turns a DTO class into a section validator (used by the driver, pricing and budget sections). */
export function dtoSectionValidator(dtoClass: new () => object): (value: unknown) => string[] {
  return (value) => {
    if (!value || typeof value !== 'object' || Array.isArray(value)) return [`must be an object; got ${describe(value)}`];
    const dto = Object.assign(new dtoClass(), value); // shallow: sections may hold clients / DataSources
    return flatten(validateSync(dto, { whitelist: true, forbidNonWhitelisted: true, forbidUnknownValues: false })).map((p) =>
      p.replace(/^\./, ''),
    );
  };
}
