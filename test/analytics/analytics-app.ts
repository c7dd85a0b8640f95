/**
 * Boots a real Nest app on one driver (memory, file, PostgreSQL, Redis) with the analytics suites' time
 * zone, prices and clock, and removes what it created (tables and keys named `an_` / `an:` per run).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Client } from 'pg';
import Redis from 'ioredis';
import { UsageService, UsageTrackingModule, type UsageTrackingModuleOptions } from 'nestjs-agent-usage';
import { USAGE_CLOCK } from 'nestjs-agent-usage/testing';
import { PG_URL, allTables, uniqueName } from '../database/fixtures/database-test.fixture';
import { REDIS_URL, deleteKeys } from '../cache/fixtures/cache-test.helpers';
import { NOW, PRICING, ZONE } from './analytics-dataset';

export interface AnalyticsDriver {
  name: string;
  options(): UsageTrackingModuleOptions;
  cleanup(): Promise<void>;
}

/** A fresh set of driver cases (own directory, tables and key prefix). */
export function analyticsDrivers(): AnalyticsDriver[] {
  let dir: string | null = null; // made when the file driver boots
  const tables = { tableName: uniqueName('an_rec'), rollupTableName: uniqueName('an_day') };
  // Budget state and runtime alerts in tables / keys of this run too.
  const scheduler = { alertsTable: uniqueName('an_alerts'), runtimeAlertsTable: uniqueName('an_runtime') };
  const keyPrefix = `an:${process.pid}:${Math.random().toString(36).slice(2, 8)}:`;
  return [
    { name: 'memory', options: () => ({ storage: 'memory' }), cleanup: async () => {} },
    {
      name: 'file',
      options: () => ({ storage: 'file', file: { directory: (dir ??= mkdtempSync(join(tmpdir(), 'an-'))) } }),
      cleanup: async () => {
        if (dir) rmSync(dir, { recursive: true, force: true });
      },
    },
    {
      name: 'database (PostgreSQL)',
      options: () => ({ storage: 'database', database: { url: PG_URL, ...tables }, scheduler }),
      cleanup: async () => {
        const c = new Client({ connectionString: PG_URL });
        await c.connect();
        try {
          for (const t of [...allTables(tables), ...Object.values(scheduler)]) await c.query(`DROP TABLE IF EXISTS "${t}"`);
        } finally {
          await c.end();
        }
      },
    },
    {
      name: 'cache (Redis)',
      options: () => ({ storage: 'cache', cache: { url: REDIS_URL, keyPrefix }, scheduler: { keyPrefix: `${keyPrefix}budgets:` } }),
      cleanup: async () => {
        const r = new Redis(REDIS_URL);
        await deleteKeys(r, keyPrefix).finally(() => r.disconnect());
      },
    },
  ];
}

export interface AnalyticsApp {
  app: INestApplication;
  usage: UsageService;
}

export async function bootAnalytics(driver: AnalyticsDriver, extra: UsageTrackingModuleOptions = {}, now = NOW): Promise<AnalyticsApp> {
  const moduleRef = await Test.createTestingModule({
    imports: [UsageTrackingModule.forRoot({ trackUsage: true, timeZone: ZONE, pricing: PRICING, ...driver.options(), ...extra })],
    providers: [{ provide: USAGE_CLOCK, useValue: () => new Date(now) }],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.init();
  return { app, usage: app.get(UsageService) };
}
