import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Injectable } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { TrackUsage, UsageBudgetExceededError, UsageTrackingModule, type UsageTrackingModuleOptions } from 'nestjs-agent-usage';

export const PG_URL = process.env.USAGE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const REDIS_URL = process.env.USAGE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const WATCHED = 'al-support';
export const OTHER = 'al-research';
export const HOOK_SECRET = 'al-runtime-secret';

/** A model no price table knows: tracked calls add tokens but no cost, so the cost figures are the recorded ones. */
const response = () => ({ model: 'al-unpriced', usage: { input_tokens: 3, output_tokens: 2 } });

@Injectable()
@TrackUsage({ agentName: WATCHED, provider: 'anthropic', model: 'al-unpriced' })
export class WatchedAgent {
  async respond() {
    return response();
  }
}

@Injectable()
@TrackUsage({ agentName: OTHER, provider: 'anthropic', model: 'al-unpriced' })
export class OtherAgent {
  async respond() {
    return response();
  }
}

/** What a tracked call did: ran, or was refused (with the refusal's reason and message). */
export type CallOutcome = { ok: true } | { ok: false; error: string; reason?: string; message: string };

export async function callOutcome(run: () => Promise<unknown>): Promise<CallOutcome> {
  try {
    await run();
    return { ok: true };
  } catch (e) {
    const err = e as Error;
    return { ok: false, error: err.name, reason: e instanceof UsageBudgetExceededError ? e.body.reason : undefined, message: err.message };
  }
}

/** Module options of both app instances of a scenario: `kind` picks the shared backend. */
export function sharedOptions(kind: 'database' | 'redis', id: string, refreshMs = 250): UsageTrackingModuleOptions {
  const scheduler = { enabled: false, runtimeRefreshMs: refreshMs, runtimeWebhook: { secret: HOOK_SECRET, retries: 0 } } as const;
  if (kind === 'database') {
    return {
      trackUsage: true,
      storage: 'database',
      database: { url: PG_URL, tableName: `${id}_rec`, rollupTableName: `${id}_day`, userRollupTableName: `${id}_dayu`, autoMigrate: true },
      writer: { flushIntervalMs: 20 },
      scheduler: { ...scheduler, coordination: 'database', alertsTable: `${id}_fired`, runtimeAlertsTable: `${id}_rt` },
    } as UsageTrackingModuleOptions;
  }
  return {
    trackUsage: true,
    storage: 'cache',
    cache: { url: REDIS_URL, keyPrefix: `${id}:rec:` },
    writer: { flushIntervalMs: 20 },
    scheduler: { ...scheduler, coordination: 'redis', keyPrefix: `${id}:budgets:` },
  } as UsageTrackingModuleOptions;
}

/** A real Nest app with the two tracked agents. */
export async function bootAlertsApp(options: UsageTrackingModuleOptions) {
  const moduleRef = await Test.createTestingModule({ imports: [UsageTrackingModule.forRoot(options)], providers: [WatchedAgent, OtherAgent] }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.init();
  return app;
}

export interface ReceivedHook {
  headers: IncomingHttpHeaders;
  body: Record<string, any>;
}

/** A real local HTTP server receiving webhooks (port 0). */
export async function webhookReceiver(): Promise<{ url: string; received: ReceivedHook[]; close(): Promise<void> }> {
  const received: ReceivedHook[] = [];
  const server: Server = createServer((req, res) => {
    let raw = '';
    req.on('data', (d) => (raw += d));
    req.on('end', () => {
      received.push({ headers: req.headers, body: JSON.parse(raw) });
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks/usage`,
    received,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections(); // keep-alive sockets of the webhook client
      }),
  };
}

export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
