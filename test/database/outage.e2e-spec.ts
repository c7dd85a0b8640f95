/**
 * The connection to PostgreSQL breaks while records flow; the library's buffered writer keeps them (in
 * memory, then in its spool file) and the driver stores each exactly once after the server is back.
 * The shared server is never stopped: the driver goes through a TCP proxy this test opens and closes,
 * or its own backends are terminated by application_name.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'pg';
import type { UsageRecord } from '../../libs/agent-usage/src/interfaces/usage-record.interface';
import { DatabaseUsageStorage } from '../../libs/agent-usage/src/storage/database/database.storage';
import { MemoryUsageStorage } from '../../libs/agent-usage/src/storage/memory/memory.storage';
import { DEFAULT_WRITER_OPTIONS, UsageStorageWriter } from '../../libs/agent-usage/src/storage/usage-storage.writer';
import { TcpProxy } from '../reliability/tcp-proxy';
import { PG_URL, TestLogger, allTables, normTotals, randomRecords, storageContext, uniqueName, userRollupOf } from './fixtures/database-test.fixture';

jest.setTimeout(60_000);


const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function waitFor(what: string, cond: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

const admin = new Pool({ connectionString: PG_URL, max: 2 });
const target = new URL(PG_URL);
const created: string[] = [];
const spoolDirs: string[] = [];
const cleanups: (() => Promise<void>)[] = [];

afterAll(async () => {
  for (const c of cleanups) await c().catch(() => undefined);
  for (const t of created) await admin.query(`DROP TABLE IF EXISTS "${t}"`);
  for (const d of spoolDirs) rmSync(d, { recursive: true, force: true });
  await admin.end();
});

function setup(url: string, extra: Record<string, unknown> = {}) {
  const names = { tableName: uniqueName('out_l'), rollupTableName: uniqueName('out_r') };
  created.push(...allTables(names));
  const spoolDirectory = mkdtempSync(join(tmpdir(), 'usage-outage-'));
  spoolDirs.push(spoolDirectory);
  const driver = new DatabaseUsageStorage({ url, ...names, ...extra });
  const logger = new TestLogger();
  const writer = new UsageStorageWriter(
    'database',
    driver,
    // A small memory bound, so part of the backlog has to go through the spool file.
    { ...DEFAULT_WRITER_OPTIONS, batchSize: 200, flushIntervalMs: 10, maxBufferedRecords: 1_000, spoolDirectory, retryDelayMs: 50, maxRetryDelayMs: 250, shutdownTimeoutMs: 5_000 },
    logger,
  );
  cleanups.push(() => writer.close());
  return { names, driver, writer, logger };
}

/** Every record is in the ledger exactly once, both rollups agree, and the sums are those of the input. */
async function expectStoredOnce(names: { tableName: string; rollupTableName: string }, records: UsageRecord[]) {
  const [ledger] = (await admin.query(`SELECT count(*)::int AS n, count(DISTINCT record_id)::int AS ids FROM "${names.tableName}"`)).rows;
  expect(ledger).toEqual({ n: records.length, ids: records.length });
  const [rollup] = (await admin.query(`SELECT sum(record_count)::int AS n FROM "${names.rollupTableName}"`)).rows;
  expect(rollup.n).toBe(records.length);
  const [users] = (await admin.query(`SELECT sum(record_count)::int AS n FROM "${userRollupOf(names.rollupTableName)}"`)).rows;
  expect(users.n).toBe(records.length);
  const memory = new MemoryUsageStorage();
  memory.init(storageContext());
  await memory.write(records);
  const check = new DatabaseUsageStorage({ url: PG_URL, ...names });
  await check.init(storageContext());
  expect(normTotals(await check.aggregate({}))).toEqual(normTotals(await memory.aggregate({})));
  expect(normTotals(await check.aggregate({ chatName: ['c1', 'c2', 'c3'] }))).toEqual(normTotals(await memory.aggregate({ chatName: ['c1', 'c2', 'c3'] })));
  await check.close();
}

