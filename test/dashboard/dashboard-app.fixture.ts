/**
 * Boots a real Nest app (Express, listening on port 0) with UsageTrackingModule (memory or PostgreSQL
 * with a `dash_` table prefix) and UsageApiModule, and writes a known data set relative to now: five
 * agents, four models, 40 days, failures, cached and reasoning tokens, and budgets so the fleet has every
 * status. Every figure the tests compare is read from the API, so the data only has to be varied.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { UsageService, UsageTrackingModule, type UsageRecordInput, type UsageTrackingModuleOptions } from 'nestjs-agent-usage';
import { UsageApiModule, type UsageApiModuleExtras, type UsageApiModuleOptions } from 'nestjs-agent-usage/api';
import { dropTablesWithPrefix, PG_URL, uniqueName } from '../database/fixtures/database-test.fixture';

export const AGENTS = ['support', 'research', 'summarizer', 'billing', 'triage'] as const;
const MODELS: [string, string, number][] = [
  ['gpt-4o', 'openai', 25_000],
  ['gpt-4o-mini', 'openai', 1_500],
  ['claude-sonnet-4', 'anthropic', 30_000],
  ['gemini-2.5-flash', 'google', 3_000],
];
export const TIME_ZONE = 'Europe/Paris';

/** A deterministic stream of numbers (the same data on every run, relative to now). */
function lcg(seed: number): () => number {
  let s = seed;
  return () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
}

export function dataset(now = Date.now()): (UsageRecordInput & { id: string })[] {
  const rand = lcg(42);
  const out: (UsageRecordInput & { id: string })[] = [];
  for (let i = 0; i < 900; i++) {
    // Denser near now: a quarter of the records in the last 36 hours, the rest over 40 days.
    const back = i % 4 === 0 ? rand() * 36 * 3_600_000 : rand() * 40 * 86_400_000;
    const agentIndex = Math.min(AGENTS.length - 1, Math.floor(rand() * rand() * AGENTS.length * 1.4));
    const agent = AGENTS[agentIndex];
    const [model, provider, perK] = MODELS[(agentIndex + Math.floor(rand() * 2.2)) % MODELS.length];
    const input = 200 + Math.floor(rand() * 4_000);
    const output = 20 + Math.floor(rand() * 900);
    const cached = rand() < 0.4 ? Math.floor(input * 0.5) : 0;
    const reasoning = model.startsWith('gpt-4o') && rand() < 0.3 ? Math.floor(output / 3) : 0;
    const success = !(agent === 'triage' ? rand() < 0.3 : rand() < 0.04);
    out.push({
      id: `dash-${i}`,
      agentName: agent,
      userId: `user-${Math.floor(rand() * 12)}`,
      group: rand() < 0.5 ? 'team-a' : 'team-b',
      modelName: model,
      providerName: provider,
      inputTokens: input,
      cachedInputTokens: cached,
      outputTokens: output,
      reasoningTokens: reasoning,
      // nano-USD: tokens x a per-thousand price, so costs differ in every digit (cents round both ways).
      costNanoUsd: Math.round(((input + output * 4) * perK * 1_000) / 1_000) + i,
      success,
      errorType: success ? undefined : 'RateLimitError',
      recordedAt: new Date(Math.floor(now - back)).toISOString(),
    });
  }
  return out;
}

export interface DashApp {
  app: INestApplication;
  usage: UsageService;
  /** http://127.0.0.1:<port> */
  origin: string;
  /** Fetches an API route (relative to /agent-usage/) as JSON, with the key when one is given. */
  api<T = any>(route: string, key?: string): Promise<T>;
  close(): Promise<void>;
}

const silent = { log() {}, error() {}, warn() {}, debug() {}, verbose() {} };

export async function bootDashboard(
  driver: 'memory' | 'database',
  access: UsageApiModuleOptions & UsageApiModuleExtras = { public: true },
  records: (UsageRecordInput & { id: string })[] = dataset(),
): Promise<DashApp> {
  const dir = mkdtempSync(join(tmpdir(), 'agent-usage-dash-'));
  const name = uniqueName('dash');
  const storage: Partial<UsageTrackingModuleOptions> =
    driver === 'memory' ? { storage: 'memory' } : {
          storage: 'database',
          database: { url: PG_URL, tableName: `${name}_rec`, rollupTableName: `${name}_day` },
          // The budget de-dup and runtime-alert tables too: the shared defaults belong to no test.
          scheduler: { alertsTable: `${name}_alerts`, runtimeAlertsTable: `${name}_runtime` },
        };
  const budgets: UsageTrackingModuleOptions['budgets'] = [
    { name: 'support-daily', scope: 'agent', match: 'support', window: 'day', metric: 'cost', limit: '5.00' },
    { name: 'research-monthly', scope: 'agent', match: 'research', window: 'month', metric: 'cost', limit: '5.00' },
    { name: 'summarizer-weekly', scope: 'agent', match: 'summarizer', window: 'week', metric: 'cost', limit: '4.00' },
  ];
  const moduleRef = await Test.createTestingModule({
    imports: [
      UsageTrackingModule.forRoot({ trackUsage: true, timeZone: TIME_ZONE, writer: { spoolDirectory: join(dir, 'spool') }, budgets, ...storage }),
      UsageApiModule.forRoot(access),
    ],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: silent });
  await app.listen(0, '127.0.0.1');
  const usage = app.get(UsageService);
  for (const r of records) usage.record(r);
  await usage.flush();
  const address = app.getHttpServer().address() as { port: number };
  const origin = `http://127.0.0.1:${address.port}`;
  const path = access.path ?? 'agent-usage';
  return {
    app,
    usage,
    origin,
    async api(route, key) {
      const res = await fetch(`${origin}/${path}/${route}`, { headers: key ? { authorization: `Bearer ${key}` } : {} });
      if (!res.ok) throw new Error(`GET ${route}: ${res.status} ${await res.text()}`);
      return (await res.json()) as never;
    },
    async close() {
      try {
        await usage.clearUsage({}, { all: true });
      } finally {
        await app.close();
        // Only the tables this boot created (the unique prefix).
        if (driver === 'database') await dropTablesWithPrefix(name);
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/** Cents of an exact decimal string, rounded half up, written here again (not the page's code). */
export function cents(exact: string): string {
  const [int, frac = ''] = exact.split('.');
  let c = BigInt(int) * 100n + BigInt((frac + '00').slice(0, 2));
  if (Number((frac + '000')[2]) >= 5) c += 1n;
  const whole = (c / 100n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `$${whole}.${(c % 100n).toString().padStart(2, '0')}`;
}
