/**
 * Lines written before runs and error types existed (day files, spool files) read back as whole records:
 * in no run, no error class. A database insert of such a line would otherwise send NULL into the
 * NOT NULL run_start column and fail its batch forever.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '@nestjs/common';
import { FileUsageStorage } from 'nestjs-agent-usage';
import { recordFromJson } from '../../libs/agent-usage/src/storage/usage-record.json';

const oldLine = (id: string) =>
  JSON.stringify({
    id,
    agentName: 'support',
    userId: 'u1',
    group: null,
    chatName: null,
    modelName: 'gpt-4o',
    providerName: 'openai',
    inputTokens: 100,
    cachedInputTokens: null,
    cacheWriteTokens: null,
    outputTokens: 10,
    reasoningTokens: null,
    totalTokens: 110,
    requests: 1,
    success: false,
    usageMissing: false,
    costNanoUsd: 5,
    priceSource: null,
    recordedAt: '2026-06-01T10:00:00.000Z',
    metadata: null,
  });

it('reads a previous-version line as a whole record (runId null, no marks, no error type)', async () => {
  expect(recordFromJson(oldLine('a'))).toMatchObject({ id: 'a', runId: null, runStart: false, agentRunStart: false, errorType: null, success: false });
  const dir = mkdtempSync(join(tmpdir(), 'usage-old-lines-'));
  try {
    writeFileSync(join(dir, 'usage-2026-06-01.jsonl'), `${oldLine('a')}\n${oldLine('b')}\n`);
    const s = new FileUsageStorage({ directory: dir });
    await s.init({ name: 'file', timeZone: 'UTC', logger: new Logger('old-lines'), moduleRef: undefined as never, options: { file: { directory: dir } } });
    const [first] = await s.list({}, 10, 0);
    expect(first).toMatchObject({ runId: null, runStart: false, agentRunStart: false, errorType: null });
    expect(await s.aggregate({})).toMatchObject({ recordCount: 2, failedCount: 2, runCount: 0, agentRunCount: 0 });
    expect((await s.groupBy('runId', {})).map((g) => [g.key, g.recordCount])).toEqual([[null, 2]]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
