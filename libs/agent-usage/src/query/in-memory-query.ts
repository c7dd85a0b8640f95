/**
 * Filtering and summing of records already in memory. Used by the memory driver (its store is the
 * process heap) and by the file driver while it streams one day file at a time.
 */
import type {
  NormalizedUsageFilters,
  RawUsageTotals,
  UsageDimension,
  UsageIdentity,
} from '../interfaces/usage-query.interface';
import type { UsageRecord } from '../interfaces/usage-record.interface';
import { dayKey, hourKey } from './time-zone';

export function matchesFilters(r: UsageRecord, f: NormalizedUsageFilters): boolean {
  if (f.from && r.recordedAt.getTime() < f.from.getTime()) return false;
  if (f.to && r.recordedAt.getTime() >= f.to.getTime()) return false;
  if (f.success !== undefined && r.success !== f.success) return false;
  if (f.agentName && !f.agentName.includes(r.agentName as string)) return false;
  if (f.userId && !f.userId.includes(r.userId as string)) return false;
  if (f.group && !f.group.includes(r.group as string)) return false;
  if (f.chatName && !f.chatName.includes(r.chatName as string)) return false;
  if (f.modelName && !f.modelName.includes(r.modelName as string)) return false;
  if (f.providerName && !f.providerName.includes(r.providerName as string)) return false;
  if (f.runId && !f.runId.includes(r.runId as string)) return false;
  if (f.errorType && !f.errorType.includes(r.errorType as string)) return false;
  if (f.category && !f.category.includes(r.category)) return false;
  return true;
}

export function groupKeyOf(r: UsageRecord, dimension: UsageDimension, timeZone: string): string | null {
  switch (dimension) {
    case 'day':
      return dayKey(r.recordedAt, timeZone);
    case 'hour':
      return hourKey(r.recordedAt, timeZone);
    default:
      return r[dimension];
  }
}

type TokenSum = 'requests' | 'units' | 'inputTokens' | 'cachedInputTokens' | 'cacheWriteTokens' | 'outputTokens' | 'reasoningTokens' | 'totalTokens';
const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/**
 * Running sums. Counts stay plain numbers while they are safe integers (the common case, and fast); a sum
 * that would pass 2^53-1 moves into a bigint carry first, so no size of sum rounds. Cost is bigint throughout.
 */
export class TotalsAccumulator {
  recordCount = 0;
  requests = 0;
  inputTokens = 0;
  cachedInputTokens = 0;
  cacheWriteTokens = 0;
  outputTokens = 0;
  reasoningTokens = 0;
  totalTokens = 0;
  failedCount = 0;
  usageMissingCount = 0;
  unpricedCount = 0;
  runCount = 0;
  agentRunCount = 0;
  units = 0;
  cost = 0n;
  private carry: Partial<Record<TokenSum, bigint>> | null = null;

  add(r: UsageRecord): void {
    this.recordCount++;
    this.sum('requests', r.requests);
    if (r.inputTokens) this.sum('inputTokens', r.inputTokens);
    if (r.cachedInputTokens) this.sum('cachedInputTokens', r.cachedInputTokens);
    if (r.cacheWriteTokens) this.sum('cacheWriteTokens', r.cacheWriteTokens);
    if (r.outputTokens) this.sum('outputTokens', r.outputTokens);
    if (r.reasoningTokens) this.sum('reasoningTokens', r.reasoningTokens);
    if (r.totalTokens) this.sum('totalTokens', r.totalTokens);
    if (r.units) this.sum('units', r.units);
    if (!r.success) this.failedCount++;
    if (r.usageMissing) this.usageMissingCount++;
    if (r.runStart) this.runCount++;
    if (r.agentRunStart) this.agentRunCount++;
    if (r.costNanoUsd === null) this.unpricedCount++;
    else this.cost += BigInt(r.costNanoUsd);
  }

  private sum(k: TokenSum, v: number): void {
    // A true sum above 2^53-1 compares above it even after rounding, so this test is exact.
    const n = this[k] + v;
    if (n <= MAX_SAFE) {
      this[k] = n;
      return;
    }
    this.carry ??= {};
    this.carry[k] = (this.carry[k] ?? 0n) + BigInt(this[k]) + BigInt(v);
    this[k] = 0;
  }

  private total(k: TokenSum): number | bigint {
    const c = this.carry?.[k];
    return c === undefined ? this[k] : c + BigInt(this[k]);
  }

  toRaw(): RawUsageTotals {
    return {
      recordCount: this.recordCount,
      requests: this.total('requests'),
      inputTokens: this.total('inputTokens'),
      cachedInputTokens: this.total('cachedInputTokens'),
      cacheWriteTokens: this.total('cacheWriteTokens'),
      outputTokens: this.total('outputTokens'),
      reasoningTokens: this.total('reasoningTokens'),
      totalTokens: this.total('totalTokens'),
      failedCount: this.failedCount,
      usageMissingCount: this.usageMissingCount,
      costNanoUsd: this.cost,
      unpricedCount: this.unpricedCount,
      runCount: this.runCount,
      agentRunCount: this.agentRunCount,
      units: this.total('units'),
    };
  }
}

export function identityKey(r: UsageRecord): string {
  return JSON.stringify([r.agentName, r.userId, r.group, r.chatName]);
}

export function identityOf(r: UsageRecord): UsageIdentity {
  return { agentName: r.agentName, userId: r.userId, group: r.group, chatName: r.chatName };
}

/** Newest first, then id descending: the order every driver's `list` returns. */
export function compareRecordsDesc(a: UsageRecord, b: UsageRecord): number {
  const d = b.recordedAt.getTime() - a.recordedAt.getTime();
  if (d !== 0) return d;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}
