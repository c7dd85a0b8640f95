/**
 * The spool on a real file system: ownership (per app, per store), what is really left after another
 * process replayed, disk failures counted as lost, torn lines skipped and reported, and a writer closed
 * before its driver ever started.
 */
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Logger } from '@nestjs/common';
import { MemoryUsageStorage, UsageRecord, UsageService, UsageTrackingModuleOptions } from 'nestjs-agent-usage';
import { conformanceRecords } from 'nestjs-agent-usage/testing';
import { recordToJson } from '../../libs/agent-usage/src/storage/usage-record.json';
import { defaultSpoolRoot } from '../../libs/agent-usage/src/storage/usage-spool.location';
import { UsageStorageRegistry } from '../../libs/agent-usage/src/storage/usage-storage.registry';
import { UsageStorageWriter } from '../../libs/agent-usage/src/storage/usage-storage.writer';
import { TcpProxy } from './tcp-proxy';
import { LinesLogger, PG_URL, bootUsageApp, dropTables, tempDir, unique, waitFor } from './reliability.helpers';

jest.setTimeout(120_000);

/** A real memory store behind a switch, with a target (as the built-in drivers have). */
class SwitchStorage extends MemoryUsageStorage {
  down = false;
  override async write(records: readonly UsageRecord[]): Promise<void> {
    if (this.down) throw new Error('connection refused');
    return super.write(records);
  }
  target(): string {
    return 'memory://switch';
  }
}

const writerOptions = (spoolDirectory: string, over = {}) => ({
  batchSize: 100,
  flushIntervalMs: 10,
  maxBufferedRecords: 1000,
  spoolDirectory,
  retryDelayMs: 10,
  maxRetryDelayMs: 50,
  shutdownTimeoutMs: 100,
  ...over,
});

const dir = tempDir('usage-spool');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('spool ownership', () => {
  const tables: string[] = [];
  const cwd = process.cwd();
  afterAll(async () => {
    process.chdir(cwd);
    await dropTables(tables.flatMap((t) => [t, `${t}_daily`, `${t}_daily_users`]));
  });

  it('two apps on one machine with default settings never see each other\'s spool', async () => {
    const target = new URL(PG_URL);
    const proxy = new TcpProxy({ host: target.hostname, port: Number(target.port) });
    await proxy.up();
    const apps = ['a', 'b'].map((n) => {
      const home = join(dir, `app-${n}`);
      mkdirSync(home);
      writeFileSync(join(home, 'package.json'), JSON.stringify({ name: `spool-test-app-${n}` }));
      const table = unique(`rel_own_${n}`);
      tables.push(table);
      const options: UsageTrackingModuleOptions = {
        storage: 'database',
        database: { url: proxy.url(PG_URL), tableName: table, rollupTableName: `${table}_daily` },
        writer: { shutdownTimeoutMs: 200, retryDelayMs: 20 },
      };
      return { home, table, options, root: defaultSpoolRoot(home) };
    });
    try {
      expect(apps[0].root).not.toBe(apps[1].root);
      // App A records while its database is unreachable and shuts down: its records are spooled.
      process.chdir(apps[0].home);
      const a = await bootUsageApp(apps[0].options);
      const folderA = a.get(UsageStorageRegistry).writer('database').folder;
      expect(folderA.startsWith(apps[0].root)).toBe(true);
      await proxy.down();
      for (let i = 0; i < 10; i++) a.get(UsageService).record({ id: `own-a-${i}`, inputTokens: 1 });
      await a.close();
      expect(readdirSync(folderA).filter((f) => f.startsWith('spool-'))).toHaveLength(1);
      // App B starts with its store up: it replays nothing of A's.
      await proxy.up();
      process.chdir(apps[1].home);
      const b = await bootUsageApp(apps[1].options);
      expect(b.get(UsageStorageRegistry).writer('database').folder.startsWith(apps[1].root)).toBe(true);
      await b.get(UsageService).flush();
      expect((await b.get(UsageService).getUsageAggregate()).recordCount).toBe(0);
      expect(b.get(UsageService).getStorageStats()[0].pending).toBe(0);
      await b.close();
      // A's next start replays its own records into its own table.
      process.chdir(apps[0].home);
      const a2 = await bootUsageApp(apps[0].options);
      await waitFor('A to replay', () => a2.get(UsageService).getStorageStats()[0].pending === 0);
      expect((await a2.get(UsageService).getUsageAggregate()).recordCount).toBe(10);
      await a2.close();
    } finally {
      process.chdir(cwd);
      await proxy.down();
      for (const app of apps) rmSync(app.root, { recursive: true, force: true });
    }
  });

  it('two stores of one app get two folders; a writer whose files another process replayed reports nothing pending', async () => {
    const root = join(dir, 'shared');
    const quiet = new LinesLogger();
    // Two instances of the same store (one folder), e.g. two replicas of one app.
    const s1 = new SwitchStorage();
    const s2 = new SwitchStorage();
    // w1 retries only when told (flush): in this one test process its replays would race w3's.
    const w1 = new UsageStorageWriter('switch', s1, writerOptions(root, { retryDelayMs: 600_000, maxRetryDelayMs: 600_000 }), quiet as unknown as Logger);
    const w2 = new UsageStorageWriter('switch', s2, writerOptions(root), quiet as unknown as Logger);
    const other = new UsageStorageWriter('other', new SwitchStorage(), writerOptions(root), quiet as unknown as Logger);
    await Promise.all([w1.open(), w2.open(), other.open()]);
    expect(w1.folder).toBe(w2.folder);
    expect(other.folder).not.toBe(w1.folder);
    s1.down = true;
    for (const r of conformanceRecords(300, 21)) w1.enqueue(r);
    await waitFor('w1 to spool everything', () => w1.getStats().spooled === 300);
    // Another process of the same store starts and replays the shared folder.
    const s3 = new SwitchStorage();
    const w3 = new UsageStorageWriter('switch', s3, writerOptions(root), quiet as unknown as Logger);
    await w3.open();
    expect(w3.getStats().pending).toBe(300);
    await w3.flush();
    expect(Number((await s3.aggregate({})).recordCount)).toBe(300);
    await w3.close();
    s1.down = false;
    await w1.flush();
    expect(w1.getStats()).toMatchObject({ pending: 0, spooled: 0, lost: 0 });
    await Promise.all([w1.close(), w2.close(), other.close()]);
  });
});

