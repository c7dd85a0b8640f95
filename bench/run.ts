/**
 * `npm run bench` / `npm run bench:quick`: runs the four parts, prints one table, writes BENCHMARKS.md
 * (the quick variant writes bench/.data/BENCHMARKS.quick.md instead, and exits non-zero only when a
 * ratio falls below its floor).
 *
 * Each part runs in a child process of its own: a clean heap and JIT for the timings and the memory
 * samples, and `--expose-gc` there. Options: --quick, --parts=overhead,ingest,query,memory,scaleout,footprint,
 * --drivers=memory,file,database,cache, --out=<file>.
 */
import { fork } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { ALL_DRIVERS, type BenchConfig, type DriverName, type Part, driverProblem, floorOk, log, msSince, nowNs } from './common';
import { HEAP_CAP_MB, type MemoryProgress, memoryCrashRow } from './memory.bench';
import { type PartResult, describeEnvironment, renderReport, renderTable } from './report';

const PARTS: Part[] = ['overhead', 'ingest', 'query', 'memory', 'scaleout', 'footprint'];

function arg(name: string): string | undefined {
  const hit = process.argv.find((a) => a.startsWith(`--${name}=`));
  return hit?.slice(name.length + 3);
}

async function runPart(part: Part, cfg: BenchConfig): Promise<PartResult> {
  switch (part) {
    case 'overhead':
      return { rows: await (await import('./overhead.bench')).runOverhead(cfg), findings: [] };
    case 'ingest':
      return { rows: await (await import('./ingest.bench')).runIngest(cfg), findings: [] };
    case 'query':
      return (await import('./query.bench')).runQuery(cfg);
    case 'memory':
      return (await import('./memory.bench')).runMemory(cfg);
    case 'scaleout':
      return { rows: await (await import('./multiprocess.bench')).runMultiprocess(cfg), findings: [] };
    case 'footprint':
      return { rows: await (await import('./footprint.bench')).runFootprint(cfg), findings: [] };
  }
}

/** Child side: run one part, send its result, exit. */
async function child(part: Part): Promise<void> {
  const cfg = JSON.parse(process.env.BENCH_CONFIG as string) as BenchConfig;
  try {
    const result = await runPart(part, cfg);
    await new Promise<void>((r) => process.send!({ ok: true, result }, () => r()));
    process.exit(0);
  } catch (e) {
    const err = e as Error;
    await new Promise<void>((r) => process.send!({ ok: false, error: err.stack ?? err.message }, () => r()));
    process.exit(1);
  }
}

class PartCrash extends Error {
  constructor(
    message: string,
    readonly progress: MemoryProgress | undefined,
  ) {
    super(message);
  }
}

