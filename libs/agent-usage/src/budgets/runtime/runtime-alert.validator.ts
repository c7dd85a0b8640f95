import { InvalidUsageInputError, unknownKeyError } from '../../common/usage.errors';
import { MAX_ATTRIBUTION_LENGTH } from '../../common/usage-tracking.constants';
import type { CompiledBudget, UsageBudgetDefinition, UsageBudgetScope, UsageBudgetWebhookOptions } from '../budget-options.interface';
import { budgetsSectionProblems, compileBudgets } from '../budget-options.validator';
import {
  USAGE_ALERT_ACTIONS,
  USAGE_ALERT_DIMENSIONS,
  USAGE_ALERT_METRICS,
  USAGE_ALERT_WINDOWS,
  type UsageAlertAction,
  type UsageAlertDimension,
  type UsageAlertInput,
} from './runtime-alert.interface';

const KNOWN_KEYS = ['agentName', 'scope', 'dailyBudget', 'limit', 'window', 'metric', 'alerts', 'webhookUrl'];
const list = (values: readonly string[]) => values.map((v) => `'${v}'`).join(', ');

/** Budget scope of each alert dimension. */
const SCOPE_OF: Record<UsageAlertDimension, Exclude<UsageBudgetScope, 'global'>> = {
  agentName: 'agent',
  userId: 'user',
  group: 'group',
  modelName: 'model',
  providerName: 'provider',
  category: 'category',
};

/** Where a problem of the budget definition comes from in the alert's input. */
function inputFieldOf(problem: string, input: UsageAlertInput): string {
  const key = /^(\w+)/.exec(problem)?.[1] ?? 'alert';
  if (key === 'limit') return input.dailyBudget !== undefined ? 'dailyBudget' : 'limit';
  if (key === 'levels') return 'alerts';
  if (key === 'webhook') return 'webhookUrl';
  if (key === 'match') return 'scope.value';
  return key;
}

/**
 * Checks an alert's input and returns it normalized (`scope` always set, `agentName` for agent scopes,
 * `limit`/`window`/`metric` resolved from `dailyBudget`, levels sorted). The budget part is checked by
 * the very validator of the `budgets` option.
 * @throws InvalidUsageInputError naming the first bad field.
 */
