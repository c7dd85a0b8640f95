import { createHmac } from 'node:crypto';
import { createServer, IncomingHttpHeaders, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { INestApplication } from '@nestjs/common';
import {
  UsageBudgetService,
  UsageBudgetWebhookOptions,
  UsageService,
  UsageThresholdJob,
  WEBHOOK_SIGNATURE_HEADER,
  WEBHOOK_TIMESTAMP_HEADER,
  verifyUsageWebhook,
} from 'nestjs-agent-usage';
import { CapturingLogger, TestClock, bootApp } from './budget-test.helpers';

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/**
 * A real local endpoint: `/flaky` fails its first 2 calls, `/busy` answers 429 twice, `/timeout` 408 once,
 * `/down` and `/closing` always fail, `/bad` answers 400, `/slow` never answers in time.
 */
function startReceiver(): Promise<{ server: Server; url: string; received: Received[] }> {
  const received: Received[] = [];
  let flaky = 0;
  let busy = 0;
  let timeout = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      received.push({ path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      if (req.url === '/flaky') {
        flaky++;
        res.statusCode = flaky <= 2 ? 503 : 204;
        res.end();
      } else if (req.url === '/busy') {
        res.statusCode = ++busy <= 2 ? 429 : 204;
        res.end();
      } else if (req.url === '/timeout') {
        res.statusCode = ++timeout <= 1 ? 408 : 204;
        res.end();
      } else if (req.url === '/down' || req.url === '/closing') {
        res.statusCode = 500;
        res.end('boom');
      } else if (req.url === '/bad') {
        res.statusCode = 400;
        res.end('no');
      } else if (req.url === '/slow') {
        setTimeout(() => res.end(), 2_000).unref();
      }
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received })),
  );
}

describe('webhooks', () => {
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let app: INestApplication;
  const logger = new CapturingLogger();
  const clock = new TestClock(new Date('2031-07-01T06:00:00Z'));
  const SECRET = 'whsec_test_1234';

  beforeAll(async () => {
    receiver = await startReceiver();
    const hook = (path: string, extra: Partial<UsageBudgetWebhookOptions> = {}): UsageBudgetWebhookOptions => ({ url: `${receiver.url}${path}`, secret: SECRET, retries: 3, retryDelayMs: 20, ...extra });
    const budget = (name: string, agent: string, webhook: UsageBudgetWebhookOptions) => ({
      name,
      scope: 'agent' as const,
      match: agent,
      window: 'month' as const,
      metric: 'cost' as const,
      limit: '2.50',
      levels: [100],
      actions: ['webhook' as const],
      webhook,
    });
    app = await bootApp(
      {
        budgets: [
          budget('flaky', 'a1', hook('/flaky')),
          budget('down', 'a2', hook('/down')),
          budget('bad', 'a3', hook('/bad')),
          budget('slow', 'a4', hook('/slow', { retries: 1, timeoutMs: 100 })),
          budget('busy', 'a5', hook('/busy')),
          budget('timeout', 'a6', hook('/timeout')),
        ],
        scheduler: { enabled: false, coordination: 'memory' },
      },
      { clock, logger },
    );
    const usage = app.get(UsageService);
    for (const agentName of ['a1', 'a2', 'a3', 'a4', 'a5', 'a6']) {
      usage.record({ agentName, modelName: 'gpt-4o', inputTokens: 100, outputTokens: 10, costNanoUsd: 2_000_000_000, recordedAt: clock.current });
      usage.record({ agentName, modelName: 'gpt-4o-mini', inputTokens: 100, outputTokens: 10, costNanoUsd: 750_000_000, recordedAt: clock.current });
    }
    await app.get(UsageThresholdJob).run();
  });
  afterAll(async () => {
    await app.close();
    await new Promise((r) => receiver.server.close(r));
  });

  const at = (path: string) => receiver.received.filter((r) => r.path === path);

  it('retries a failing endpoint with backoff until it succeeds', () => {
    expect(at('/flaky')).toHaveLength(3);
    // The same delivery id on every attempt: receivers can de-duplicate.
    expect(new Set(at('/flaky').map((r) => r.headers['x-agent-usage-delivery'])).size).toBe(1);
  });

  it('posts the threshold as JSON', () => {
    const body = JSON.parse(at('/flaky')[2].body);
    expect(body).toMatchObject({
      type: 'usage.threshold.crossed',
      budget: 'flaky',
      level: 100,
      scope: { type: 'agent', value: null, match: ['a1'] },
      metric: 'cost',
      unit: 'nano_usd',
      window: { type: 'month', start: '2031-07-01T00:00:00.000Z', end: '2031-08-01T00:00:00.000Z', timeZone: 'UTC' },
      limit: 2_500_000_000,
      used: 2_750_000_000,
      remaining: 0,
      percent: 110,
      limitUsd: '2.500000000',
      usedUsd: '2.750000000',
      resetAt: '2031-08-01T00:00:00.000Z',
    });
    expect(body.projection).toBeGreaterThan(body.used);
    expect(body.topCostDrivers.models.map((m: { key: string; costUsd: string }) => [m.key, m.costUsd])).toEqual([
      ['gpt-4o', '2.000000000'],
      ['gpt-4o-mini', '0.750000000'],
    ]);
    expect(body.topCostDrivers.agents).toEqual([{ key: 'a1', costNanoUsd: 2_750_000_000, costUsd: '2.750000000', totalTokens: 220, requests: 2 }]);
  });

  it('retries 429 and 408 (the receiver asks to come back), then delivers', () => {
    expect(at('/busy').map((r) => r.path)).toEqual(['/busy', '/busy', '/busy']);
    expect(at('/timeout')).toHaveLength(2);
  });

  it('signs each delivery with HMAC-SHA256 over timestamp and raw body', () => {
    const r = at('/flaky')[2];
    const timestamp = r.headers[WEBHOOK_TIMESTAMP_HEADER] as string;
    const signature = r.headers[WEBHOOK_SIGNATURE_HEADER] as string;
    // Computed here with node:crypto, as a receiver in any language would (README: "Webhooks").
    const independent = `sha256=${createHmac('sha256', SECRET).update(`${timestamp}.${r.body}`, 'utf8').digest('hex')}`;
    expect(signature).toBe(independent);
    // The timestamp is the sending instant in unix seconds (the one clock: fake Date in 2031).
    expect(Math.abs(Number(timestamp) - Math.floor(Date.parse('2031-07-01T06:00:00Z') / 1000))).toBeLessThan(600);
    expect(verifyUsageWebhook(SECRET, r.body, { timestamp, signature })).toBe(true);
    expect(verifyUsageWebhook('wrong-secret', r.body, { timestamp, signature })).toBe(false);
    expect(verifyUsageWebhook(SECRET, r.body.replace('"flaky"', '"other"'), { timestamp, signature })).toBe(false);
    expect(verifyUsageWebhook(SECRET, r.body, { timestamp, signature }, 300, Number(timestamp) * 1000 + 3_600_000)).toBe(false); // replayed later
  });

  it('reports an endpoint that always fails (logged and counted), and does not retry a 4xx', () => {
    expect(at('/down')).toHaveLength(4); // 1 + 3 retries
    expect(at('/bad')).toHaveLength(1);
    expect(at('/slow')).toHaveLength(2); // timed out twice
    const stats = app.get(UsageBudgetService).getStats();
    expect(stats.webhookFailures).toBe(3);
    expect(stats.webhookDeliveries).toBe(3); // flaky, busy, timeout
    expect(stats.webhookRetries).toBe(2 + 3 + 1 + 2 + 1);
    const errors = logger.lines.filter((l) => l.level === 'error').map((l) => l.message);
    expect(errors.some((m) => /budget "down" 100% webhook to http:\/\/127\.0\.0\.1:\d+\/down failed after 4 attempt\(s\) \(last: HTTP 500\)/.test(m))).toBe(true);
    expect(errors.some((m) => /budget "bad" .* failed after 1 attempt\(s\) \(last: HTTP 400\)/.test(m))).toBe(true);
    expect(errors.some((m) => /budget "slow" .* failed after 2 attempt\(s\)/.test(m))).toBe(true);
  });

  it('never fires the same level twice, even after failures', async () => {
    const before = receiver.received.length;
    expect((await app.get(UsageThresholdJob).run()).fired).toEqual([]);
    expect(receiver.received.length).toBe(before);
  });
});

