/**
 * Categories on the real PostgreSQL: tables of the previous version (no category / units columns, rollup
 * keys without category, no hourly rollups) are refused with the upgrade to apply; the shipped upgrade
 * migration changes them in place (idempotently, rows kept as "chat", hourly rollups filled from the
 * ledger in the rollups' time zone); tables made by TypeORM `synchronize` from the entities work as they are.
 */
import { Pool } from 'pg';
import { DataSource } from 'typeorm';
import type { UsageRecord } from '../../libs/agent-usage/src/interfaces/usage-record.interface';
import { MemoryUsageStorage } from '../../libs/agent-usage/src/storage/memory/memory.storage';
import {
  DatabaseUsageStorage,
  UpgradeAgentUsageCategories1796600000000,
  createAgentUsageCategoriesMigration,
  createUsageDailyEntity,
  createUsageDailyUserEntity,
  createUsageHourTotalEntity,
  createUsageHourlyEntity,
  createUsageRecordEntity,
} from '../../libs/agent-usage/src/storage/database';
import { normalizeFilters } from '../../libs/agent-usage/src/query/usage-filters';
import { PG_URL, allTables, normGroups, normTotals, randomRecords, storageContext, uniqueName } from './fixtures/database-test.fixture';

jest.setTimeout(120_000);

const ZONE = 'America/New_York';
const admin = new Pool({ connectionString: PG_URL, max: 2 });
const names = { tableName: uniqueName('cat_l'), rollupTableName: uniqueName('cat_r') };
const schema = uniqueName('cat_sync');
const drivers: DatabaseUsageStorage[] = [];
let ds: DataSource;

async function open(options: ConstructorParameters<typeof DatabaseUsageStorage>[0]): Promise<DatabaseUsageStorage> {
  const d = new DatabaseUsageStorage(options);
  drivers.push(d);
  await d.init(storageContext(ZONE));
  return d;
}
const pkey = async (table: string) =>
  (await admin.query(`SELECT pg_get_indexdef(to_regclass($1)) AS d`, [`"${table}_pkey"`])).rows[0].d?.replace(/^.* USING btree /, '') ?? null;
const marker = async (table: string) =>
  (await admin.query(`SELECT obj_description(to_regclass($1), 'pg_class') AS c`, [`"${table}_pkey"`])).rows[0].c as string | null;

/** Every group-by the rollups answer (day, hour, category...) equals the memory driver's on the same records. */
async function expectSameAsMemory(d: DatabaseUsageStorage, records: UsageRecord[]): Promise<void> {
  const m = new MemoryUsageStorage();
  m.init(storageContext(ZONE));
  await m.write(records);
  const ranges = [{}, { dateFrom: '2026-03-07', dateTo: '2026-11-01' }, { date: '2026-11-01', category: 'image' }, { agentName: 'support', date: '2026-03-08' }];
  for (const r of ranges) {
    const f = normalizeFilters(r, ZONE);
    expect(normTotals(await d.aggregate(f))).toEqual(normTotals(await m.aggregate(f)));
    for (const dim of ['day', 'hour', 'category', 'agentName', 'modelName'] as const) {
      expect({ r, dim, g: normGroups(await d.groupBy(dim, f)) }).toEqual({ r, dim, g: normGroups(await m.groupBy(dim, f)) });
    }
  }
}

beforeAll(async () => {
  ds = new DataSource({ type: 'postgres', url: PG_URL, poolSize: 2 });
  await ds.initialize();
});
afterAll(async () => {
  for (const d of drivers) await d.close().catch(() => undefined);
  await ds.destroy();
  for (const t of allTables(names)) await admin.query(`DROP TABLE IF EXISTS "${t}"`);
  await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await admin.end();
});

