/** The library's storage conformance suite, run on the Redis driver (real Redis, own key prefix). */
import Redis from 'ioredis';
import { CacheUsageStorage } from '../../libs/agent-usage/src/storage/cache';
import { runStorageConformance } from '../../libs/agent-usage/src/testing';
import { REDIS_URL, deleteKeys, testContext } from './fixtures/cache-test.helpers';

const PREFIX = `agent-usage-test:cache-conformance:${process.pid}:`;

runStorageConformance('cache (Redis)', async ({ timeZone }) => {
  const keyPrefix = `${PREFIX}${timeZone.replace('/', '_')}:`;
  const storage = new CacheUsageStorage({ url: REDIS_URL, keyPrefix, scanChunkSize: 100 });
  await storage.init(testContext(timeZone));
  return {
    storage,
    teardown: async () => {
      await storage.close();
      const admin = new Redis(REDIS_URL);
      await deleteKeys(admin, keyPrefix);
      await admin.quit();
    },
  };
});