it('connection cut mid-stream: records wait in memory and in the spool, then arrive exactly once', async () => {
  const proxy = new TcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
  await proxy.up();
  cleanups.push(() => proxy.down());
  const { names, driver, writer, logger } = setup(proxy.url(PG_URL));
  await driver.init(storageContext('UTC', {}, undefined, logger));
  await writer.open();

  const records = randomRecords(5_000, 77, { idPrefix: 'cut-' });
  let sent = 0;
  const send = async (chunks: number) => {
    for (let i = 0; i < chunks; i++) {
      for (let k = 0; k < 100; k++) writer.enqueue(records[sent++]);
      await sleep(10);
    }
  };

  await send(15);
  await proxy.down(); // in-flight writes break, new connections are refused
  await send(25);
  await waitFor('a failed write', () => writer.getStats().failedWrites > 0);
  const during = writer.getStats();
  expect(during.failedWrites).toBeGreaterThan(0);
  expect(during.pending).toBeGreaterThan(1_000);
  expect(during.spooled).toBeGreaterThan(0);
  expect(during.lastError).toBeTruthy();

  await proxy.up();
  await send(10);
  expect(sent).toBe(records.length);
  await waitFor('the backlog to drain', () => writer.getStats().pending === 0);
  await writer.flush();
  const after = writer.getStats();
  expect(after).toMatchObject({ pending: 0, spooled: 0, lost: 0 });
  expect(after.written).toBeGreaterThanOrEqual(records.length);
  await expectStoredOnce(names, records);
});

it('backends terminated repeatedly while writing (pg_terminate_backend): every record stored once', async () => {
  const applicationName = uniqueName('usage_outage');
  const { names, driver, writer, logger } = setup(PG_URL, { applicationName });
  await driver.init(storageContext('UTC', {}, undefined, logger));
  await writer.open();
  const records = randomRecords(4_000, 78, { idPrefix: 'kill-' });

  let terminated = 0;
  let killing = true;
  const killer = (async () => {
    while (killing) {
      const { rows } = await admin.query(`SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE application_name = $1`, [
        applicationName,
      ]);
      terminated += rows[0].n;
      await sleep(5);
    }
  })();
  for (let i = 0; i < records.length; i += 100) {
    for (const r of records.slice(i, i + 100)) writer.enqueue(r);
    await sleep(15);
  }
  await waitFor('a failed write', () => writer.getStats().failedWrites > 0, 10_000).catch(() => undefined);
  killing = false;
  await killer;
  expect(terminated).toBeGreaterThan(0);
  expect(writer.getStats().failedWrites).toBeGreaterThan(0);

  await waitFor('the backlog to drain', () => writer.getStats().pending === 0);
  await writer.flush();
  expect(writer.getStats()).toMatchObject({ pending: 0, lost: 0 });
  await expectStoredOnce(names, records);
});

it('server unreachable at startup: init does not fail the app, tables are created and records stored once it is up', async () => {
  const proxy = new TcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
  await proxy.up();
  await proxy.down(); // keep its port, refuse connections
  cleanups.push(() => proxy.down());
  const { names, driver, writer, logger } = setup(proxy.url(PG_URL));
  await driver.init(storageContext('UTC', {}, undefined, logger));
  expect(logger.lines.join('\n')).toMatch(/unreachable at startup/);
  await writer.open();
  const records = randomRecords(1_500, 79, { idPrefix: 'boot-' });
  for (const r of records) writer.enqueue(r);
  await waitFor('a failed write', () => writer.getStats().failedWrites > 0);
  await expect(writer.flush()).rejects.toThrow(/is failing/);

  await proxy.up();
  await waitFor('the backlog to drain', () => writer.getStats().pending === 0);
  await writer.flush();
  await expectStoredOnce(names, records);
});
