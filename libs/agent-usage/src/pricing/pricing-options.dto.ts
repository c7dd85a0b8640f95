import {
  IsBoolean,
  IsIn,
  IsInt,
  IsObject,
  IsOptional,
  IsString,
  Max,
  MaxLength,
  Min,
  MinLength,
  Validate,
  ValidationArguments,
  ValidatorConstraint,
  ValidatorConstraintInterface,
  validateSync,
} from 'class-validator';
import { describe } from '../common/usage.errors';
import { PER_MILLION_DECIMALS, PER_UNIT_DECIMALS } from './pricing.constants';
import { decimalProblem } from './pricing-decimal.util';
import { flattenValidationErrors as flatten } from '../common/validation-errors';

const PER_MILLION_HINT = `USD per 1M tokens as a non-negative number or decimal string with at most ${PER_MILLION_DECIMALS} decimals (e.g. 2.5 for $2.50 per 1M tokens, or '0.075')`;
const USD_HINT = `a USD amount as a non-negative number or decimal string with at most ${PER_UNIT_DECIMALS} decimals (e.g. 0.05 or '0.0000025')`;
const RATE_FIELDS = ['input', 'cachedInput', 'cacheWrite', 'output', 'reasoning'] as const;
const AGENT_PRICE_FIELDS = ['costPerQuery', 'inputCostPerToken', 'outputCostPerToken'] as const;

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

@ValidatorConstraint({ name: 'usdPerMillionTokens' })
class UsdPerMillionConstraint implements ValidatorConstraintInterface {
  validate(value: unknown): boolean {
    return decimalProblem(value, PER_MILLION_DECIMALS) === null;
  }
  defaultMessage(args: ValidationArguments): string {
    if (args.value === undefined) return `${args.property} is required: ${PER_MILLION_HINT}`;
    return `${args.property} must be ${PER_MILLION_HINT}; ${decimalProblem(args.value, PER_MILLION_DECIMALS)}`;
  }
}

@ValidatorConstraint({ name: 'usdAmount' })
class UsdAmountConstraint implements ValidatorConstraintInterface {
  validate(value: unknown): boolean {
    return decimalProblem(value, PER_UNIT_DECIMALS) === null;
  }
  defaultMessage(args: ValidationArguments): string {
    return `${args.property} must be ${USD_HINT}; ${decimalProblem(args.value, PER_UNIT_DECIMALS)}`;
  }
}

function matchProblem(v: unknown): string | null {
  if (typeof v === 'string') return v.trim().length === 0 ? 'got an empty string' : v.length > 255 ? 'got a name longer than 255 characters' : null;
  if (v instanceof RegExp) return null;
  if (isObj(v)) {
    const extra = Object.keys(v).filter((k) => k !== 'regex' && k !== 'flags');
    if (extra.length) return `got unknown key(s) ${extra.join(', ')}`;
    if (typeof v.regex !== 'string' || v.regex.length === 0) return `got regex ${describe(v.regex)}`;
    if (v.flags !== undefined && typeof v.flags !== 'string') return `got flags ${describe(v.flags)}`;
    try {
      new RegExp(v.regex, v.flags as string | undefined);
    } catch (err) {
      return `regex does not compile: ${(err as Error).message}`;
    }
    return null;
  }
  return `got ${describe(v)}`;
}

@ValidatorConstraint({ name: 'modelMatch' })
class ModelMatchConstraint implements ValidatorConstraintInterface {
  validate(value: unknown): boolean {
    return matchProblem(value) === null;
  }
  defaultMessage(args: ValidationArguments): string {
    return `${args.property} must be a model name, a RegExp or { regex: string, flags?: string }; ${matchProblem(args.value)}`;
  }
}

function instantProblem(v: unknown): string | null {
  if (v instanceof Date) return isNaN(v.getTime()) ? 'got an invalid Date' : null;
  // Only ISO 8601 strings: Date.parse accepts many local formats whose meaning depends on the server.
  if (typeof v === 'string' && /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?$/.test(v)) {
    return isNaN(Date.parse(v.length === 10 ? `${v}T00:00:00Z` : v)) ? `got ${describe(v)}` : null;
  }
  return `got ${describe(v)}`;
}

