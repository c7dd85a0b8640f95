/**
 * The database driver and runs, on the real PostgreSQL: tables of the previous version (no run or error
 * columns) are refused with the upgrade to apply, the shipped upgrade migration adds them in place
 * (idempotently, rows kept), and runCount comes out the same from the rollups and from the ledger.
 */
import { Pool } from 'pg';
import { DataSource } from 'typeorm';
import type { UsageRecord } from '../../libs/agent-usage/src/interfaces/usage-record.interface';
import {
  DatabaseUsageStorage,
  UpgradeAgentUsageRuns1796400000000,
  UsageQuery,
  createAgentUsageMigration,
} from '../../libs/agent-usage/src/storage/database';
import { PG_URL, allTables, normTotals, randomRecords, storageContext, uniqueName } from '../database/fixtures/database-test.fixture';

jest.setTimeout(60_000);

const admin = new Pool({ connectionString: PG_URL, max: 2 });
const names = { tableName: uniqueName('runs_l'), rollupTableName: uniqueName('runs_r') };
const drivers: DatabaseUsageStorage[] = [];
let ds: DataSource;

async function open(options: ConstructorParameters<typeof DatabaseUsageStorage>[0]): Promise<DatabaseUsageStorage> {
  const d = new DatabaseUsageStorage(options);
  drivers.push(d);
  await d.init(storageContext('UTC'));
  return d;
}
const columns = async (table: string) =>
  (await admin.query(`SELECT column_name FROM information_schema.columns WHERE table_name = $1 ORDER BY 1`, [table])).rows.map((r) => r.column_name);

beforeAll(async () => {
  ds = new DataSource({ type: 'postgres', url: PG_URL, poolSize: 2 });
  await ds.initialize();
});
afterAll(async () => {
  for (const d of drivers) await d.close().catch(() => undefined);
  await ds.destroy();
  for (const t of allTables(names)) await admin.query(`DROP TABLE IF EXISTS "${t}"`);
  await admin.end();
});

it('upgrades tables of the previous version in place: refused until migrated, rows kept, idempotent', async () => {
  // The previous version's tables with rows in them: today's DDL minus the run and error columns.
  const old = randomRecords(400, 91).map((r) => ({ ...r, runId: null, runStart: false, agentRunStart: false, errorType: null }));
  const first = await open({ dataSource: ds, autoMigrate: true, ...names });
  await first.write(old);
  const before = normTotals(await first.aggregate({}));
  const rollup = names.rollupTableName;
  const users = `${rollup}_users`;
  await admin.query(`ALTER TABLE "${names.tableName}" DROP COLUMN run_id, DROP COLUMN run_start, DROP COLUMN agent_run_start, DROP COLUMN error_type`);
  for (const t of [rollup, users]) await admin.query(`ALTER TABLE "${t}" DROP COLUMN run_count, DROP COLUMN agent_run_count`);

  // Without autoMigrate the driver refuses them and names the upgrade (every write would fail otherwise).
  await expect(open({ dataSource: ds, ...names })).rejects.toThrow(/predate runs and error types.*UpgradeAgentUsageRuns1796400000000.*autoMigrate: true/s);

  // The upgrade migration for these names, run twice (TypeORM would run it once; the DDL does not care).
  const Upgrade = createAgentUsageMigration({ ...names, name: 'UpgradeAgentUsageRuns1796400000000' });
  expect(new UpgradeAgentUsageRuns1796400000000().name).toBe('UpgradeAgentUsageRuns1796400000000');
  for (let i = 0; i < 2; i++) {
    const qr = ds.createQueryRunner();
    await new Upgrade().up(qr);
    await qr.release();
  }
  expect(await columns(names.tableName)).toEqual(expect.arrayContaining(['run_id', 'run_start', 'agent_run_start', 'error_type']));
  for (const t of [rollup, users]) expect(await columns(t)).toEqual(expect.arrayContaining(['run_count', 'agent_run_count']));
  const idx = await admin.query(`SELECT indexdef FROM pg_indexes WHERE tablename = $1 AND indexname = $2`, [names.tableName, `${names.tableName}_run_idx`]);
  expect(idx.rows[0].indexdef).toMatch(/\(run_id\) WHERE \(run_id IS NOT NULL\)/);

  // The old rows are all there, in no run; new records with runs and errors add up on both read paths.
  const d = await open({ dataSource: ds, ...names });
  expect(normTotals(await d.aggregate({}))).toEqual(before);
  expect(before.runCount).toBe('0');
  const fresh: UsageRecord[] = randomRecords(300, 92).map((r, i) => ({
    ...r,
    id: `new-${r.id}`,
    runId: `run-${i % 40}`,
    runStart: i < 40,
    agentRunStart: i < 80,
    errorType: r.success ? null : 'RateLimitError',
  }));
  await d.write(fresh);
  await d.write(fresh.slice(0, 50)); // a retried batch counts nothing twice
  const agg = await d.aggregate({});
  expect(String(agg.runCount)).toBe('40');
  expect(String(agg.agentRunCount)).toBe('80');
  expect(String(agg.recordCount)).toBe('700');
  // Whole days read the rollups, a mid-day bound reads the ledger: the run counters agree.
  const day = (iso: string) => new Date(`${iso}T00:00:00Z`);
  const viaRollup = await d.aggregate({ from: day('2026-01-01'), to: day('2027-01-01') });
  const viaLedger = await d.aggregate({ from: new Date(day('2026-01-01').getTime() + 1), to: day('2027-01-01') });
  expect(normTotals(viaRollup)).toEqual(normTotals(agg));
  expect(normTotals(viaLedger)).toEqual(normTotals(agg));
  // runId and errorType filter and group in SQL
  const one = fresh.filter((r) => r.runId === 'run-3');
  expect(String((await d.aggregate({ runId: ['run-3'] })).recordCount)).toBe(String(one.length));
  const byRun = await d.groupBy('runId', {});
  expect(byRun.find((g) => g.key === null)!.recordCount).toBe('400');
  expect(byRun.filter((g) => g.key !== null).map((g) => String(g.runCount))).toEqual(Array(40).fill('1'));
  const failed = fresh.filter((r) => !r.success).length;
  expect(String((await d.aggregate({ errorType: ['RateLimitError'] })).recordCount)).toBe(String(failed));
  const listed = await d.list({ runId: ['run-3'] }, 100, 0);
  expect(listed.map((r) => r.id).sort()).toEqual(one.map((r) => r.id).sort());
  expect(listed.find((r) => r.runStart)).toMatchObject({ runId: 'run-3', agentRunStart: true });
  // The host-side query helper: forRun / forErrorType and the run_id column as a group key
  const q = UsageQuery.on(ds, { tableName: names.tableName });
  expect(await q.forRun('run-3').aggregate()).toMatchObject({ recordCount: one.length, runCount: 1 });
  expect((await q.forErrorType('RateLimitError').aggregate()).recordCount).toBe(failed);
  expect((await q.forRun('run-1', 'run-2').groupByColumn('run_id')).map((g) => [g.key, g.runCount])).toEqual([['run-1', 1], ['run-2', 1]]);
});
