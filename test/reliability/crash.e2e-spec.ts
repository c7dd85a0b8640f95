/**
 * Real SIGKILLs of child processes running a real Nest app against the real PostgreSQL:
 * - killed while replaying a 50,000-record spool: the next start takes the claimed file back and
 *   every record is stored exactly once;
 * - killed 1.5 s after a 50,000-record burst (store slower than the input): what waited longer than
 *   flushIntervalMs was in the store or on disk, so the next start has all 50,000, none twice.
 */
import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { UsageService, UsageTrackingModuleOptions } from 'nestjs-agent-usage';
import { createUsageRecord } from '../../libs/agent-usage/src/record/usage-record.factory';
import { recordToJson } from '../../libs/agent-usage/src/storage/usage-record.json';
import { UsageStorageRegistry } from '../../libs/agent-usage/src/storage/usage-storage.registry';
import { PG_URL, bootUsageApp, dropTables, spawnFixture, tempDir, unique, waitFor } from './reliability.helpers';

jest.setTimeout(300_000);

const FIXTURE = join(__dirname, 'fixtures', 'usage-app.fixture.ts');
const dir = tempDir('usage-crash');
const tables: string[] = [];
let pg: Client;
beforeAll(async () => {
  pg = new Client({ connectionString: PG_URL });
  await pg.connect();
});
afterAll(async () => {
  await pg.end();
  await dropTables(tables.flatMap((t) => [t, `${t}_daily`, `${t}_daily_users`]));
  rmSync(dir, { recursive: true, force: true });
});

function optionsFor(table: string, spool: string, writer: UsageTrackingModuleOptions['writer'] = {}): UsageTrackingModuleOptions {
  return { storage: 'database', database: { url: PG_URL, tableName: table, rollupTableName: `${table}_daily` }, writer: { spoolDirectory: spool, ...writer } };
}

function start(options: UsageTrackingModuleOptions, env: Record<string, string> = {}) {
  return spawnFixture(FIXTURE, { OPTIONS: JSON.stringify(options), ...env });
}

async function stored(table: string): Promise<{ rows: number; ids: number }> {
  const { rows } = await pg.query(`SELECT count(*)::int AS rows, count(DISTINCT record_id)::int AS ids FROM "${table}"`);
  return rows[0];
}

it('SIGKILL while replaying a 50,000-record spool: the claimed file is taken back, every record stored exactly once', async () => {
  const table = unique('rel_crash_replay');
  tables.push(table);
  const spool = join(dir, 'replay');
  const options = optionsFor(table, spool, { batchSize: 250 });
  // The store's spool folder, as the writer names it.
  const first = await bootUsageApp(options);
  const folder = first.get(UsageStorageRegistry).writer('database').folder;
  await first.close();
  const run = unique('r');
  for (let f = 0; f < 5; f++) {
    const lines: string[] = [];
    for (let i = f * 10_000; i < (f + 1) * 10_000; i++) {
      lines.push(recordToJson(createUsageRecord({ id: `${run}-${i}`, agentName: run, inputTokens: 1, outputTokens: 1, recordedAt: new Date(Date.UTC(2026, 5, 1)) })));
    }
    writeFileSync(join(folder, `spool-1-1-${f}.jsonl`), lines.join('\n') + '\n');
  }
  const child = start(options);
  expect(await child.next()).toBe('ready');
  await waitFor('the replay to be under way', async () => (await stored(table)).rows >= 2_000, 120_000);
  await child.kill();
  const atKill = await stored(table);
  const claimed = readdirSync(folder).filter((f) => /\.replaying-\d+$/.test(f));
  process.stdout.write(`killed mid-replay: ${atKill.rows} of 50000 stored, claimed files left: ${claimed.join(', ')}\n`);
  expect(atKill.rows).toBeLessThan(50_000);
  expect(claimed).toHaveLength(1);

  const next = await bootUsageApp(options);
  const usage = next.get(UsageService);
  expect(usage.getStorageStats()[0].pending).toBeGreaterThan(0); // the claimed file counts again
  await waitFor('the spool to drain', () => usage.getStorageStats()[0].pending === 0, 120_000);
  await usage.flush();
  expect(await stored(table)).toEqual({ rows: 50_000, ids: 50_000 });
  expect((await usage.getUsageAggregate({ agentName: run })).recordCount).toBe(50_000);
  expect(readdirSync(folder).filter((f) => f.startsWith('spool-'))).toEqual([]);
  await next.close();
});

it('SIGKILL 1.5 s (and three of its own flush intervals) after a 50,000-record burst: nothing older than flushIntervalMs is lost, nothing counted twice', async () => {
  const table = unique('rel_crash_burst');
  tables.push(table);
  const spool = join(dir, 'burst');
  // A small batch makes the store slower than the burst: the backlog must go to disk.
  const options = optionsFor(table, spool, { batchSize: 100, flushIntervalMs: 200 });
  const run = unique('b');
  const child = start(options, { BURST: '50000', RUN: run, TICK_MS: '200' });
  expect(await child.next()).toBe('ready');
  const [, n, at] = (await child.next()).split(' ');
  expect(Number(n)).toBe(50_000);
  // 1.5 s of wall time, and three flush intervals the child's own event loop really ran after them (on
  // a starved machine a process that got no CPU could not have written anything: that is no loss).
  const killAfter = Number(at) + 1_500;
  for (let ticks = 0; ticks < 3; ) {
    const [word, t] = (await child.next()).split(' ');
    if (word === 'tick' && Number(t) >= killAfter) ticks++;
  }
  await child.kill();
  const atKill = await stored(table);
  process.stdout.write(`burst: ${atKill.rows} of 50000 in the store at SIGKILL, the rest must be on disk\n`);
  expect(atKill.rows).toBeLessThan(50_000); // the store really was slower than the input

  const next = await bootUsageApp(options);
  const usage = next.get(UsageService);
  await waitFor('the spool to drain', () => usage.getStorageStats()[0].pending === 0, 120_000);
  await usage.flush();
  expect(await stored(table)).toEqual({ rows: 50_000, ids: 50_000 });
  expect((await usage.getUsageAggregate({ agentName: run })).recordCount).toBe(50_000);
  await next.close();
});
