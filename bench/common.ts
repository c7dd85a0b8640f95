/**
 * Shared pieces of the benchmark: settings, result rows, timing statistics, a real Nest app with the
 * library, driver availability checks and test data. The library is used as an app uses it: through
 * the `nestjs-agent-usage` package (the workspace symlink to the built dist).
 */
import 'reflect-metadata';
import { existsSync, promises as fs } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Injectable, Module, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { TrackUsage, UsageService, UsageTrackingModule } from 'nestjs-agent-usage';
import type { UsageRecordInput, UsageTrackingModuleOptions } from 'nestjs-agent-usage';
// The same generator as the conformance suite (the testing entry point itself needs Jest).
import { prng } from '../libs/agent-usage/src/testing/prng';

export const PG_URL = process.env.USAGE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const REDIS_URL = process.env.USAGE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
/** Unique per run: table names and key prefixes never collide with another run or a test suite. */
export const RUN_ID = `${process.pid}_${Date.now().toString(36)}`;
export const DIST_DIR = join(__dirname, '..', 'libs', 'agent-usage', 'dist');

export type DriverName = 'memory' | 'file' | 'database' | 'cache';
export const ALL_DRIVERS: DriverName[] = ['memory', 'file', 'database', 'cache'];
export type Part = 'overhead' | 'ingest' | 'query' | 'memory' | 'scaleout' | 'footprint';

export interface BenchConfig {
  quick: boolean;
  /** Drivers that load and whose server answers (decided by run.ts). */
  drivers: DriverName[];
  /** Why a driver was left out, for the report. */
  skipped: Partial<Record<DriverName, string>>;
}

/** One line of the results table. */
export interface ResultRow {
  part: Part;
  metric: string;
  driver: string;
  value: string;
  baseline: string;
  /** The ratio as printed (e.g. "0.61x of COPY"). */
  ratioText: string;
  /** Higher is better; `floor` applies to it. null when the row has no ratio. */
  ratio: number | null;
  target: string;
  /** Target met (null: informational, or not measurable at this size). */
  pass: boolean | null;
  /** CI floor on `ratio` (only ratios are gated, never absolute times). */
  floor?: number;
  note?: string;
  /** Set when the row's result is wrong (not slow): fails the run, quick or full. */
  error?: string;
}

export const floorOk = (r: ResultRow): boolean => r.floor === undefined || (r.ratio !== null && r.ratio >= r.floor);

// ------------------------------------------------------------------ statistics and formatting

export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

export function sortedCopy(values: ArrayLike<number>): Float64Array {
  return Float64Array.from(values).sort();
}

/** `fn` once to warm up (plans, caches, connections), then `runs` times: the median time and the last result. */
export async function timeMedian(runs: number, fn: () => Promise<unknown>): Promise<{ ms: number; result: unknown }> {
  let result = await fn();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = nowNs();
    result = await fn();
    times.push(msSince(t));
  }
  return { ms: median(times), result };
}

export function median(values: number[]): number {
  return percentile(sortedCopy(values), 50);
}

export const fmtInt = (n: number): string => Math.round(n).toLocaleString('en-US');
export const fmtNs = (n: number): string => `${fmtInt(n)} ns`;
export function fmtMs(ms: number): string {
  if (ms < 1) return `${ms.toFixed(3)} ms`;
  if (ms < 10) return `${ms.toFixed(2)} ms`;
  if (ms < 100) return `${ms.toFixed(1)} ms`;
  return `${fmtInt(ms)} ms`;
}
export const fmtRate = (perSec: number): string => `${fmtInt(perSec)} rec/s`;
export const fmtMB = (bytes: number): string => `${(bytes / 1048576).toFixed(1)} MB`;
export const fmtRatio = (r: number): string => (r >= 100 ? `${fmtInt(r)}x` : r >= 10 ? `${r.toFixed(1)}x` : `${r.toFixed(2)}x`);

