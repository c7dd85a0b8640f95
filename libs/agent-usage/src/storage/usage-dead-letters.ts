import { createReadStream, promises as fs } from 'node:fs';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import type { LoggerService } from '@nestjs/common';
import type { UsageRecord } from '../interfaces/usage-record.interface';
import { recordFromJson, recordToJson } from './usage-record.json';

/** One record a store refused, with the store's error. */
export interface UsageDeadLetter {
  record: UsageRecord;
  /** The store's error message when it refused the record alone. */
  error: string;
  /** When it was dead-lettered (ISO 8601). */
  at: string;
}

const FILE = 'dead-letters.jsonl';

/**
 * The records one store refused (a data error, isolated by splitting the batch), kept in
 * `<spool folder>/dead-letters.jsonl` with the error, so nothing behind them waits and nothing is lost.
 * Read with `UsageService.deadLetters()`, written again with `replayDeadLetters()`.
 */
export class UsageDeadLetters {
  /** Records in the file (counted at start, then kept up to date). */
  count = 0;
  /** Dead letters that could not even be written to disk (logged). */
  lost = 0;
  /** Ids in the file: a record refused again (replayed from a spool copy) is kept once. */
  private readonly ids = new Set<string>();
  private lastLog = 0;
  private unlogged = 0;

  constructor(
    private readonly directory: string,
    private readonly logger: LoggerService,
    private readonly driverName: string,
  ) {}

  get file(): string {
    return join(this.directory, FILE);
  }

  async open(): Promise<void> {
    this.ids.clear();
    for await (const line of lines(this.file)) {
      const entry = parse(line);
      if (entry) this.ids.add(entry.record.id);
    }
    this.count = this.ids.size;
  }

  async add(refused: readonly UsageRecord[], error: Error): Promise<void> {
    const records = refused.filter((r) => !this.ids.has(r.id));
    if (records.length === 0) return;
    const at = new Date().toISOString();
    const text = records.map((r) => `{"error":${JSON.stringify(error.message)},"at":"${at}","record":${recordToJson(r)}}`).join('\n') + '\n';
    try {
      await fs.mkdir(this.directory, { recursive: true });
      await fs.appendFile(this.file, text, 'utf8');
    } catch (err) {
      this.lost += records.length;
      this.logger.error(
        `[${this.driverName}] ${records.length} usage record(s) LOST: the store refused them (${error.message}) and the dead-letter file ${this.file} could not be written: ${(err as Error).message}`,
      );
      return;
    }
    for (const r of records) this.ids.add(r.id);
    this.count += records.length;
    // Once per minute at most: a stream of bad records must not flood the log.
    this.unlogged += records.length;
    if (Date.now() - this.lastLog >= 60_000) {
      this.lastLog = Date.now();
      this.logger.error(
        `[${this.driverName}] the store refused ${this.unlogged} usage record(s) (${error.message}); the others were stored. ` +
          `Refused records wait in ${this.file} (${this.count} in all): usage.deadLetters('${this.driverName}'), usage.replayDeadLetters('${this.driverName}')`,
      );
      this.unlogged = 0;
    }
  }

  /** Up to `limit` dead letters, oldest first. */
  async read(limit: number): Promise<UsageDeadLetter[]> {
    const out: UsageDeadLetter[] = [];
    for await (const line of lines(this.file)) {
      if (out.length >= limit) break;
      const entry = parse(line);
      if (entry) out.push(entry);
    }
    return out;
  }

  /**
   * Takes the file away (so new dead letters start a fresh one) and feeds its records to `write` in
   * batches; `write` dead-letters again what is still refused. On an outage the rest goes back.
   */
  async replay(write: (batch: UsageRecord[]) => Promise<void>, batchSize: number): Promise<number> {
    const claimed = `${this.file}.replaying-${process.pid}`;
    try {
      await fs.rename(this.file, claimed);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw err;
    }
    const taken = new Set(this.ids);
    this.ids.clear();
    this.count = 0;
    let n = 0;
    let batch: UsageRecord[] = [];
    try {
      for await (const line of lines(claimed)) {
        const entry = parse(line);
        if (!entry) continue;
        batch.push(entry.record);
        if (batch.length >= batchSize) {
          await write(batch);
          n += batch.length;
          batch = [];
        }
      }
      if (batch.length) await write(batch);
      n += batch.length;
      await fs.unlink(claimed);
      return n;
    } catch (err) {
      // Put the whole file back (records already stored are skipped by id when it is replayed again).
      const rest = await fs.readFile(claimed, 'utf8');
      await fs.appendFile(this.file, rest, 'utf8');
      await fs.unlink(claimed);
      for (const id of taken) this.ids.add(id);
      this.count = this.ids.size;
      throw err;
    }
  }
}

function parse(line: string): UsageDeadLetter | null {
  if (!line) return null;
  try {
    const o = JSON.parse(line);
    const record = recordFromJson(JSON.stringify(o.record));
    return record ? { record, error: String(o.error), at: String(o.at) } : null;
  } catch {
    return null;
  }
}

async function* lines(path: string): AsyncGenerator<string> {
  try {
    await fs.access(path);
  } catch {
    return;
  }
  yield* createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity });
}
