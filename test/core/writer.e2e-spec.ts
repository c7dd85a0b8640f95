import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '@nestjs/common';
import { FileUsageStorage, MemoryUsageStorage, UsageRecord } from 'nestjs-agent-usage';
import { conformanceRecords } from 'nestjs-agent-usage/testing';
import { UsageStorageWriter } from '../../libs/agent-usage/src/storage/usage-storage.writer';

/** A real memory store behind a switch that makes writes fail, as a store that went down. */
class FlakyStorage extends MemoryUsageStorage {
  down = false;
  writes = 0;
  override async write(records: readonly UsageRecord[]): Promise<void> {
    this.writes++;
    if (this.down) throw new Error('connection refused');
    return super.write(records);
  }
}

const waitFor = async (check: () => boolean, timeoutMs = 30_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
};

const quiet = new Logger('writer-test');
jest.spyOn(quiet, 'error').mockImplementation(() => undefined);
jest.spyOn(quiet, 'warn').mockImplementation(() => undefined);
jest.spyOn(quiet, 'log').mockImplementation(() => undefined);

const options = (spoolDirectory: string, over = {}) => ({
  batchSize: 100,
  flushIntervalMs: 5,
  maxBufferedRecords: 300,
  spoolDirectory,
  retryDelayMs: 5,
  maxRetryDelayMs: 20,
  shutdownTimeoutMs: 200,
  ...over,
});

describe('buffered writer', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'usage-writer-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('batches by size, keeps records while the store is down, spools beyond the bound, replays them all', async () => {
    const store = new FlakyStorage({ maxRecords: 10_000 });
    const w = new UsageStorageWriter('flaky', store, options(dir), quiet);
    await w.open();
    const records = conformanceRecords(1000, 3);
    store.down = true;
    for (const r of records) w.enqueue(r);
    // Memory stays bounded at 300 at once; what waited longer than flushIntervalMs goes to disk too.
    expect(w.getStats().spooled).toBeGreaterThanOrEqual(700);
    await waitFor(() => w.getStats().spooled === 1000);
    const during = w.getStats();
    expect(during.failedWrites).toBeGreaterThan(0);
    expect(during.pending).toBe(1000); // nothing dropped
    store.down = false;
    await w.flush();
    const after = w.getStats();
    expect(after).toMatchObject({ pending: 0, spooled: 0, written: 1000, lost: 0 });
    expect(Number((await store.aggregate({})).recordCount)).toBe(1000);
    expect(readdirSync(w.folder).filter((f) => f.endsWith('.jsonl'))).toEqual([]);
    await w.close();
  });

  it('at shutdown with the store down, spools what is left; the next start replays it', async () => {
    const store = new FlakyStorage();
    const w1 = new UsageStorageWriter('flaky', store, options(dir), quiet);
    await w1.open();
    store.down = true;
    const records = conformanceRecords(250, 4);
    for (const r of records) w1.enqueue(r);
    await w1.close();
    expect(w1.getStats().spooled).toBe(250);

    const store2 = new FlakyStorage();
    const w2 = new UsageStorageWriter('flaky', store2, options(dir), quiet);
    await w2.open();
    expect(w2.getStats().pending).toBe(250);
    await w2.flush();
    expect(Number((await store2.aggregate({})).recordCount)).toBe(250);
    expect(w2.getStats()).toMatchObject({ pending: 0, written: 250 });
    await w2.close();
  });

  it('flush() throws while the store refuses, naming the driver and the pending count', async () => {
    const store = new FlakyStorage();
    const w = new UsageStorageWriter('flaky', store, options(dir), quiet);
    await w.open();
    store.down = true;
    w.enqueue(conformanceRecords(1)[0]);
    await expect(w.flush()).rejects.toThrow(/usage storage "flaky" is failing \(connection refused\); 1 record\(s\) pending/);
    store.down = false;
    await w.flush();
    await w.close();
  });

  it('enqueue does no I/O: a write in flight does not block it', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const store = new MemoryUsageStorage();
    let entered = 0;
    let finished = 0;
    const slow = Object.assign(Object.create(store), {
      write: async (rs: readonly UsageRecord[]) => {
        entered++;
        await gate;
        await store.write(rs);
        finished++;
      },
    });
    // A long flush interval: nothing is spilled to the spool while the gate is closed.
    const w = new UsageStorageWriter('slow', slow, options(dir, { batchSize: 10, flushIntervalMs: 60_000 }), quiet);
    await w.open();
    const records = conformanceRecords(110, 5);
    for (const r of records.slice(0, 10)) w.enqueue(r); // a full batch starts a write
    await waitFor(() => entered === 1);
    // The write is in flight now (entered, not finished): enqueue must return at once and keep everything.
    const t0 = process.hrtime.bigint();
    for (const r of records.slice(10)) w.enqueue(r);
    const elapsedMs = Number(process.hrtime.bigint() - t0) / 1e6;
    expect([entered, finished]).toEqual([1, 0]);
    expect(w.getStats().pending).toBe(110); // 10 in flight + 100 queued behind it
    expect(elapsedMs).toBeLessThan(1000); // a sanity bound only; speed is measured by the benchmarks
    release();
    await w.flush();
    expect(Number((await store.aggregate({})).recordCount)).toBe(110);
    expect(finished).toBe(11);
    await w.close();
  });
});