function forkPart(part: Part, cfg: BenchConfig, heapMb = 4096): Promise<PartResult> {
  return new Promise((resolve, reject) => {
    const p = fork(__filename, [`--child=${part}`], {
      execArgv: ['--expose-gc', `--max-old-space-size=${heapMb}`, '-r', 'ts-node/register/transpile-only'],
      env: { ...process.env, BENCH_CONFIG: JSON.stringify(cfg), BENCH_HEAP_CAP_MB: String(heapMb), TS_NODE_TRANSPILE_ONLY: 'true' },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let message: { ok: boolean; result?: PartResult; error?: string } | undefined;
    let progress: MemoryProgress | undefined;
    p.on('message', (m: any) => {
      if (m?.progress) progress = m.progress;
      else message = m;
    });
    p.on('error', reject);
    p.on('exit', (code, signal) => {
      if (message?.ok && message.result) resolve(message.result);
      else reject(new PartCrash(message?.error ?? `part ${part} died (exit code ${code}${signal ? `, signal ${signal}` : ''}) without a result`, progress));
    });
  });
}

/**
 * The memory part runs under a small heap cap first: if buffering is unbounded it dies of it, which is
 * itself the result. It is then run again with room, to measure how far the heap goes.
 */
async function runMemoryPart(cfg: BenchConfig): Promise<PartResult> {
  try {
    return await forkPart('memory', cfg, HEAP_CAP_MB);
  } catch (e) {
    const p = (e as PartCrash).progress;
    if (!p) throw e;
    await fs.rm(p.dir, { recursive: true, force: true }); // its spool files; the dead child could not
    if (p.recorded === 0) throw e; // died before measuring anything: a failure of the part, not a result
    log(`memory: died under the ${HEAP_CAP_MB} MB heap cap after ${p.recorded.toLocaleString('en-US')} records; measuring again with room`);
    const again = await forkPart('memory', cfg, 4096);
    return { rows: [memoryCrashRow(p, HEAP_CAP_MB), ...again.rows], findings: again.findings };
  }
}

async function main(): Promise<void> {
  const childPart = arg('child') as Part | undefined;
  if (childPart) return child(childPart);

  const t0 = nowNs();
  const quick = process.argv.includes('--quick');
  const parts = (arg('parts')?.split(',') ?? PARTS) as Part[];
  const wanted = (arg('drivers')?.split(',') ?? ALL_DRIVERS) as DriverName[];
  const cfg: BenchConfig = { quick, drivers: [], skipped: {} };
  for (const d of wanted) {
    const problem = await driverProblem(d);
    if (problem) {
      cfg.skipped[d] = problem;
      log(`skipping the ${d} driver: ${problem}`);
    } else cfg.drivers.push(d);
  }
  // In CI every driver must run: an unreachable PostgreSQL or Redis fails the run instead of shrinking it.
  const ci = !!process.env.CI && process.env.CI !== 'false' && process.env.CI !== '0';
  const missingInCi = ci ? Object.entries(cfg.skipped).map(([d, why]) => `${d} (${why})`) : [];
  for (const m of missingInCi) log(`CI: the ${m} driver cannot run: FAILING the run`);
  const env = await describeEnvironment();
  log(`${quick ? 'quick' : 'full'} run; parts: ${parts.join(', ')}; drivers: ${cfg.drivers.join(', ')}`);

  const results: Record<string, PartResult> = {};
  const crashed: string[] = [];
  for (const part of parts) {
    const tp = nowNs();
    try {
      results[part] = part === 'memory' ? await runMemoryPart(cfg) : await forkPart(part, cfg);
      log(`${part}: done in ${(msSince(tp) / 1000).toFixed(1)} s`);
    } catch (e) {
      crashed.push(part);
      log(`${part}: FAILED: ${(e as Error).message}`);
      results[part] = {
        rows: [],
        findings: [`Part "${part}" did not complete: ${(e as Error).message.split('\n')[0]}`],
      };
    }
  }

  const report = renderReport(env, cfg, results, msSince(t0));
  const rows = Object.values(results).flatMap((r) => r.rows);
  process.stdout.write(`\n${renderTable(rows, quick)}\n\n`);
  const out = arg('out') ?? (quick ? join(__dirname, '.data', 'BENCHMARKS.quick.md') : join(__dirname, '..', 'BENCHMARKS.md'));
  await fs.mkdir(join(out, '..'), { recursive: true });
  await fs.writeFile(out, report, 'utf8');
  log(`wrote ${out}`);

  const below = rows.filter((r) => !floorOk(r));
  for (const r of below) log(`ratio below floor: ${r.metric} (${r.driver}): ${r.ratioText} < ${r.floor}`);
  const wrong = rows.filter((r) => r.error);
  for (const r of wrong) log(`WRONG RESULT: ${r.metric} (${r.driver}): ${r.error}`);
  if (missingInCi.length) log(`drivers that did not run in CI: ${missingInCi.join(', ')}`);
  if (crashed.length) log(`parts that did not complete: ${crashed.join(', ')}`);
  log(`total ${(msSince(t0) / 1000).toFixed(1)} s`);
  // Wrong results, a driver missing in CI, ratios below their floors (quick) and a harness that could not
  // measure fail the run; absolute times never do.
  if (crashed.length > 0 || wrong.length > 0 || missingInCi.length > 0 || (quick && below.length > 0)) process.exitCode = 1;
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