it('upgrades tables of the previous version in place: refused until migrated, rows kept as "chat", hourly rollups filled', async () => {
  const old = randomRecords(500, 31).map((r) => ({ ...r, category: 'chat', units: null }));
  const first = await open({ dataSource: ds, autoMigrate: true, ...names });
  await first.write(old);
  const before = normTotals(await first.aggregate({}));
  // The previous version's tables: today's DDL minus categories, units and the hourly rollups.
  const [ledger, rollup, users, hours, hourTotals] = allTables(names);
  await admin.query(`DROP TABLE "${hours}", "${hourTotals}"`);
  await admin.query(`ALTER TABLE "${ledger}" DROP COLUMN category, DROP COLUMN units`);
  const oldKeys = { [rollup]: 'day, agent_name, group_name, model_name, provider_name', [users]: 'day, user_id, agent_name, model_name, provider_name' };
  for (const [t, key] of Object.entries(oldKeys)) {
    await admin.query(`ALTER TABLE "${t}" DROP CONSTRAINT "${t}_pkey", DROP COLUMN category, DROP COLUMN units`);
    await admin.query(`ALTER TABLE "${t}" ADD CONSTRAINT "${t}_pkey" PRIMARY KEY (${key})`);
    await admin.query(`COMMENT ON INDEX "${t}_pkey" IS 'nestjs-agent-usage daily rollup; timeZone=${ZONE}'`);
  }

  // Without autoMigrate the driver refuses them and names the upgrade.
  await expect(open({ dataSource: ds, ...names })).rejects.toThrow(/predate categories.*UpgradeAgentUsageCategories1796600000000.*autoMigrate: true/s);

  // The upgrade for these names, run twice (its DDL is idempotent); its time zone option is not used: the
  // rollups keep theirs and the new hourly ones are filled in it.
  const Upgrade = createAgentUsageCategoriesMigration(names);
  expect(new UpgradeAgentUsageCategories1796600000000().name).toBe('UpgradeAgentUsageCategories1796600000000');
  for (let i = 0; i < 2; i++) {
    const qr = ds.createQueryRunner();
    await new Upgrade().up(qr);
    await qr.release();
  }
  await expect(new Upgrade().down(ds.createQueryRunner())).rejects.toThrow(/cannot be reverted/);
  expect(await pkey(rollup)).toBe('(day, agent_name, group_name, model_name, provider_name, category)');
  expect(await pkey(users)).toBe('(day, user_id, agent_name, model_name, provider_name, category)');
  expect(await pkey(hours)).toBe('(hour, agent_name, model_name, provider_name, category)');
  expect(await pkey(hourTotals)).toBe('(hour, category)');
  for (const t of [rollup, users, hours, hourTotals]) expect(await marker(t)).toBe(`nestjs-agent-usage daily rollup; timeZone=${ZONE}`);

  // Old rows read back as "chat" with no units, on every read path; new records with categories add up.
  const d = await open({ dataSource: ds, ...names });
  expect(normTotals(await d.aggregate({}))).toEqual({ ...before, units: '0' });
  expect((await d.list({}, 1, 0))[0]).toMatchObject({ category: 'chat', units: null });
  const fresh = randomRecords(400, 32).map((r) => ({ ...r, id: `new-${r.id}` }));
  expect(new Set(fresh.map((r) => r.category)).size).toBeGreaterThan(2);
  await d.write(fresh);
  await d.write(fresh.slice(0, 50)); // a retried batch counts nothing twice
  await expectSameAsMemory(d, [...old, ...fresh]);
});

it('works on tables TypeORM synchronize made from the entities', async () => {
  const n = { tableName: 'ledger', rollupTableName: 'daily', schema };
  const sync = new DataSource({
    type: 'postgres',
    url: PG_URL,
    synchronize: true,
    entities: [createUsageRecordEntity(n), createUsageDailyEntity(n), createUsageDailyUserEntity(n), createUsageHourlyEntity(n), createUsageHourTotalEntity(n)],
  });
  await admin.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
  await sync.initialize();
  try {
    const d = await open({ dataSource: sync, ...n });
    const records = randomRecords(300, 33);
    await d.write(records);
    await expectSameAsMemory(d, records);
  } finally {
    await sync.destroy();
  }
});

it('rollups are never scanned in parallel (workers cost more than the scan): set on new tables and on old ones at boot', async () => {
  const [, ...rollups] = allTables(names);
  const options = async () => {
    const { rows } = await admin.query<{ t: string; o: string[] | null }>(`SELECT relname AS t, reloptions AS o FROM pg_class WHERE relname = ANY($1)`, [rollups]);
    return Object.fromEntries(rows.map((r) => [r.t, (r.o ?? []).includes('parallel_workers=0')]));
  };
  await open({ dataSource: ds, autoMigrate: true, ...names });
  expect(await options()).toEqual(Object.fromEntries(rollups.map((t) => [t, true])));
  for (const t of rollups) await admin.query(`ALTER TABLE "${t}" RESET (parallel_workers)`); // as made before
  expect(Object.values(await options())).toEqual(rollups.map(() => false));
  await open({ dataSource: ds, autoMigrate: true, ...names });
  expect(await options()).toEqual(Object.fromEntries(rollups.map((t) => [t, true])));
});
