/**
 * Reference answers of the conformance suite, computed by plain loops over the records, independently of
 * the library's own query code (so the memory driver is checked too).
 */
import type { UsageRecord } from '../interfaces/usage-record.interface';
import type { NormalizedUsageFilters, RawCount, RawUsageTotals, UsageDimension, UsageExactTotals, UsageIdentity } from '../interfaces/usage-query.interface';
import { BASE } from './storage-conformance.data';

export function localKey(d: Date, timeZone: string, withHour: boolean): string {
  const parts: Record<string, string> = {};
  for (const p of new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
  }).formatToParts(d)) {
    parts[p.type] = p.value;
  }
  const day = `${parts.year}-${parts.month}-${parts.day}`;
  return withHour ? `${day}T${parts.hour}` : day;
}

export function matches(r: UsageRecord, f: NormalizedUsageFilters): boolean {
  const inList = (v: string | null, list?: string[]) => !list || (v !== null && list.includes(v));
  return (
    (!f.from || r.recordedAt.getTime() >= f.from.getTime()) &&
    (!f.to || r.recordedAt.getTime() < f.to.getTime()) &&
    (f.success === undefined || r.success === f.success) &&
    inList(r.agentName, f.agentName) &&
    inList(r.userId, f.userId) &&
    inList(r.group, f.group) &&
    inList(r.chatName, f.chatName) &&
    inList(r.modelName, f.modelName) &&
    inList(r.providerName, f.providerName) &&
    inList(r.runId, f.runId) &&
    inList(r.errorType, f.errorType) &&
    inList(r.category, f.category)
  );
}

/** Every sum as an exact decimal string: the shape of `UsageTotals.exact`, from the one list of sums. */
export type Totals = UsageExactTotals;

export function reference(records: UsageRecord[]): Totals {
  const s = (f: (r: UsageRecord) => number) => String(records.reduce((a, r) => a + BigInt(f(r)), 0n));
  return {
    recordCount: String(records.length),
    requests: s((r) => r.requests),
    inputTokens: s((r) => r.inputTokens ?? 0),
    cachedInputTokens: s((r) => r.cachedInputTokens ?? 0),
    cacheWriteTokens: s((r) => r.cacheWriteTokens ?? 0),
    outputTokens: s((r) => r.outputTokens ?? 0),
    reasoningTokens: s((r) => r.reasoningTokens ?? 0),
    totalTokens: s((r) => r.totalTokens ?? 0),
    failedCount: s((r) => (r.success ? 0 : 1)),
    usageMissingCount: s((r) => (r.usageMissing ? 1 : 0)),
    costNanoUsd: s((r) => r.costNanoUsd ?? 0),
    unpricedCount: s((r) => (r.costNanoUsd === null ? 1 : 0)),
    runCount: s((r) => (r.runStart ? 1 : 0)),
    agentRunCount: s((r) => (r.agentRunStart ? 1 : 0)),
    units: s((r) => r.units ?? 0),
  };
}

/** Drivers may return numbers, bigints or numeric strings; compare them as exact integers. */
export function canon(raw: RawUsageTotals): Totals {
  const c = (v: RawCount) => {
    const str = String(v).trim();
    const m = /^(-?\d+)(?:\.0*)?$/.exec(str);
    if (!m) throw new Error(`not an exact integer: ${str}`);
    return String(BigInt(m[1]));
  };
  return {
    recordCount: c(raw.recordCount),
    requests: c(raw.requests),
    inputTokens: c(raw.inputTokens),
    cachedInputTokens: c(raw.cachedInputTokens),
    cacheWriteTokens: c(raw.cacheWriteTokens),
    outputTokens: c(raw.outputTokens),
    reasoningTokens: c(raw.reasoningTokens),
    totalTokens: c(raw.totalTokens),
    failedCount: c(raw.failedCount),
    usageMissingCount: c(raw.usageMissingCount),
    costNanoUsd: c(raw.costNanoUsd),
    unpricedCount: c(raw.unpricedCount),
    runCount: c(raw.runCount),
    agentRunCount: c(raw.agentRunCount),
    units: c(raw.units),
  };
}

