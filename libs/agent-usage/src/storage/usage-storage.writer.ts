import type { LoggerService } from '@nestjs/common';
import type { UsageStorage, UsageStorageStats } from '../interfaces/usage-storage.interface';
import type { UsageRecord } from '../interfaces/usage-record.interface';
import type { UsageWriterOptions } from '../interfaces/usage-tracking-options.interface';
import { UsageSpool } from './usage-spool';
import { UsageDeadLetter, UsageDeadLetters } from './usage-dead-letters';
import { defaultSpoolRoot, spoolFolderOf } from './usage-spool.location';

export const DEFAULT_WRITER_OPTIONS: Required<UsageWriterOptions> = {
  batchSize: 500,
  flushIntervalMs: 1000,
  maxBufferedRecords: 100_000,
  spoolDirectory: defaultSpoolRoot(),
  retryDelayMs: 200,
  maxRetryDelayMs: 30_000,
  shutdownTimeoutMs: 10_000,
};

/**
 * Sits between `record()` and one driver. `enqueue` only pushes to an array (the agent's call path
 * never waits on I/O); batches go to the driver by size or by interval, one write at a time. A failed
 * write is logged once per outage, counted and retried with backoff, its records kept; beyond
 * `maxBufferedRecords`, or when records wait longer than `flushIntervalMs` behind a slow store, they go
 * to the store's spool folder, replayed once the store takes writes again. A batch the store refuses
 * as data (`isDataError`) is split until the refused records are found: the others are stored, the
 * refused ones dead-lettered, so no record ever blocks the ones behind it.
 */
export class UsageStorageWriter {
  private queue: UsageRecord[] = [];
  private running: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private immediate: NodeJS.Immediate | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private retryDelay: number;
  private healthy = true;
  private closed = false;
  private readonly spool: UsageSpool;
  private deadLetters: UsageDeadLetters | null = null;
  private readonly stats: UsageStorageStats;
  /** The batch being written (copied to the spool when it takes longer than `flushIntervalMs`). */
  private inflight: UsageRecord[] | null = null;
  private inflightSpilled = false;
  /**
   * Records ever queued (less those moved out of the tail to the spool): the oldest queued record is
   * number `enqueued - queue.length`. A counter, not a clock per record: the call path pays one increment.
   */
  private enqueued = 0;
  /** `enqueued` at the watchdog's previous tick: queued records numbered below it waited a whole interval. */
  private ageMark = 0;
  private watchdog: NodeJS.Timeout | null = null;
  /** Failed attempts of the current outage after the first (logged once, at recovery). */
  private failuresThisOutage = 0;
  /** Writes wait until the driver is initialised (records may arrive while the app boots). */
  private ready: Promise<void>;
  private markReady!: () => void;
  private isOpen = false;

  constructor(
    readonly name: string,
    readonly storage: UsageStorage,
    private readonly options: Required<UsageWriterOptions>,
    private readonly logger: LoggerService,
  ) {
    this.ready = new Promise((r) => (this.markReady = r));
    this.retryDelay = options.retryDelayMs;
    // The spool's own in-memory allowance scales with the buffer bound, so the total stays near it.
    const backlog = Math.min(20_000, Math.ceil(options.maxBufferedRecords / 4));
    // Until the driver started, its target is unknown: spill to the "unbound" folder of this name.
    this.spool = new UsageSpool(spoolFolderOf(options.spoolDirectory, name, undefined), logger, name, backlog);
    this.stats = { name, pending: 0, spooled: 0, written: 0, failedWrites: 0, lost: 0, deadLettered: 0, lastError: null };
  }

  /** The store's spool folder (spool files and `dead-letters.jsonl`). */
  get folder(): string {
    return this.spool.folder;
  }

  /**
   * After the driver's `init`: moves to the store's own spool folder, counts what earlier runs left
   * (taking back files whose replaying process died) and replays it in the background.
   */
  async open(): Promise<void> {
    const folder = spoolFolderOf(this.options.spoolDirectory, this.name, this.storage.target?.());
    await this.spool.bind(folder);
    await this.spool.open();
    this.deadLetters = new UsageDeadLetters(folder, this.logger, this.name);
    await this.deadLetters.open();
    this.isOpen = true;
    this.markReady();
    this.watchdog = setInterval(() => this.spillIfSlow(), Math.max(1, this.options.flushIntervalMs));
    this.watchdog.unref?.();
    if (this.spool.count > 0) {
      this.logger.log(`[${this.name}] replaying ${this.spool.count} spooled usage record(s) from a previous run`);
      void this.kick();
    }
  }

