/**
 * Head-of-line safety on the real servers: a record the store refuses (a poison record that reached the
 * writer without passing record(), as from an old spool or a custom caller) is split out of its batch
 * and dead-lettered; every other record of the batch and behind it is stored. A store that is DOWN
 * (a TCP proxy cut) never dead-letters anything: records wait and are stored once it is back.
 */
import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { INestApplication } from '@nestjs/common';
import { UsageRecord, UsageService, UsageTrackingModuleOptions } from 'nestjs-agent-usage';
import { createUsageRecord } from '../../libs/agent-usage/src/record/usage-record.factory';
import { recordToJson } from '../../libs/agent-usage/src/storage/usage-record.json';
import { UsageStorageRegistry } from '../../libs/agent-usage/src/storage/usage-storage.registry';
import { TcpProxy } from './tcp-proxy';
import { LinesLogger, PG_URL, REDIS_URL, bootUsageApp, deleteRedisKeys, dropTables, tempDir, unique, waitFor } from './reliability.helpers';

jest.setTimeout(120_000);

const dir = tempDir('usage-dead');
const tables: string[] = [];
const prefixes: string[] = [];
const apps: INestApplication[] = [];
afterAll(async () => {
  for (const a of apps) await a.close().catch(() => undefined);
  await dropTables(tables.flatMap((t) => [t, `${t}_daily`, `${t}_daily_users`]));
  for (const p of prefixes) await deleteRedisKeys(p);
  rmSync(dir, { recursive: true, force: true });
});

function good(run: string, n: number): UsageRecord[] {
  return Array.from({ length: n }, (_, i) =>
    createUsageRecord({ id: `${run}-${i}`, agentName: run, inputTokens: i + 1, outputTokens: 1, recordedAt: new Date(Date.UTC(2026, 4, 1, 0, i)) }),
  );
}

/** Records the stores refuse, built past record()'s rule. */
function poisonFor(driver: 'database' | 'cache', run: string, i: number): UsageRecord {
  const r = createUsageRecord({ id: `${run}-poison-${i}`, agentName: run, inputTokens: 1, outputTokens: 1 });
  if (driver === 'database') r.recordedAt = new Date(8.64e15); // year 275760: PostgreSQL 22008
  else Object.assign(r, { inputTokens: Number.MAX_SAFE_INTEGER, outputTokens: Number.MAX_SAFE_INTEGER, totalTokens: 2 ** 54 - 2 });
  return r;
}

function optionsFor(driver: 'database' | 'cache', url: string, name: string, spool: string): UsageTrackingModuleOptions {
  return {
    storage: driver,
    database: driver === 'database' ? { url, tableName: name, rollupTableName: `${name}_daily` } : undefined,
    cache: driver === 'cache' ? { url, keyPrefix: name } : undefined,
    writer: { spoolDirectory: spool, batchSize: 50, flushIntervalMs: 20, retryDelayMs: 20, maxRetryDelayMs: 200 },
  };
}

async function boot(driver: 'database' | 'cache', url: string, name: string, spool: string, logger: LinesLogger) {
  const app = await bootUsageApp(optionsFor(driver, url, name, spool), logger);
  apps.push(app);
  return { app, usage: app.get(UsageService), writer: app.get(UsageStorageRegistry).writer(driver) };
}