describe('spool failures', () => {
  it('a spool folder that became a file: records are counted as lost and logged, not silently dropped', async () => {
    const root = join(dir, 'broken');
    const logger = new LinesLogger();
    const store = new SwitchStorage();
    const w = new UsageStorageWriter('switch', store, writerOptions(root, { maxBufferedRecords: 50 }), logger as unknown as Logger);
    await w.open();
    rmSync(w.folder, { recursive: true, force: true });
    writeFileSync(w.folder, 'not a folder');
    store.down = true;
    for (const r of conformanceRecords(120, 22)) w.enqueue(r);
    await w.close();
    const stats = w.getStats();
    expect(stats.lost).toBe(120);
    expect(stats.pending).toBe(0);
    expect(logger.count(/usage records LOST/)).toBeGreaterThan(0);
    rmSync(w.folder, { force: true });
  });

  it('torn spool lines (a crash mid-append) are skipped and reported; every whole line is replayed', async () => {
    const root = join(dir, 'torn');
    const logger = new LinesLogger();
    const first = new UsageStorageWriter('switch', new SwitchStorage(), writerOptions(root), logger as unknown as Logger);
    await first.open();
    const folder = first.folder;
    await first.close();
    const records = conformanceRecords(200, 23);
    const lines = records.map(recordToJson);
    const torn = lines[100].slice(0, 40);
    writeFileSync(join(folder, 'spool-1-1-0.jsonl'), [...lines.slice(0, 100), torn, ...lines.slice(100, 199)].join('\n') + '\n' + lines[199].slice(0, 30));
    const store = new SwitchStorage();
    const w = new UsageStorageWriter('switch', store, writerOptions(root), logger as unknown as Logger);
    await w.open();
    expect(w.getStats().pending).toBe(201); // every line counts until it is read
    await w.flush();
    expect(Number((await store.aggregate({})).recordCount)).toBe(199);
    expect((await store.list({}, 1000, 0)).map((r) => r.id).sort()).toEqual(records.slice(0, 199).map((r) => r.id).sort());
    expect(w.getStats()).toMatchObject({ pending: 0, spooled: 0 });
    expect(logger.count(/skipped 2 unreadable line/)).toBe(1);
    expect(readdirSync(folder).filter((f) => f.startsWith('spool-'))).toEqual([]);
    await w.close();
  });

  it('a writer closed before its driver ever started spools what it holds; the store\'s next start adopts and replays it', async () => {
    const root = join(dir, 'unstarted');
    const logger = new LinesLogger();
    const never = new UsageStorageWriter('switch', new SwitchStorage(), writerOptions(root), logger as unknown as Logger);
    const records = conformanceRecords(40, 24);
    for (const r of records) never.enqueue(r);
    await never.close(); // open() never ran: the app failed to boot
    expect(never.getStats()).toMatchObject({ spooled: 40, lost: 0 });
    expect(existsSync(never.folder)).toBe(true);
    const store = new SwitchStorage();
    const w = new UsageStorageWriter('switch', store, writerOptions(root), logger as unknown as Logger);
    await w.open();
    expect(w.folder).not.toBe(never.folder); // bound to its target now
    await w.flush();
    expect(Number((await store.aggregate({})).recordCount)).toBe(40);
    expect(w.getStats()).toMatchObject({ pending: 0, spooled: 0 });
    await w.close();
  });
});