describe('webhooks at shutdown', () => {
  it('stop retrying once the app is closing (close does not wait out the backoff)', async () => {
    const receiver = await startReceiver();
    const logger = new CapturingLogger();
    const app = await bootApp(
      {
        budgets: [
          {
            name: 'closing',
            scope: 'agent',
            match: 'c1',
            window: 'day',
            metric: 'requests',
            limit: 1,
            levels: [100],
            actions: ['webhook'],
            // Five retries 2 s apart and more: all of them would take over a minute.
            webhook: { url: `${receiver.url}/closing`, retries: 5, retryDelayMs: 2_000 },
          },
        ],
        scheduler: { enabled: false, coordination: 'memory' },
      },
      { logger },
    );
    try {
      app.get(UsageService).record({ agentName: 'c1', inputTokens: 1, outputTokens: 1 });
      const run = app.get(UsageThresholdJob).run();
      // Wait (on the condition) for the first attempt, then close while the notifier sleeps before retry 1.
      for (const deadline = Date.now() + 10_000; receiver.received.length === 0 && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 10));
      expect(receiver.received).toHaveLength(1);
      const t0 = Date.now();
      await app.close();
      await run;
      expect(Date.now() - t0).toBeLessThan(8_000); // one backoff at most (2 s +- 25 %), not five
      expect(receiver.received).toHaveLength(1);
      const stats = app.get(UsageBudgetService).getStats();
      expect(stats).toMatchObject({ webhookFailures: 1, webhookDeliveries: 0 });
      expect(logger.matching('error', /budget "closing" 100% webhook .* failed after 1 attempt\(s\) \(last: HTTP 500\)/)).toHaveLength(1);
    } finally {
      await new Promise((r) => receiver.server.close(r));
    }
  }, 20_000);
});
