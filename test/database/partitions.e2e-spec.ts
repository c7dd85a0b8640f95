/**
 * The partitioned ledger on the real PostgreSQL: monthly partitions (UTC months) made ahead by the driver,
 * the DEFAULT partition taking rows of months not made yet and handing them over when the month is made,
 * replays stored once, concurrent maintenance, retention by dropping partitions (rollups kept, then cut by
 * their own retention), the options' errors.
 */
import { Pool } from 'pg';
import { DataSource } from 'typeorm';
import { DatabaseUsageStorage } from '../../libs/agent-usage/src/storage/database';
import { monthIndexOf, monthStart } from '../../libs/agent-usage/src/storage/database/schema/ledger-partitions';
import { PG_URL, allTables, normTotals, randomRecords, storageContext, uniqueName } from './fixtures/database-test.fixture';

jest.setTimeout(120_000);

const admin = new Pool({ connectionString: PG_URL, max: 2 });
const drivers: DatabaseUsageStorage[] = [];
const tableSets: { tableName: string; rollupTableName: string }[] = [];
let ds: DataSource;

function namesFor(prefix: string) {
  const n = { tableName: uniqueName(`${prefix}_l`), rollupTableName: uniqueName(`${prefix}_r`) };
  tableSets.push(n);
  return n;
}
async function open(options: ConstructorParameters<typeof DatabaseUsageStorage>[0]): Promise<DatabaseUsageStorage> {
  const d = new DatabaseUsageStorage({ dataSource: ds, autoMigrate: true, ...options });
  drivers.push(d);
  await d.init(storageContext('UTC'));
  return d;
}
/** Partition name -> row count, for the ledger `table`. */
async function partitions(table: string): Promise<Record<string, number>> {
  const { rows } = await admin.query(
    `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass($1) ORDER BY 1`,
    [`"${table}"`],
  );
  const out: Record<string, number> = {};
  for (const { name } of rows) out[name.slice(table.length + 1)] = Number((await admin.query(`SELECT count(*) AS n FROM "${name}"`)).rows[0].n);
  return out;
}

beforeAll(async () => {
  ds = new DataSource({ type: 'postgres', url: PG_URL, poolSize: 4 });
  await ds.initialize();
});
afterAll(async () => {
  for (const d of drivers) await d.close().catch(() => undefined);
  await ds.destroy();
  for (const n of tableSets) for (const t of allTables(n)) await admin.query(`DROP TABLE IF EXISTS "${t}" CASCADE`);
  await admin.end();
});

it('creates a partitioned ledger with the previous month, the current one, 2 ahead and a default; a replay stores once', async () => {
  const names = namesFor('pn');
  const d = await open(names);
  const { rows } = await admin.query(
    `SELECT c.relkind::text AS kind, pg_get_partkeydef(c.oid) AS key, pg_get_constraintdef(k.oid) AS pk
       FROM pg_class c JOIN pg_constraint k ON k.conrelid = c.oid AND k.contype = 'p' WHERE c.oid = to_regclass($1)`,
    [`"${names.tableName}"`],
  );
  expect(rows[0]).toEqual({ kind: 'p', key: 'RANGE (recorded_at)', pk: 'PRIMARY KEY (record_id, recorded_at)' });
  const now = monthIndexOf(new Date());
  const ym = (m: number) => `p${Math.floor(m / 12)}${String((m % 12) + 1).padStart(2, '0')}`;
  expect(Object.keys(await partitions(names.tableName))).toEqual([ym(now - 1), ym(now), ym(now + 1), ym(now + 2), 'pdefault'].sort());
  // Rows of months not made (2026-03..10 in the fixture) land in the default partition: never refused.
  const records = randomRecords(400, 5);
  await d.write(records);
  await d.write(records.slice(0, 150)); // a replay (same ids, same times): stored once
  expect((await d.aggregate({})).recordCount).toBe('400');
  // Documented: the key is (id, recorded_at), so the same id at another time is another row.
  await d.write([{ ...records[0], recordedAt: new Date(records[0].recordedAt.getTime() + 1000) }]);
  expect((await d.aggregate({})).recordCount).toBe('401');
});

