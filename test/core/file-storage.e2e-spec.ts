import { appendFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { FileUsageStorage, UsageRecord, UsageService, UsageTrackingModule } from 'nestjs-agent-usage';
import { conformanceRecords } from 'nestjs-agent-usage/testing';

const ctx = (directory: string) => ({ name: 'file', timeZone: 'UTC', logger: new Logger('file-test'), moduleRef: undefined as never, options: { file: { directory } } });

describe('file driver', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'usage-file-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes one JSON Lines file per UTC day, append-only', async () => {
    const s = new FileUsageStorage({ directory: dir });
    await s.init(ctx(dir));
    const records = conformanceRecords(50);
    await s.write(records.slice(0, 20));
    const before = Object.fromEntries(readdirSync(dir).map((f) => [f, readFileSync(join(dir, f), 'utf8')]));
    await s.write(records.slice(20));
    const files = readdirSync(dir).sort();
    expect(files.every((f) => /^usage-\d{4}-\d{2}-\d{2}\.jsonl$/.test(f))).toBe(true);
    // Earlier bytes are never rewritten by a write.
    for (const [f, text] of Object.entries(before)) expect(readFileSync(join(dir, f), 'utf8').startsWith(text)).toBe(true);
    const lines = files.flatMap((f) => readFileSync(join(dir, f), 'utf8').trim().split('\n'));
    expect(lines).toHaveLength(50);
    for (const f of files) {
      const day = f.slice(6, 16);
      for (const l of readFileSync(join(dir, f), 'utf8').trim().split('\n')) expect(JSON.parse(l).recordedAt.slice(0, 10)).toBe(day);
    }
  });

  it('recovers from a torn last line: reads skip and report it, the next append starts clean', async () => {
    const s1 = new FileUsageStorage({ directory: dir });
    await s1.init(ctx(dir));
    const [a, b, c] = conformanceRecords(3).map((r) => ({ ...r, recordedAt: new Date('2026-06-01T10:00:00Z') }));
    await s1.write([a, b]);
    const file = join(dir, 'usage-2026-06-01.jsonl');
    // A crash in the middle of an append: half a JSON object, no newline.
    appendFileSync(file, JSON.stringify(c).slice(0, 40));
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const s2 = new FileUsageStorage({ directory: dir });
    await s2.init(ctx(dir)); // seals the torn tail
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('ended in a torn line'));
    await s2.write([c]);
    const agg = await s2.aggregate({});
    expect(Number(agg.recordCount)).toBe(3);
    expect(s2.tornLinesSkipped).toBe(1);
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('skipped 1 unreadable line(s)'));
    expect((await s2.list({}, 10, 0)).map((r) => r.id).sort()).toEqual([a.id, b.id, c.id].sort());
    warn.mockRestore();
  });

  it('concurrent writes in one process never interleave lines', async () => {
    const s = new FileUsageStorage({ directory: dir });
    await s.init(ctx(dir));
    const records = conformanceRecords(2000, 7).map((r) => ({ ...r, recordedAt: new Date('2026-06-02T00:00:00Z'), metadata: { pad: 'x'.repeat(2000) } }));
    await Promise.all(Array.from({ length: 20 }, (_, i) => s.write(records.slice(i * 100, i * 100 + 100))));
    const lines = readFileSync(join(dir, 'usage-2026-06-02.jsonl'), 'utf8').trim().split('\n');
    expect(lines).toHaveLength(2000);
    expect(new Set(lines.map((l) => (JSON.parse(l) as UsageRecord).id)).size).toBe(2000);
  });

  it('a record written twice (e.g. replayed from the spool by another process) is counted once', async () => {
    const s = new FileUsageStorage({ directory: dir });
    await s.init(ctx(dir));
    const [r] = conformanceRecords(1);
    await s.write([r]);
    writeFileSync(join(dir, `usage-${r.recordedAt.toISOString().slice(0, 10)}.jsonl`), `${JSON.stringify(r)}\n${JSON.stringify(r)}\n`);
    expect(Number((await s.aggregate({})).recordCount)).toBe(1);
  });

  it('the demo-style zero set-up: storage "file" in a Nest app survives a restart', async () => {
    const boot = async () => {
      const m = await Test.createTestingModule({ imports: [UsageTrackingModule.forRoot({ storage: 'file', file: { directory: dir } })] }).compile();
      const app = m.createNestApplication({ logger: false });
      await app.init();
      return app;
    };
    const app1 = await boot();
    app1.get(UsageService).record({ agentName: 'a', inputTokens: 3, outputTokens: 4 });
    await app1.close(); // drains the buffer
    const app2 = await boot();
    expect(await app2.get(UsageService).getUsageAggregate()).toMatchObject({ recordCount: 1, totalTokens: 7 });
    await app2.close();
  });
});
