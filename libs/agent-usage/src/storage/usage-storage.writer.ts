import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LoggerService } from '@nestjs/common';
import type { UsageStorage, UsageStorageStats } from '../interfaces/usage-storage.interface';
import type { UsageRecord } from '../interfaces/usage-record.interface';
import type { UsageWriterOptions } from '../interfaces/usage-tracking-options.interface';
import { UsageSpool } from './usage-spool';

export const DEFAULT_WRITER_OPTIONS: Required<UsageWriterOptions> = {
  batchSize: 500,
  flushIntervalMs: 1000,
  maxBufferedRecords: 100_000,
  spoolDirectory: join(tmpdir(), 'nestjs-agent-usage-spool'),
  retryDelayMs: 200,
  maxRetryDelayMs: 30_000,
  shutdownTimeoutMs: 10_000,
};

/**
 * Sits between `record()` and one driver. `enqueue` only pushes to an array (the agent's call path
 * never waits on I/O); batches go to the driver by size or by interval, one write at a time. A failed
 * write is logged, counted and retried with backoff, its records kept; beyond `maxBufferedRecords` the
 * overflow goes to a local spool file that is replayed once the store accepts writes again.
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
  private readonly stats: UsageStorageStats;
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
    const safe = name.replace(/[^A-Za-z0-9_.-]/g, '_');
    // The spool's own in-memory allowance scales with the buffer bound, so the total stays near it.
    const backlog = Math.min(20_000, Math.ceil(options.maxBufferedRecords / 4));
    this.spool = new UsageSpool(join(options.spoolDirectory, safe), logger, name, backlog);
    this.stats = { name, pending: 0, spooled: 0, written: 0, failedWrites: 0, lost: 0, lastError: null };
  }

  /** Counts what a previous run spooled and replays it in the background. */
  async open(): Promise<void> {
    await this.spool.open();
    this.isOpen = true;
    this.markReady();
    if (this.spool.count > 0) {
      this.logger.log(`[${this.name}] replaying ${this.spool.count} spooled usage record(s) from a previous run`);
      void this.kick();
    }
  }

  /** Hot path: O(1), no I/O. */
  enqueue(record: UsageRecord): void {
    const q = this.queue;
    q.push(record);
    if (q.length > this.options.maxBufferedRecords) {
      // Keep memory bounded: the newest overflow waits on disk instead.
      this.spool.add(q.splice(this.options.maxBufferedRecords));
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
    return { ...this.stats, pending: this.queue.length + this.spool.count, spooled: this.spool.count, lost: this.spool.lost };
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
        // Records that arrived during the last write of the cycle must not wait for the next enqueue.
        if (this.queue.length > 0 && !this.retryTimer && !this.closed && !this.timer) {
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
      try {
        await this.storage.write(batch);
        this.onSuccess(batch.length);
      } catch (err) {
        this.queue.unshift(...batch);
        this.onFailure(err as Error);
        return;
      }
    }
    if (this.spool.count > 0) {
      try {
        const n = await this.spool.replay(async (b) => {
          await this.storage.write(b);
          this.onSuccess(b.length);
        }, this.options.batchSize);
        if (n) this.logger.log(`[${this.name}] replayed ${n} spooled usage record(s)`);
      } catch (err) {
        this.onFailure(err as Error);
      }
    }
  }

  private onSuccess(n: number): void {
    this.stats.written += n;
    if (!this.healthy) {
      this.healthy = true;
      this.logger.log(`[${this.name}] usage storage is writable again; ${this.queue.length + this.spool.count} record(s) still pending`);
    }
    this.retryDelay = this.options.retryDelayMs;
  }

  private onFailure(err: Error): void {
    this.stats.failedWrites++;
    this.stats.lastError = err.message;
    if (this.healthy) {
      this.healthy = false;
      this.logger.error(
        `[${this.name}] usage storage write failed; records are kept and retried: ${err.message}`,
        err.stack,
      );
    }
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
    if (this.retryTimer) {
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }
    await this.spool.settle();
    for (let i = 0; i < 3 && (this.queue.length > 0 || this.spool.count > 0 || this.running); i++) {
      await this.kick();
      if (!this.healthy) {
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
    if (this.immediate) clearImmediate(this.immediate);
    this.immediate = null;
    if (this.timer) clearTimeout(this.timer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.timer = this.retryTimer = null;
    if (!this.isOpen) {
      // The driver never initialised (the app failed to boot): keep what was recorded on disk.
      this.spool.add(this.queue.splice(0));
      await this.spool.settle();
      return;
    }
    const deadline = Date.now() + this.options.shutdownTimeoutMs;
    let delay = this.options.retryDelayMs;
    while (this.queue.length > 0 && Date.now() < deadline) {
      this.healthy = true;
      await this.kick();
      if (this.queue.length > 0) {
        await new Promise((r) => setTimeout(r, Math.min(delay, Math.max(0, deadline - Date.now()))));
        delay = Math.min(delay * 2, 2000);
      }
    }
    if (this.running) await this.running;
    if (this.queue.length > 0) {
      const n = this.queue.length;
      this.spool.add(this.queue.splice(0));
      await this.spool.settle();
      this.logger.warn(`[${this.name}] usage storage still failing at shutdown: ${n} record(s) spooled for the next start`);
    }
    await this.spool.settle();
    await this.storage.close?.();
  }
}