export function validateAlertInput(raw: unknown): UsageAlertInput {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new InvalidUsageInputError('alert', 'an object { agentName | scope, dailyBudget | limit, alerts, webhookUrl? }', raw);
  }
  const a = raw as Record<string, unknown>;
  for (const key of Object.keys(a)) if (a[key] !== undefined && !KNOWN_KEYS.includes(key)) throw unknownKeyError('alert', key, KNOWN_KEYS);
  const name = (v: unknown) => typeof v === 'string' && v.trim().length > 0 && v.length <= MAX_ATTRIBUTION_LENGTH;
  let scope: { dimension: UsageAlertDimension; value: string };
  if (a.agentName !== undefined && a.scope !== undefined) throw new InvalidUsageInputError('scope', 'omitted when agentName is given (agentName is short for scope { dimension: "agentName" })', a.scope);
  if (a.agentName !== undefined) {
    if (!name(a.agentName)) throw new InvalidUsageInputError('agentName', `a non-empty string of at most ${MAX_ATTRIBUTION_LENGTH} characters`, a.agentName);
    scope = { dimension: 'agentName', value: a.agentName as string };
  } else if (a.scope !== undefined) {
    const s = a.scope as Record<string, unknown> | null;
    if (!s || typeof s !== 'object' || Array.isArray(s)) throw new InvalidUsageInputError('scope', '{ dimension, value }', a.scope);
    if (!(USAGE_ALERT_DIMENSIONS as readonly unknown[]).includes(s.dimension)) throw new InvalidUsageInputError('scope.dimension', `one of ${list(USAGE_ALERT_DIMENSIONS)}`, s.dimension);
    if (!name(s.value)) throw new InvalidUsageInputError('scope.value', `a non-empty string of at most ${MAX_ATTRIBUTION_LENGTH} characters`, s.value);
    scope = { dimension: s.dimension as UsageAlertDimension, value: s.value as string };
  } else {
    throw new InvalidUsageInputError('agentName', 'the agent the alert watches (or scope { dimension, value })', undefined);
  }
  if (a.dailyBudget !== undefined) {
    for (const k of ['limit', 'window', 'metric'] as const) {
      if (a[k] !== undefined) throw new InvalidUsageInputError(k, `omitted with dailyBudget (a day window of cost), or use limit + window without dailyBudget`, a[k]);
    }
  } else if (a.limit === undefined) {
    throw new InvalidUsageInputError('dailyBudget', `a USD amount such as '25.00' (or limit + window)`, undefined);
  }
  if (a.window !== undefined && !(USAGE_ALERT_WINDOWS as readonly unknown[]).includes(a.window)) throw new InvalidUsageInputError('window', `one of ${list(USAGE_ALERT_WINDOWS)}`, a.window);
  if (a.metric !== undefined && !(USAGE_ALERT_METRICS as readonly unknown[]).includes(a.metric)) throw new InvalidUsageInputError('metric', `one of ${list(USAGE_ALERT_METRICS)}`, a.metric);
  if (!Array.isArray(a.alerts) || a.alerts.length === 0) throw new InvalidUsageInputError('alerts', 'a non-empty array of { percent, action }', a.alerts);
  const levels = a.alerts.map((l: unknown, i) => {
    const o = l as Record<string, unknown> | null;
    if (!o || typeof o !== 'object' || Array.isArray(o)) throw new InvalidUsageInputError(`alerts.${i}`, '{ percent, action }', l);
    if (!Number.isInteger(o.percent) || (o.percent as number) < 1 || (o.percent as number) > 1000) {
      throw new InvalidUsageInputError(`alerts.${i}.percent`, 'an integer from 1 to 1000 (percent of the limit)', o.percent);
    }
    if (!(USAGE_ALERT_ACTIONS as readonly unknown[]).includes(o.action)) throw new InvalidUsageInputError(`alerts.${i}.action`, `one of ${list(USAGE_ALERT_ACTIONS)}`, o.action);
    return { percent: o.percent as number, action: o.action as UsageAlertAction };
  });
  const seen = new Set<string>();
  levels.forEach((l, i) => {
    if (seen.has(`${l.percent}:${l.action}`)) throw new InvalidUsageInputError(`alerts.${i}`, 'a percent x action pair not already listed', l);
    seen.add(`${l.percent}:${l.action}`);
  });
  if (a.webhookUrl !== undefined && typeof a.webhookUrl !== 'string') throw new InvalidUsageInputError('webhookUrl', 'an http:// or https:// URL', a.webhookUrl);
  if (levels.some((l) => l.action === 'webhook') && a.webhookUrl === undefined) throw new InvalidUsageInputError('webhookUrl', `an http:// or https:// URL (required by the 'webhook' action)`, undefined);
  const daily = a.dailyBudget !== undefined;
  const input: UsageAlertInput = {
    ...(scope.dimension === 'agentName' ? { agentName: scope.value } : {}),
    scope,
    limit: (daily ? a.dailyBudget : a.limit) as string | number,
    window: daily ? 'day' : ((a.window as UsageAlertInput['window']) ?? 'day'),
    metric: daily ? 'cost' : ((a.metric as UsageAlertInput['metric']) ?? 'cost'),
    alerts: levels.sort((x, y) => x.percent - y.percent || x.action.localeCompare(y.action)),
    ...(a.webhookUrl !== undefined ? { webhookUrl: a.webhookUrl as string } : {}),
  };
  if (daily) input.dailyBudget = a.dailyBudget as string | number;
  // The budget itself: the same rules (and messages) as a boot-time budget.
  const problems = budgetsSectionProblems([definitionOf('alert:check', input)]);
  if (problems.length > 0) {
    const problem = problems[0].replace(/^0 \("[^"]*"\)\./, '');
    const field = inputFieldOf(problem, input);
    const expected = problem.replace(/^[\w.]+ (must be )?/, '').replace(/; got .*$/, '');
    throw new InvalidUsageInputError(field, expected, field === 'webhookUrl' ? input.webhookUrl : (a as Record<string, unknown>)[field]);
  }
  return input;
}

/** The budget definition of a (validated) alert: one shared budget over its single scope value. */
export function definitionOf(name: string, input: UsageAlertInput): UsageBudgetDefinition {
  const levels = [...new Set(input.alerts.map((l) => l.percent))];
  return {
    name,
    scope: SCOPE_OF[input.scope!.dimension],
    match: [input.scope!.value],
    window: input.window ?? 'day',
    metric: input.metric ?? 'cost',
    limit: (input.limit ?? input.dailyBudget) as string | number,
    levels,
    actions: input.webhookUrl ? ['event', 'log', 'webhook'] : ['event', 'log'],
    ...(input.webhookUrl ? { webhook: { url: input.webhookUrl } } : {}),
  };
}

/** Budget name of a runtime alert (in events, errors and statuses). */
export const alertBudgetName = (id: string) => `alert:${id}`;

/** A stored alert as a budget every instance enforces. */
export function compileAlert(id: string, input: UsageAlertInput, pausedUntil: number | null, hook?: Omit<UsageBudgetWebhookOptions, 'url'>): CompiledBudget {
  const [b] = compileBudgets([definitionOf(alertBudgetName(id), input)]);
  if (b.webhook && hook) b.webhook = { ...hook, url: b.webhook.url };
  const levelActions = new Map<number, Set<UsageAlertAction>>();
  for (const l of input.alerts) levelActions.set(l.percent, (levelActions.get(l.percent) ?? new Set()).add(l.action));
  b.runtime = { id, value: input.scope!.value, levelActions, pausedUntil };
  return b;
}
