/**
 * Part 5, scale-out: 4 app processes against one PostgreSQL / one Redis, against 1 process.
 *
 * Each app process is a child (`child_process.fork` of this file) booting the module with the same driver
 * options (same tables / key prefix), each with its own spool folder. Children boot first and report ready;
 * the parent then tells all of them to start at once, each records its share through `UsageService.record()`
 * (event loop running every 1,024 records, as in the ingest part) and reports once `usage.flush()` resolved.
 * The rate is all records over the parent's wall time from "go" to the last "done". The single-process run
 * writes 4N records the same way in the bench's own process (booted already, timed from its first record). Afterwards the store must hold exactly what was sent (read through a fresh
 * app's `getUsageAggregate`, and for PostgreSQL also `count(*)` of the ledger): anything else is a wrong
 * result, which fails the run.
 */
import { fork } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import {
  type BenchApp,
  type BenchConfig,
  type DriverName,
  type ResultRow,
  RUN_ID,
  bootApp,
  driverOptions,
  driverTables,
  dropDriverData,
  fmtInt,
  fmtRate,
  log,
  makeInput,
  makeTempDir,
  msSince,
  nowNs,
  pgClient,
  prng,
  yieldToLoop,
} from './common';

const PROCESSES = 4;

interface ChildSpec {
  driver: DriverName;
  tag: string;
  dir: string;
  n: number;
  seed: number;
  spool: string;
}
type ChildMessage = { ready: true } | { done: true; ms: number; written: number; pending: number } | { error: string };

/** Records `n` inputs of the ingest shape through the module and waits until they are all stored. */
async function recordAll(b: BenchApp, n: number, seed: number): Promise<void> {
  const rand = prng(seed);
  const now = Date.now();
  for (let i = 0; i < n; i++) {
    b.usage.record(makeInput(i, rand, now));
    if ((i & 1023) === 1023) await yieldToLoop();
  }
  await b.usage.flush();
  if (b.usage.getStorageStats()[0].pending !== 0) throw new Error('records still pending after flush');
}

/**
 * Child side, a worker kept for the whole part (starting a process with ts-node costs seconds on a busy
 * machine, more than the quick run's writing): per job it boots the app, reports ready, waits for "go",
 * records, flushes, reports, closes the app. `exit` ends it.
 */
function childMain(): void {
  const send = (m: ChildMessage) => new Promise<void>((r) => process.send!(m, () => r()));
  let app: BenchApp | null = null;
  let job: ChildSpec | null = null;
  process.on('message', async (m: { job?: ChildSpec; go?: true; exit?: true }) => {
    try {
      if (m.exit) process.exit(0);
      if (m.job) {
        job = m.job;
        const options = driverOptions(job.driver, job.tag, job.dir);
        options.writer = { maxBufferedRecords: job.n + 1, spoolDirectory: job.spool };
        app = await bootApp(options, true);
        await send({ ready: true });
      } else if (m.go && app && job) {
        const t0 = nowNs();
        await recordAll(app, job.n, job.seed);
        const st = app.usage.getStorageStats()[0];
        const ms = msSince(t0);
        await app.close();
        app = null;
        await send({ done: true, ms, written: st.written, pending: st.pending });
      }
    } catch (e) {
      await send({ error: (e as Error).stack ?? String(e) });
      process.exit(1);
    }
  });
}

type Worker = ReturnType<typeof fork>;

function startWorkers(count: number): Worker[] {
  return Array.from({ length: count }, () =>
    fork(__filename, [], {
      execArgv: ['-r', 'ts-node/register/transpile-only'],
      env: { ...process.env, BENCH_MP_CHILD: '1', TS_NODE_TRANSPILE_ONLY: 'true' },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    }),
  );
}

function reply(c: Worker, driver: DriverName): Promise<ChildMessage> {
  return new Promise<ChildMessage>((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`a ${driver} app process exited (code ${code}) before reporting`));
    c.once('exit', onExit);
    c.once('message', (m) => {
      c.off('exit', onExit);
      resolve(m as ChildMessage);
    });
  });
}

/** One job of `n` records on each worker, all started together; the wall time from "go" to the last "done". */
async function runProcesses(workers: Worker[], driver: DriverName, tag: string, dir: string, n: number): Promise<number> {
  const booted = workers.map((c) => reply(c, driver));
  workers.forEach((c, k) => c.send({ job: { driver, tag, dir, n, seed: 1000 + k, spool: join(dir, `spool-${k}`) } satisfies ChildSpec }));
  for (const m of await Promise.all(booted)) if ('error' in m) throw new Error(m.error);
  const t0 = nowNs();
  const done = workers.map((c) => reply(c, driver));
  for (const c of workers) c.send({ go: true });
  for (const m of await Promise.all(done)) {
    if ('error' in m) throw new Error(m.error);
    if (!('done' in m) || m.pending !== 0) throw new Error(`${driver}: an app process ended with records pending`);
  }
  return msSince(t0);
}

