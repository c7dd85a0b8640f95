/**
 * One connection owner per configured backend: the storage drivers, budget admission, budget seeding and
 * the threshold job share ONE pg pool and ONE Redis client. Counted on the real servers: pg_stat_activity
 * and CLIENT LIST rows whose client port is a socket of this very process (so parallel test files and
 * other apps on the shared servers are never counted), minus this file's own probes.
 */
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import type { INestApplication } from '@nestjs/common';
import { Client } from 'pg';
import Redis from 'ioredis';
import { UsageBudgetService, UsageService, UsageThresholdJob, type UsageTrackingModuleOptions } from 'nestjs-agent-usage';
import { CacheUsageStorage } from '../../libs/agent-usage/src/storage/cache';
import { DatabaseUsageStorage } from '../../libs/agent-usage/src/storage/database';
import { PG_URL, REDIS_URL, SupportAgent, TestClock, bootApp, unique } from '../budgets/budget-test.helpers';

jest.setTimeout(120_000);

/** Local ports of this process's TCP connections to `remotePort` (Linux: /proc/self/fd -> /proc/net/tcp*). */
function ownPortsTo(remotePort: number): Set<number> {
  const inodes = new Set<string>();
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
      if (m) inodes.add(m[1]);
    } catch {
      /* fd closed meanwhile */
    }
  }
  const ports = new Set<number>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== '01') continue; // 01 = ESTABLISHED
      const local = parseInt(f[1].split(':')[1], 16);
      const remote = parseInt(f[2].split(':')[1], 16);
      if (remote === remotePort && inodes.has(f[9])) ports.add(local);
    }
  }
  return ports;
}

const pgPort = Number(new URL(PG_URL).port || 5432);
const redisPort = Number(new URL(REDIS_URL).port || 6379);

/** This process's PostgreSQL sessions (the probe's own excluded), with their application_name. */
async function ourPgSessions(probe: Client): Promise<{ application_name: string }[]> {
  const ports = [...ownPortsTo(pgPort)];
  const { rows } = await probe.query(
    `SELECT application_name, client_port FROM pg_stat_activity WHERE client_port = ANY($1::int[]) AND pid <> pg_backend_pid() ORDER BY client_port`,
    [ports],
  );
  return rows;
}

/** This process's Redis connections (the probe's own excluded), with their names. */
async function ourRedisClients(probe: Redis): Promise<{ name: string; port: number }[]> {
  const ports = ownPortsTo(redisPort);
  const id = String(await probe.client('ID'));
  const list = String(await probe.client('LIST'));
  return list
    .split('\n')
    .filter(Boolean)
    .map((line) => Object.fromEntries(line.split(' ').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])))
    .filter((c) => c.id !== id && ports.has(Number(String(c.addr).split(':').pop())))
    .map((c) => ({ name: c.name, port: Number(String(c.addr).split(':').pop()) }));
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const clock = new TestClock(new Date());
const budgets: UsageTrackingModuleOptions['budgets'] = [
  // Hard: admission before every call, seeded from the store at boot.
  { name: 'conn-hard', scope: 'agent', window: 'day', metric: 'tokens', limit: 1_000_000, levels: [100], actions: ['pause'] },
  // Alerting: the threshold job claims its level in the de-dup store.
  { name: 'conn-alert', scope: 'agent', window: 'day', metric: 'tokens', limit: 100, levels: [50], actions: ['event'] },
];

let pgProbe: Client;
let redisProbe: Redis;
const tablesToDrop: string[] = [];
const prefixes: string[] = [];

