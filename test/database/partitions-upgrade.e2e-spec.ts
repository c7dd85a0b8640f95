/**
 * On the real PostgreSQL: the shipped migration converts a plain ledger of the previous layout (key
 * record_id) into the partitioned one with every row kept byte for byte, and back with down(); the
 * driver's range reads (the SQL it really sends, captured at the DataSource) scan only the months in range.
 */
import { Pool } from 'pg';
import { DataSource } from 'typeorm';
import { DatabaseUsageStorage, createAgentUsagePartitionsMigration } from '../../libs/agent-usage/src/storage/database';
import { LEDGER_COLUMNS } from '../../libs/agent-usage/src/storage/database/usage-sql.builder';
import { normalizeFilters } from '../../libs/agent-usage/src/query/usage-filters';
import { PG_URL, allTables, normTotals, randomRecords, storageContext, uniqueName } from './fixtures/database-test.fixture';

jest.setTimeout(180_000);

const admin = new Pool({ connectionString: PG_URL, max: 2 });
const drivers: DatabaseUsageStorage[] = [];
const sets: { tableName: string; rollupTableName: string }[] = [];
const dataSources: DataSource[] = [];
const migrationTables: string[] = [];

async function dataSource(options: Record<string, unknown> = {}): Promise<DataSource> {
  const ds = new DataSource({ type: 'postgres', url: PG_URL, poolSize: 3, ...options } as never);
  await ds.initialize();
  dataSources.push(ds);
  return ds;
}
async function open(options: ConstructorParameters<typeof DatabaseUsageStorage>[0]): Promise<DatabaseUsageStorage> {
  const d = new DatabaseUsageStorage(options);
  drivers.push(d);
  await d.init(storageContext('UTC'));
  return d;
}
/** Every row, every column, in id order, as one digest (and the count): equal digests mean nothing changed. */
async function fingerprint(table: string): Promise<{ n: string; md5: string }> {
  const cols = LEDGER_COLUMNS.map((c) => c.column).join(', ');
  const { rows } = await admin.query(`SELECT count(*)::text AS n, md5(string_agg(t::text, '|' ORDER BY t.record_id)) AS md5 FROM (SELECT ${cols} FROM "${table}") t`);
  return rows[0];
}
const relkind = async (table: string) => (await admin.query(`SELECT relkind::text AS k FROM pg_class WHERE oid = to_regclass($1)`, [`"${table}"`])).rows[0]?.k;

afterAll(async () => {
  for (const d of drivers) await d.close().catch(() => undefined);
  for (const ds of dataSources) await ds.destroy().catch(() => undefined);
  for (const n of sets) for (const t of allTables(n)) await admin.query(`DROP TABLE IF EXISTS "${t}" CASCADE`);
  for (const t of migrationTables) await admin.query(`DROP TABLE IF EXISTS "${t}"`);
  await admin.end();
});

