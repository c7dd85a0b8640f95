/**
 * Part 4, memory: record N records while PostgreSQL is down and check that the heap stays bounded by
 * `writer.maxBufferedRecords` while the spool file takes the rest.
 *
 * "Down" = the database driver pointed at a port nobody listens on (reserved, then closed, here), so
 * every write and reconnect fails at once. The bound's own size is measured in the same run: the heap
 * held by exactly `maxBufferedRecords` buffered records. Inputs are made on the fly so the benchmark's
 * own data does not sit in the heap it measures.
 */
import { createReadStream, promises as fs } from 'node:fs';
import { createInterface } from 'node:readline';
import { createServer } from 'node:net';
import { join } from 'node:path';
import {
  type BenchConfig,
  type ResultRow,
  RUN_ID,
  bootApp,
  fmtInt,
  fmtMB,
  fmtRatio,
  log,
  makeInput,
  makeTempDir,
  msSince,
  nowNs,
  prng,
  sleep,
  yieldToLoop,
} from './common';
import type { PartResult } from './report';

function gc(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (!g) throw new Error('run with --expose-gc (bench/run.ts does)');
  g();
  g();
}
const heap = (): number => process.memoryUsage().heapUsed;
/** run.ts starts this part with this heap cap first: unbounded buffering crashes it. */
export const HEAP_CAP_MB = 256;

/** Sent to run.ts while recording, so a run that dies of the heap cap still tells how far it got. */
export interface MemoryProgress {
  /** The part's temporary folder: run.ts removes it when the part dies before its own cleanup. */
  dir: string;
  n: number;
  recorded: number;
  bound: number;
  boundBytes: number;
  retainedBytes: number;
  spoolBacklog?: number;
}

/** The result when the part died under the heap cap (built by run.ts from the last progress). */
export function memoryCrashRow(p: MemoryProgress, capMb: number): ResultRow {
  return {
    part: 'memory',
    metric: `recording ${fmtInt(p.n)} records under a ${capMb} MB heap cap, database down`,
    driver: 'database',
    value: `heap out of memory after ${fmtInt(p.recorded)} records (last sample: +${fmtMB(p.retainedBytes)} retained${p.spoolBacklog !== undefined ? `, ${fmtInt(p.spoolBacklog)} records in the spool's memory backlog` : ''})`,
    baseline: `the bound: ${fmtInt(p.bound)} buffered records = ${fmtMB(p.boundBytes)}`,
    ratio: p.boundBytes / p.retainedBytes,
    ratioText: `${fmtRatio(p.retainedBytes / p.boundBytes)} the bound at the last sample`,
    target: 'completes; < 2x the bound',
    pass: false,
    floor: 0.5,
    note: 'the process died: memory was not bounded by maxBufferedRecords (the rows below are a second run with a 4 GB cap)',
  };
}

/** A port that refuses connections: bound by us, then released. */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/**
 * Lines, files and distinct ids of the spool files, streamed line by line: the spool of a 1M-record
 * outage is hundreds of MB, and reading a file as one string (then splitting it) would itself blow the
 * heap cap this part runs under, whatever the library does.
 */
async function spoolLines(dir: string): Promise<{ lines: number; files: number; ids: number }> {
  let lines = 0;
  let files = 0;
  const ids = new Set<string>();
  for (const f of await fs.readdir(dir).catch(() => [] as string[])) {
    if (!f.startsWith('spool-')) continue;
    files++;
    for await (const line of createInterface({ input: createReadStream(join(dir, f), { encoding: 'utf8' }), crlfDelay: Infinity })) {
      if (line.length === 0) continue;
      lines++;
      ids.add((JSON.parse(line) as { id: string }).id);
    }
  }
  return { lines, files, ids: ids.size };
}

