/**
 * Part 1, call overhead: what tracking adds to an agent's call, per driver.
 *
 * A tracked call (`@TrackUsage` agent) is timed against the same class without the decorator, and
 * `UsageService.record()` against building the same input and handing it to a no-op. Calls are timed
 * in batches of 100 (hrtime resolution and timer cost would swamp a single call), the three kinds
 * interleaved round by round so drift hits them alike, and the event loop runs between rounds so the
 * buffered writer flushes to the real store meanwhile, as it would in an app; rounds wait while more
 * than MAX_BACKLOG records are pending (untimed). Added = tracked - baseline, per round, then p50/p99.
 */
import { promises as fs, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import {
  type BenchApp,
  type BenchConfig,
  type DriverName,
  type ResultRow,
  RUN_ID,
  bootApp,
  driverOptions,
  dropDriverData,
  fmtInt,
  fmtRatio,
  log,
  makeTempDir,
  msSince,
  nowNs,
  percentile,
  sleep,
  sortedCopy,
  yieldToLoop,
} from './common';

const PER_BATCH = 100;
const MAX_BACKLOG = 3000;
const TARGET_NS = 5000;
/** Keeps whatever a timed call returns, so the JIT cannot drop the call. */
let sink: unknown;
const noop = (x: unknown): unknown => (sink = x);

interface Series {
  base: Float64Array;
  tracked: Float64Array;
  /** The OS preempted the main thread during this round's baseline or tracked batch. */
  preempted: Uint8Array;
}
interface Measured {
  sync: Series;
  async: Series;
  record: Series;
  /** Rounds during which V8 paused for garbage collection (from perf_hooks 'gc' entries). */
  gcRounds: Uint8Array;
}

/**
 * Involuntary context switches of the main thread so far (Linux): a timed batch during which this
 * count moved was preempted by the OS (the machine is shared), so its time is partly someone else's.
 */
function preemptions(): number {
  try {
    const m = /nonvoluntary_ctxt_switches:\s+(\d+)/.exec(readFileSync('/proc/thread-self/status', 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

async function measure(b: BenchApp, rounds: number, warmup: number): Promise<Measured> {
  const mk = (): Series => ({ base: new Float64Array(rounds), tracked: new Float64Array(rounds), preempted: new Uint8Array(rounds) });
  const m: Measured = { sync: mk(), async: mk(), record: mk(), gcRounds: new Uint8Array(rounds) };
  const { tracked, plain, usage } = b;
  const bounds = new Float64Array(rounds * 2);
  const gcs: [number, number][] = [];
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcs.push([e.startTime, e.startTime + e.duration]);
  });
  obs.observe({ entryTypes: ['gc'] });
  const input = () => ({ agentName: 'bench-agent', modelName: 'gpt-4o-mini', providerName: 'openai', userId: 'user-1', inputTokens: 1200, outputTokens: 300 });
  // [series, baseline batch, tracked batch]; each batch runs PER_BATCH calls.
  const kinds: [Series, () => unknown, () => unknown][] = [
    [
      m.sync,
      () => {
        for (let i = 0; i < PER_BATCH; i++) sink = plain.complete('hi');
      },
      () => {
        for (let i = 0; i < PER_BATCH; i++) sink = tracked.complete('hi');
      },
    ],
    [
      m.async,
      async () => {
        for (let i = 0; i < PER_BATCH; i++) sink = await plain.completeAsync('hi');
      },
      async () => {
        for (let i = 0; i < PER_BATCH; i++) sink = await tracked.completeAsync('hi');
      },
    ],
    [
      m.record,
      () => {
        for (let i = 0; i < PER_BATCH; i++) noop(input());
      },
      () => {
        for (let i = 0; i < PER_BATCH; i++) sink = usage.record(input());
      },
    ],
  ];
  for (let r = -warmup; r < rounds; r++) {
    if (r >= 0) bounds[2 * r] = performance.now();
    for (const [series, baseBatch, trackedBatch] of kinds) {
      const p0 = preemptions();
      let t = nowNs();
      const b1 = baseBatch();
      if (b1) await b1;
      const base = Number(nowNs() - t) / PER_BATCH;
      t = nowNs();
      const b2 = trackedBatch();
      if (b2) await b2;
      const tr = Number(nowNs() - t) / PER_BATCH;
      if (r >= 0) {
        series.base[r] = base;
        series.tracked[r] = tr;
        series.preempted[r] = preemptions() !== p0 ? 1 : 0;
      }
    }
    if (r >= 0) bounds[2 * r + 1] = performance.now();
    // The writer's flush and the store's replies run here, between timed batches, as between requests.
    await yieldToLoop();
    // Paced like an app whose traffic the store absorbs: never more than a few batches waiting. Without
    // this the backlog (and GC work on it) would grow for the whole run, which is not a steady state.
    // A flush, not a wait: a driver whose batch is larger than MAX_BACKLOG (the file driver's 5,000) would
    // otherwise only write on its 1 s timer, and the run sat idle for most of its time (~2 min of 2.2).
    if (usage.getStorageStats()[0].pending > MAX_BACKLOG) await usage.flush();
  }
  await sleep(20); // gc entries are delivered asynchronously
  obs.disconnect();
  for (const [start, end] of gcs) {
    for (let r = 0; r < rounds; r++) if (start < bounds[2 * r + 1] && end > bounds[2 * r]) m.gcRounds[r] = 1;
  }
  void sink;
  return m;
}

interface Summary {
  baseP50: number;
  baseP99: number;
  p50: number;
  addedP50: number;
  /** p99 of added over the rounds the OS did not preempt (the figure judged against the target). */
  addedP99: number;
  /** p99 of added over every round. */
  addedP99All: number;
  preemptedShare: number;
}

function summarize(s: Series): Summary {
  const diff = s.tracked.map((v, i) => v - s.base[i]);
  const clean = sortedCopy(diff.filter((_, i) => s.preempted[i] === 0));
  const b = sortedCopy(s.base);
  const t = sortedCopy(s.tracked);
  const d = sortedCopy(diff);
  return {
    baseP50: percentile(b, 50),
    baseP99: percentile(b, 99),
    p50: percentile(t, 50),
    addedP50: Math.max(0, percentile(clean.length ? clean : d, 50)),
    addedP99: Math.max(0, percentile(clean.length ? clean : d, 99)),
    addedP99All: Math.max(0, percentile(d, 99)),
    preemptedShare: s.preempted.reduce((a, x) => a + x, 0) / s.preempted.length,
  };
}

const METRICS = [
  ['sync', 'tracked call (sync), added ns p50 / p99', 'untracked'],
  ['async', 'tracked call (async, awaited), added ns p50 / p99', 'untracked'],
  ['record', 'UsageService.record(), added ns p50 / p99', 'no-op with same input'],
] as const;

/**
 * Floors, about half the median of measured quick runs (figures in bench/README.md): the memory driver's
 * own baseline/tracked ratio, and the durable drivers' share of the memory driver's added cost.
 */
const MEMORY_FLOORS: Record<keyof typeof VS_MEMORY_FLOORS, number> = { sync: 0.03, async: 0.05, record: 0.004 };
const VS_MEMORY_FLOORS = { sync: 0.5, async: 0.5, record: 0.5 };

export async function runOverhead(cfg: BenchConfig): Promise<ResultRow[]> {
  // Each round records 300 times (100 sync + 100 async tracked calls + 100 record()); the durable stores
  // must then take them all, which bounds the round count more than the timing does.
  const rounds = cfg.quick ? 150 : 1000;
  const warmup = cfg.quick ? 50 : 200;
  const rows: ResultRow[] = [];
  const memoryAdded: Partial<Record<keyof Measured, number>> = {};
  // Memory first: the durable drivers are compared with it (same work on the call path, different store).
  const drivers = (['memory', 'file', 'database', 'cache'] as DriverName[]).filter((d) => cfg.drivers.includes(d));
  for (const driver of drivers) {
    const tag = `ovh_${RUN_ID}`;
    const dir = await makeTempDir(`overhead-${driver}`);
    const options = driverOptions(driver, tag, dir);
    // A bound above what one run records: this part measures the call path, not spooling (see memory part).
    options.writer = { maxBufferedRecords: 5_000_000, spoolDirectory: join(dir, 'spool') };
    const b = await bootApp(options);
    let drainMs = 0;
    try {
      log(`overhead: ${driver}: ${rounds} rounds x ${PER_BATCH} calls of each kind`);
      const m = await measure(b, rounds, warmup);
      const t = nowNs();
      await b.usage.flush();
      drainMs = msSince(t);
      const stats = b.usage.getStorageStats()[0];
      if (stats.failedWrites > 0 || stats.pending > 0) log(`overhead: ${driver}: ${stats.failedWrites} failed writes, ${stats.pending} pending`);
      for (const [key, metric, baseName] of METRICS) {
        const s = summarize(m[key]);
        const gcShare = m.gcRounds.reduce((a, x) => a + x, 0) / rounds;
        if (driver === 'memory') memoryAdded[key] = s.addedP50;
        const slowdown = s.baseP50 > 0 ? s.p50 / s.baseP50 : NaN;
        const ref = memoryAdded[key];
        // Gated ratio: memory's added cost / this driver's. ~1 means nothing durable runs on the call path.
        const vsMemory = driver !== 'memory' && ref !== undefined && s.addedP50 > 0 ? ref / s.addedP50 : null;
        // The memory driver's own cost, gated too: baseline time / tracked time (1 = free; higher is better).
        const ownRatio = s.p50 > 0 ? s.baseP50 / s.p50 : null;
        rows.push({
          part: 'overhead',
          metric,
          driver,
          value: `+${fmtInt(s.addedP50)} / +${fmtInt(s.addedP99)} ns`,
          baseline:
            `${baseName} ${fmtInt(s.baseP50)} / ${fmtInt(s.baseP99)} ns` +
            (vsMemory !== null ? `; memory driver +${fmtInt(ref as number)} ns` : ''),
          ratio: driver === 'memory' ? ownRatio : vsMemory,
          ratioText: `${fmtRatio(slowdown)} ${baseName === 'untracked' ? 'untracked' : 'no-op'}` + (vsMemory !== null ? `; ${vsMemory.toFixed(2)} of memory's added` : ''),
          target: `< ${fmtInt(TARGET_NS)} ns added at p99 (OS-preempted rounds excluded)`,
          pass: s.addedP99 < TARGET_NS,
          floor: driver === 'memory' ? MEMORY_FLOORS[key] : VS_MEMORY_FLOORS[key],
          note:
            `p99 over all rounds, OS-preempted ones included (${(s.preemptedShare * 100).toFixed(1)} % of rounds): +${fmtInt(s.addedP99All)} ns; ` +
            `V8 paused for GC in ${(gcShare * 100).toFixed(1)} % of rounds (kept)` +
            (key === 'record' && driver !== 'memory'
              ? `; the ${fmtInt((rounds + warmup) * PER_BATCH * 3)} records of this run were all stored ${fmtInt(drainMs)} ms after the last call`
              : ''),
        });
      }
    } finally {
      await b.close();
      await dropDriverData(driver, tag);
      await fs.rm(dir, { recursive: true, force: true });
    }
  }
  return rows;
}
