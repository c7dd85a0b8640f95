/**
 * Boots a real Nest app (Express) with UsageTrackingModule on one driver and UsageApiModule, and the small
 * known data set of the API tests, written through UsageService.record with fixed instants. Tables and
 * Redis keys are unique per boot (prefix `api_`) and removed by `close()`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import Redis from 'ioredis';
import { UsageService, UsageTrackingModule, type UsageRecordInput, type UsageTrackingModuleOptions } from 'nestjs-agent-usage';
import { UsageApiModule, type UsageApiModuleOptions } from 'nestjs-agent-usage/api';
import { PG_URL, dropTablesWithPrefix, uniqueName } from '../database/fixtures/database-test.fixture';
import { REDIS_URL, deleteKeys } from '../cache/fixtures/cache-test.helpers';

export type ApiDriver = 'memory' | 'file' | 'database' | 'cache';
export const API_DRIVERS: ApiDriver[] = ['memory', 'file', 'database', 'cache'];

/**
 * Agent names that break naive CSV: a comma and quotes (the record rule refuses control characters, so a
 * name never holds a newline; CSV newline quoting is checked on metadata and by the unit test of csvField).
 */
export const TRICKY_AGENT = 'research, "deep" dive';
export const HTML_AGENT = 'sales & "partners"';
/** A model name with markup: the invoice page must show it as text. */
export const HTML_MODEL = 'gpt-4o<script>alert("x")</script>';

/**
 * The data set: November 2026 in UTC, costs given in nano-USD so every figure can be derived by hand.
 * support: 3 calls (one failed) and one image operation (2 units), research: 2, sales: 1.
 */
export const DATASET: (UsageRecordInput & { id: string; recordedAt: string; costNanoUsd: number })[] = [
  { id: 'api-1', agentName: 'support', userId: 'u1', group: 'g1', modelName: 'gpt-4o', providerName: 'openai', inputTokens: 1000, cachedInputTokens: 400, outputTokens: 200, reasoningTokens: 0, costNanoUsd: 2_500_000, recordedAt: '2026-11-02T10:00:00.000Z' },
  { id: 'api-2', agentName: 'support', userId: 'u2', group: 'g1', modelName: 'gpt-4o-mini', providerName: 'openai', inputTokens: 500, outputTokens: 100, costNanoUsd: 150_000, recordedAt: '2026-11-02T23:30:00.000Z' },
  { id: 'api-3', agentName: 'support', userId: 'u1', group: 'g2', modelName: 'gpt-4o', providerName: 'openai', inputTokens: 300, outputTokens: 0, costNanoUsd: 750_000, success: false, errorType: 'RateLimitError', recordedAt: '2026-11-03T00:15:00.000Z' },
  { id: 'api-4', agentName: TRICKY_AGENT, userId: 'u3', group: 'g2', modelName: 'claude-sonnet-4', providerName: 'anthropic', inputTokens: 2000, outputTokens: 800, reasoningTokens: 300, costNanoUsd: 18_000_000, recordedAt: '2026-11-03T05:00:00.000Z', metadata: { note: 'a,b "c"\r\nd', camelKey: 1 } },
  { id: 'api-5', agentName: TRICKY_AGENT, userId: 'u3', group: 'g2', modelName: 'claude-sonnet-4', providerName: 'anthropic', inputTokens: 1000, outputTokens: 100, costNanoUsd: 4_500_001, recordedAt: '2026-11-05T12:00:00.000Z' },
  // A non-token operation: an image generation billed per unit.
  { id: 'api-7', agentName: 'support', userId: 'u2', group: 'g1', category: 'image', units: 2, modelName: 'image-gen-1', providerName: 'openai', costNanoUsd: 80_000_000, recordedAt: '2026-11-04T08:00:00.000Z' },
  { id: 'api-6', agentName: HTML_AGENT, userId: 'u4', group: 'g1', modelName: HTML_MODEL, providerName: 'openai', inputTokens: 100, outputTokens: 50, costNanoUsd: 1_000_000, recordedAt: '2026-11-05T12:30:00.000Z' },
];
export const RANGE = 'start_date=2026-11-01&end_date=2026-11-30';

export interface ApiApp {
  app: INestApplication;
  usage: UsageService;
  http: ReturnType<INestApplication['getHttpServer']>;
  close(): Promise<void>;
}

const silent = { log() {}, error() {}, warn() {}, debug() {}, verbose() {} };

/** Driver options with a unique table / key prefix / folder, and their cleanup. */
function driverOptions(driver: ApiDriver): { options: UsageTrackingModuleOptions; cleanup(): Promise<void> } {
  const name = uniqueName('api');
  const dir = mkdtempSync(join(tmpdir(), 'agent-usage-api-'));
  const writer = { spoolDirectory: join(dir, 'spool') };
  const removeDir = async () => rmSync(dir, { recursive: true, force: true });
  switch (driver) {
    case 'memory':
      return { options: { storage: 'memory', writer }, cleanup: removeDir };
    case 'file':
      return { options: { storage: 'file', file: { directory: join(dir, 'data') }, writer }, cleanup: removeDir };
    case 'database':
      return {
        // Budget state and runtime alerts in tables of this boot too (never the shared defaults).
        options: {
          storage: 'database',
          database: { url: PG_URL, tableName: `${name}_rec`, rollupTableName: `${name}_day` },
          scheduler: { alertsTable: `${name}_alerts`, runtimeAlertsTable: `${name}_runtime` },
          writer,
        },
        cleanup: async () => {
          await dropTablesWithPrefix(name); // every table this boot created, and only those
          await removeDir();
        },
      };
    case 'cache':
      return {
        options: { storage: 'cache', cache: { url: REDIS_URL, keyPrefix: `${name}:` }, scheduler: { keyPrefix: `${name}:budgets:` }, writer },
        cleanup: async () => {
          const redis = new Redis(REDIS_URL);
          try {
            await deleteKeys(redis, `${name}:`);
          } finally {
            redis.disconnect();
          }
          await removeDir();
        },
      };
  }
}

export async function bootApi(
  driver: ApiDriver,
  api: UsageApiModuleOptions & { path?: string } = { public: true },
  extra: Partial<UsageTrackingModuleOptions> = {},
  records = DATASET,
): Promise<ApiApp> {
  const { options, cleanup } = driverOptions(driver);
  const moduleRef = await Test.createTestingModule({
    imports: [UsageTrackingModule.forRoot({ trackUsage: true, timeZone: 'UTC', ...options, ...extra }), UsageApiModule.forRoot(api)],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: silent });
  await app.init();
  const usage = app.get(UsageService);
  for (const r of records) usage.record(r);
  await usage.flush();
  return {
    app,
    usage,
    http: app.getHttpServer(),
    close: async () => {
      try {
        await usage.clearUsage({}, { all: true });
      } finally {
        await app.close();
        await cleanup();
      }
    },
  };
}

/** Exact decimal USD (nine decimals) of integer nano-USD, computed here, not by the library. */
export function usd(nano: bigint | number): string {
  const n = BigInt(nano);
  return `${n / 1_000_000_000n}.${(n % 1_000_000_000n).toString().padStart(9, '0')}`;
}

/** Sum of a numeric field over records (nulls add nothing). */
export function sum(records: readonly UsageRecordInput[], field: keyof UsageRecordInput): number {
  return records.reduce((a, r) => a + (typeof r[field] === 'number' ? (r[field] as number) : 0), 0);
}

export const tokensOf = (r: UsageRecordInput): number => (r.inputTokens ?? 0) + (r.outputTokens ?? 0);