it('converts a plain ledger with data to monthly partitions keeping every row and total; down() converts it back', async () => {
  const names = { tableName: uniqueName('pu_l'), rollupTableName: uniqueName('pu_r') };
  sets.push(names);
  // The layout before: a plain ledger keyed by record_id, written by the driver (ON CONFLICT (record_id)).
  const before = await open({ url: PG_URL, autoMigrate: true, partitioning: { enabled: false }, ...names });
  const records = randomRecords(3000, 21);
  await before.write(records);
  await before.write(records.slice(0, 500)); // replay: stored once on the plain layout too
  const totals = normTotals(await before.aggregate({}));
  await before.close();
  expect(await relkind(names.tableName)).toBe('r');
  const print = await fingerprint(names.tableName);
  expect(print.n).toBe('3000');

  const migrationsTableName = uniqueName('pu_migrations');
  migrationTables.push(migrationsTableName);
  const ds = await dataSource({ migrations: [createAgentUsagePartitionsMigration(names)], migrationsTableName });
  expect((await ds.runMigrations()).map((m) => m.name)).toEqual([`PartitionAgentUsageLedger_${names.tableName}_1797100000000`]);

  expect(await relkind(names.tableName)).toBe('p');
  expect(await fingerprint(names.tableName)).toEqual(print);
  const { rows: pk } = await admin.query(`SELECT pg_get_constraintdef(oid) AS d FROM pg_constraint WHERE conrelid = to_regclass($1) AND contype = 'p'`, [`"${names.tableName}"`]);
  expect(pk[0].d).toBe('PRIMARY KEY (record_id, recorded_at)');
  // Each row sits in its UTC month's partition; the default is empty; the old table is gone.
  const { rows: placed } = await admin.query(
    `SELECT tableoid::regclass::text AS part, to_char(recorded_at AT TIME ZONE 'UTC', 'YYYYMM') AS m, count(*)::int AS n FROM "${names.tableName}" GROUP BY 1, 2`,
  );
  for (const { part, m } of placed) expect(part).toBe(`${names.tableName}_p${m}`);
  expect(await relkind(`${names.tableName}_unpartitioned`)).toBeUndefined();
  const { rows: idx } = await admin.query(`SELECT indexname FROM pg_indexes WHERE tablename = $1 ORDER BY 1`, [names.tableName]);
  expect(idx.map((r) => r.indexname.slice(names.tableName.length + 1))).toEqual(['agent_recorded_idx', 'model_recorded_idx', 'pkey', 'recorded_idx', 'run_idx', 'user_recorded_idx']);

  // The driver on the converted ledger: same answers, a replay still stored once.
  const after = await open({ dataSource: ds, ...names });
  expect(normTotals(await after.aggregate({}))).toEqual(totals);
  await after.write(records.slice(1000, 1200));
  expect(await fingerprint(names.tableName)).toEqual(print);

  await ds.undoLastMigration();
  expect(await relkind(names.tableName)).toBe('r');
  expect(await fingerprint(names.tableName)).toEqual(print);
  const { rows: plainPk } = await admin.query(`SELECT pg_get_constraintdef(oid) AS d FROM pg_constraint WHERE conrelid = to_regclass($1) AND contype = 'p'`, [`"${names.tableName}"`]);
  expect(plainPk[0].d).toBe('PRIMARY KEY (record_id)');
});

/** Relation names anywhere in an EXPLAIN (FORMAT JSON) plan. */
function relations(plan: unknown, out = new Set<string>()): Set<string> {
  if (Array.isArray(plan)) plan.forEach((p) => relations(p, out));
  else if (plan && typeof plan === 'object') {
    for (const [k, v] of Object.entries(plan)) {
      if (k === 'Relation Name') out.add(String(v));
      else relations(v, out);
    }
  }
  return out;
}

it('range reads scan only the partitions of the months in range (EXPLAIN of the SQL the driver sends)', async () => {
  const names = { tableName: uniqueName('pe_l'), rollupTableName: uniqueName('pe_r') };
  sets.push(names);
  const ds = await dataSource();
  const seen: { sql: string; params: unknown[] }[] = [];
  const query = ds.query.bind(ds);
  ds.query = (async (sql: string, params?: unknown[]) => {
    seen.push({ sql, params: params ?? [] });
    return query(sql, params);
  }) as typeof ds.query;
  // Ledger reads only (no rollups), partitions March .. November 2026 made as if it were March.
  const d = await open({ dataSource: ds, autoMigrate: true, useRollups: false, partitioning: { monthsAhead: 8 }, ...names });
  await d.maintainPartitions(new Date('2026-03-10T00:00:00Z'));
  await d.write(randomRecords(2000, 3));
  await admin.query(`ANALYZE "${names.tableName}"`);
  const cases = [
    { filters: { dateFrom: '2026-06-01', dateTo: '2026-06-30' }, months: ['202606'] },
    { filters: { dateFrom: '2026-10-15', dateTo: '2026-11-01', agentName: 'support' }, months: ['202610', '202611'] },
    { filters: { date: '2026-03-08' }, months: ['202603'] },
  ];
  for (const { filters, months } of cases) {
    const f = normalizeFilters(filters, 'UTC');
    seen.length = 0;
    await d.aggregate(f);
    await d.groupBy('day', f);
    await d.groupBy('agentName', f);
    await d.identities(f);
    await d.list(f, 50, 0);
    const reads = seen.filter((s) => /^\s*(SELECT|WITH)/i.test(s.sql) && s.sql.includes(`"${names.tableName}"`));
    expect(reads.length).toBe(5);
    for (const { sql, params } of reads) {
      const { rows } = await admin.query(`EXPLAIN (FORMAT JSON) ${sql}`, params);
      const scanned = [...relations(rows[0]['QUERY PLAN'])].sort();
      expect({ filters, sql: sql.slice(0, 60), scanned }).toEqual({ filters, sql: sql.slice(0, 60), scanned: months.map((m) => `${names.tableName}_p${m}`) });
    }
  }
});
