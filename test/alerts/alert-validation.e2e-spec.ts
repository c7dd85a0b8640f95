/**
 * Runtime alerts on one app without a shared backend: input validated like boot-time budgets (errors
 * name the field), the memory store ("this instance only"), levels and the pause on the local clock,
 * and the new scheduler options checked at boot.
 */
import type { INestApplication } from '@nestjs/common';
import { InvalidUsageInputError, InvalidUsageOptionsError, UsageRuntimeAlerts, UsageService, UsageThresholdJob, type UsageAlertInput } from 'nestjs-agent-usage';
import { WATCHED, WatchedAgent, bootAlertsApp, callOutcome } from './alerts-test.helpers';

let app: INestApplication;
let usage: UsageService;

beforeAll(async () => {
  app = await bootAlertsApp({ trackUsage: true, storage: 'memory', scheduler: { enabled: false } });
  usage = app.get(UsageService);
  await app.get(UsageRuntimeAlerts).whenReady();
});
afterAll(() => app.close());

const base: UsageAlertInput = { agentName: WATCHED, dailyBudget: '2.50', alerts: [{ percent: 80, action: 'webhook' }], webhookUrl: 'https://hooks.example.com/usage' };

/** The field an invalid input is refused for (and that nothing was stored). */
async function refusedField(input: unknown): Promise<string> {
  const before = (await usage.listAlerts()).length;
  const err = await usage.createAlert(input as UsageAlertInput).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(InvalidUsageInputError);
  expect((await usage.listAlerts()).length).toBe(before);
  return (err as InvalidUsageInputError).field;
}

describe('createAlert validation', () => {
  it.each([
    ['not an object', 'x', 'alert'],
    ['no agent nor scope', { ...base, agentName: undefined }, 'agentName'],
    ['an empty agent', { ...base, agentName: '' }, 'agentName'],
    ['agentName and scope', { ...base, scope: { dimension: 'userId', value: 'u1' } }, 'scope'],
    ['an unknown dimension', { ...base, agentName: undefined, scope: { dimension: 'team', value: 'x' } }, 'scope.dimension'],
    ['a category scope with agentName', { ...base, scope: { dimension: 'category', value: 'image' } }, 'scope'],
    ['a scope without value', { ...base, agentName: undefined, scope: { dimension: 'userId' } }, 'scope.value'],
    ['no budget', { ...base, dailyBudget: undefined }, 'dailyBudget'],
    ['a negative daily budget', { ...base, dailyBudget: '-1' }, 'dailyBudget'],
    ['a budget with 10 decimals', { ...base, dailyBudget: '0.0000000001' }, 'dailyBudget'],
    ['dailyBudget and window', { ...base, window: 'hour' }, 'window'],
    ['a zero limit', { ...base, dailyBudget: undefined, limit: 0, window: 'hour' }, 'limit'],
    ['a fractional token limit', { ...base, dailyBudget: undefined, limit: 10.5, metric: 'tokens' }, 'limit'],
    ['an unknown window', { ...base, dailyBudget: undefined, limit: '5', window: 'year' }, 'window'],
    ['an unknown metric', { ...base, dailyBudget: undefined, limit: '5', metric: 'requests' }, 'metric'],
    ['no levels', { ...base, alerts: [] }, 'alerts'],
    ['a percent of 0', { ...base, alerts: [{ percent: 0, action: 'webhook' }] }, 'alerts.0.percent'],
    ['a fractional percent', { ...base, alerts: [{ percent: 50.5, action: 'webhook' }] }, 'alerts.0.percent'],
    ['an unknown action', { ...base, alerts: [{ percent: 50, action: 'email' }] }, 'alerts.0.action'],
    ['a repeated level', { ...base, alerts: [{ percent: 50, action: 'webhook' }, { percent: 50, action: 'webhook' }] }, 'alerts.1'],
    ['a webhook level without URL', { ...base, webhookUrl: undefined }, 'webhookUrl'],
    ['a non-http URL', { ...base, webhookUrl: 'ftp://example.com/x' }, 'webhookUrl'],
    ['an unknown key', { ...base, daily_budget: '1' }, 'alert'],
  ])('refuses %s', async (_label, input, field) => {
    expect(await refusedField(input)).toBe(field);
  });

  it('says what was expected, in the words of the budgets option', async () => {
    await expect(usage.createAlert({ ...base, dailyBudget: 'ten' })).rejects.toThrow(/"dailyBudget" must be a USD decimal such as '25.00'.*received "ten"/);
    await expect(usage.createAlert({ ...base, webhookUrl: 'nope' })).rejects.toThrow(/"webhookUrl" must be .*http:\/\/ or https:\/\/ URL/);
  });

  it('refuses an unknown id on delete', async () => {
    await expect(usage.deleteAlert('no such id!')).rejects.toThrow(InvalidUsageInputError);
    expect(await usage.deleteAlert('no-such-id')).toBe(false);
  });
});

