/**
 * `clear` of the Redis driver: always walks an index (cache-storage.index-scan.ts), deleting and
 * uncounting a chunk of records at a time with the write script run with sign -1 (cache-storage.write.ts).
 */
import type { NormalizedUsageFilters } from '../../interfaces/usage-query.interface';
import type { PreparedRecord } from './cache-storage.plan';
import type { Scan } from './cache-storage.index-scan';
import type { CacheDriverState } from './cache-storage.state';
import { prepareRecord, runChunks } from './cache-storage.write';

/** Deletes the records matching `filters` (the range not empty); returns how many this call deleted. */
export async function clearRecords(s: CacheDriverState, scan: Scan, filters: NormalizedUsageFilters): Promise<number> {
  let removed = 0;
  await scan(filters, async (batch) => {
    const seen = new Set<string>();
    const items: PreparedRecord[] = [];
    for (const { record, json } of batch) {
      if (seen.has(record.id)) continue;
      seen.add(record.id);
      items.push(prepareRecord(s, record, json, null));
    }
    // Records another instance deleted meanwhile are skipped: only the one that deletes a record uncounts it.
    // The walk resumes after the last member it read, so deleting what it visited moves nothing.
    removed += await runChunks(s, -1, items, Date.now(), () => undefined);
  });
  return removed;
}
