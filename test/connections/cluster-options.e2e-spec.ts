/** Redis Cluster configuration: bad `cluster` sources stop the boot naming the field; a Cluster's target. */
import { Test } from '@nestjs/testing';
import Redis, { Cluster } from 'ioredis';
import { InvalidUsageOptionsError, UsageTrackingModule, type UsageTrackingModuleOptions } from 'nestjs-agent-usage';
import { describeRedisTarget, isRedisCluster } from '../../libs/agent-usage/src/connections/redis-cluster.source';

async function bootError(options: UsageTrackingModuleOptions): Promise<string> {
  try {
    const m = await Test.createTestingModule({ imports: [UsageTrackingModule.forRoot(options)] }).compile();
    await m.close();
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidUsageOptionsError);
    return (e as Error).message;
  }
  throw new Error('boot did not fail');
}

it('stops the boot naming each bad field of cache.cluster and scheduler.redis.cluster', async () => {
  const msg = await bootError({
    storage: 'cache',
    cache: { url: 'redis://127.0.0.1:6379', cluster: { nodes: [{ host: '', port: 0 }, '127.0.0.1', 'h:7000'], options: 'x', extra: 1 } as never },
    scheduler: { redis: { cluster: { nodes: [] }, typo: true } as never },
  });
  expect(msg).toContain('cache.give only one of client, clientToken, url/redisOptions or cluster (got url/redisOptions, cluster)');
  expect(msg).toContain('cache.cluster.extra is not an option; allowed: nodes, options');
  expect(msg).toContain('cache.cluster.nodes[0].host must be a non-empty string');
  expect(msg).toContain('cache.cluster.nodes[0].port must be an integer from 1 to 65535; got 0');
  expect(msg).toContain("cache.cluster.nodes[1] must be 'host:port'");
  expect(msg).not.toContain('nodes[2]');
  expect(msg).toContain('cache.cluster.options must be an object (ioredis ClusterOptions)');
  expect(msg).toContain('scheduler.redis.cluster.nodes must be a non-empty array');
  expect(msg).toContain('scheduler.redis.typo is not an option; allowed: cluster');
});

it('accepts a host Cluster client and a well-formed cluster source', async () => {
  const host = new Cluster([{ host: '127.0.0.1', port: 7999 }], { lazyConnect: true });
  try {
    const m = await Test.createTestingModule({
      imports: [UsageTrackingModule.forRoot({ storage: 'memory', cache: { cluster: { nodes: ['127.0.0.1:7001', { host: 'localhost', port: 7002 }], options: { redisOptions: { password: 'x' } } } }, scheduler: { redis: host, enabled: false } })],
    }).compile();
    await m.close(); // nothing connected: the connection opens on first use
  } finally {
    host.disconnect();
  }
});

it('describes a Cluster by its seed nodes, a plain client by host, port and db', () => {
  const cluster = new Cluster(['127.0.0.1:7002', { host: '127.0.0.1', port: 7001 }, 7003], { lazyConnect: true });
  const plain = new Redis({ host: '10.0.0.5', port: 6380, db: 2, lazyConnect: true });
  try {
    expect(isRedisCluster(cluster)).toBe(true);
    expect(isRedisCluster(plain)).toBe(false);
    expect(describeRedisTarget(cluster)).toBe('redis-cluster://127.0.0.1:7001,127.0.0.1:7002,localhost:7003');
    expect(describeRedisTarget(plain)).toBe('redis://10.0.0.5:6380/2');
  } finally {
    cluster.disconnect();
    plain.disconnect();
  }
});
