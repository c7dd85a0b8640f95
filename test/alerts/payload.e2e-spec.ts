/**
 * The hosted-API webhook fields on a configured (boot-time) budget: existing fields and the signature
 * scheme unchanged, figures checked against the recorded data; and the largest-remainder shares.
 */
import { INestApplication } from '@nestjs/common';
import { UsageService, UsageThresholdJob, verifyUsageWebhook } from 'nestjs-agent-usage';
import { sharesOf } from '../../libs/agent-usage/src/budgets/thresholds/alert-payload';
import { bootAlertsApp, waitFor, webhookReceiver } from './alerts-test.helpers';

describe('sharesOf', () => {
  it('sums to exactly 100 by largest remainder', () => {
    expect(sharesOf([1, 1, 1])).toEqual([33.34, 33.33, 33.33]);
    expect(sharesOf([2, 1])).toEqual([66.67, 33.33]);
    expect(sharesOf([0, 0])).toEqual([0, 0]);
    // Costs whose x 10000 passes 2^53 stay exact.
    const big = [9_000_000_000_000, 1_000_000_000_001, 3];
    expect(sharesOf(big).reduce((s, p) => Math.round((s + p) * 100) / 100, 0)).toBe(100);
    expect(sharesOf(big)).toEqual([90, 10, 0]);
  });
});

describe('a configured budget webhook', () => {
  let app: INestApplication;
  let hooks: Awaited<ReturnType<typeof webhookReceiver>>;
  beforeAll(async () => {
    hooks = await webhookReceiver();
    app = await bootAlertsApp({
      trackUsage: true,
      storage: 'memory',
      budgets: [{ name: 'al-group', scope: 'group', match: 'ops', window: 'month', limit: '10.00', levels: [25], actions: ['webhook'], webhook: { url: hooks.url, secret: 'al-secret' } }],
      scheduler: { enabled: false, coordination: 'memory' },
    });
  });
  afterAll(async () => {
    await app.close();
    await hooks.close();
  });

  it('keeps its fields and signature and adds the hosted ones, from the recorded data', async () => {
    const usage = app.get(UsageService);
    // Seven models in the group: the top five by cost and the rest as (other); another group does not count.
    const costs = [1_200_000_000, 700_000_000, 400_000_000, 300_000_000, 200_000_000, 150_000_000, 50_000_000];
    costs.forEach((c, i) => usage.record({ agentName: `al-a${i % 2}`, group: 'ops', modelName: `m${i}`, providerName: 'openai', inputTokens: 10, outputTokens: 1, costNanoUsd: c }));
    usage.record({ agentName: 'al-a0', group: 'sales', modelName: 'm0', providerName: 'openai', inputTokens: 10, outputTokens: 1, costNanoUsd: 9_000_000_000 });
    await usage.flush();
    const { fired } = await app.get(UsageThresholdJob).run();
    expect(fired).toHaveLength(1);
    await waitFor('the webhook', () => hooks.received.length === 1);
    const { headers, body } = hooks.received[0];
    const raw = JSON.stringify(body);
    expect(verifyUsageWebhook('al-secret', raw, { timestamp: headers['x-agent-usage-timestamp'] as string, signature: headers['x-agent-usage-signature'] as string })).toBe(true);
    // The existing fields, unchanged.
    expect(body).toMatchObject({ type: 'usage.threshold.crossed', budget: 'al-group', level: 25, used: 3_000_000_000, limit: 10_000_000_000, usedUsd: '3.000000000', percent: 30 });
    expect(body.topCostDrivers.models.map((d: { key: string }) => d.key)).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
    // The hosted ones.
    expect(body).toMatchObject({
      alert_type: 'budget_threshold',
      agent_id: null, // a group budget
      budget_usage: { limit: 10, amount_spent: 3, amount_spent_exact: '3.000000000', percent_used: 30, amount_remaining: 7, amount_remaining_exact: '7.000000000' },
    });
    expect(body.top_cost_drivers).toEqual([
      { model: 'm0', cost: 1.2, cost_exact: '1.200000000', percent: 40 },
      { model: 'm1', cost: 0.7, cost_exact: '0.700000000', percent: 23.33 },
      { model: 'm2', cost: 0.4, cost_exact: '0.400000000', percent: 13.33 },
      { model: 'm3', cost: 0.3, cost_exact: '0.300000000', percent: 10 },
      { model: 'm4', cost: 0.2, cost_exact: '0.200000000', percent: 6.67 },
      { model: '(other)', cost: 0.2, cost_exact: '0.200000000', percent: 6.67 },
    ]);
    expect(body.top_cost_drivers.reduce((s: number, d: { percent: number }) => s + d.percent, 0)).toBeCloseTo(100, 9);
    const w = { start: Date.parse(body.window.start), end: Date.parse(body.window.end) };
    const elapsed = Date.parse(body.timestamp) - w.start;
    expect(body.budget_projection.estimated_total).toBeCloseTo(Math.max(3, (3 * (w.end - w.start)) / elapsed), 3);
    expect(body.budget_projection.will_exceed_budget).toBe(body.budget_projection.estimated_total > 10);
    expect(body.recommendations[0]).toBe("m0 is 40% of this window's spend ($1.2): moving its simpler calls to m1 or a cheaper model saves the most.");
    expect(fired[0].top_cost_drivers).toEqual(body.top_cost_drivers); // handlers and events get the same fields
  });
});