@ValidatorConstraint({ name: 'instant' })
class InstantConstraint implements ValidatorConstraintInterface {
  validate(value: unknown): boolean {
    return instantProblem(value) === null;
  }
  defaultMessage(args: ValidationArguments): string {
    return `${args.property} must be a Date or an ISO 8601 date ('2026-01-01', midnight UTC) or date-time with a zone; ${instantProblem(args.value)}`;
  }
}

export class PriceTierDto {
  @IsInt() @Min(0) @Max(Number.MAX_SAFE_INTEGER) aboveInputTokens!: number;
  @IsOptional() @Validate(UsdPerMillionConstraint) input?: number | string;
  @IsOptional() @Validate(UsdPerMillionConstraint) cachedInput?: number | string;
  @IsOptional() @Validate(UsdPerMillionConstraint) cacheWrite?: number | string;
  @IsOptional() @Validate(UsdPerMillionConstraint) output?: number | string;
  @IsOptional() @Validate(UsdPerMillionConstraint) reasoning?: number | string;
}

export class PriceOverrideDto {
  @Validate(ModelMatchConstraint) match!: unknown;
  @IsOptional() @IsString() @MinLength(1) @MaxLength(255) provider?: string;
  @Validate(UsdPerMillionConstraint) input!: number | string;
  @IsOptional() @Validate(UsdPerMillionConstraint) cachedInput?: number | string;
  @IsOptional() @Validate(UsdPerMillionConstraint) cacheWrite?: number | string;
  @Validate(UsdPerMillionConstraint) output!: number | string;
  @IsOptional() @Validate(UsdPerMillionConstraint) reasoning?: number | string;
  // Items are checked one by one in validatePricingOptions (to name each one's index).
  @IsOptional() tiers?: unknown;
  @IsOptional() @Validate(InstantConstraint) effectiveFrom?: Date | string;
}

export class AgentPricingDto {
  @IsOptional() @Validate(UsdAmountConstraint) costPerQuery?: number | string;
  @IsOptional() @Validate(UsdAmountConstraint) inputCostPerToken?: number | string;
  @IsOptional() @Validate(UsdAmountConstraint) outputCostPerToken?: number | string;
  @IsOptional() @IsIn(['replace', 'add'], { message: "mode must be 'replace' (the agent's price is the whole cost) or 'add' (added to the model's price)" })
  mode?: 'replace' | 'add';
}

export class PricingOptionsDto {
  @IsOptional() @IsBoolean() enabled?: boolean;
  @IsOptional() @IsBoolean() table?: boolean;
  // Checked item by item below.
  @IsOptional() overrides?: unknown;
  @IsOptional() @IsObject() agents?: unknown;
  // Checked entry by entry below.
  @IsOptional() deployments?: unknown;
  @IsOptional() operations?: unknown;
  @IsOptional()
  @IsIn(['null'], { message: "unknownModel must be 'null': the cost of a model without a price is recorded as unknown, never as 0" })
  unknownModel?: 'null';
}

function check(dto: object, prefix: string): string[] {
  return flatten(validateSync(dto, { whitelist: true, forbidNonWhitelisted: true, forbidUnknownValues: false }), prefix);
}

const matchKey = (m: unknown): string =>
  typeof m === 'string' ? `=${m.toLowerCase()}` : m instanceof RegExp ? `~${m.source}/${m.flags}` : isObj(m) ? `~${String(m.regex)}/${String(m.flags ?? '')}` : '?';

/**
 * Checks `pricing` options; returns one message per problem, each naming the field path (e.g.
 * `overrides.0.input must be USD per 1M tokens ...`). Objects are copied shallowly, so RegExps stay RegExps.
 */
