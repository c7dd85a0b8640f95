import { appendFileSync, createReadStream, mkdirSync, promises as fs } from 'node:fs';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import type { LoggerService } from '@nestjs/common';
import type { UsageRecord } from '../interfaces/usage-record.interface';
import { recordFromJson } from './usage-record.json';
import { LinesEncoder } from './file/day-file.appender';

/**
 * Local JSON Lines files that hold records a driver could not take in time (store down, the in-memory
 * buffer full, or the store slower than `flushIntervalMs`). The folder belongs to one store (see
 * usage-spool.location.ts). Replay claims a file by renaming it to `*.replaying-<pid>`; a claim whose
 * process is gone (killed mid-replay) is taken back and replayed again: drivers are idempotent on id.
 */
/** Records per append, asynchronous or synchronous (bounds the size of one encoded buffer). */
const APPEND_CHUNK = 5_000;

export class UsageSpool {
  /** Serialized off the caller's path, in the append loop. */
  private pendingRecords: UsageRecord[] = [];
  private appending: Promise<void> | null = null;
  private file: string;
  /** Target of synchronous appends: never the file an async append may be writing to (no interleaving). */
  private syncFile: string | null = null;
  private lastSyncWarning = 0;
  /** Reused buffers, not a joined string plus its UTF-8 copy per append; two, as a sync append can run while an async one writes. */
  private readonly asyncEncoder = new LinesEncoder();
  private readonly syncEncoder = new LinesEncoder();
  private seq = 0;
  /** Records in spool files (and on their way there) that have not been replayed yet. */
  count = 0;
  /** Records that could not be written even to the spool (disk full, no permission). Always logged. */
  lost = 0;
  /** Unreadable lines skipped while replaying (a write torn by a crash). Logged. */
  tornLines = 0;
  private replaying = false;
  /**
   * Ids of spooled records the store took anyway (a batch copied here while its write was slow, which then
   * succeeded), with how many such copies: replay skips them, and `count` does not hold them as pending.
   * Bounded by the spilled in-flight batches; a process that restarts forgets it (then the copy is written
   * again, which the drivers' idempotent ids absorb).
   */
  private readonly stored = new Map<string, number>();

  constructor(
    private directory: string,
    private readonly logger: LoggerService,
    private readonly driverName: string,
    /** Records waiting for the async append before `add` writes them synchronously (memory stays bounded). */
    private readonly maxBacklog = 20_000,
  ) {
    this.file = this.nextFileName();
  }

  private nextFileName(): string {
    return join(this.directory, `spool-${process.pid}-${Date.now()}-${this.seq++}.jsonl`);
  }

  get folder(): string {
    return this.directory;
  }

  /**
   * Moves to the store's own folder once its target is known, taking along what was spooled before
   * (in this run, or by an earlier run whose driver never started).
   */
  async bind(directory: string): Promise<void> {
    if (directory === this.directory) return;
    await this.settle();
    const from = this.directory;
    this.directory = directory;
    this.file = this.nextFileName();
    this.syncFile = null;
    await fs.mkdir(directory, { recursive: true });
    for (const f of await this.files(from)) await fs.rename(join(from, f), join(directory, f));
    await fs.rmdir(from).catch(() => undefined);
  }

  /** Counts what earlier runs left behind (taking back files claimed by dead processes), so `pending` tells the truth. */
  async open(): Promise<void> {
    await fs.mkdir(this.directory, { recursive: true });
    await this.reclaim();
    this.count = this.pendingRecords.length + (await this.countFiles());
  }

  /** Claimed files whose process is gone go back to the queue of files (this process claims nothing yet at open). */
  private async reclaim(): Promise<number> {
    let n = 0;
    for (const f of await fs.readdir(this.directory).catch(() => [] as string[])) {
      const m = /^(spool-.+\.jsonl)\.replaying-(\d+)$/.exec(f);
      if (!m || (Number(m[2]) !== process.pid && isAlive(Number(m[2])))) continue;
      if (Number(m[2]) === process.pid && this.replaying) continue;
      await fs.rename(join(this.directory, f), join(this.directory, m[1])).catch(() => undefined);
      n++;
    }
    if (n) this.logger.warn(`[${this.driverName}] took back ${n} spool file(s) whose replay was interrupted (process gone); replaying them again`);
    return n;
  }

  private async countFiles(): Promise<number> {
    let n = 0;
    for (const f of await this.files()) n += await countLines(join(this.directory, f)).catch(() => 0);
    return n;
  }

  /** `storeAlive`: the store still takes writes, only slower than records arrive (for the warning's wording). */
  add(records: readonly UsageRecord[], storeAlive = false): void {
    if (records.length === 0) return;
    for (const r of records) this.pendingRecords.push(r);
    this.count += records.length;
    // The disk is slower than the callers and the store is down: write on the caller's path rather
    // than let memory grow without bound (a degraded mode, logged).
    if (this.pendingRecords.length > this.maxBacklog) this.writeBacklogSync(storeAlive);
    else if (!this.appending) this.appending = this.appendLoop();
  }