export const nowNs = (): bigint => process.hrtime.bigint();
export const msSince = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1e6;
/** Lets timers and I/O callbacks run (the writer's flushes). */
export const yieldToLoop = (): Promise<void> => new Promise((r) => setImmediate(r));
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function log(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

// ------------------------------------------------------------------ deterministic data

export { prng };

/**
 * Realistic cardinality: 5,000 users (a few heavy, most occasional), each talking to 3 of 300 agents,
 * each agent on 2 of 40 models from 6 providers; the agent's team is the group. Same rule as the SQL
 * generator in query.bench.ts.
 */
export const CARDINALITY = { users: 5000, agents: 300, models: 40, providers: 6, teams: 20 } as const;
const pad = (n: number, w: number) => String(n).padStart(w, '0');
export const agentName = (a: number) => `agent-${pad(a, 3)}`;

/** Record input number `i` (`rand` drives it; `now` anchors recordedAt). */
export function makeInput(i: number, rand: () => number, now: number, spreadMs = 2 * 86_400_000): UsageRecordInput {
  const u = Math.floor(CARDINALITY.users * rand() ** 2);
  const a = (u * 7 + Math.floor(rand() * 3) * 101) % CARDINALITY.agents;
  const m = (a * 3 + Math.floor(rand() * 2) * 17) % CARDINALITY.models;
  const input = 50 + Math.floor(rand() * 4000);
  const output = 10 + Math.floor(rand() * 1000);
  return {
    agentName: agentName(a),
    userId: `user-${pad(u, 5)}`,
    group: `team-${pad(a % CARDINALITY.teams, 2)}`,
    chatName: `chat-${u}-${i % 50}`,
    modelName: `model-${pad(m, 2)}`,
    providerName: `provider-${m % CARDINALITY.providers}`,
    inputTokens: input,
    cachedInputTokens: i % 3 === 0 ? input >> 1 : 0,
    outputTokens: output,
    reasoningTokens: i % 5 === 0 ? output >> 2 : 0,
    costNanoUsd: input * 150 + output * 600,
    success: rand() >= 0.02,
    recordedAt: new Date(now - Math.floor(rand() * spreadMs)),
  };
}

export function makeInputs(n: number, seed = 42): UsageRecordInput[] {
  const rand = prng(seed);
  const now = Date.now();
  const out: UsageRecordInput[] = new Array(n);
  for (let i = 0; i < n; i++) out[i] = makeInput(i, rand, now);
  return out;
}

/** A fresh OpenAI Chat Completions response (fresh: the library records one response object once). */
export function openAiResponse(): Record<string, unknown> {
  return {
    id: 'chatcmpl-bench',
    object: 'chat.completion',
    created: 1_790_000_000,
    model: 'gpt-4o-mini',
    choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
    usage: {
      prompt_tokens: 1200,
      completion_tokens: 300,
      total_tokens: 1500,
      prompt_tokens_details: { cached_tokens: 400 },
      completion_tokens_details: { reasoning_tokens: 0 },
    },
  };
}

// ------------------------------------------------------------------ agents and the Nest app

/** The same class body twice: tracked (decorated) and untracked (the baseline). */
@TrackUsage({ agentName: 'bench-agent', provider: 'openai' })
@Injectable()
export class TrackedAgent {
  complete(_prompt: string): Record<string, unknown> {
    return openAiResponse();
  }
  completeAsync(_prompt: string): Promise<Record<string, unknown>> {
    return Promise.resolve(openAiResponse());
  }
}

@Injectable()
export class PlainAgent {
  complete(_prompt: string): Record<string, unknown> {
    return openAiResponse();
  }
  completeAsync(_prompt: string): Promise<Record<string, unknown>> {
    return Promise.resolve(openAiResponse());
  }
}

export interface BenchApp {
  app: INestApplicationContext;
  usage: UsageService;
  tracked: TrackedAgent;
  plain: PlainAgent;
  close(): Promise<void>;
}

/** Boots a real application context with `UsageTrackingModule.forRoot(options)` and both agents. */
export async function bootApp(options: UsageTrackingModuleOptions, quiet = false): Promise<BenchApp> {
  @Module({ imports: [UsageTrackingModule.forRoot(options)], providers: [TrackedAgent, PlainAgent] })
  class BenchModule {}
  const app = await NestFactory.createApplicationContext(BenchModule, { logger: quiet ? false : ['error', 'warn'] });
  await app.init();
  return {
    app,
    usage: app.get(UsageService),
    tracked: app.get(TrackedAgent),
    plain: app.get(PlainAgent),
    close: () => app.close(),
  };
}

/** Options that put one driver behind the module, with bench-private tables, keys and folders. */
export function driverOptions(driver: DriverName, tag: string, dir: string): UsageTrackingModuleOptions {
  const base: UsageTrackingModuleOptions = { trackUsage: true, storage: driver };
  switch (driver) {
    case 'memory':
      return { ...base, memory: { maxRecords: 2_000_000 } };
    case 'file':
      return { ...base, file: { directory: join(dir, 'usage-files') } };
    case 'database':
      return {
        ...base,
        database: { url: PG_URL, tableName: `bench_${tag}_records`, rollupTableName: `bench_${tag}_daily`, autoMigrate: true, useRollups: true },
      };
    case 'cache':
      return { ...base, cache: { url: REDIS_URL, keyPrefix: `bench:${tag}:` } };
  }
}

export async function makeTempDir(label: string): Promise<string> {
  return fs.mkdtemp(join(tmpdir(), `agent-usage-bench-${label}-`));
}

// ------------------------------------------------------------------ availability and cleanup

function tcpReachable(url: string, defaultPort: number): Promise<string | null> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const s = createConnection({ host: u.hostname || '127.0.0.1', port: Number(u.port || defaultPort) });
    const done = (why: string | null) => {
      s.destroy();
      resolve(why);
    };
    s.setTimeout(2000, () => done(`no answer from ${u.host} within 2 s`));
    s.once('connect', () => done(null));
    s.once('error', (e) => done(`${u.host} unreachable (${e.message})`));
  });
}

