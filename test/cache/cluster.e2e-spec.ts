/**
 * The Redis driver on a real Redis Cluster (3 masters, 1 replica each, started by the test: see
 * test/support/redis-cluster.ts): a real Nest app on a driver-owned `cache.cluster` recording
 * continuously while one master hands over to its replica (CLUSTER FAILOVER) and another is stopped and
 * restarted (its replica takes over by itself): afterwards every record is stored exactly once and the
 * totals are exact. (The conformance kit on a host's Cluster client: cache.conformance-on-cluster.)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import Redis, { type Cluster } from 'ioredis';
import { UsageService, UsageTrackingModule, type UsageRecordInput } from 'nestjs-agent-usage';
import { startRedisCluster, type RedisClusterHandle } from '../support/redis-cluster';

// Usually ~15 s (cluster start ~3 s, ~10 s of failovers); the margin is for a loaded machine.
jest.setTimeout(90_000);

let cluster: RedisClusterHandle;
const clients: Cluster[] = [];
const spool = mkdtempSync(join(tmpdir(), 'usage-cache-cluster-'));

beforeAll(async () => {
  cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.quit().catch(() => c.disconnect())));
  await cluster?.stop(); // kills every node, also after a failed test
  rmSync(spool, { recursive: true, force: true });
});

/** Every master's key count (the data must spread: a layout that pins all keys to one slot fails here). */
async function keysPerMaster(client: Cluster): Promise<number[]> {
  return Promise.all(client.nodes('master').map((n) => n.dbsize()));
}

describe('a Nest app on a driver-owned cache.cluster', () => {
  const DAYS = 12;
  const TOTAL = 6000;
  const BASE = Date.UTC(2026, 2, 1);
  /** Deterministic records over 12 days (so over many tags and all three masters), exact integers. */
  const records: UsageRecordInput[] = Array.from({ length: TOTAL }, (_, i) => ({
    id: `cl-${i}`,
    agentName: ['support', 'sales', 'ops'][i % 3],
    userId: `u${i % 17}`,
    modelName: 'gpt-4o',
    providerName: 'openai',
    inputTokens: 100 + (i % 997),
    outputTokens: 7 + (i % 89),
    costNanoUsd: 1_000_003 * (1 + (i % 13)),
    recordedAt: new Date(BASE + (i % DAYS) * 86_400_000 + ((i * 7919) % 86_400_000)).toISOString(),
  }));
  const sum = (f: (r: UsageRecordInput) => number) => records.reduce((a, r) => a + BigInt(f(r)), 0n).toString();

  let app: INestApplication;
  let usage: UsageService;

  beforeAll(async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [
        UsageTrackingModule.forRoot({
          trackUsage: true,
          storage: 'cache',
          cache: {
            keyPrefix: 'app:',
            // Shorter than the defaults so a command stuck on a dying node fails (and is retried) quickly;
            // socketTimeout also bounds the ioredis timer left behind by a connection to the stopped node
            // (it would keep Jest alive for the default 10 s after the test).
            cluster: { nodes: cluster.nodes, options: { redisOptions: { commandTimeout: 1500, connectTimeout: 1000, socketTimeout: 1500 } } },
          },
          writer: { batchSize: 200, flushIntervalMs: 50, retryDelayMs: 50, maxRetryDelayMs: 500, spoolDirectory: spool },
        }),
      ],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    usage = app.get(UsageService);
  });

  afterAll(async () => {
    await app?.close();
  });

  it('stores every record exactly once through a manual failover and a master restart mid-write', async () => {
    const masters = await cluster.masterPorts();
    expect(masters).toHaveLength(3);
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    // Records go in continuously (100 every ~5 ms) while the cluster changes under the writer.
    const feed = async (from: number, to: number) => {
      for (let i = from; i < to; i++) {
        expect(usage.record(records[i])).not.toBeNull();
        if (i % 100 === 99) await sleep(5);
      }
    };
    await feed(0, 1000);
    const handover = cluster.failover(masters[0]); // replica catches up, then takes the slots
    await feed(1000, 3000);
    await handover;
    const restart = cluster.restart(masters[1]); // SIGTERM; the replica is promoted after the node timeout
    await feed(3000, 5000);
    await restart;
    await feed(5000, TOTAL);

    await usage.flush();
    const [stats] = usage.getStorageStats();
    // Writes cut by the handovers failed and were retried (usually a few; their count varies by timing).
    expect(stats).toMatchObject({ pending: 0, spooled: 0, lost: 0, deadLettered: 0 });
    expect(await cluster.masterPorts()).not.toEqual(masters); // the roles did change

    const totals = await usage.getUsageAggregate();
    expect(totals.exact).toMatchObject({
      recordCount: String(TOTAL),
      inputTokens: sum((r) => r.inputTokens!),
      outputTokens: sum((r) => r.outputTokens!),
      costNanoUsd: sum((r) => r.costNanoUsd!),
    });
    // Reads fan out over every day (every tag, every master) and group exactly.
    const byDay = await usage.getUsageGroupedBy('day');
    expect(byDay).toHaveLength(DAYS);
    expect(byDay.reduce((a, g) => a + g.recordCount, 0)).toBe(TOTAL);
    const byAgent = await usage.getUsageGroupedBy('agentName');
    expect(byAgent.map((g) => [g.key, g.recordCount]).sort()).toEqual([
      ['ops', 2000],
      ['sales', 2000],
      ['support', 2000],
    ]);
    const admin = cluster.client();
    clients.push(admin);
    expect((await keysPerMaster(admin)).every((n) => n > 0)).toBe(true);

    // A clear scans every master: nothing of the prefix is left anywhere.
    expect(await usage.clearUsage({}, { all: true })).toBe(TOTAL);
    expect((await usage.getUsageAggregate()).recordCount).toBe(0);
  });

  it('quits the Cluster it created when the app closes (no connection left on any node)', async () => {
    const ours = async () => {
      const lists = await Promise.all(cluster.nodes.map((n) => clientList(n.port)));
      return lists.flatMap((l) => l.split('\n')).filter((l) => l.includes('name=nestjs-agent-usage')).length;
    };
    expect(await ours()).toBeGreaterThan(0);
    await app.close();
    app = undefined as never;
    const deadline = Date.now() + 10_000;
    while ((await ours()) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(await ours()).toBe(0);
  });
});

/** CLIENT LIST of one node (it is per node), over a connection of its own that is closed right away. */
async function clientList(port: number): Promise<string> {
  const r = new Redis({ host: '127.0.0.1', port, lazyConnect: true });
  try {
    await r.connect();
    return String(await r.call('CLIENT', 'LIST'));
  } finally {
    await r.quit();
  }
}