describe('the memory store (this instance only)', () => {
  it('stores, lists (normalized), enforces a pause_agent level and deletes', async () => {
    expect(app.get(UsageRuntimeAlerts).storeKind).toBe('memory');
    const alert = await usage.createAlert({ scope: { dimension: 'agentName', value: WATCHED }, limit: 100, metric: 'tokens', window: 'hour', alerts: [{ percent: 100, action: 'pause_agent' }] });
    expect(alert).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      createdAt: expect.any(String),
      agentName: WATCHED,
      scope: { dimension: 'agentName', value: WATCHED },
      limit: 100,
      window: 'hour',
      metric: 'tokens',
      alerts: [{ percent: 100, action: 'pause_agent' }],
      paused: false,
      pausedUntil: null,
    });
    expect(await usage.listAlerts()).toEqual([alert]);
    const [status] = await usage.getBudgetStatus(`alert:${alert.id}`);
    expect(status).toMatchObject({ limit: 100, used: 0, scope: { type: 'agent', value: null, match: [WATCHED] } });

    // 20 tracked calls of 5 tokens: 100 tokens; the level fires on the next check and pauses the agent.
    for (let i = 0; i < 20; i++) await app.get(WatchedAgent).respond();
    const { fired } = await app.get(UsageThresholdJob).runBudgets(app.get(UsageRuntimeAlerts)['budgets'].runtime);
    expect(fired.map((e) => [e.level, e.alert_type, e.agent_id, e.paused])).toEqual([[100, 'agent_paused', WATCHED, true]]);
    expect(fired[0].budget_usage).toEqual({ limit: 100, amount_spent: 100, percent_used: 100, amount_remaining: 0 });
    // Tokens only, no price: no cost drivers to name.
    expect(fired[0].top_cost_drivers).toEqual([]);
    const refused = await callOutcome(() => app.get(WatchedAgent).respond());
    expect(refused).toMatchObject({ ok: false, reason: 'paused' });
    expect((await usage.listAlerts())[0]).toMatchObject({ paused: true, pausedUntil: fired[0].window.end.toISOString() });
    // A second check does not fire again in this window.
    expect((await app.get(UsageThresholdJob).runBudgets(app.get(UsageRuntimeAlerts)['budgets'].runtime)).fired).toEqual([]);

    expect(await usage.deleteAlert(alert.id)).toBe(true);
    expect(await callOutcome(() => app.get(WatchedAgent).respond())).toEqual({ ok: true });
    expect(await usage.listAlerts()).toEqual([]);
  });
});

describe('a category alert', () => {
  it('counts only its category and pauses calls made in it', async () => {
    const alert = await usage.createAlert({ scope: { dimension: 'category', value: 'image' }, dailyBudget: '1', alerts: [{ percent: 100, action: 'pause_agent' }] });
    usage.record({ agentName: WATCHED, modelName: 'img-1', providerName: 'openai', category: 'image', units: 3, costNanoUsd: 1_200_000_000 });
    usage.record({ agentName: WATCHED, modelName: 'gpt-4o', providerName: 'openai', inputTokens: 5, outputTokens: 5, costNanoUsd: 5_000_000_000 });
    await usage.flush();
    const [status] = await usage.getBudgetStatus(`alert:${alert.id}`);
    expect(status).toMatchObject({ used: 1_200_000_000, percent: 120, scope: { type: 'category', match: ['image'] } });
    const { fired } = await app.get(UsageThresholdJob).runBudgets(app.get(UsageRuntimeAlerts)['budgets'].runtime);
    expect(fired.map((e) => [e.level, e.alert_type, e.agent_id])).toEqual([[100, 'agent_paused', null]]);
    expect(fired[0].top_cost_drivers).toEqual([{ model: 'img-1', cost: 1.2, cost_exact: '1.200000000', percent: 100 }]);
    expect(await callOutcome(() => usage.runWithContext({ category: 'image' }, () => app.get(WatchedAgent).respond()))).toMatchObject({ ok: false, reason: 'paused' });
    expect(await callOutcome(() => app.get(WatchedAgent).respond())).toEqual({ ok: true }); // a chat call
    expect(await usage.deleteAlert(alert.id)).toBe(true);
  });
});

describe('scheduler options of runtime alerts', () => {
  it.each([
    [{ runtimeRefreshMs: 10 }, /scheduler\.runtimeRefreshMs must not be less than 100/],
    [{ runtimeRefreshMs: 'fast' }, /scheduler\.runtimeRefreshMs must be an integer/],
    [{ runtimeAlertsTable: 'Bad-Name' }, /scheduler\.runtimeAlertsTable must be a lower-case SQL identifier/],
    [{ runtimeAlerts: 'yes' }, /scheduler\.runtimeAlerts must be a boolean/],
    [{ runtimeWebhook: { url: 'https://x.example' } }, /scheduler\.runtimeWebhook\.url is not allowed/],
    [{ runtimeWebhook: { retries: 50 } }, /scheduler\.runtimeWebhook\.retries must not be greater than 20/],
  ])('refuses %j at boot', async (scheduler, message) => {
    const boot = bootAlertsApp({ storage: 'memory', scheduler } as never);
    await expect(boot).rejects.toThrow(InvalidUsageOptionsError);
    await expect(bootAlertsApp({ storage: 'memory', scheduler } as never)).rejects.toThrow(message);
  });

  it('runtimeAlerts: false turns them off with a clear error', async () => {
    const off = await bootAlertsApp({ storage: 'memory', scheduler: { runtimeAlerts: false } });
    try {
      await expect(off.get(UsageService).listAlerts()).rejects.toThrow(/runtime alerts are off \(scheduler\.runtimeAlerts: false\)/);
    } finally {
      await off.close();
    }
  });
});
