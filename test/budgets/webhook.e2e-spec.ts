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
  signUsageWebhook,
  verifyUsageWebhook,
} from 'nestjs-agent-usage';
import { CapturingLogger, TestClock, bootApp } from './budget-test.helpers';

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A real local endpoint: `/flaky` fails its first 2 calls, `/down` always fails, `/bad` answers 400, `/slow` never answers in time. */
function startReceiver(): Promise<{ server: Server; url: string; received: Received[] }> {
  const received: Received[] = [];
  let flaky = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      received.push({ path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      if (req.url === '/flaky') {
        flaky++;
        res.statusCode = flaky <= 2 ? 503 : 204;
        res.end();
      } else if (req.url === '/down') {
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
        ],
        scheduler: { enabled: false, coordination: 'memory' },
      },
      { clock, logger },
    );
    const usage = app.get(UsageService);
    for (const agentName of ['a1', 'a2', 'a3', 'a4']) {
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

  it('signs each delivery with HMAC-SHA256 over timestamp and raw body', () => {
    const r = at('/flaky')[2];
    const timestamp = r.headers[WEBHOOK_TIMESTAMP_HEADER] as string;
    const signature = r.headers[WEBHOOK_SIGNATURE_HEADER] as string;
    expect(signature).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(signature).toBe(signUsageWebhook(SECRET, timestamp, r.body));
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
    expect(stats.webhookDeliveries).toBe(1);
    expect(stats.webhookRetries).toBe(2 + 3 + 1);
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
