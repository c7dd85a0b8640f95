/**
 * Spend logs and export: records newest first (then id descending, the order of every driver's `list`),
 * paged by a keyset cursor instead of a growing offset. A cursor holds the last record's instant `t`, its
 * id and `k`, how many records of that millisecond were already returned. The next page asks the store
 * for records before `t + 1 ms`, skipping `k`: records arriving later (after `t`) never shift a page, and
 * one arriving at `t` itself can only make the skip too short, so records already returned (at `t`, with
 * an id >= the last one) are dropped instead of repeated. Nothing is skipped either way.
 */
import { InvalidUsageInputError } from '../common/usage.errors';
import type { UsageFilters } from '../interfaces/usage-query.interface';
import type { UsageRecord } from '../interfaces/usage-record.interface';
import type { AnalyticsContext } from './analytics.context';
import type { UsageSpendLogItem, UsageSpendLogs, UsageSpendLogsQuery } from './analytics.interfaces';
import { money } from './analytics-money';

export const DEFAULT_LOG_LIMIT = 50;
export const MAX_LOG_LIMIT = 1000;
/** Records per store page while exporting. */
export const EXPORT_PAGE_SIZE = 1000;

interface Cursor {
  t: number;
  id: string;
  k: number;
}

export function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify([c.t, c.id, c.k]), 'utf8').toString('base64url');
}

export function decodeCursor(value: unknown): Cursor {
  const bad = () => new InvalidUsageInputError('cursor', 'the nextCursor of a previous page', value);
  if (typeof value !== 'string' || value.length === 0 || value.length > 2000 || !/^[A-Za-z0-9_-]+$/.test(value)) throw bad();
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(value, 'base64url').toString('utf8'));
  } catch {
    throw bad();
  }
  if (!Array.isArray(parsed) || parsed.length !== 3) throw bad();
  const [t, id, k] = parsed as unknown[];
  if (!Number.isSafeInteger(t) || typeof id !== 'string' || !Number.isSafeInteger(k) || (k as number) < 1) throw bad();
  return { t: t as number, id, k: k as number };
}

/** One page after `cursor` (or the first page): up to `limit` records and the cursor after them. */
export async function pageAfter(ctx: AnalyticsContext, filters: UsageFilters, cursor: Cursor | null, limit: number): Promise<{ items: UsageRecord[]; next: Cursor | null }> {
  const scope: UsageFilters = cursor ? { ...filters, to: new Date(cursor.t + 1) } : filters;
  const kept: UsageRecord[] = [];
  const scanned: UsageRecord[] = [];
  let offset = cursor?.k ?? 0;
  let more = true;
  while (more && kept.length <= limit) {
    const page = await ctx.reader.getUsage({ ...scope, limit: Math.max(limit + 1 - kept.length, 1), offset });
    offset += page.items.length;
    more = page.hasMore;
    for (const r of page.items) {
      scanned.push(r);
      const seen = cursor !== null && r.recordedAt.getTime() === cursor.t && r.id >= cursor.id;
      if (!seen) kept.push(r);
    }
  }
  const items = kept.slice(0, limit);
  if (kept.length <= limit || items.length === 0) return { items, next: null };
  const last = items[items.length - 1];
  const t = last.recordedAt.getTime();
  // Records of the last millisecond before (and including) `last` in the store's order, including the
  // ones the previous cursor skipped when that millisecond is the same.
  const upTo = scanned.indexOf(last);
  let k = cursor && cursor.t === t ? cursor.k : 0;
  for (let i = 0; i <= upTo; i++) if (scanned[i].recordedAt.getTime() === t) k++;
  return { items, next: { t, id: last.id, k } };
}

export function withCost(r: UsageRecord): UsageSpendLogItem {
  if (r.costNanoUsd === null) return { ...r, cost: null, costExact: null };
  const c = money(BigInt(r.costNanoUsd));
  return { ...r, cost: c.usd, costExact: c.exact };
}

export async function getSpendLogs(ctx: AnalyticsContext, query: UsageSpendLogsQuery): Promise<UsageSpendLogs> {
  const { cursor, limit = DEFAULT_LOG_LIMIT, ...rangeQuery } = query ?? {};
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LOG_LIMIT) throw new InvalidUsageInputError('limit', `an integer from 1 to ${MAX_LOG_LIMIT}`, limit);
  const after = cursor === undefined ? null : decodeCursor(cursor);
  const page = await pageAfter(ctx, ctx.rangeFilters(rangeQuery, 'all_time'), after, limit);
  return { items: page.items.map(withCost), nextCursor: page.next && encodeCursor(page.next), limit };
}

/** Every record matching `filters` (a resolved range), newest first, one store page of `EXPORT_PAGE_SIZE` at a time. */
export async function* exportUsage(ctx: AnalyticsContext, filters: UsageFilters): AsyncGenerator<UsageRecord> {
  let cursor: Cursor | null = null;
  do {
    const page = await pageAfter(ctx, filters, cursor, EXPORT_PAGE_SIZE);
    yield* page.items;
    cursor = page.next;
  } while (cursor);
}
