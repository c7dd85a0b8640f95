import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '@nestjs/common';
import { FileUsageStorage, MemoryUsageStorage } from 'nestjs-agent-usage';
import { runStorageConformance } from 'nestjs-agent-usage/testing';

const context = (name: string, timeZone: string, options = {}) => ({
  name,
  timeZone,
  logger: new Logger(`conformance:${name}`),
  moduleRef: undefined as never,
  options,
});

runStorageConformance('memory', async ({ timeZone }) => {
  const storage = new MemoryUsageStorage();
  storage.init(context('memory', timeZone));
  return { storage };
});

runStorageConformance('file', async ({ timeZone }) => {
  const directory = mkdtempSync(join(tmpdir(), 'usage-file-conf-'));
  const storage = new FileUsageStorage({ directory });
  await storage.init(context('file', timeZone, { file: { directory } }));
  return { storage, teardown: () => rmSync(directory, { recursive: true, force: true }) };
});