/** Null when the driver can be benchmarked, else the reason it is skipped. */
export async function driverProblem(driver: DriverName): Promise<string | null> {
  if (driver === 'memory' || driver === 'file') return null;
  const file = driver === 'database' ? 'storage/database/database.storage.js' : 'storage/cache/cache.storage.js';
  if (!existsSync(join(DIST_DIR, file))) return `driver not built (${file} missing from the library's dist)`;
  try {
    await import(join(DIST_DIR, file));
  } catch (e) {
    return `driver does not load: ${(e as Error).message.split('\n')[0]}`;
  }
  return driver === 'database' ? tcpReachable(PG_URL, 5432) : tcpReachable(REDIS_URL, 6379);
}

/** A pg client of its own (the baselines and the data generator talk to PostgreSQL directly). */
export async function pgClient(): Promise<import('pg').Client> {
  const { Client } = await import('pg');
  const c = new Client({ connectionString: PG_URL, application_name: 'nestjs-agent-usage-bench' });
  await c.connect();
  return c;
}

/** Every table the database driver creates for a bench tag: per-user daily rollup, daily rollup, ledger, the two hourly rollups. */
// The hourly rollups come last: callers index the first three (dropping a partitioned ledger drops its partitions).
export const driverTables = (tag: string): string[] => [
  `bench_${tag}_daily_users`,
  `bench_${tag}_daily`,
  `bench_${tag}_records`,
  `bench_${tag}_daily_hours`,
  `bench_${tag}_daily_hour_totals`,
];

/** Removes what a driver run under `tag` left in the shared stores (its tables, its Redis keys). */
export async function dropDriverData(driver: DriverName, tag: string): Promise<void> {
  if (driver === 'database') {
    const pg = await pgClient();
    await dropBenchTables(pg, driverTables(tag)).finally(() => pg.end());
  }
  if (driver === 'cache') await deleteRedisPrefix(`bench:${tag}:`);
}

/** Drops only tables this bench created (the name pattern is checked, never a user's table). */
export async function dropBenchTables(pg: import('pg').Client, names: string[]): Promise<void> {
  for (const n of names) {
    if (!/^bench_[a-z0-9_]+$/.test(n)) throw new Error(`refusing to drop ${n}: not a bench table`);
    await pg.query(`DROP TABLE IF EXISTS "${n}"`);
  }
}

/** Deletes the keys under one bench prefix (SCAN + UNLINK; never FLUSHALL). */
export async function deleteRedisPrefix(prefix: string): Promise<number> {
  if (!prefix.startsWith('bench:')) throw new Error(`refusing to delete keys under ${prefix}: not a bench prefix`);
  const Redis = (await import('ioredis')).default;
  const r = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await r.connect();
  let n = 0;
  try {
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 2000);
      cursor = next;
      if (keys.length) n += await r.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    r.disconnect();
  }
  return n;
}
