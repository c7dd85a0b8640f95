/** Shared by the reliability suites: real Nest apps over the real servers, unique names, waits. */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { INestApplication, LoggerService } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Client } from 'pg';
import Redis from 'ioredis';
import { UsageTrackingModule, UsageTrackingModuleOptions } from 'nestjs-agent-usage';

export const PG_URL = process.env.USAGE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const REDIS_URL = process.env.USAGE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Lower-case, unique per call and per process: a table name or key prefix of its own. */
export function unique(prefix: string): string {
  return `${prefix}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`.toLowerCase();
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `${prefix}-`));
}

/** Collects log lines (tests assert on what was logged, and how often). */
export class LinesLogger implements LoggerService {
  readonly lines: string[] = [];
  log(m: unknown) {
    this.lines.push(`log: ${String(m)}`);
  }
  warn(m: unknown) {
    this.lines.push(`warn: ${String(m)}`);
  }
  error(m: unknown, stack?: unknown) {
    this.lines.push(`error: ${String(m)}${stack ? `\n${String(stack)}` : ''}`);
  }
  debug() {}
  verbose() {}
  count(re: RegExp): number {
    return this.lines.filter((l) => re.test(l)).length;
  }
}

export async function bootUsageApp(options: UsageTrackingModuleOptions, logger: LoggerService | false = false): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({ imports: [UsageTrackingModule.forRoot(options)] }).compile();
  const app = moduleRef.createNestApplication({ logger });
  app.enableShutdownHooks();
  await app.init();
  return app;
}

/** Waits on a condition (never on a bare sleep): generous, for a loaded machine. */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Drops this suite's tables (only those it created). */
export async function dropTables(tables: string[]): Promise<void> {
  const pg = new Client({ connectionString: PG_URL });
  await pg.connect();
  try {
    for (const t of tables) await pg.query(`DROP TABLE IF EXISTS "${t}" CASCADE`);
  } finally {
    await pg.end();
  }
}

/** Deletes this suite's Redis keys (SCAN + UNLINK under its own prefix; never FLUSHALL). */
export async function deleteRedisKeys(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      if (keys.length) await redis.unlink(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

/** A TypeScript fixture in a child process (ts-node): its stdout lines one by one, and a real SIGKILL. */
export function spawnFixture(fixture: string, env: Record<string, string>) {
  const proc = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', '-r', 'tsconfig-paths/register', fixture], {
    env: { ...process.env, TS_NODE_PROJECT: join(__dirname, '..', '..', 'tsconfig.json'), ...env },
  }) as ChildProcessWithoutNullStreams;
  let err = '';
  proc.stderr.on('data', (d) => (err += d));
  const lines = createInterface({ input: proc.stdout })[Symbol.asyncIterator]();
  const next = async (): Promise<string> => {
    const r = await lines.next();
    if (r.done) throw new Error(`child ${proc.pid} ended: ${err}`);
    return r.value as string;
  };
  const kill = () =>
    new Promise<void>((resolve) => {
      if (proc.exitCode !== null) return resolve();
      proc.once('exit', () => resolve());
      proc.kill('SIGKILL');
    });
  const exited = () => new Promise((resolve) => (proc.exitCode !== null ? resolve(null) : proc.once('exit', resolve)));
  return { proc, next, kill, exited };
}
