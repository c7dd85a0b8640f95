/**
 * A Redis Cluster that is down when the app starts must not stop it (as for a standalone Redis): the
 * driver-owned Cluster keeps trying, the writer keeps the records, and once the cluster is up (started
 * here on the very ports the app was given) they are stored exactly once.
 */
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { UsageService, UsageTrackingModule } from 'nestjs-agent-usage';
import { freeBlock, startRedisCluster, type RedisClusterHandle } from '../support/redis-cluster';

jest.setTimeout(60_000);

let cluster: RedisClusterHandle | undefined;
let app: INestApplication | undefined;

afterAll(async () => {
  await app?.close();
  await cluster?.stop();
});

it('boots with the cluster down and stores the records once it is up', async () => {
  const base = await freeBlock(3);
  const nodes = [0, 1, 2].map((i) => ({ host: '127.0.0.1', port: base + i }));
  const moduleRef = await Test.createTestingModule({
    imports: [
      UsageTrackingModule.forRoot({
        trackUsage: true,
        storage: 'cache',
        cache: { cluster: { nodes }, keyPrefix: 'boot:' },
        writer: { flushIntervalMs: 50, retryDelayMs: 100, maxRetryDelayMs: 500 },
        scheduler: { runtimeAlerts: false },
      }),
    ],
  }).compile();
  app = moduleRef.createNestApplication({ logger: false });
  const t0 = Date.now();
  await app.init();
  expect(Date.now() - t0).toBeLessThan(5_000); // no waiting for the cluster

  const usage = app.get(UsageService);
  for (let i = 0; i < 50; i++) usage.record({ id: `boot-${i}`, agentName: 'a', inputTokens: i, outputTokens: 1, costNanoUsd: 1000 + i });
  const waitFor = async (check: () => boolean) => {
    const deadline = Date.now() + 30_000;
    while (!check() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  };
  await waitFor(() => usage.getStorageStats()[0].failedWrites > 0);
  expect(usage.getStorageStats()[0]).toMatchObject({ pending: 50, written: 0, lost: 0 });

  cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 0, basePort: base });
  await waitFor(() => usage.getStorageStats()[0].pending === 0);
  expect(usage.getStorageStats()[0]).toMatchObject({ pending: 0, lost: 0, deadLettered: 0 });
  const totals = await usage.getUsageAggregate();
  expect(totals.exact).toMatchObject({ recordCount: '50', inputTokens: String((49 * 50) / 2), costNanoUsd: String(50 * 1000 + (49 * 50) / 2) });
});