describe.each(['database', 'cache'] as const)('%s: a refused record never blocks the others', (driver) => {
  const url = driver === 'database' ? PG_URL : REDIS_URL;
  const name = unique(`dl_${driver}`);
  if (driver === 'database') tables.push(name);
  else prefixes.push(`${name}`);
  const spool = join(dir, driver);

  it('isolates 3 poison records among 300 by splitting, stores the 297 others, dead-letters the 3 with the error, logs once', async () => {
    const logger = new LinesLogger();
    const { usage, writer, app } = await boot(driver, url, name, spool, logger);
    const run = unique('a');
    const records = good(run, 297);
    const all = [...records.slice(0, 10), poisonFor(driver, run, 0), ...records.slice(10, 150), poisonFor(driver, run, 1), poisonFor(driver, run, 2), ...records.slice(150)];
    for (const r of all) writer.enqueue(r);
    await usage.flush(); // does not throw: nothing is blocked
    expect((await usage.getUsageAggregate({ agentName: run })).recordCount).toBe(297);
    const stats = usage.getStorageStats()[0];
    expect(stats).toMatchObject({ pending: 0, deadLettered: 3, lost: 0 });
    const letters = await usage.deadLetters(driver);
    expect(letters.map((l) => l.record.id).sort()).toEqual([0, 1, 2].map((i) => `${run}-poison-${i}`));
    expect(letters[0].error).toMatch(driver === 'database' ? /out of range|time zone displacement|timestamp/i : /safe integer/);
    expect(logger.count(/refused 1 usage record/)).toBe(1); // once a minute at most, not per record or retry
    expect(logger.count(/write failed/)).toBe(0); // a refusal is not an outage

    // Still refused when replayed: they stay dead letters; nothing else changes.
    expect(await usage.replayDeadLetters(driver)).toEqual({ replayed: 0, deadLettered: 3 });
    expect((await usage.getUsageAggregate({ agentName: run })).recordCount).toBe(297);
    await app.close();
    apps.splice(apps.indexOf(app), 1);
  });

  it('the next process: a spool holding poison replays through the same path (good stored, poison dead-lettered)', async () => {
    const logger = new LinesLogger();
    const first = await boot(driver, url, name, spool, logger);
    const folder = first.writer.folder;
    await first.app.close();
    apps.splice(apps.indexOf(first.app), 1);
    const run = unique('b');
    const records = good(run, 120);
    const lines = [...records.slice(0, 60), poisonFor(driver, run, 0), ...records.slice(60)].map(recordToJson);
    writeFileSync(join(folder, `spool-1-1-0.jsonl`), lines.join('\n') + '\n');
    const { usage } = await boot(driver, url, name, spool, logger);
    await waitFor('the spool to drain', () => usage.getStorageStats()[0].pending === 0);
    await usage.flush();
    expect((await usage.getUsageAggregate({ agentName: run })).recordCount).toBe(120);
    expect(usage.getStorageStats()[0]).toMatchObject({ pending: 0, spooled: 0, deadLettered: 4 }); // 3 from before + 1
    expect(readdirSync(folder).filter((f) => f.startsWith('spool-'))).toEqual([]);
  });

  it('a store that is down (TCP proxy cut) dead-letters nothing; after it is back every good record is stored once, the poison dead-lettered', async () => {
    const target = new URL(url);
    const proxy = new TcpProxy({ host: target.hostname, port: Number(target.port) });
    await proxy.up();
    const logger = new LinesLogger();
    const own = unique(`dlp_${driver}`);
    if (driver === 'database') tables.push(own);
    else prefixes.push(own);
    const { usage, writer } = await boot(driver, proxy.url(url), own, join(dir, `${driver}-proxy`), logger);
    const run = unique('c');
    const records = good(run, 400);
    await proxy.down();
    for (const r of records.slice(0, 200)) writer.enqueue(r);
    writer.enqueue(poisonFor(driver, run, 0));
    for (const r of records.slice(200)) writer.enqueue(r);
    await waitFor('failed writes', () => usage.getStorageStats()[0].failedWrites >= 3);
    expect(usage.getStorageStats()[0]).toMatchObject({ deadLettered: 0, pending: 401 });
    await proxy.up();
    await waitFor('the backlog to drain', () => usage.getStorageStats()[0].pending === 0, 20_000).catch((e) => {
      throw new Error(`${e.message}: ${JSON.stringify(usage.getStorageStats())}\n${logger.lines.join('\n').slice(0, 3000)}`);
    });
    await usage.flush();
    expect((await usage.getUsageAggregate({ agentName: run })).recordCount).toBe(400);
    expect(usage.getStorageStats()[0]).toMatchObject({ deadLettered: 1, lost: 0 });
    // The outage: logged once with its stack, then once at recovery with the count of attempts.
    expect(logger.count(/write failed/)).toBe(1);
    expect(logger.count(/writable again after \d+ failed attempt/)).toBe(1);
    await proxy.down();
  });
});
