/**
 * A Redis outage behind the library's buffered writer: a TCP proxy between the driver and Redis first
 * swallows replies (the scripts run but the driver never hears back), then refuses connections, then
 * comes back. Every record must be stored exactly once afterwards, and nothing may hang meanwhile.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { CacheUsageStorage } from '../../libs/agent-usage/src/storage/cache';
import { MemoryUsageStorage } from '../../libs/agent-usage/src/storage/memory/memory.storage';
import { DEFAULT_WRITER_OPTIONS, UsageStorageWriter } from '../../libs/agent-usage/src/storage/usage-storage.writer';
import { REDIS_URL, deleteKeys, makeRecords, norm, normGroups, silentLogger, storedIds, testContext } from './fixtures/cache-test.helpers';

jest.setTimeout(60_000);

const PREFIX = `agent-usage-test:cache-outage:${process.pid}:`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Forwards 127.0.0.1:<port> to Redis; can swallow replies ('blackhole') or refuse connections ('down'). */
class FlakyProxy {
  mode: 'up' | 'blackhole' | 'down' = 'up';
  port = 0;
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  private readonly target = new URL(REDIS_URL);

  async start(): Promise<void> {
    this.server = createServer((client) => {
      const upstream = connect(Number(this.target.port || 6379), this.target.hostname);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('error', () => undefined);
        s.on('close', () => {
          this.sockets.delete(s);
          client.destroy();
          upstream.destroy();
        });
      }
      client.on('data', (d) => upstream.write(d));
      upstream.on('data', (d) => {
        if (this.mode === 'up') client.write(d);
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
    this.port = (this.server.address() as { port: number }).port;
  }

  blackhole(): void {
    this.mode = 'blackhole';
  }

  async cut(): Promise<void> {
    this.mode = 'down';
    const closed = new Promise((r) => this.server!.close(r));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  async restore(): Promise<void> {
    this.mode = 'up';
    await this.start(); // same port
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    if (this.server?.listening) await new Promise((r) => this.server!.close(r));
  }
}

let admin: Redis;
let spoolDirectory: string;
const proxy = new FlakyProxy();

beforeAll(async () => {
  admin = new Redis(REDIS_URL);
  await deleteKeys(admin, PREFIX);
  spoolDirectory = mkdtempSync(join(tmpdir(), 'usage-cache-outage-'));
  await proxy.start();
});

afterAll(async () => {
  await proxy.stop();
  await deleteKeys(admin, PREFIX);
  await admin.quit();
  rmSync(spoolDirectory, { recursive: true, force: true });
});

it('stores every record exactly once across lost replies, refused connections and recovery', async () => {
  const driver = new CacheUsageStorage({
    url: `redis://127.0.0.1:${proxy.port}`,
    keyPrefix: PREFIX,
    // The defaults (5 s command timeout, 10 s socket timeout) shortened so the test runs in seconds.
    redisOptions: { commandTimeout: 300, socketTimeout: 600, connectTimeout: 500, retryStrategy: () => 100 },
  });
  await driver.init(testContext('UTC'));
  const writer = new UsageStorageWriter(
    'cache',
    driver,
    { ...DEFAULT_WRITER_OPTIONS, batchSize: 200, flushIntervalMs: 20, maxBufferedRecords: 800, spoolDirectory, retryDelayMs: 50, maxRetryDelayMs: 300, shutdownTimeoutMs: 5000 },
    silentLogger,
  );
  await writer.open();
  const records = makeRecords(91, 0, 6000);
  const feed = async (from: number, to: number) => {
    for (let i = from; i < to; i++) {
      writer.enqueue(records[i]);
      if (i % 100 === 99) await sleep(2);
    }
  };

  await feed(0, 1500);
  proxy.blackhole(); // writes reach Redis, replies never come back
  const t0 = Date.now();
  await feed(1500, 3000);
  await sleep(800);
  const duringBlackhole = writer.getStats();
  expect(duringBlackhole.failedWrites).toBeGreaterThan(0);
  expect(Date.now() - t0).toBeLessThan(5000); // commands failed fast instead of hanging

  await proxy.cut(); // connections refused
  await feed(3000, 5000);
  await sleep(500);
  const duringOutage = writer.getStats();
  expect(duringOutage.failedWrites).toBeGreaterThan(duringBlackhole.failedWrites);
  expect(duringOutage.pending).toBeGreaterThan(0);
  expect(duringOutage.spooled).toBeGreaterThan(0); // beyond maxBufferedRecords, records wait on disk
  expect(duringOutage.lost).toBe(0);

  await proxy.restore();
  await feed(5000, 6000);
  const deadline = Date.now() + 30_000;
  while (writer.getStats().pending > 0 && Date.now() < deadline) await sleep(100);
  await writer.flush();
  const after = writer.getStats();
  expect(after).toMatchObject({ pending: 0, spooled: 0, lost: 0 });
  await writer.close();
  // Batches whose reply was lost had been applied: their retries were recognised and not counted again.
  expect(driver.duplicatesSkipped).toBeGreaterThan(0);

  // Read through a direct connection: exactly the 6,000 records, each counted once.
  const reader = new CacheUsageStorage({ url: REDIS_URL, keyPrefix: PREFIX });
  await reader.init(testContext('UTC'));
  const expected = new MemoryUsageStorage();
  expected.init(testContext('UTC'));
  await expected.write(records);
  expect(await storedIds(admin, PREFIX)).toBe(6000);
  expect(norm(await reader.aggregate({}))).toEqual(norm(await expected.aggregate({})));
  expect(normGroups(await reader.groupBy('day', {}))).toEqual(normGroups(await expected.groupBy('day', {})));
  expect(normGroups(await reader.groupBy('agentName', { success: true }))).toEqual(normGroups(await expected.groupBy('agentName', { success: true })));
  await reader.close();
});