export function groupKeyOf(r: UsageRecord, d: UsageDimension, tz: string): string | null {
  if (d === 'day') return localKey(r.recordedAt, tz, false);
  if (d === 'hour') return localKey(r.recordedAt, tz, true);
  return r[d];
}

export const sortDesc = (a: UsageRecord, b: UsageRecord) =>
  b.recordedAt.getTime() - a.recordedAt.getTime() || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);

export const identityKey = (i: UsageIdentity) => JSON.stringify([i.agentName, i.userId, i.group, i.chatName]);

/** Filter sets every driver must answer exactly; `day` ranges are whole UTC/NY days. */
export function filterCases(tz: string): [string, NormalizedUsageFilters][] {
  const dayStart = (iso: string) => {
    // Local midnight of `iso` in tz, found by search (no library code involved).
    const [y, m, d] = iso.split('-').map(Number);
    for (let h = -14; h <= 14; h++) {
      const t = new Date(Date.UTC(y, m - 1, d, 0) - h * 3_600_000);
      if (localKey(t, tz, true) === `${iso}T00`) {
        for (let mi = 0; mi < 60; mi++) {
          const u = new Date(t.getTime() - mi * 60_000);
          if (localKey(u, tz, true) !== `${iso}T00`) return new Date(u.getTime() + 60_000);
        }
        return t;
      }
    }
    throw new Error(`no midnight for ${iso} in ${tz}`);
  };
  return [
    ['no filter', {}],
    ['one agent', { agentName: ['support'] }],
    ['several agents incl. hostile value', { agentName: ['research', "o'brien; DROP TABLE x;--"] }],
    ['user with a space', { userId: ['u 3'] }],
    ['group named "group"', { group: ['group'] }],
    ['chat', { chatName: ['c2'] }],
    ['model and provider', { modelName: ['gpt-4o', 'gemini-2.5-pro'], providerName: ['openai'] }],
    ['separators in value', { agentName: ['a:b|c*d'] }],
    ['failed only', { success: false }],
    ['whole day', { from: dayStart('2026-03-08'), to: dayStart('2026-03-09') }],
    ['whole days + agent', { agentName: ['support'], from: dayStart('2026-03-07'), to: dayStart('2026-03-09') }],
    ['whole days + user', { userId: ['u1', 'u2'], from: dayStart('2026-03-08'), to: dayStart('2026-03-10') }],
    ['instants mid-day', { from: new Date(BASE + 30 * 3_600_000 + 123), to: new Date(BASE + 50 * 3_600_000 + 7) }],
    ['open-ended from', { from: new Date(BASE + 60 * 3_600_000) }],
    ['open-ended to + model', { to: new Date(BASE + 20 * 3_600_000), modelName: ['claude-sonnet-4'] }],
    ['one run', { runId: ['run-2'] }],
    ['runs incl. hostile id + whole days', { runId: ["run'4|x:y", 'run 5'], from: dayStart('2026-03-07'), to: dayStart('2026-03-10') }],
    ['run + agent', { runId: ['run-1', 'run-3'], agentName: ['support', 'research'] }],
    ['error type', { errorType: ['RateLimitError', "Err'x|y"] }],
    ['error type + whole day', { errorType: ['APIError'], from: dayStart('2026-03-08'), to: dayStart('2026-03-09') }],
    ['one category', { category: ['image'] }],
    ['categories incl. hostile value + agent', { category: ["cat'x|y:z", 'web-scrape'], agentName: ['support', 'research'] }],
    ['category + model + provider + whole days', { category: ['chat'], modelName: ['gpt-4o'], providerName: ['openai'], from: dayStart('2026-03-07'), to: dayStart('2026-03-09') }],
    ['category + whole days', { category: ['image', 'chat'], from: dayStart('2026-03-08'), to: dayStart('2026-03-10') }],
    ['no match', { agentName: ['nobody'] }],
  ];
}
