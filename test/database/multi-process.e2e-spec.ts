/**
 * Four processes write 5,000 records each (plus 1,000 shared ids) at the same time into the same tables,
 * creating them concurrently too. Afterwards the ledger holds each id once and the rollup equals the ledger.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { Pool } from 'pg';
import { MemoryUsageStorage } from '../../libs/agent-usage/src/storage/memory/memory.storage';
import { DatabaseUsageStorage } from '../../libs/agent-usage/src/storage/database/database.storage';
import { PG_URL, normGroups, normTotals, storageContext, uniqueName } from './fixtures/database-test.fixture';
import { ConcurrentWriterArgs, ownRecords, sharedRecords } from './fixtures/concurrent-writer.fixture';

jest.setTimeout(60_000);

const ROOT = join(__dirname, '..', '..');
const PROCESSES = 4;
const PER_PROCESS = 5_000;
const SHARED = 1_000;

function runChild(args: ConcurrentWriterArgs): Promise<{ written: number; ms: number; conflictRetries: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['-r', 'ts-node/register/transpile-only', join(__dirname, 'fixtures', 'concurrent-writer.fixture.ts'), JSON.stringify(args)],
      { cwd: ROOT, env: { ...process.env, TS_NODE_PROJECT: 'tsconfig.json' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (b) => (out += b));
    child.stderr.on('data', (b) => (err += b));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`writer ${args.seed} exited ${code}: ${err}`))));
  });
}

const admin = new Pool({ connectionString: PG_URL, max: 2 });
const tableName = uniqueName('mp_l');
const rollupTableName = uniqueName('mp_r');

afterAll(async () => {
  await admin.query(`DROP TABLE IF EXISTS "${tableName}", "${rollupTableName}"`);
  await admin.end();
});

it(`${PROCESSES} processes x ${PER_PROCESS} records with overlapping rollup keys and shared ids: nothing lost, nothing counted twice`, async () => {
  const args = Array.from({ length: PROCESSES }, (_, i) => ({
    tableName,
    rollupTableName,
    seed: 100 + i,
    count: PER_PROCESS,
    sharedCount: SHARED,
    batchSize: 250,
  }));
  const results = await Promise.all(args.map(runChild));
  expect(results.map((r) => r.written)).toEqual(args.map(() => PER_PROCESS + SHARED));

  const expected = new MemoryUsageStorage({ maxRecords: 1_000_000 });
  expected.init(storageContext());
  for (const a of args) await expected.write(ownRecords(a));
  await expected.write(sharedRecords({ sharedCount: SHARED }));
  const total = PROCESSES * PER_PROCESS + SHARED;

  const [ledger] = (await admin.query(`SELECT count(*)::int AS n, count(DISTINCT record_id)::int AS ids FROM "${tableName}"`)).rows;
  expect(ledger).toEqual({ n: total, ids: total });
  const [rollup] = (await admin.query(`SELECT sum(record_count)::int AS n FROM "${rollupTableName}"`)).rows;
  expect(rollup.n).toBe(total);

  for (const useRollups of [true, false]) {
    const d = new DatabaseUsageStorage({ url: PG_URL, tableName, rollupTableName, useRollups });
    await d.init(storageContext());
    try {
      expect(normTotals(await d.aggregate({}))).toEqual(normTotals(await expected.aggregate({})));
      for (const dim of ['day', 'agentName', 'userId', 'modelName', 'providerName', 'group'] as const) {
        expect(normGroups(await d.groupBy(dim, {}))).toEqual(normGroups(await expected.groupBy(dim, {})));
      }
    } finally {
      await d.close();
    }
  }
  // Batches lock ids and rollup keys in one global order, so PostgreSQL never has to break a deadlock
  // (with unordered upserts this same run hits dozens, each costing deadlock_timeout).
  expect(results.map((r) => r.conflictRetries)).toEqual(args.map(() => 0));
});
