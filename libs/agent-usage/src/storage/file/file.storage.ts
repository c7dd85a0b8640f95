import { createReadStream, promises as fs } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { LoggerService } from '@nestjs/common';
import type {
  NormalizedUsageFilters,
  RawUsageGroup,
  RawUsageTotals,
  UsageDimension,
  UsageIdentity,
} from '../../interfaces/usage-query.interface';
import type { UsageRecord } from '../../interfaces/usage-record.interface';
import type { UsageStorage, UsageStorageContext } from '../../interfaces/usage-storage.interface';
import { DEFAULT_FILE_DIRECTORY } from '../../common/usage-tracking.constants';
import {
  TotalsAccumulator,
  compareRecordsDesc,
  groupKeyOf,
  identityKey,
  identityOf,
  matchesFilters,
} from '../../query/in-memory-query';
import { recordFromJson } from '../usage-record.json';
import { DayFileAppender, LinesEncoder } from './day-file.appender';

const FILE_RE = /^usage-(\d{4}-\d{2}-\d{2})\.jsonl$/;
/** Day files stay open this long after the last write (a busy writer writes far more often than this). */
const IDLE_CLOSE_MS = 2000;

/**
 * Append-only JSON Lines, one file per UTC day (`usage-YYYY-MM-DD.jsonl`). A batch is appended with
 * one write per day file; a crash mid-append can leave one torn last line, which `init` seals with a
 * newline so later appends start clean, and which every read skips and reports. Writes, clears and
 * reads are serialized inside the process, so no read sees half a batch. Reads stream only the day
 * files the filters' time range touches, and deduplicate by id.
 */
export class FileUsageStorage implements UsageStorage {
  private directory: string;
  private timeZone = 'UTC';
  private logger?: LoggerService;
  private lock: Promise<unknown> = Promise.resolve();
  /** Unreadable lines skipped by reads since start (torn writes or hand edits). */
  tornLinesSkipped = 0;
  /** Appends are cheap per call but not per line: bigger batches mean fewer, larger writes. */
  readonly writeBatchSize = 5000;
  /** The spool would be a second copy on the same disk: the writer does not spill slow batches to it. */
  readonly localDisk = true;
  private readonly appender = new DayFileAppender();
  private readonly encoder = new LinesEncoder();
  /** Closes the day files once writes pause (a store used without `close()` must not hold descriptors). */
  private idleClose: NodeJS.Timeout | null = null;

  constructor(options: { directory?: string } = {}) {
    this.directory = resolve(options.directory ?? DEFAULT_FILE_DIRECTORY);
  }

  async init(context: UsageStorageContext): Promise<void> {
    this.timeZone = context.timeZone;
    this.logger = context.logger;
    if (context.options.file?.directory) this.directory = resolve(context.options.file.directory);
    await fs.mkdir(this.directory, { recursive: true });
    for (const day of await this.days()) await this.sealTornTail(this.fileOf(day));
  }

  target(): string {
    return `file://${this.directory}`;
  }

  private fileOf(day: string): string {
    return join(this.directory, `usage-${day}.jsonl`);
  }

  /** A file whose last byte is not a newline ends in a torn line: end it so the next append is clean. */
  private async sealTornTail(path: string): Promise<void> {
    const fh = await fs.open(path, 'r+');
    try {
      const { size } = await fh.stat();
      if (size === 0) return;
      const buf = Buffer.alloc(1);
      await fh.read(buf, 0, 1, size - 1);
      if (buf[0] !== 0x0a) {
        await fh.write('\n', size);
        this.logger?.warn(`usage file ${path} ended in a torn line (interrupted write); sealed it, reads skip it`);
      }
    } finally {
      await fh.close();
    }
  }

