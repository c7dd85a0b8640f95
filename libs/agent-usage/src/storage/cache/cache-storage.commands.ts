/**
 * Batched reads that work on a plain ioredis client and on an ioredis Cluster alike. A Cluster pipeline
 * must stay within one slot, and the driver's keys spread over one slot per day (cache-storage.keys.ts):
 * on a Cluster each command goes in its own one-command pipeline, all started at once (ioredis writes them
 * per node in the same tick), elsewhere one pipeline per PIPELINE_CHUNK commands (one round trip each).
 */
import type { ChainableCommander, Redis } from 'ioredis';
import { isRedisCluster } from '../../connections/redis-cluster.source';

/** Commands per pipeline (one round trip each). */
const PIPELINE_CHUNK = 200;

/** Runs `add` for each item, handing each reply to `take` in item order; throws the first error. */
export async function pipelined<T>(
  client: Redis,
  items: readonly T[],
  add: (p: ChainableCommander, item: T) => void,
  take: (reply: any, item: T) => void,
): Promise<void> {
  const cluster = isRedisCluster(client);
  for (let i = 0; i < items.length; i += PIPELINE_CHUNK) {
    const part = items.slice(i, i + PIPELINE_CHUNK);
    let res: [Error | null, unknown][];
    if (cluster) {
      const one = await Promise.all(
        part.map((item) => {
          const p = client.pipeline();
          add(p, item);
          return p.exec();
        }),
      );
      res = one.map((r) => r![0]);
    } else {
      const pipe = client.pipeline();
      for (const item of part) add(pipe, item);
      res = (await pipe.exec())!;
    }
    res.forEach(([err, reply], j) => {
      if (err) throw err;
      take(reply, part[j]);
    });
  }
}
