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
import { DEFAULT_MEMORY_MAX_RECORDS } from '../../common/usage-tracking.constants';
import {
  TotalsAccumulator,
  compareRecordsDesc,
  groupKeyOf,
  identityKey,
  identityOf,
  matchesFilters,
} from '../../query/in-memory-query';

/**
 * Keeps records in this process, up to `maxRecords` (default 100000); beyond it the oldest are
 * evicted, and each eviction is counted and logged once per burst. For tests, demos and short-lived
 * workers: nothing survives a restart. Reads scan the heap, which is this driver's store.
 */
export class MemoryUsageStorage implements UsageStorage {
  /** Insertion-ordered: the first key is the oldest record, which makes eviction O(1). */
  private readonly records = new Map<string, UsageRecord>();
  private timeZone = 'UTC';
  private logger?: LoggerService;
  private maxRecords: number;
  evicted = 0;
  private lastEvictionLog = 0;

  constructor(options: { maxRecords?: number } = {}) {
    this.maxRecords = options.maxRecords ?? DEFAULT_MEMORY_MAX_RECORDS;
  }

  init(context: UsageStorageContext): void {
    this.timeZone = context.timeZone;
    this.logger = context.logger;
    this.maxRecords = context.options.memory?.maxRecords ?? this.maxRecords;
  }

  async write(records: readonly UsageRecord[]): Promise<void> {
    for (const r of records) if (!this.records.has(r.id)) this.records.set(r.id, r);
    if (this.records.size > this.maxRecords) this.evict(this.records.size - this.maxRecords);
  }

  /** Drops the oldest `n` records in one pass of one iterator (repeated `keys().next()` is quadratic). */
  private evict(n: number): void {
    const keys = this.records.keys();
    for (let i = 0; i < n; i++) this.records.delete(keys.next().value as string);
    this.evicted += n;
    // One line per burst, not per batch: eviction can happen on every write once the store is full.
    const now = Date.now();
    if (now - this.lastEvictionLog > 60_000) {
      this.lastEvictionLog = now;
      this.logger?.warn(
        `memory usage storage is full (maxRecords=${this.maxRecords}): evicted the ${n} oldest record(s), ${this.evicted} in all; use a persistent driver or raise memory.maxRecords`,
      );
    }
  }

  private *matching(f: NormalizedUsageFilters): Iterable<UsageRecord> {
    for (const r of this.records.values()) if (matchesFilters(r, f)) yield r;
  }

  async list(filters: NormalizedUsageFilters, limit: number, offset: number): Promise<UsageRecord[]> {
    return [...this.matching(filters)].sort(compareRecordsDesc).slice(offset, offset + limit);
  }

  async aggregate(filters: NormalizedUsageFilters): Promise<RawUsageTotals> {
    const acc = new TotalsAccumulator();
    for (const r of this.matching(filters)) acc.add(r);
    return acc.toRaw();
  }

  async groupBy(dimension: UsageDimension, filters: NormalizedUsageFilters): Promise<RawUsageGroup[]> {
    const groups = new Map<string | null, TotalsAccumulator>();
    for (const r of this.matching(filters)) {
      const key = groupKeyOf(r, dimension, this.timeZone);
      let acc = groups.get(key);
      if (!acc) groups.set(key, (acc = new TotalsAccumulator()));
      acc.add(r);
    }
    return [...groups].map(([key, acc]) => ({ key, ...acc.toRaw() }));
  }

  async identities(filters: NormalizedUsageFilters): Promise<UsageIdentity[]> {
    const seen = new Map<string, UsageIdentity>();
    for (const r of this.matching(filters)) {
      const k = identityKey(r);
      if (!seen.has(k)) seen.set(k, identityOf(r));
    }
    return [...seen.values()];
  }

  async clear(filters: NormalizedUsageFilters): Promise<number> {
    let n = 0;
    for (const [id, r] of this.records) {
      if (matchesFilters(r, filters)) {
        this.records.delete(id);
        n++;
      }
    }
    return n;
  }
}