  private serialized<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => undefined);
    return run;
  }

  /**
   * One append per day file touched. A retried batch may append records again: every read keeps the
   * first line of an id, so duplicates never count.
   */
  async write(records: readonly UsageRecord[]): Promise<void> {
    return this.serialized(async () => {
      // Records grouped by epoch day number (a batch spans a day or two): no date text per record.
      const byDay = new Map<number, UsageRecord[]>();
      for (const r of records) {
        const d = Math.floor(r.recordedAt.getTime() / 86_400_000);
        const list = byDay.get(d);
        if (list) list.push(r);
        else byDay.set(d, [r]);
      }
      for (const [d, dayRecords] of byDay) {
        const day = new Date(d * 86_400_000).toISOString().slice(0, 10);
        await this.appender.append(this.fileOf(day), this.encoder.encode(dayRecords));
      }
      if (this.idleClose) clearTimeout(this.idleClose);
      this.idleClose = setTimeout(() => void this.serialized(() => this.appender.closeAll()), IDLE_CLOSE_MS);
      this.idleClose.unref?.();
    });
  }

  async close(): Promise<void> {
    if (this.idleClose) clearTimeout(this.idleClose);
    this.idleClose = null;
    await this.serialized(() => this.appender.closeAll());
  }

  /** Day files present, ascending. */
  private async days(): Promise<string[]> {
    const out: string[] = [];
    for (const f of await fs.readdir(this.directory).catch(() => [] as string[])) {
      const m = FILE_RE.exec(f);
      if (m) out.push(m[1]);
    }
    return out.sort();
  }

  /**
   * Day files the time range can touch (a day file holds records of that UTC day only). Compared as
   * `YYYY-MM-DD` strings, which sort like the days themselves: the record rule keeps years at 1970..9999.
   */
  private async daysFor(f: NormalizedUsageFilters): Promise<string[]> {
    const all = await this.days();
    if (!f.from && !f.to) return all;
    const first = f.from ? f.from.toISOString().slice(0, 10) : '';
    const last = f.to ? new Date(f.to.getTime() - 1).toISOString().slice(0, 10) : '\uffff';
    return all.filter((d) => d >= first && d <= last);
  }

  /** Streams one day file, yielding each whole, first-seen, matching record. */
  private async scanDay(day: string, f: NormalizedUsageFilters, seen: Set<string>, each: (r: UsageRecord) => void): Promise<void> {
    const path = this.fileOf(day);
    const rl = createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity });
    let torn = 0;
    for await (const line of rl) {
      if (!line) continue;
      const r = recordFromJson(line);
      if (!r) {
        torn++;
        continue;
      }
      if (seen.has(r.id)) continue;
      seen.add(r.id);
      if (matchesFilters(r, f)) each(r);
    }
    if (torn) {
      this.tornLinesSkipped += torn;
      this.logger?.warn(`usage file ${path}: skipped ${torn} unreadable line(s) (torn write)`);
    }
  }

  private scan(f: NormalizedUsageFilters, each: (r: UsageRecord) => void): Promise<void> {
    return this.serialized(async () => {
      const seen = new Set<string>();
      for (const day of await this.daysFor(f)) await this.scanDay(day, f, seen, each);
    });
  }

  async list(filters: NormalizedUsageFilters, limit: number, offset: number): Promise<UsageRecord[]> {
    return this.serialized(async () => {
      const want = offset + limit;
      const out: UsageRecord[] = [];
      const seen = new Set<string>();
      // Newest day first; stop once enough records are known (older days cannot come before them).
      for (const day of (await this.daysFor(filters)).reverse()) {
        const dayRecords: UsageRecord[] = [];
        await this.scanDay(day, filters, seen, (r) => dayRecords.push(r));
        out.push(...dayRecords.sort(compareRecordsDesc));
        if (out.length >= want) break;
      }
      return out.slice(offset, want);
    });
  }

  async aggregate(filters: NormalizedUsageFilters): Promise<RawUsageTotals> {
    const acc = new TotalsAccumulator();
    await this.scan(filters, (r) => acc.add(r));
    return acc.toRaw();
  }

  async groupBy(dimension: UsageDimension, filters: NormalizedUsageFilters): Promise<RawUsageGroup[]> {
    const groups = new Map<string | null, TotalsAccumulator>();
    await this.scan(filters, (r) => {
      const key = groupKeyOf(r, dimension, this.timeZone);
      let acc = groups.get(key);
      if (!acc) groups.set(key, (acc = new TotalsAccumulator()));
      acc.add(r);
    });
    return [...groups].map(([key, acc]) => ({ key, ...acc.toRaw() }));
  }

  async identities(filters: NormalizedUsageFilters): Promise<UsageIdentity[]> {
    const seen = new Map<string, UsageIdentity>();
    await this.scan(filters, (r) => {
      const k = identityKey(r);
      if (!seen.has(k)) seen.set(k, identityOf(r));
    });
    return [...seen.values()];
  }

  /** Rewrites each touched day file without the matching records (temp file + rename: atomic). */
  async clear(filters: NormalizedUsageFilters): Promise<number> {
    return this.serialized(async () => {
      // Open append handles would keep writing to the replaced files.
      await this.appender.closeAll();
      let removed = 0;
      for (const day of await this.daysFor(filters)) {
        const path = this.fileOf(day);
        const kept: string[] = [];
        let removedHere = 0;
        const seen = new Set<string>();
        const rl = createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity });
        for await (const line of rl) {
          if (!line) continue;
          const r = recordFromJson(line);
          if (!r) continue; // a torn line is dropped by the rewrite
          if (seen.has(r.id)) continue;
          seen.add(r.id);
          if (matchesFilters(r, filters)) removedHere++;
          else kept.push(line);
        }
        if (removedHere === 0) continue;
        removed += removedHere;
        if (kept.length === 0) await fs.unlink(path);
        else {
          const tmp = `${path}.tmp-${process.pid}`;
          await fs.writeFile(tmp, kept.join('\n') + '\n', 'utf8');
          await fs.rename(tmp, path);
        }
      }
      return removed;
    });
  }
}