it('moves rows from the default partition when their month is created, with two instances maintaining at once', async () => {
  const names = namesFor('pm');
  const a = await open({ ...names, partitioning: { monthsAhead: 8 } });
  const b = await open({ ...names, partitioning: { monthsAhead: 8 } });
  const records = randomRecords(600, 9);
  await a.write(records);
  const before = normTotals(await a.aggregate({}));
  // Months the boot made (the real month, one before, two ahead) hold theirs; the default holds the rest.
  const made = Object.keys(await partitions(names.tableName));
  const monthOf = (r: { recordedAt: Date }) => `p${r.recordedAt.toISOString().slice(0, 7).replace('-', '')}`; // UTC month
  expect((await partitions(names.tableName)).pdefault).toBe(records.filter((r) => !made.includes(monthOf(r))).length);
  // As if it were March 2026: February .. November are made, the default's rows move to them.
  const at = new Date('2026-03-20T12:00:00Z');
  const [ra, rb] = await Promise.all([a.maintainPartitions(at), b.maintainPartitions(at)]);
  const expected = ['02', '03', '04', '05', '06', '07', '08', '09', '10', '11'].map((m) => `p2026${m}`).filter((p) => !made.includes(p));
  expect([...ra.created, ...rb.created].sort()).toEqual(expected.map((p) => `${names.tableName}_${p}`));
  const parts = await partitions(names.tableName);
  expect(parts.pdefault).toBe(0);
  const byMonth = new Map<string, number>();
  for (const r of records) byMonth.set(monthOf(r), (byMonth.get(monthOf(r)) ?? 0) + 1);
  for (const [k, n] of byMonth) expect({ k, n: parts[k] }).toEqual({ k, n });
  expect(normTotals(await a.aggregate({}))).toEqual(before);
  // Idempotent: nothing left to do.
  expect((await a.maintainPartitions(at)).created).toEqual([]);
});

it('retentionMonths drops whole old partitions and keeps the rollups; rollupRetentionMonths cuts rollup rows by day', async () => {
  const names = namesFor('pr');
  const w = await open({ ...names, partitioning: { monthsAhead: 9 } });
  const records = randomRecords(500, 13);
  await w.write(records);
  await w.maintainPartitions(new Date('2026-03-01T00:00:00Z')); // March .. December
  await w.close();
  // A pass at the real time (December 2026 or later; its boot pass may be the one that does it): months
  // before (now - 3) are dropped.
  const r = await open({ ...names, retentionMonths: 3, rollupRetentionMonths: 6 });
  await r.maintainPartitions();
  const now = monthIndexOf(new Date());
  const left = Object.keys(await partitions(names.tableName)).filter((k) => k !== 'pdefault').map((k) => Number(k.slice(1, 5)) * 12 + Number(k.slice(5)) - 1);
  expect(left.filter((m) => m < now - 3)).toEqual([]);
  expect(left.length).toBeGreaterThanOrEqual(3); // the current month and 2 ahead at least
  const cut = monthStart(now - 3);
  const kept = records.filter((x) => x.recordedAt >= cut).length;
  expect(Number((await admin.query(`SELECT count(*) AS n FROM "${names.tableName}"`)).rows[0].n)).toBe(kept);
  expect((await r.maintainPartitions()).dropped).toEqual([]); // idempotent
  // Rollup rows of days before (now - 6 months) are deleted; later days keep answering from the rollups.
  const rollupCut = monthStart(now - 6);
  const { rows } = await admin.query(`SELECT min(day)::text AS d FROM "${names.rollupTableName}"`);
  expect(rows[0].d === null || rows[0].d >= rollupCut.toISOString().slice(0, 10)).toBe(true);
  const range = { from: rollupCut, to: new Date('2026-12-01T00:00:00Z') };
  const inRange = records.filter((x) => x.recordedAt >= range.from && x.recordedAt < range.to).length;
  expect(Number((await r.aggregate(range)).recordCount)).toBe(inRange);
  if (now === monthIndexOf(new Date('2026-12-01T00:00:00Z'))) {
    expect(inRange).toBeGreaterThan(kept); // June .. August answered by the rollups alone: gone from the ledger
  }
});

it('refuses bad partitioning and retention options, naming the field', async () => {
  const bad = [
    [{ partitioning: { monthsAhead: -1 } }, 'database.partitioning.monthsAhead'],
    [{ partitioning: { enabled: 'yes' } }, 'database.partitioning.enabled'],
    [{ retentionMonths: 0 }, 'database.retentionMonths'],
    [{ retentionMonths: 1.5 }, 'database.retentionMonths'],
    [{ retentionMonths: 6, rollupRetentionMonths: 3 }, 'database.rollupRetentionMonths'],
    [{ retentionMonths: 6, partitioning: { enabled: false } }, 'database.retentionMonths'],
    [{ tableName: 'x'.repeat(60) }, 'database.tableName'],
  ] as const;
  for (const [options, field] of bad) {
    const d = new DatabaseUsageStorage({ dataSource: ds, ...(options as object) });
    await expect(d.init(storageContext('UTC'))).rejects.toThrow(field);
  }
});
