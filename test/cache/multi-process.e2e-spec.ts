/**
 * Several Node processes write through their own Redis driver at the same time, with overlapping ids
 * (as app instances replaying the same spool would): totals must be exact afterwards.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import Redis from 'ioredis';
import { USAGE_DIMENSIONS } from '../../libs/agent-usage/src/interfaces/usage-query.interface';
import { CacheUsageStorage } from '../../libs/agent-usage/src/storage/cache';
import { MemoryUsageStorage } from '../../libs/agent-usage/src/storage/memory/memory.storage';
import { REDIS_URL, deleteKeys, makeRecords, norm, normGroups, storedIds, testContext } from './fixtures/cache-test.helpers';

// Usually ~20 s; the margin is for a loaded CI machine (4 ts-node start-ups).
jest.setTimeout(120_000);

const PREFIX = `agent-usage-test:cache-multi:${process.pid}:`;
const ROOT = join(__dirname, '..', '..');
const FIXTURE = join(__dirname, 'fixtures', 'cache-writer.fixture.ts');
const SEED = 77;
const TZ_NAME = 'America/New_York';
/** 4 processes x 5,000 records; each range overlaps the next by 1,000 ids. */
const RANGES = [
  [0, 5000],
  [4000, 9000],
  [8000, 13000],
  [12000, 17000],
];

interface Child {
  ready: Promise<void>;
  done: Promise<{ written: number; ms: number }>;
  go(): void;
}

function startChild(from: number, to: number): Child {
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', FIXTURE], {
    cwd: ROOT,
    env: {
      ...process.env,
      TS_NODE_PROJECT: 'tsconfig.json',
      REDIS_URL,
      PREFIX,
      SEED: String(SEED),
      FROM: String(from),
      TO: String(to),
      BATCH: '500',
      TZ_NAME,
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  let markReady!: () => void;
  const ready = new Promise<void>((r) => (markReady = r));
  child.stdout.on('data', (d) => {
    out += d;
    if (out.startsWith('ready\n')) markReady();
  });
  child.stderr.on('data', (d) => (err += d));
  const done = new Promise<{ written: number; ms: number }>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => {
      markReady(); // never leave the barrier hanging on a crashed child
      if (code === 0) resolve(JSON.parse(out.slice('ready\n'.length).trim()));
      else reject(new Error(`child exited ${code}: ${err}`));
    });
  });
  return { ready, done, go: () => child.stdin.end('go\n') };
}

let admin: Redis;

beforeAll(async () => {
  admin = new Redis(REDIS_URL);
  await deleteKeys(admin, PREFIX);
});

afterAll(async () => {
  await deleteKeys(admin, PREFIX);
  await admin.quit();
});

it('4 processes writing ~5,000 records each, overlapping, give exact totals', async () => {
  // ts-node start-up takes a few seconds: release the writes together once every child is connected.
  const children = RANGES.map(([from, to]) => startChild(from, to));
  await Promise.all(children.map((c) => c.ready));
  for (const c of children) c.go();
  const results = await Promise.all(children.map((c) => c.done));
  expect(results.map((r) => r.written)).toEqual([5000, 5000, 5000, 5000]);

  const expected = new MemoryUsageStorage({ maxRecords: 100_000 });
  expected.init(testContext(TZ_NAME));
  await expected.write(makeRecords(SEED, 0, 17000));

  const reader = new CacheUsageStorage({ url: REDIS_URL, keyPrefix: PREFIX });
  await reader.init(testContext(TZ_NAME));
  try {
    expect(await storedIds(admin, PREFIX)).toBe(17000);
    expect(norm(await reader.aggregate({}))).toEqual(norm(await expected.aggregate({})));
    for (const dim of USAGE_DIMENSIONS) {
      expect([dim, normGroups(await reader.groupBy(dim, {}))]).toEqual([dim, normGroups(await expected.groupBy(dim, {}))]);
    }
    const f = { agentName: ['support'] };
    expect(normGroups(await reader.groupBy('userId', f))).toEqual(normGroups(await expected.groupBy('userId', f)));
    expect(norm(await reader.aggregate({ success: false }))).toEqual(norm(await expected.aggregate({ success: false })));
  } finally {
    await reader.close();
  }
});
