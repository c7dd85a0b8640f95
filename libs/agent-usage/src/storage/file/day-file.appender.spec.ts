import { mkdtemp, readFile, rename, rm, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createUsageRecord } from '../../record/usage-record.factory';
import { recordFromJson } from '../usage-record.json';
import { DayFileAppender, LinesEncoder } from './day-file.appender';

describe('DayFileAppender', () => {
  let dir: string;
  let appender: DayFileAppender;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'day-file-appender-'));
    appender = new DayFileAppender();
  });
  afterEach(async () => {
    await appender.closeAll();
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps appending to a kept-open file, and reopens one deleted or renamed under its handle', async () => {
    const path = join(dir, 'usage-2026-12-07.jsonl');
    await appender.append(path, Buffer.from('a\n'));
    await appender.append(path, Buffer.from('b\n'));
    expect(await readFile(path, 'utf8')).toBe('a\nb\n');

    // Another process rewrote the day (clear): the old inode is gone, the next append must not go there.
    await rename(path, join(dir, 'moved.jsonl'));
    await appender.append(path, Buffer.from('c\n'));
    expect(await readFile(path, 'utf8')).toBe('c\n');
    expect(await readFile(join(dir, 'moved.jsonl'), 'utf8')).toBe('a\nb\n');

    await unlink(path);
    await appender.append(path, Buffer.from('d\n'));
    expect(await readFile(path, 'utf8')).toBe('d\n');
  });

  it('holds at most four files open: a fifth day closes the oldest, which still takes later appends', async () => {
    const paths = [1, 2, 3, 4, 5].map((d) => join(dir, `usage-2026-12-0${d}.jsonl`));
    for (const p of paths) await appender.append(p, Buffer.from(`${p}\n`));
    expect(appender.openCount()).toBe(4);
    await appender.append(paths[0], Buffer.from('again\n'));
    expect(await readFile(paths[0], 'utf8')).toBe(`${paths[0]}\nagain\n`);
    expect(appender.openCount()).toBe(4);
    await appender.closeAll();
    expect(appender.openCount()).toBe(0);
  });
});

describe('LinesEncoder', () => {
  const record = (i: number, pad: number) =>
    createUsageRecord({ agentName: 'a', modelName: 'm', providerName: 'openai', inputTokens: i, outputTokens: 1, metadata: { pad: 'é'.repeat(pad) } });

  it('grows its buffer for a large batch, keeps every line whole (multi-byte text included) and starts small again after it', () => {
    const enc = new LinesEncoder();
    // About 13 MB of JSON: past the 1 MB start and past the 8 MB it keeps between batches.
    const big = Array.from({ length: 20_000 }, (_, i) => record(i, 200));
    const out = enc.encode(big);
    const lines = out.toString('utf8').split('\n');
    expect(lines.pop()).toBe('');
    expect(lines.map((l) => recordFromJson(l)?.inputTokens)).toEqual(big.map((r) => r.inputTokens));
    expect(out.length).toBeGreaterThan(8 * 1024 * 1024);

    const small = [record(7, 1)];
    const again = enc.encode(small);
    expect(recordFromJson(again.toString('utf8').trimEnd())?.id).toBe(small[0].id);
    // The big buffer was let go: the next batch is written into a fresh 1 MB one.
    expect(again.buffer.byteLength).toBeLessThanOrEqual(8 * 1024 * 1024);
  });
});