export function validatePricingOptions(value: unknown): string[] {
  if (!isObj(value)) return [`must be an object; got ${describe(value)}`];
  const problems = check(Object.assign(new PricingOptionsDto(), value), '');

  const overrides = value.overrides;
  if (overrides !== undefined) {
    if (!Array.isArray(overrides)) problems.push(`overrides must be an array of { match, input, output, ... }; got ${describe(overrides)}`);
    else {
      const seen = new Map<string, number>();
      overrides.forEach((o, i) => {
        const at = `overrides.${i}`;
        if (!isObj(o)) return void problems.push(`${at} must be an object ({ match, input, output, ... }); got ${describe(o)}`);
        problems.push(...check(Object.assign(new PriceOverrideDto(), o), at));
        const key = `${String(o.provider ?? '').toLowerCase()}|${matchKey(o.match)}|${instantProblem(o.effectiveFrom) === null ? new Date(o.effectiveFrom as string).getTime() : String(o.effectiveFrom)}`;
        const first = seen.get(key);
        if (first !== undefined) problems.push(`${at} repeats the match, provider and effectiveFrom of overrides.${first}: it would never apply`);
        else seen.set(key, i);
        if (o.tiers === undefined) return;
        if (!Array.isArray(o.tiers)) return void problems.push(`${at}.tiers must be an array of { aboveInputTokens, input?, output?, ... }; got ${describe(o.tiers)}`);
        const thresholds = new Set<unknown>();
        o.tiers.forEach((t, j) => {
          const tat = `${at}.tiers.${j}`;
          if (!isObj(t)) return void problems.push(`${tat} must be an object ({ aboveInputTokens, input?, output?, ... }); got ${describe(t)}`);
          problems.push(...check(Object.assign(new PriceTierDto(), t), tat));
          if (!RATE_FIELDS.some((f) => t[f] !== undefined)) problems.push(`${tat} must set at least one rate (${RATE_FIELDS.join(', ')})`);
          if (thresholds.has(t.aboveInputTokens)) problems.push(`${tat}.aboveInputTokens repeats ${describe(t.aboveInputTokens)}: each tier needs its own threshold`);
          thresholds.add(t.aboveInputTokens);
        });
      });
    }
  }

  problems.push(...deploymentProblems(value.deployments));
  problems.push(...operationProblems(value.operations));

  if (isObj(value.agents)) {
    for (const [name, a] of Object.entries(value.agents)) {
      const at = `agents.${name}`;
      if (name.length === 0) problems.push('agents must not have an empty agent name as a key');
      if (!isObj(a)) {
        problems.push(`${at} must be an object ({ costPerQuery?, inputCostPerToken?, outputCostPerToken?, mode? }); got ${describe(a)}`);
        continue;
      }
      problems.push(...check(Object.assign(new AgentPricingDto(), a), at));
      if (!AGENT_PRICE_FIELDS.some((f) => a[f] !== undefined)) problems.push(`${at} must set costPerQuery, inputCostPerToken or outputCostPerToken`);
    }
  }
  return problems;
}

/** `deployments`: `{ '<deployment or alias>': '<model it serves>' }`, both non-empty names. */
function deploymentProblems(value: unknown): string[] {
  if (value === undefined) return [];
  if (!isObj(value)) return [`deployments must be an object mapping a deployment name to the model it serves (e.g. { 'prod-chat': 'gpt-4o' }); got ${describe(value)}`];
  const problems: string[] = [];
  const seen = new Map<string, string>();
  for (const [name, model] of Object.entries(value)) {
    if (name.trim().length === 0 || name.length > 255) problems.push('deployments must not have an empty (or longer than 255 characters) deployment name as a key');
    if (typeof model !== 'string' || model.trim().length === 0 || model.length > 255) {
      problems.push(`deployments.${name} must be the name of the model that deployment serves (a non-empty string of at most 255 characters, e.g. 'gpt-4o'); got ${describe(model)}`);
    }
    const lower = name.toLowerCase();
    const first = seen.get(lower);
    if (first !== undefined) problems.push(`deployments.${name} repeats deployments.${first} (names match case-insensitively)`);
    else seen.set(lower, name);
  }
  return problems;
}

// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

/** `operations`: `{ '<category>': <USD per unit> }`; categories are record categories (1-255 printable characters). */
function operationProblems(value: unknown): string[] {
  if (value === undefined) return [];
  if (!isObj(value)) return [`operations must be an object mapping a record category to its USD price per unit (e.g. { image: '0.04' }); got ${describe(value)}`];
  const problems: string[] = [];
  for (const [category, price] of Object.entries(value)) {
    if (category.length === 0 || category.length > 255 || CONTROL_CHARS.test(category)) {
      problems.push(`operations must have categories of 1 to 255 characters without control characters as keys; got ${describe(category)}`);
      continue;
    }
    const problem = decimalProblem(price, PER_UNIT_DECIMALS);
    if (problem !== null) problems.push(`operations.${category} must be ${USD_HINT.replace('a USD amount', 'the USD price of one unit')}; ${problem}`);
  }
  return problems;
}