describe('buffered writer against a slow store', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'usage-writer-slow-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** A real memory store whose every write takes `ms` (a store that is up, only slow). */
  const slowStore = (ms: number) => {
    const store = new MemoryUsageStorage({ maxRecords: 100_000 });
    let writes = 0;
    const slow = Object.assign(Object.create(store), {
      write: async (rs: readonly UsageRecord[]) => {
        writes++;
        await new Promise((r) => setTimeout(r, ms));
        await store.write(rs);
      },
    });
    return { store, slow, writes: () => writes };
  };

  it('a store that keeps up under steady traffic (queue never empty, no record waiting long) spills nothing', async () => {
    // Each round: one write of 20 (1 ms), then 20 new records; 30 to start with. The queue never empties
    // (10 left at every take), yet no record waits more than two rounds. The old "since the queue was last
    // empty" clock spilled the whole queue to the spool once the traffic had lasted one interval.
    const store = new MemoryUsageStorage({ maxRecords: 100_000 });
    let wrote!: () => void;
    const slow = Object.assign(Object.create(store), {
      write: async (rs: readonly UsageRecord[]) => {
        await new Promise((r) => setTimeout(r, 1));
        await store.write(rs);
        wrote();
      },
    });
    const w = new UsageStorageWriter('steady', slow, options(dir, { batchSize: 20, flushIntervalMs: 400, maxBufferedRecords: 100_000 }), quiet);
    await w.open();
    const spilled = jest.spyOn((w as any).spool, 'add');
    const records = conformanceRecords(30_000, 8);
    let next = 0;
    const t0 = Date.now();
    let queued = 10;
    // Three intervals of traffic; the interval is long enough that a stalled event loop on a busy CI machine
    // does not make two rounds 400 ms apart.
    while (Date.now() - t0 < 1300 && next + 20 <= records.length) {
      const write = new Promise<void>((r) => (wrote = r));
      for (const r of records.slice(next, next + (next === 0 ? 30 : 20))) w.enqueue(r);
      next += next === 0 ? 30 : 20;
      await write;
      queued = Math.min(queued, (w as any).queue.length);
    }
    await w.flush();
    expect(queued).toBeGreaterThan(0); // never empty after a take: the case the old clock got wrong
    expect(spilled).not.toHaveBeenCalled();
    expect(w.getStats()).toMatchObject({ pending: 0, spooled: 0, written: next, lost: 0 });
    expect(Number((await store.aggregate({})).recordCount)).toBe(next);
    await w.close();
  });

  it('a batch the watchdog copied to the spool and the store then took is counted once in `written`, and its copy is not replayed', async () => {
    // Every write (80 ms) outlasts the 10 ms interval: each in-flight batch is copied to the spool, then stored.
    const { store, slow, writes } = slowStore(80);
    const w = new UsageStorageWriter('slow', slow, options(dir, { batchSize: 50, flushIntervalMs: 10, maxBufferedRecords: 100_000 }), quiet);
    await w.open();
    const records = conformanceRecords(300, 9);
    for (const r of records) w.enqueue(r);
    await w.flush();
    await waitFor(() => w.getStats().pending === 0 && readdirSync(w.folder).filter((f) => f.startsWith('spool-')).length === 0);
    const stats = w.getStats();
    expect(stats.spooled).toBe(0);
    expect(stats.written).toBe(300); // was 300 + every copied batch again after its replay
    expect(Number((await store.aggregate({})).recordCount)).toBe(300);
    // Each record reached the store once: the copies of stored batches were skipped at replay.
    expect(writes()).toBeLessThanOrEqual(Math.ceil(300 / 50) + 2);
    await w.close();
  });
});

describe('buffered writer before a local-disk store', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'usage-writer-disk-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('the file driver, slower than the input but up, is not copied to the spool (the same disk twice); down, it is', async () => {
    class SlowFile extends FileUsageStorage {
      down = false;
      override async write(records: readonly UsageRecord[]): Promise<void> {
        await new Promise((r) => setTimeout(r, 40));
        if (this.down) throw new Error('EIO');
        return super.write(records);
      }
    }
    const store = new SlowFile({ directory: join(dir, 'files') });
    await store.init({ name: 'file', timeZone: 'UTC', logger: quiet, moduleRef: undefined as never, options: {} });
    const w = new UsageStorageWriter('file', store, options(dir, { batchSize: 50, flushIntervalMs: 10, maxBufferedRecords: 100_000 }), quiet);
    await w.open();
    const spilled = jest.spyOn((w as any).spool, 'add');
    const records = conformanceRecords(400, 10);
    for (let i = 0; i < 300; i += 30) {
      for (const r of records.slice(i, i + 30)) w.enqueue(r);
      await new Promise((r) => setTimeout(r, 15));
    }
    await w.flush();
    expect(spilled).not.toHaveBeenCalled(); // every write outlasted the 10 ms interval
    expect(w.getStats()).toMatchObject({ pending: 0, written: 300, lost: 0 });
    store.down = true;
    for (const r of records.slice(300)) w.enqueue(r);
    await waitFor(() => w.getStats().spooled === 100); // down: what waits goes to disk as for any store
    store.down = false;
    await w.flush();
    expect(w.getStats()).toMatchObject({ pending: 0, written: 400, lost: 0 });
    expect(Number((await store.aggregate({})).recordCount)).toBe(400);
    await w.close();
  });
});

describe('memory driver bound', () => {
  it('evicts the oldest beyond maxRecords, counts and logs it', async () => {
    const s = new MemoryUsageStorage({ maxRecords: 10 });
    const warn = jest.fn();
    s.init({ name: 'memory', timeZone: 'UTC', logger: { warn, log: jest.fn(), error: jest.fn() } as never, moduleRef: undefined as never, options: { memory: { maxRecords: 10 } } });
    const records = conformanceRecords(15, 9);
    await s.write(records);
    expect(Number((await s.aggregate({})).recordCount)).toBe(10);
    expect(s.evicted).toBe(5);
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('evicted the 5 oldest'));
    expect((await s.list({}, 100, 0)).map((r) => r.id).sort()).toEqual(records.slice(5).map((r) => r.id).sort());
  });
});
