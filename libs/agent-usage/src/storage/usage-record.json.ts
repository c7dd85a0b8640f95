import { DEFAULT_CATEGORY, type UsageRecord } from '../interfaces/usage-record.interface';

/** JSON form used by the file and cache drivers and the spool: dates as ISO strings. */
export function recordToJson(r: UsageRecord): string {
  return JSON.stringify(r);
}

/** Inverse of `recordToJson`; returns null for anything that is not a whole record. */
export function recordFromJson(line: string): UsageRecord | null {
  let o: any;
  try {
    o = JSON.parse(line);
  } catch {
    return null;
  }
  if (!o || typeof o !== 'object' || typeof o.id !== 'string' || typeof o.recordedAt !== 'string') return null;
  const recordedAt = new Date(o.recordedAt);
  if (isNaN(recordedAt.getTime())) return null;
  // Lines written before runs, error types and categories existed lack those fields.
  return { runId: null, runStart: false, agentRunStart: false, errorType: null, category: DEFAULT_CATEGORY, units: null, ...o, recordedAt } as UsageRecord;
}
