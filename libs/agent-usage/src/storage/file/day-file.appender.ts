import { type FileHandle, open } from 'node:fs/promises';
import { statSync } from 'node:fs';
import type { UsageRecord } from '../../interfaces/usage-record.interface';
import { recordToJson } from '../usage-record.json';

/** Day files kept open at once (a batch usually touches one or two days). */
const MAX_OPEN = 4;

/**
 * Appends whole batches to day files through file handles kept open between batches. `fs.appendFile`
 * with a string opens the file, writes it in 512 KiB chunks and closes it: about eight thread-pool round
 * trips for a 5,000-record batch, each waiting for the event loop, which the app (recording the next
 * records) holds meanwhile. That, not the disk, capped the driver (about 60,000 rec/s with the loop busy).
 * Here a batch is one write of one buffer. A file renamed or deleted under an open handle (a clear in
 * another process) is noticed by its inode before the write, and reopened.
 */
export class DayFileAppender {
  private readonly handles = new Map<string, { fh: FileHandle; dev: number; ino: number }>();

  /** Appends `buf` (valid until this resolves). */
  async append(path: string, buf: Buffer): Promise<void> {
    let h = this.handles.get(path);
    if (h && !sameFile(path, h.dev, h.ino)) {
      this.handles.delete(path);
      await h.fh.close().catch(() => undefined);
      h = undefined;
    }
    if (!h) {
      if (this.handles.size >= MAX_OPEN) await this.closeOldest();
      const fh = await open(path, 'a');
      const st = await fh.stat();
      this.handles.set(path, (h = { fh, dev: st.dev, ino: st.ino }));
    }
    let off = 0;
    // A regular file takes the whole buffer in one write; the loop only covers a short write.
    while (off < buf.length) off += (await h.fh.write(buf, off, buf.length - off)).bytesWritten;
  }

  private async closeOldest(): Promise<void> {
    const [path, h] = this.handles.entries().next().value as [string, { fh: FileHandle }];
    this.handles.delete(path);
    await h.fh.close().catch(() => undefined);
  }

  /** Files held open (tests: the bound on open handles). */
  openCount(): number {
    return this.handles.size;
  }

  /** Before a day file is rewritten (clear) and at shutdown. */
  async closeAll(): Promise<void> {
    const all = [...this.handles.values()];
    this.handles.clear();
    for (const h of all) await h.fh.close().catch(() => undefined);
  }
}

/** Buffers above this are not kept between batches (a batch of large metadata should not pin memory). */
const KEEP_BYTES = 8 * 1024 * 1024;

/**
 * Records as JSON lines, encoded straight into one reused buffer. Joining a batch's lines into one string
 * and then encoding it allocated two copies of the batch (a few MB each, in large-object space) per write:
 * measured as the largest single cost of the driver's write, above JSON.stringify itself.
 */
export class LinesEncoder {
  private buf = Buffer.allocUnsafe(1024 * 1024);

  /** The lines of `records`, each ending in a newline; the buffer is valid until the next call. */
  encode(records: readonly UsageRecord[]): Buffer {
    let off = 0;
    for (const r of records) {
      const line = recordToJson(r);
      // At most 3 bytes per UTF-16 code unit, plus the newline.
      const need = off + line.length * 3 + 1;
      if (need > this.buf.length) {
        const bigger = Buffer.allocUnsafe(Math.max(need, this.buf.length * 2));
        this.buf.copy(bigger, 0, 0, off);
        this.buf = bigger;
      }
      off += this.buf.write(line, off, 'utf8');
      this.buf[off++] = 0x0a;
    }
    const out = this.buf.subarray(0, off);
    if (this.buf.length > KEEP_BYTES) this.buf = Buffer.allocUnsafe(1024 * 1024); // `out` keeps the big one alive until written
    return out;
  }
}

/** Whether `path` is still the file the handle was opened on (one stat, no round trip to the pool). */
function sameFile(path: string, dev: number, ino: number): boolean {
  try {
    const st = statSync(path);
    return st.ino === ino && st.dev === dev;
  } catch {
    return false; // deleted: reopen creates it again
  }
}
