/**
 * The library's storage conformance suite on the PostgreSQL driver with its defaults (rollups on: whole-day
 * cases read one of the two rollups, the others the ledger). The ledger-only switch is compared against the memory
 * driver in database.storage.e2e-spec.ts. Own tables per run, dropped afterwards.
 */
import { Pool } from 'pg';
import { DatabaseUsageStorage } from '../../libs/agent-usage/src/storage/database';
import { runStorageConformance } from '../../libs/agent-usage/src/testing';
import { PG_URL, allTables, storageContext, uniqueName } from './fixtures/database-test.fixture';

runStorageConformance('database (PostgreSQL)', async ({ timeZone }) => {
  const names = { tableName: uniqueName('conf_l'), rollupTableName: uniqueName('conf_r') };
  const storage = new DatabaseUsageStorage({ url: PG_URL, ...names });
  await storage.init(storageContext(timeZone));
  return {
    storage,
    teardown: async () => {
      await storage.close();
      const admin = new Pool({ connectionString: PG_URL, max: 1 });
      await admin.query(`DROP TABLE IF EXISTS ${allTables(names).map((t) => `"${t}"`).join(', ')}`);
      await admin.end();
    },
  };
});