  private writeBacklogSync(storeAlive: boolean): void {
    const records = this.pendingRecords;
    this.pendingRecords = [];
    this.syncFile ??= this.nextFileName();
    // In chunks: the whole backlog in one buffer (at shutdown, the writer's whole buffer: tens of MB)
    // would defeat the memory bound. A failed chunk and those after it are lost, the ones before are on disk.
    let written = 0;
    try {
      mkdirSync(this.directory, { recursive: true });
      for (; written < records.length; written += APPEND_CHUNK) {
        appendFileSync(this.syncFile, this.syncEncoder.encode(records.slice(written, written + APPEND_CHUNK)));
      }
    } catch (err) {
      this.lose(records.length - written, this.syncFile, err as Error);
      return;
    }
    if (Date.now() - this.lastSyncWarning > 60_000) {
      this.lastSyncWarning = Date.now();
      this.logger.warn(
        storeAlive
          ? `[${this.driverName}] usage records arrive faster than the store takes them (it is up but slower than the input) and than the spool writes them: writing ${records.length} to the spool synchronously to keep memory bounded`
          : `[${this.driverName}] usage records arrive faster than the spool can write them while the store is down: writing ${records.length} synchronously to keep memory bounded`,
      );
    }
  }

  /** Records that could not be written even to the spool: counted and always logged, never silently dropped. */
  private lose(n: number, file: string, err: Error): void {
    this.lost += n;
    this.count -= n;
    this.logger.error(
      `[${this.driverName}] ${n} usage records LOST: the store was unavailable and the spool ${file} could not be written: ${err.message}`,
    );
  }

  /** The store took these records although a copy was spooled: the copy is not pending and is not replayed. */
  markStored(records: readonly UsageRecord[]): void {
    for (const r of records) this.stored.set(r.id, (this.stored.get(r.id) ?? 0) + 1);
    this.count -= records.length;
  }

  /** Files to replay: pending records, or only copies of stored ones (replayed to delete the files). */
  get needsReplay(): boolean {
    return this.count > 0 || this.stored.size > 0;
  }

  /** Skips one spooled copy of a record the store already took (see `stored`). */
  private alreadyStored(id: string): boolean {
    const n = this.stored.get(id);
    if (n === undefined) return false;
    if (n > 1) this.stored.set(id, n - 1);
    else this.stored.delete(id);
    return true;
  }

  /** Resolves when everything added so far is on disk. */
  async settle(): Promise<void> {
    while (this.appending) await this.appending;
  }

  private async appendLoop(): Promise<void> {
    try {
      while (this.pendingRecords.length > 0) {
        const chunk = this.pendingRecords.splice(0, APPEND_CHUNK);
        // Valid until the next encode of this encoder, which only this loop calls, after this write.
        const buf = this.asyncEncoder.encode(chunk);
        try {
          await fs.mkdir(this.directory, { recursive: true });
          await fs.appendFile(this.file, buf);
        } catch (err) {
          this.lose(chunk.length, this.file, err as Error);
        }
      }
    } finally {
      this.appending = null;
    }
  }

  private async files(directory = this.directory): Promise<string[]> {
    try {
      return (await fs.readdir(directory)).filter((f) => f.startsWith('spool-') && f.endsWith('.jsonl')).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  }

  /**
   * Writes every spooled record through `write`, oldest file first, in batches. A file is deleted
   * only after all its records were written; on failure it is put back for the next replay.
   */
  async replay(write: (batch: UsageRecord[]) => Promise<void>, batchSize: number): Promise<number> {
    await this.settle();
    await this.reclaim();
    this.replaying = true;
    try {
      return await this.replayFiles(write, batchSize);
    } finally {
      this.replaying = false;
      // What is really left: another process may have replayed some files, a claim may have been taken back.
      await this.settle();
      const left = this.pendingRecords.length + (await this.countFiles());
      // Nothing left anywhere: copies another process replayed are gone too, forget them.
      if (left === 0) this.stored.clear();
      this.count = Math.max(0, left - this.storedCopies());
    }
  }

  private storedCopies(): number {
    let n = 0;
    for (const c of this.stored.values()) n += c;
    return n;
  }

  private async replayFiles(write: (batch: UsageRecord[]) => Promise<void>, batchSize: number): Promise<number> {
    // New spills go to fresh files while the current ones are replayed.
    this.file = this.nextFileName();
    this.syncFile = null;
    let replayed = 0;
    for (const f of await this.files()) {
      const path = join(this.directory, f);
      const claimed = `${path}.replaying-${process.pid}`;
      try {
        await fs.rename(path, claimed);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // another process took it
        throw err;
      }
      try {
        // Streamed: a spool left by a long outage can be far larger than the memory bound.
        const lines = createInterface({ input: createReadStream(claimed, { encoding: 'utf8' }), crlfDelay: Infinity });
        let batch: UsageRecord[] = [];
        let torn = 0;
        let n = 0;
        let skipped = 0;
        for await (const line of lines) {
          if (!line) continue;
          n++;
          const r = recordFromJson(line);
          if (!r) {
            torn++;
            continue;
          }
          if (this.stored.size > 0 && this.alreadyStored(r.id)) {
            skipped++;
            continue;
          }
          batch.push(r);
          if (batch.length >= batchSize) {
            await write(batch);
            batch = [];
          }
        }
        if (batch.length) await write(batch);
        if (torn) {
          this.tornLines += torn;
          this.logger.warn(`[${this.driverName}] skipped ${torn} unreadable line(s) in spool ${f} (torn write)`);
        }
        await fs.unlink(claimed);
        replayed += n - torn - skipped;
      } catch (err) {
        // Give the file back; records already written are skipped next time by id.
        await fs.rename(claimed, path).catch((e: Error) =>
          this.logger.error(`[${this.driverName}] could not restore spool file ${claimed}: ${e.message}`),
        );
        throw err;
      }
    }
    return replayed;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Non-empty lines of a file, counted while streaming it (spool files can be large). */
async function countLines(path: string): Promise<number> {
  let n = 0;
  for await (const line of createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity })) {
    if (line) n++;
  }
  return n;
}