/** What the store holds for `tag`: through the module (every driver), and the ledger's own count for PostgreSQL. */
async function storedCount(driver: DriverName, tag: string, dir: string): Promise<{ viaService: number; ledger: number | null }> {
  const options = driverOptions(driver, tag, dir);
  options.writer = { spoolDirectory: join(dir, 'spool-check') };
  const b = await bootApp(options, true);
  try {
    const viaService = (await b.usage.getUsageAggregate()).recordCount;
    let ledger: number | null = null;
    if (driver === 'database') {
      const pg = await pgClient();
      try {
        ledger = Number((await pg.query(`SELECT count(*)::bigint AS n FROM "${driverTables(tag)[2]}"`)).rows[0].n);
      } finally {
        await pg.end();
      }
    }
    return { viaService, ledger };
  } finally {
    await b.close();
  }
}


export async function runMultiprocess(cfg: BenchConfig): Promise<ResultRow[]> {
  const n = cfg.quick ? 1_000 : 50_000; // per process in the 4-process run
  const rows: ResultRow[] = [];
  const drivers = (['database', 'cache'] as DriverName[]).filter((d) => cfg.drivers.includes(d));
  const workers = drivers.length ? startWorkers(PROCESSES) : [];
  try {
    for (const driver of drivers) rows.push(await driverRow(driver, n, workers));
  } finally {
    for (const c of workers) if (c.exitCode === null) c.send({ exit: true });
  }
  return rows;
}

async function driverRow(driver: DriverName, n: number, workers: Worker[]): Promise<ResultRow> {
  const rates: number[] = [];
  const errors: string[] = [];
  const counts: string[] = [];
  // One set of tables (keys) for both runs, made once (DDL is slow on a busy machine); counts are cumulative.
  const tag = `mp_${RUN_ID}`;
  const dir = await makeTempDir(`multiprocess-${driver}`);
  try {
    let want = 0;
    for (const count of [1, PROCESSES]) {
      const per = (n * PROCESSES) / count;
      log(`scale-out: ${driver}: ${count} process(es) x ${fmtInt(per)} records`);
      let ms = 0;
      if (count === 1) {
        // The single process is this one (booted before the clock starts, as the workers are).
        const options = driverOptions(driver, tag, dir);
        options.writer = { maxBufferedRecords: per + 1, spoolDirectory: join(dir, 'spool-self') };
        const self = await bootApp(options, true);
        try {
          const t0 = nowNs();
          await recordAll(self, per, 1000);
          ms = msSince(t0);
        } finally {
          await self.close();
        }
      } else ms = await runProcesses(workers, driver, tag, dir, per);
      rates.push((per * count) / (ms / 1000));
      want += per * count;
      const held = await storedCount(driver, tag, dir);
      counts.push(`after ${count} process(es): ${fmtInt(held.viaService)}${held.ledger !== null ? ` (ledger rows ${fmtInt(held.ledger)})` : ''} of ${fmtInt(want)}`);
      if (held.viaService !== want || (held.ledger !== null && held.ledger !== want)) {
        errors.push(`${count} process(es): ${want} records sent in all, the store holds ${held.viaService}${held.ledger !== null ? ` (ledger rows ${held.ledger})` : ''}`);
      }
    }
  } finally {
    await dropDriverData(driver, tag);
    await fs.rm(dir, { recursive: true, force: true });
  }
    const [one, four] = rates;
    return {
      part: 'scaleout',
      metric: `records/s stored, ${PROCESSES} app processes x ${fmtInt(n)} records vs 1 process x ${fmtInt(n * PROCESSES)}`,
      driver,
      value: `${fmtRate(four)} (${PROCESSES} processes)`,
      baseline: `1 process ${fmtRate(one)}`,
      ratio: four / one,
      ratioText: `${(four / one).toFixed(2)}x of 1 process`,
      target: '(informational: the README scale-out note)',
      pass: null,
      note: `exact count afterwards: ${counts.join('; ')}. All processes on this machine's ${(await import('node:os')).cpus().length} CPUs, with the store.`,
      ...(errors.length ? { error: errors.join('; ') } : {}),
    };
}

if (process.env.BENCH_MP_CHILD) childMain();
