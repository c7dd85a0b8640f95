/** The cluster harness itself: three masters with replicas, a failover and a restart keep every key. */
import { startRedisCluster, type RedisClusterHandle } from './redis-cluster';

jest.setTimeout(60_000);

let cluster: RedisClusterHandle;

beforeAll(async () => {
  cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
});

afterAll(async () => {
  await cluster?.stop();
});

it('serves all slots on three masters, and keeps every (replicated) key through a failover, a restart and a crash', async () => {
  const masters = await cluster.masterPorts();
  expect(masters).toHaveLength(3);
  const client = cluster.client();
  try {
    // Keys spread over all slots: every master holds some.
    for (let i = 0; i < 300; i++) await client.set(`harness:${i}`, String(i));
    const counts = await Promise.all(client.nodes('master').map((n) => n.dbsize()));
    expect(counts.every((c) => c > 0)).toBe(true);

    await cluster.failover(masters[0]);
    expect(await cluster.masterPorts()).not.toContain(masters[0]);
    await cluster.restart(masters[1]);
    expect(await cluster.masterPorts()).not.toContain(masters[1]);
    expect(await cluster.masterPorts()).toHaveLength(3);
    // A crash: the replica takes over by itself; the killed node comes back as a replica.
    await cluster.failover(masters[2], { kill: true });
    await cluster.restart(masters[2]);
    expect(await cluster.masterPorts()).not.toContain(masters[2]);
    expect(await cluster.masterPorts()).toHaveLength(3);

    const values = await Promise.all(Array.from({ length: 300 }, (_, i) => client.get(`harness:${i}`)));
    expect(values).toEqual(Array.from({ length: 300 }, (_, i) => String(i)));
  } finally {
    await client.quit();
  }
});