export async function runMemory(cfg: BenchConfig): Promise<PartResult> {
  const n = cfg.quick ? 200_000 : 1_000_000;
  // The same bound in both variants: the spool may hold a fixed number of records in memory on their
  // way to disk, so a small bound would measure that allowance rather than the buffer's bound.
  const bound = 50_000;
  const rows: ResultRow[] = [];
  const findings: string[] = [];
  if (!cfg.drivers.includes('database')) {
    findings.push(`Memory part not measured: the database driver is skipped (${cfg.skipped.database ?? 'not selected'}).`);
    return { rows, findings };
  }
  const dir = await makeTempDir('memory');
  const spoolDir = join(dir, 'spool');
  const port = await closedPort();
  const b = await bootApp(
    {
      trackUsage: true,
      storage: 'database',
      database: {
        url: `postgres://postgres@127.0.0.1:${port}/test`,
        tableName: `bench_mem_${RUN_ID}_records`,
        rollupTableName: `bench_mem_${RUN_ID}_daily`,
        autoMigrate: true,
      },
      writer: { maxBufferedRecords: bound, spoolDirectory: spoolDir, shutdownTimeoutMs: 500 },
    },
    true, // the driver logs the outage; expected here
  );
  const rand = prng(11);
  const now = Date.now();
  let sink: unknown;
  let closed = false;
  try {
    log(`memory: database down (port ${port}); recording ${fmtInt(n)} records with maxBufferedRecords ${fmtInt(bound)}`);
    process.send?.({ progress: { dir, n, recorded: 0, bound, boundBytes: 0, retainedBytes: 0 } satisfies MemoryProgress });
    gc();
    const h0 = heap();
    // 1. The bound's own size: exactly `bound` records buffered, nothing spooled yet.
    for (let i = 0; i < bound; i++) {
      sink = b.usage.record(makeInput(i, rand, now));
      if ((i & 1023) === 1023) await yieldToLoop();
    }
    await sleep(50);
    gc();
    const boundBytes = heap() - h0;
    const atBound = b.usage.getStorageStats()[0];
    // 2. The rest: the buffer is full, so every further record goes to the spool.
    let peak = heap();
    let retainedPeak = boundBytes;
    // Diagnostic only (private fields, may change): records the spool holds in memory, not yet on disk.
    const spoolBacklog = (): number | undefined => {
      const spool = (b.usage as any).storages?.writer?.('database')?.spool;
      const q = spool?.pendingRecords ?? spool?.pendingLines;
      return Array.isArray(q) ? q.length : undefined;
    };
    let backlogAtPeak: number | undefined;
    let recordNs = 0;
    let t = nowNs();
    for (let i = bound; i < n; i++) {
      sink = b.usage.record(makeInput(i, rand, now));
      if ((i & 1023) === 1023) {
        recordNs += Number(nowNs() - t);
        await yieldToLoop(); // lets the spool's appends reach the disk
        t = nowNs();
      }
      if (i % 10_000 === 0) peak = Math.max(peak, heap());
      if (i % 50_000 === 0) {
        recordNs += Number(nowNs() - t);
        gc();
        t = nowNs();
        const retainedNow = heap() - h0;
        const backlog = spoolBacklog();
        if (retainedNow > retainedPeak) {
          retainedPeak = retainedNow;
          backlogAtPeak = backlog;
        }
        const progress: MemoryProgress = { dir, n, recorded: i, bound, boundBytes, retainedBytes: retainedNow, spoolBacklog: backlog };
        process.send?.({ progress });
      }
    }
    recordNs += Number(nowNs() - t);
    const spillNsPerRecord = recordNs / (n - bound);
    await b.usage.flush().catch(() => undefined); // settles the spool; the store is still down, so it throws
    peak = Math.max(peak, heap());
    gc();
    const retained = heap() - h0;
    retainedPeak = Math.max(retainedPeak, retained);
    const st = b.usage.getStorageStats()[0];
    // The store's own spool folder (`<root>/database-<hash of its target>`), as the writer names it.
    const disk = await spoolLines((b.usage as any).storages.writer('database').folder);
    const expected = n - bound;
    void sink;

    rows.push({
      part: 'memory',
      metric: `heap retained while recording ${fmtInt(n)} records, database down (after gc)`,
      driver: 'database',
      value: `+${fmtMB(retainedPeak)}`,
      baseline: `the bound: ${fmtInt(bound)} buffered records = ${fmtMB(boundBytes)}`,
      ratio: boundBytes / retainedPeak,
      ratioText: `${fmtRatio(retainedPeak / boundBytes)} the bound`,
      target: '< 2x the bound',
      pass: retainedPeak < 2 * boundBytes,
      floor: 0.5,
    });
    const peakGrowth = peak - h0;
    rows.push({
      part: 'memory',
      metric: `peak heapUsed while recording ${fmtInt(n)} records, database down (no forced gc)`,
      driver: 'database',
      value: `+${fmtMB(peakGrowth)}`,
      baseline: `the bound ${fmtMB(boundBytes)}`,
      ratio: boundBytes / peakGrowth,
      ratioText: `${fmtRatio(peakGrowth / boundBytes)} the bound`,
      target: '(informational)',
      pass: null,
      note: `includes garbage V8 has not collected yet, so it follows GC timing, not the bound; this run had a ${process.env.BENCH_HEAP_CAP_MB ?? '?'} MB heap cap (--max-old-space-size); ${fmtInt(n)} held records would take ${fmtMB((boundBytes / bound) * n)}`,
    });
    // The watchdog may also copy buffered records to disk (a crash then loses nothing older than the
    // flush interval), so the disk holds at least every record beyond the bound; none lost.
    const matches = disk.ids >= expected && st.lost === 0 && st.pending === n;
    rows.push({
      part: 'memory',
      metric: 'records in the spool files while down',
      driver: 'database',
      value: `${fmtInt(disk.lines)} lines in ${disk.files} file(s); stats: pending ${fmtInt(st.pending)}, spooled ${fmtInt(st.spooled)}, lost ${st.lost}`,
      baseline: `N - bound = ${fmtInt(expected)} (distinct ids on disk: ${fmtInt(disk.ids)})`,
      ratio: disk.lines / expected,
      ratioText: `${(disk.lines / expected).toFixed(3)} of expected`,
      target: '>= N - bound distinct records, 0 lost',
      pass: matches,
      floor: 1,
      // Every record beyond the bound is on disk, none lost (exactly all N after shutdown: checked below).
      ...(matches ? {} : { error: `spool: ${disk.lines} lines (${disk.ids} distinct), spooled ${st.spooled}, lost ${st.lost}, pending ${st.pending}; expected >= ${expected} distinct and 0 lost` }),
    });
    findings.push(
      `Memory: with the buffer full, record() took ${fmtInt(spillNsPerRecord)} ns per call on average (input creation and the bench's own loop included, GC pauses too); ` +
        `at the bound the buffer held ${fmtInt(atBound.pending)} records with ${fmtInt(atBound.spooled)} spooled` +
        (backlogAtPeak !== undefined ? `; when the retained heap peaked, the spool held ${fmtInt(backlogAtPeak)} records in memory on their way to disk.` : '.'),
    );
    const tc = nowNs();
    const folder: string = (b.usage as any).storages.writer('database').folder;
    closed = true;
    await b.close(); // shutdown spools what is still buffered
    const after = await spoolLines(folder);
    const all = after.ids === n;
    rows.push({
      part: 'memory',
      metric: 'distinct records in the spool after shutdown (store still down)',
      driver: 'database',
      value: `${fmtInt(after.ids)} distinct in ${fmtInt(after.lines)} lines`,
      baseline: `N = ${fmtInt(n)}`,
      ratio: after.ids / n,
      ratioText: `${(after.ids / n).toFixed(3)} of N`,
      target: '= N (every record, exactly)',
      pass: all,
      floor: 1,
      ...(all ? {} : { error: `after shutdown the spool holds ${after.ids} distinct records of ${n}` }),
    });
    findings.push(`Memory: after shutdown (store still down) the spool holds all ${fmtInt(after.ids)} of ${fmtInt(n)} records (the buffer is spooled too), in ${fmtInt(msSince(tc))} ms.`);
  } finally {
    if (!closed) await b.close();
    await fs.rm(dir, { recursive: true, force: true });
  }
  return { rows, findings };
}