  /**
   * The store is slower than the input: what waited `flushIntervalMs` goes to disk (the batch in flight
   * is copied, the queue's records older than the previous tick are moved), so a crash loses at most what
   * arrived in the last `flushIntervalMs` or two. Age is per record (a sequence number against the previous
   * tick), not "since the queue was last empty": under steady traffic a store that keeps up never empties
   * the queue, and the old check then spilled every batch of a healthy store to the spool (then read it all
   * back). A batch both stored and spooled is written once more at replay unless the spool was told (below).
   */
  private spillIfSlow(): void {
    const head = this.enqueued - this.queue.length;
    const waited = this.ageMark - head;
    this.ageMark = this.enqueued;
    if ((!this.running && !this.retryTimer) || this.closed) return;
    // A local-disk store that is up: the spool is the same disk, a copy there is the same write again.
    if (this.storage.localDisk && this.healthy && !this.retryTimer) return;
    const now = Date.now();
    if (this.inflight && !this.inflightSpilled && now - this.inflightSince >= this.options.flushIntervalMs) {
      this.inflightSpilled = true;
      this.spool.add(this.inflight, this.healthy);
    }
    if (waited > 0) this.spool.add(this.queue.splice(0, waited), this.healthy);
  }
  private inflightSince = 0;

  /** Hot path: O(1), no I/O. */
  enqueue(record: UsageRecord): void {
    const q = this.queue;
    q.push(record);
    this.enqueued++;
    if (q.length > this.options.maxBufferedRecords) {
      // Keep memory bounded: the newest overflow waits on disk instead (no longer numbered in the queue).
      const over = q.splice(this.options.maxBufferedRecords);
      this.enqueued -= over.length;
      this.spool.add(over, this.healthy);
    }
    if (this.retryTimer) return; // a retry is scheduled; it will take these too
    if (q.length >= this.options.batchSize) {
      // A macrotask, not a microtask: the store's work must not run inside the caller's await.
      if (!this.running && !this.immediate) {
        this.immediate = setImmediate(() => {
          this.immediate = null;
          void this.kick();
        });
      }
    } else if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = null;
        void this.kick();
      }, this.options.flushIntervalMs);
      this.timer.unref?.();
    }
  }

  getStats(): UsageStorageStats {
    return {
      ...this.stats,
      pending: this.queue.length + this.spool.count + (this.inflight && !this.inflightSpilled ? this.inflight.length : 0),
      spooled: this.spool.count,
      lost: this.spool.lost + (this.deadLetters?.lost ?? 0),
      deadLettered: this.deadLetters?.count ?? 0,
    };
  }

  /** Starts a flush cycle unless one runs; returns the running cycle. */
  private kick(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (!this.running) {
      this.running = this.cycle().finally(() => {
        this.running = null;
        // Records that arrived (or were spilled to the spool) during the last write of the cycle must
        // not wait for the next enqueue.
        if ((this.queue.length > 0 || this.spool.needsReplay) && !this.retryTimer && !this.closed && !this.timer) {
          this.timer = setTimeout(() => {
            this.timer = null;
            void this.kick();
          }, 0);
          this.timer.unref?.();
        }
      });
    }
    return this.running;
  }

  private async cycle(): Promise<void> {
    await this.ready;
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.options.batchSize);
      const failed = await this.deliver(batch);
      if (failed) {
        // Back at the head: numbered as the oldest again (enqueued - queue.length moves down), so the
        // watchdog spools them at its next tick if the store stays down.
        this.queue.unshift(...failed.left);
        this.onFailure(failed.error);
        return;
      }
    }
    if (this.spool.needsReplay) {
      try {
        const n = await this.spool.replay(async (b) => {
          const failed = await this.deliver(b);
          if (failed) throw failed.error;
        }, this.options.batchSize);
        if (n) this.logger.log(`[${this.name}] replayed ${n} spooled usage record(s)`);
      } catch (err) {
        this.onFailure(err as Error);
      }
    }
  }

  /**
   * Writes `batch`; when the store refuses it as data, splits it (halves, depth first) until the refused
   * records stand alone, stores every other one and dead-letters those. Returns what is left when the
   * store turned out to be down (to retry later), or null.
   */
  private async deliver(batch: UsageRecord[]): Promise<{ left: UsageRecord[]; error: Error } | null> {
    const parts = [batch];
    while (parts.length > 0) {
      const part = parts.pop()!;
      this.inflight = part;
      this.inflightSince = Date.now();
      this.inflightSpilled = false;
      try {
        await this.storage.write(part);
        // A copy of it went to the spool meanwhile: that copy is skipped at replay, so `written` and
        // `pending` count each record once.
        if (this.inflightSpilled) this.spool.markStored(part);
        this.onSuccess(part.length);
      } catch (err) {
        // Refused as data: its records are stored or dead-lettered from memory below, not from the spool.
        if (this.inflightSpilled && this.storage.isDataError?.(err)) this.spool.markStored(part);
        if (!this.storage.isDataError?.(err)) {
          // A batch copied to the spool while it was in flight is retried from there, not twice.
          const left = this.inflightSpilled ? [] : part;
          for (let i = parts.length - 1; i >= 0; i--) left.push(...parts[i]);
          return { left, error: err as Error };
        }
        if (part.length === 1) {
          await this.deadLetters!.add(part, err as Error);
          this.stats.deadLettered = this.deadLetters!.count;
        } else {
          const mid = part.length >> 1;
          parts.push(part.slice(mid), part.slice(0, mid));
        }
      } finally {
        this.inflight = null;
      }
    }
    return null;
  }

  /** Dead letters of this store, oldest first. */
  async readDeadLetters(limit: number): Promise<UsageDeadLetter[]> {
    await this.ready;
    return this.deadLetters!.read(limit);
  }

  /**
   * Writes the dead letters again (after the store or the data was fixed); those still refused are
   * dead-lettered again. Runs in the flush cycle's turn (a driver never writes concurrently).
   */
  async replayDeadLetters(): Promise<{ replayed: number; deadLettered: number }> {
    await this.ready;
    while (this.running) await this.running;
    const written = this.stats.written;
    const run = this.deadLetters!.replay(async (b) => {
      const failed = await this.deliver(b);
      if (failed) throw failed.error;
    }, this.options.batchSize);
    this.running = run.then(() => undefined, () => undefined).finally(() => (this.running = null));
    await run;
    return { replayed: this.stats.written - written, deadLettered: this.deadLetters!.count };
  }

  private onSuccess(n: number): void {
    this.stats.written += n;
    if (!this.healthy) {
      this.healthy = true;
      this.logger.log(
        `[${this.name}] usage storage is writable again after ${this.failuresThisOutage + 1} failed attempt(s); ${this.queue.length + this.spool.count} record(s) still pending`,
      );
      this.failuresThisOutage = 0;
    }
    this.retryDelay = this.options.retryDelayMs;
  }

  private onFailure(err: Error): void {
    this.stats.failedWrites++;
    this.stats.lastError = err.message;
    // Once per outage (the stack once); the attempts after it are counted and told at recovery.
    if (this.healthy) {
      this.healthy = false;
      this.logger.error(
        `[${this.name}] usage storage write failed; records are kept and retried (logged once until it recovers): ${err.message}`,
        err.stack,
      );
    } else this.failuresThisOutage++;
    if (this.closed) return;
    const delay = this.retryDelay;
    this.retryDelay = Math.min(this.retryDelay * 2, this.options.maxRetryDelayMs);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.kick();
    }, delay);
    this.retryTimer.unref?.();
  }

  /**
   * Writes everything accepted so far (buffer and spool). Throws when the store refuses, so a read
   * that needs its own writes does not silently answer without them.
   */
  async flush(): Promise<void> {
    await this.spool.settle();
    // A cycle that began before this call may fail on a store that is back by now: judge a fresh one.
    if (this.running) await this.running;
    if (this.retryTimer) {
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }
    for (let i = 0; i < 3 && (this.queue.length > 0 || this.spool.count > 0 || this.running); i++) {
      await this.kick();
      // Failing with nothing left (another process replayed it) is not a failure of this flush.
      if (!this.healthy && (this.queue.length > 0 || this.spool.count > 0)) {
        throw new Error(
          `usage storage "${this.name}" is failing (${this.stats.lastError}); ${this.queue.length + this.spool.count} record(s) pending`,
        );
      }
    }
  }

  /**
   * Shutdown: stop timers, write what can be written within `shutdownTimeoutMs`, spool the rest to disk
   * (replayed at the next start), then let the driver close its own connections.
   */
  async close(): Promise<void> {
    this.closed = true;
    if (this.watchdog) clearInterval(this.watchdog);
    this.watchdog = null;
    if (this.immediate) clearImmediate(this.immediate);
    this.immediate = null;
    if (this.timer) clearTimeout(this.timer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.timer = this.retryTimer = null;
    if (!this.isOpen) {
      // The driver never initialised (the app failed to boot): keep what was recorded on disk.
      this.spool.add(this.queue.splice(0), false);
      await this.spool.settle();
      return;
    }
    const deadline = Date.now() + this.options.shutdownTimeoutMs;
    let delay = this.options.retryDelayMs;
    while (this.queue.length > 0 && Date.now() < deadline) {
      await this.kick();
      if (this.queue.length > 0) {
        await new Promise((r) => setTimeout(r, Math.min(delay, Math.max(0, deadline - Date.now()))));
        delay = Math.min(delay * 2, 2000);
      }
    }
    if (this.running) await this.running;
    if (this.queue.length > 0) {
      const n = this.queue.length;
      this.spool.add(this.queue.splice(0), false);
      await this.spool.settle();
      this.logger.warn(`[${this.name}] usage storage still failing at shutdown: ${n} record(s) spooled for the next start`);
    }
    await this.spool.settle();
    await this.storage.close?.();
  }
}
