import { IsArray, IsIn, IsInt, IsObject, IsOptional, IsString, Matches, Max, MaxLength, Min, MinLength } from 'class-validator';
import { OPTION_SECTION_VALIDATORS, dtoSectionValidator } from '../options/usage-tracking-options.validator';
import { describe } from '../common/usage.errors';
import { BUDGET_ACTIONS, BUDGET_METRICS, BUDGET_SCOPES, BUDGET_WINDOWS, DEFAULT_BUDGET_LEVELS } from './budget.constants';
import type { CompiledBudget, UsageBudgetAction, UsageBudgetDefinition, UsageBudgetMetric } from './budget-options.interface';
import { amountExpectation, parseBudgetAmount } from './budget-limit.util';

const list = (values: readonly string[]) => values.map((v) => `'${v}'`).join(', ');

class BudgetWebhookDto {
  @IsString() @Matches(/^https?:\/\/\S+$/, { message: 'url must be an http:// or https:// URL' }) url!: string;
  @IsOptional() @IsString() @MinLength(1) secret?: string;
  @IsOptional() @IsInt() @Min(0) @Max(20) retries?: number;
  @IsOptional() @IsInt() @Min(1) retryDelayMs?: number;
  @IsOptional() @IsInt() @Min(1) timeoutMs?: number;
  @IsOptional() @IsObject() headers?: Record<string, string>;
}

const LEVELS_MESSAGE = 'levels must be integers from 1 to 1000 (percent of the limit)';

class BudgetDefinitionDto {
  @IsString() @MinLength(1) @MaxLength(200) name!: string;
  @IsIn(BUDGET_SCOPES as unknown as string[], { message: `scope must be one of ${list(BUDGET_SCOPES)}` }) scope!: string;
  @IsOptional() match?: unknown;
  @IsIn(BUDGET_WINDOWS as unknown as string[], { message: `window must be one of ${list(BUDGET_WINDOWS)}` }) window!: string;
  @IsOptional() @IsIn(BUDGET_METRICS as unknown as string[], { message: `metric must be one of ${list(BUDGET_METRICS)}` }) metric?: string;
  @IsOptional() limit?: unknown; // checked below: its type depends on `metric`
  @IsOptional()
  @IsArray()
  @IsInt({ each: true, message: LEVELS_MESSAGE })
  @Min(1, { each: true, message: LEVELS_MESSAGE })
  @Max(1000, { each: true, message: LEVELS_MESSAGE })
  levels?: number[];
  @IsOptional() @IsArray() @IsIn(BUDGET_ACTIONS as unknown as string[], { each: true, message: `actions must each be one of ${list(BUDGET_ACTIONS)}` })
  actions?: string[];
  @IsOptional() @IsObject() webhook?: unknown;
  @IsOptional() reserve?: unknown;
}

const checkDefinition = dtoSectionValidator(BudgetDefinitionDto);
const checkWebhook = dtoSectionValidator(BudgetWebhookDto);

/** `scheduler.runtimeWebhook`: a budget webhook without its `url` (each runtime alert has its own). */
export function runtimeWebhookProblems(value: unknown): string[] {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return [`runtimeWebhook must be an object ({ secret?, retries?, ... }); got ${describe(value)}`];
  if ('url' in value) return ['runtimeWebhook.url is not allowed: each runtime alert gives its webhookUrl'];
  return checkWebhook({ ...value, url: 'https://runtime.alert' }).map((p) => `runtimeWebhook.${p}`);
}

function definitionProblems(def: Record<string, unknown>): string[] {
  const out = checkDefinition(def);
  const metric = (def.metric ?? 'cost') as UsageBudgetMetric;
  if (def.limit === undefined) out.push(`limit is required: ${amountExpectation(metric)}`);
  else if ((BUDGET_METRICS as readonly string[]).includes(metric)) {
    const n = parseBudgetAmount(metric, def.limit);
    if (n === null || n <= 0) out.push(`limit must be ${amountExpectation(metric)} above zero; got ${describe(def.limit)}`);
  }
  if (def.reserve !== undefined && (BUDGET_METRICS as readonly string[]).includes(metric) && parseBudgetAmount(metric, def.reserve) === null) {
    out.push(`reserve must be ${amountExpectation(metric)}; got ${describe(def.reserve)}`);
  }
  if (def.match !== undefined) {
    const m = def.match;
    const ok = (typeof m === 'string' && m.length > 0) || (Array.isArray(m) && m.length > 0 && m.every((v) => typeof v === 'string' && v.length > 0));
    if (!ok) out.push(`match must be a non-empty string or array of strings (omit it for one budget per ${String(def.scope)}); got ${describe(m)}`);
    if (def.scope === 'global') out.push(`match is not allowed with scope 'global'`);
  }
  if (Array.isArray(def.levels) && new Set(def.levels).size !== def.levels.length) out.push('levels must not repeat');
  const actions = Array.isArray(def.actions) ? def.actions : undefined;
  if (def.webhook !== undefined) {
    if (def.webhook && typeof def.webhook === 'object') out.push(...checkWebhook(def.webhook).map((p) => `webhook.${p}`));
  } else if (actions?.includes('webhook')) out.push(`webhook ({ url, secret?, retries? }) is required by the 'webhook' action`);
  return out;
}

/** Validates `budgets` (an array; the top-level check reports other types). */
export function budgetsSectionProblems(value: unknown): string[] {
  if (!Array.isArray(value)) return [];
  const out: string[] = [];
  const names = new Map<string, number>();
  value.forEach((def, i) => {
    const label = def && typeof def === 'object' && typeof (def as any).name === 'string' ? `${i} ("${(def as any).name}")` : String(i);
    if (!def || typeof def !== 'object' || Array.isArray(def)) {
      out.push(`${i} must be a budget object ({ name, scope, window, limit, ... }); got ${describe(def)}`);
      return;
    }
    out.push(...definitionProblems(def as Record<string, unknown>).map((p) => `${label}.${p}`));
    const name = (def as any).name;
    if (typeof name === 'string') {
      if (names.has(name)) out.push(`${label}.name "${name}" is already used by budgets.${names.get(name)}; names must be unique`);
      else names.set(name, i);
    }
  });
  return out;
}

/** Turns validated definitions into integer limits and resolved defaults. */
export function compileBudgets(defs: readonly UsageBudgetDefinition[] | undefined): CompiledBudget[] {
  return (defs ?? []).map((d) => {
    const metric = d.metric ?? 'cost';
    const actions = new Set<UsageBudgetAction>(d.actions ?? (d.webhook ? ['event', 'log', 'webhook'] : ['event', 'log']));
    return {
      name: d.name,
      scope: d.scope,
      match: d.match === undefined ? null : Array.isArray(d.match) ? [...d.match] : [d.match],
      window: d.window,
      metric,
      limit: parseBudgetAmount(metric, d.limit)!,
      reserve: d.reserve === undefined ? 0 : parseBudgetAmount(metric, d.reserve)!,
      levels: [...(d.levels ?? DEFAULT_BUDGET_LEVELS)].sort((a, b) => a - b),
      actions,
      webhook: d.webhook ?? null,
      hard: actions.has('pause'),
    };
  });
}

OPTION_SECTION_VALIDATORS.budgets = budgetsSectionProblems;