beforeAll(async () => {
  pgProbe = new Client({ connectionString: PG_URL, application_name: 'connection-count-probe' });
  await pgProbe.connect();
  redisProbe = new Redis(REDIS_URL, { connectionName: 'connection-count-probe' });
});
afterAll(async () => {
  for (const t of tablesToDrop) await pgProbe.query(`DROP TABLE IF EXISTS "${t}"`);
  for (const p of prefixes) {
    let cursor = '0';
    do {
      const [next, keys] = await redisProbe.scan(cursor, 'MATCH', `${p}*`, 'COUNT', 1000);
      if (keys.length) await redisProbe.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  }
  await pgProbe.end();
  await redisProbe.quit();
});

/** Records through the tracked agent (admission + record listener), then one threshold job run that fires. */
async function exercise(app: INestApplication): Promise<void> {
  await app.get(UsageBudgetService).whenReady();
  const agent = app.get(SupportAgent);
  agent.tokens = 80;
  await agent.respond('hi');
  await app.get(UsageService).flush();
  const run = await app.get(UsageThresholdJob).run();
  expect(run.fired.map((e) => `${e.budget}:${e.level}`)).toEqual(['conn-alert:50']);
}

describe('PostgreSQL: database driver + database-coordinated budgets + threshold job', () => {
  const name = unique('conn').toLowerCase();
  const app = { current: null as INestApplication | null };

  beforeAll(async () => {
    tablesToDrop.push(`${name}_l`, `${name}_r`, `${name}_r_users`, `${name}_alerts`);
    app.current = await bootApp(
      {
        trackUsage: true,
        storage: 'database',
        // poolSize 1: one pool can hold one session at most, so a second pool shows as a second session.
        database: { url: PG_URL, tableName: `${name}_l`, rollupTableName: `${name}_r`, applicationName: name, connectionOptions: { poolSize: 1 } },
        budgets,
        scheduler: { coordination: 'database', alertsTable: `${name}_alerts`, enabled: false },
      },
      { clock },
    );
  });
  afterAll(async () => {
    await app.current?.close();
  });

  it('uses one pg pool for the driver, budget seeding and the threshold de-dup store', async () => {
    await exercise(app.current!);
    const sessions = await ourPgSessions(pgProbe);
    // Printed so a run shows the figure (the old code had the driver's pool plus a budgets pool: 2).
    console.log(`pg sessions of this process: ${sessions.length} ${JSON.stringify(sessions.map((s) => s.application_name))}`);
    expect(sessions.map((s) => s.application_name)).toEqual([name]);
    const alerts = await pgProbe.query(`SELECT level FROM "${name}_alerts"`);
    expect(alerts.rows).toEqual([{ level: 50 }]);
  });

  it('closes the pool it created on shutdown', async () => {
    await app.current!.close();
    app.current = null;
    await waitFor('our pg sessions to close', async () => (await ourPgSessions(pgProbe)).length === 0);
  });
});

describe('Redis: cache driver + Redis budgets + threshold job', () => {
  const prefix = `${unique('conn')}:`;
  const connectionName = unique('conn-redis');
  let app: INestApplication | null = null;

  beforeAll(async () => {
    prefixes.push(prefix, `${prefix}budgets:`);
    app = await bootApp(
      {
        trackUsage: true,
        storage: 'cache',
        cache: { url: REDIS_URL, keyPrefix: prefix, redisOptions: { connectionName } },
        budgets,
        scheduler: { coordination: 'redis', keyPrefix: `${prefix}budgets:`, enabled: false },
      },
      { clock },
    );
  });
  afterAll(async () => {
    await app?.close();
  });

  it('uses one Redis client for the driver, budget admission and the threshold de-dup store', async () => {
    await exercise(app!);
    const clients = await ourRedisClients(redisProbe);
    console.log(`Redis clients of this process: ${clients.length} ${JSON.stringify(clients.map((c) => c.name))}`);
    expect(clients.map((c) => c.name)).toEqual([connectionName]);
    expect(await redisProbe.keys(`${prefix}budgets:fired:*`)).toHaveLength(1);
  });

  it('closes the client it created on shutdown', async () => {
    await app!.close();
    app = null;
    await waitFor('our Redis clients to close', async () => (await ourRedisClients(redisProbe)).length === 0);
  });
});

describe("a host's connections", () => {
  it('are used as they are and never closed', async () => {
    const prefix = `${unique('conn-host')}:`;
    prefixes.push(prefix);
    const host = new Redis(REDIS_URL, { connectionName: unique('conn-host') });
    try {
      const app = await bootApp({ trackUsage: true, storage: 'cache', cache: { client: host, keyPrefix: prefix }, budgets, scheduler: { keyPrefix: `${prefix}b:`, enabled: false } }, { clock });
      await exercise(app);
      expect((await ourRedisClients(redisProbe)).map((c) => c.name)).toEqual([host.options.connectionName]);
      await app.close();
      expect(host.status).toBe('ready');
      expect(await host.ping()).toBe('PONG');
    } finally {
      await host.quit();
    }
  });
});

describe('driver instances whose options name no connection', () => {
  it("use the module's connections", async () => {
    const name = unique('conn_inst').toLowerCase();
    tablesToDrop.push(`${name}_l`, `${name}_r`, `${name}_r_users`, `${name}_alerts`);
    const prefix = `${unique('conn-inst')}:`;
    const connectionName = unique('conn-inst');
    prefixes.push(prefix, `${prefix}b:`);
    const app = await bootApp(
      {
        trackUsage: true,
        storage: [new DatabaseUsageStorage({ tableName: `${name}_l`, rollupTableName: `${name}_r` }), new CacheUsageStorage({ keyPrefix: prefix })],
        database: { url: PG_URL, applicationName: name, connectionOptions: { poolSize: 1 } },
        cache: { url: REDIS_URL, redisOptions: { connectionName } },
        budgets,
        scheduler: { coordination: 'database', alertsTable: `${name}_alerts`, keyPrefix: `${prefix}b:`, enabled: false },
      },
      { clock },
    );
    try {
      await exercise(app);
      expect((await ourPgSessions(pgProbe)).map((s) => s.application_name)).toEqual([name]);
      expect((await ourRedisClients(redisProbe)).map((c) => c.name)).toEqual([connectionName]);
    } finally {
      await app.close();
    }
    await waitFor('our connections to close', async () => (await ourPgSessions(pgProbe)).length === 0 && (await ourRedisClients(redisProbe)).length === 0);
  });
});

describe('a backend that is down at boot', () => {
  it('does not stop the app: the shared connection opens on first use, the job counts the failure', async () => {
    // Nothing listens on this port (this file's fixed range): connecting is refused.
    const down = 'postgres://postgres@127.0.0.1:56791/test';
    const app = await bootApp(
      { trackUsage: true, storage: 'memory', database: { url: down }, budgets, scheduler: { coordination: 'database', enabled: false } },
      { clock },
    );
    try {
      const budgetsService = app.get(UsageBudgetService);
      await budgetsService.whenReady();
      expect(budgetsService.coordination.kind).toBe('database');
      expect((await app.get(UsageThresholdJob).run()).ran).toBe(true);
      expect(budgetsService.getStats().jobErrors).toBeGreaterThan(0);
    } finally {
      await app.close();
    }
  });
});
