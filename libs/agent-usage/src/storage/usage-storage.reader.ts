import type {
  NormalizedUsageFilters,
  UsageDimension,
  UsageFilters,
  UsageGroup,
  UsageIdentity,
  UsagePage,
  UsagePageOptions,
  UsageTotals,
} from '../interfaces/usage-query.interface';
import type { UsageTrackingModuleOptions } from '../interfaces/usage-tracking-options.interface';
import { DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT } from '../common/usage-tracking.constants';
import { InvalidUsageInputError } from '../common/usage.errors';
import { assertDimension, isEmptyFilter, normalizeFilters } from '../query/usage-filters';
import { toTotals } from '../query/usage-totals';
import type { UsageStorageRegistry } from './usage-storage.registry';

export interface ClearUsageOptions {
  /** Must be true to clear with empty filters (everything). */
  all?: boolean;
}

/** Reads of one driver: `UsageService` reads the primary driver; `usage.storage(name)` returns any other's. */
export interface UsageReader {
  getUsage(filters?: UsageFilters & UsagePageOptions): Promise<UsagePage>;
  getUsageAggregate(filters?: UsageFilters): Promise<UsageTotals>;
  getUsageGroupedBy(dimension: UsageDimension, filters?: UsageFilters): Promise<UsageGroup[]>;
  getUsageIdentities(filters?: UsageFilters): Promise<UsageIdentity[]>;
  clearUsage(filters?: UsageFilters, options?: ClearUsageOptions): Promise<number>;
}

/** The reads of one configured driver (read-your-writes through its writer). */
export class UsageStorageReader implements UsageReader {
  constructor(
    private readonly registry: UsageStorageRegistry,
    private readonly name: string,
    private readonly options: UsageTrackingModuleOptions,
  ) {}

  private get timeZone(): string {
    return this.options.timeZone ?? 'UTC';
  }

  /** Read-your-writes: this process's buffered records reach the store before it is asked. */
  private async prepare(filters: UsageFilters | undefined): Promise<NormalizedUsageFilters> {
    const f = normalizeFilters(filters, this.timeZone);
    if (this.options.consistentReads !== false) await this.registry.writer(this.name).flush();
    return f;
  }

  private get store() {
    return this.registry.writer(this.name).storage;
  }

  /** Records, newest first, a page at a time. */
  async getUsage(filters: UsageFilters & UsagePageOptions = {}): Promise<UsagePage> {
    const { limit = DEFAULT_PAGE_LIMIT, offset = 0, ...rest } = filters;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_LIMIT) {
      throw new InvalidUsageInputError('limit', `an integer from 1 to ${MAX_PAGE_LIMIT}`, limit);
    }
    if (!Number.isInteger(offset) || offset < 0) throw new InvalidUsageInputError('offset', 'a non-negative integer', offset);
    const f = await this.prepare(rest);
    const items = await this.store.list(f, limit + 1, offset);
    return { items: items.slice(0, limit), limit, offset, hasMore: items.length > limit };
  }

  /** Sums of every count, the cost and the record count. */
  async getUsageAggregate(filters?: UsageFilters): Promise<UsageTotals> {
    const f = await this.prepare(filters);
    return toTotals(await this.store.aggregate(f));
  }

  /** Totals per value of `dimension`, ordered by key (null last). */
  async getUsageGroupedBy(dimension: UsageDimension, filters?: UsageFilters): Promise<UsageGroup[]> {
    const d = assertDimension(dimension);
    const f = await this.prepare(filters);
    const groups = (await this.store.groupBy(d, f)).map((g) => ({ key: g.key, ...toTotals(g) }));
    return groups.sort((a, b) => (a.key === b.key ? 0 : a.key === null ? 1 : b.key === null ? -1 : a.key < b.key ? -1 : 1));
  }

  /** Distinct (agentName, userId, group, chatName) combinations that have usage. */
  async getUsageIdentities(filters?: UsageFilters): Promise<UsageIdentity[]> {
    const f = await this.prepare(filters);
    const key = (i: UsageIdentity) => JSON.stringify([i.agentName, i.userId, i.group, i.chatName]);
    return (await this.store.identities(f)).sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  }

  /** Deletes matching records; returns how many. Empty filters need `{ all: true }`. */
  async clearUsage(filters: UsageFilters = {}, options: ClearUsageOptions = {}): Promise<number> {
    const f = await this.prepare(filters);
    if (isEmptyFilter(f) && options.all !== true) {
      throw new InvalidUsageInputError('filters', 'at least one filter, or { all: true } as the second argument to clear everything', filters);
    }
    return this.store.clear(f);
  }
}
