/**
 * Four processes write 5,000 records each (plus 1,000 shared ids) at the same time into the same tables,
 * creating them concurrently too. Afterwards the ledger holds each id once and both rollups equal the ledger.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { Pool } from 'pg';
import { USAGE_DIMENSIONS, type NormalizedUsageFilters } from '../../libs/agent-usage/src/interfaces/usage-query.interface';
import { MemoryUsageStorage } from '../../libs/agent-usage/src/storage/memory/memory.storage';
import { DatabaseUsageStorage } from '../../libs/agent-usage/src/storage/database/database.storage';
import { PG_URL, allTables, normGroups, normTotals, storageContext, uniqueName, userRollupOf } from './fixtures/database-test.fixture';
import { CONTENDED, ConcurrentWriterArgs, ownRecords, sharedRecords } from './fixtures/concurrent-writer.fixture';

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
  await admin.query(`DROP TABLE IF EXISTS ${allTables({ tableName, rollupTableName }).map((t) => `"${t}"`).join(', ')}`);
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
  for (const table of [rollupTableName, userRollupOf(rollupTableName)]) {
    const [rollup] = (await admin.query(`SELECT sum(record_count)::int AS n, count(*) FILTER (WHERE record_count <= 0)::int AS empty FROM "${table}"`)).rows;
    expect({ table, ...rollup }).toEqual({ table, n: total, empty: 0 });
  }

  // Unfiltered (agent rollup), by user (user rollup), by user and group (ledger only): all exact.
  const filterSets: NormalizedUsageFilters[] = [{}, { userId: [CONTENDED.users[0]] }, { userId: [CONTENDED.users[1]], agentName: [CONTENDED.agents[0]] }];
  for (const useRollups of [true, false]) {
    const d = new DatabaseUsageStorage({ url: PG_URL, tableName, rollupTableName, useRollups });
    await d.init(storageContext());
    try {
      for (const f of filterSets) {
        expect(normTotals(await d.aggregate(f))).toEqual(normTotals(await expected.aggregate(f)));
        for (const dim of USAGE_DIMENSIONS) {
          expect({ dim, f, groups: normGroups(await d.groupBy(dim, f)) }).toEqual({ dim, f, groups: normGroups(await expected.groupBy(dim, f)) });
        }
      }
    } finally {
      await d.close();
    }
  }
  // Batches lock ids, then the agent rollup's keys, then the user rollup's, each in one global order, so
  // PostgreSQL never has to break a deadlock (with unordered upserts this same run hits dozens, each
  // costing deadlock_timeout).
  expect(results.map((r) => r.conflictRetries)).toEqual(args.map(() => 0));
});
