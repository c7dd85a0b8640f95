/**
 * The storage conformance suite on the Redis driver over a real 3-master Redis Cluster (ioredis Cluster
 * client): every command the driver sends must stay within one slot (key layout 5, hash tags per day).
 */
import type { Cluster } from 'ioredis';
import { CacheUsageStorage } from '../../libs/agent-usage/src/storage/cache';
import { runStorageConformance } from '../../libs/agent-usage/src/testing';
import { startRedisCluster, type RedisClusterHandle } from '../support/redis-cluster';
import { testContext } from './fixtures/cache-test.helpers';

jest.setTimeout(120_000);

let cluster: RedisClusterHandle;
let client: Cluster;

beforeAll(async () => {
  cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 0 });
  client = cluster.client();
});

afterAll(async () => {
  await client?.quit().catch(() => undefined);
  await cluster?.stop();
});

runStorageConformance('cache (Redis Cluster)', async ({ timeZone }) => {
  // The cluster is started for this file alone and stopped after it: nothing to delete.
  const storage = new CacheUsageStorage({ client: client as never, keyPrefix: `conf:${timeZone.replace('/', '_')}:`, scanChunkSize: 100 });
  await storage.init(testContext(timeZone));
  return { storage };
});
