import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import type { UsageRecord } from '../../interfaces/usage-record.interface';
import type { ExportFormat } from './usage-export.format';

/** Rows are sent in chunks of about this many characters: fewer writes, memory still bounded. */
const CHUNK_CHARS = 64 * 1024;

/** Resolves when the socket drained, false when the client went away first. */
async function drained(res: ServerResponse): Promise<boolean> {
  if (res.destroyed || res.writableEnded) return false;
  const ac = new AbortController();
  try {
    const winner = await Promise.race([once(res, 'drain', { signal: ac.signal }).then(() => true), once(res, 'close', { signal: ac.signal }).then(() => false)]);
    return winner;
  } finally {
    ac.abort();
  }
}

/**
 * Writes `records` in `format` with backpressure: after a write the socket did not take at once, the
 * next record is not read until it drained, so memory stays bounded by one chunk whatever the export's
 * size. A client that disconnects stops the read (the iterator is returned, the store's cursor closed).
 * Returns the number of records written.
 */
export async function streamExport(res: ServerResponse, first: IteratorResult<UsageRecord>, rest: AsyncIterator<UsageRecord>, format: ExportFormat): Promise<number> {
  let chunk = format.head;
  let count = 0;
  let next = first;
  try {
    while (!next.done) {
      chunk += format.row(next.value, count++);
      if (chunk.length >= CHUNK_CHARS) {
        const ok = res.write(chunk);
        chunk = '';
        if (!ok && !(await drained(res))) return count;
      }
      if (res.destroyed) return count;
      next = await rest.next();
    }
    res.end(chunk + format.tail);
    return count;
  } finally {
    if (!next.done) await rest.return?.();
  }
}
