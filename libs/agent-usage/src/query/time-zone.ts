/**
 * Day and hour arithmetic in an IANA time zone, with a fast path for UTC (the default), which is
 * what the record path and most queries use.
 */
const DAY_RE = /^(\d{4})-(\d{2})-(\d{2})$/;
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

export function isValidTimeZone(timeZone: unknown): timeZone is string {
  if (typeof timeZone !== 'string' || timeZone.length === 0) return false;
  try {
    formatter(timeZone);
    return true;
  } catch {
    return false;
  }
}

export function isUtc(timeZone: string): boolean {
  return timeZone === 'UTC' || timeZone === 'Etc/UTC' || timeZone === 'GMT';
}

/** Wall-clock fields of `date` in `timeZone`. */
function wallClock(date: Date, timeZone: string): { y: number; mo: number; d: number; h: number; mi: number; s: number } {
  const parts: Record<string, string> = {};
  for (const p of formatter(timeZone).formatToParts(date)) parts[p.type] = p.value;
  return { y: +parts.year, mo: +parts.month, d: +parts.day, h: +parts.hour, mi: +parts.minute, s: +parts.second };
}

/** Offset of `timeZone` from UTC at `date`, in ms (local = utc + offset). */
export function timeZoneOffsetMs(date: Date, timeZone: string): number {
  if (isUtc(timeZone)) return 0;
  const w = wallClock(date, timeZone);
  const asUtc = Date.UTC(w.y, w.mo - 1, w.d, w.h, w.mi, w.s);
  return asUtc - Math.floor(date.getTime() / 1000) * 1000;
}

const pad2 = (n: number) => (n < 10 ? `0${n}` : String(n));

/** `YYYY-MM-DD` of `date` in `timeZone`. */
export function dayKey(date: Date, timeZone = 'UTC'): string {
  if (isUtc(timeZone)) return date.toISOString().slice(0, 10);
  const w = wallClock(date, timeZone);
  return `${w.y}-${pad2(w.mo)}-${pad2(w.d)}`;
}

/** `YYYY-MM-DDTHH` of `date` in `timeZone`. */
export function hourKey(date: Date, timeZone = 'UTC'): string {
  if (isUtc(timeZone)) return date.toISOString().slice(0, 13);
  const w = wallClock(date, timeZone);
  return `${w.y}-${pad2(w.mo)}-${pad2(w.d)}T${pad2(w.h)}`;
}

/** Parses `YYYY-MM-DD` into its fields, or returns null when it is not a real calendar day. */
export function parseDay(day: string): { y: number; m: number; d: number } | null {
  const m = DAY_RE.exec(day);
  if (!m) return null;
  const y = +m[1];
  const mo = +m[2];
  const d = +m[3];
  const t = new Date(Date.UTC(y, mo - 1, d));
  if (t.getUTCFullYear() !== y || t.getUTCMonth() !== mo - 1 || t.getUTCDate() !== d) return null;
  return { y, m: mo, d };
}

const DAY_MS = 86_400_000;

/**
 * The first instant in `(lo, hi]` whose offset differs from the offset at `lo` (one transition at most in
 * between). Offsets are read to the second, so the search stops at one second.
 */
export function offsetChangeBetween(lo: number, hi: number, timeZone: string): number {
  const before = timeZoneOffsetMs(new Date(lo), timeZone);
  while (hi - lo > 1000) {
    const mid = lo + Math.floor((hi - lo) / 2000) * 1000;
    if (timeZoneOffsetMs(new Date(mid), timeZone) === before) lo = mid;
    else hi = mid;
  }
  return hi;
}

/**
 * Converts a wall-clock time in `timeZone` to the instant. A repeated wall time (DST fall-back) gives its
 * first instant; a skipped one (spring-forward gap, e.g. midnight in America/Santiago on 2026-09-06) gives
 * the transition, i.e. the first instant whose wall clock is at or after it.
 */
export function zonedTimeToUtc(y: number, mo: number, d: number, h: number, timeZone: string): Date {
  const wall = Date.UTC(y, mo - 1, d, h);
  if (isUtc(timeZone)) return new Date(wall);
  // The offsets a day either side (no zone changes twice within two days) give the candidate instants.
  const early = timeZoneOffsetMs(new Date(wall - DAY_MS), timeZone);
  const late = timeZoneOffsetMs(new Date(wall + DAY_MS), timeZone);
  const a = wall - early;
  const b = wall - late;
  const aOk = timeZoneOffsetMs(new Date(a), timeZone) === early;
  const bOk = timeZoneOffsetMs(new Date(b), timeZone) === late;
  if (aOk && bOk) return new Date(Math.min(a, b));
  if (aOk) return new Date(a);
  if (bOk) return new Date(b);
  // In a gap: the transition lies between the two candidates.
  return new Date(offsetChangeBetween(Math.min(a, b), Math.max(a, b), timeZone));
}

/** The instant a `YYYY-MM-DD` day starts in `timeZone`. Throws on a malformed day (callers validate). */
export function startOfDay(day: string, timeZone = 'UTC'): Date {
  const p = parseDay(day);
  if (!p) throw new RangeError(`Not a YYYY-MM-DD day: ${day}`);
  return zonedTimeToUtc(p.y, p.m, p.d, 0, timeZone);
}

/** The instant the day after `day` starts, i.e. the exclusive end of `day`. */
export function endOfDayExclusive(day: string, timeZone = 'UTC'): Date {
  const p = parseDay(day);
  if (!p) throw new RangeError(`Not a YYYY-MM-DD day: ${day}`);
  const next = new Date(Date.UTC(p.y, p.m - 1, p.d + 1));
  return zonedTimeToUtc(next.getUTCFullYear(), next.getUTCMonth() + 1, next.getUTCDate(), 0, timeZone);
}

/** True when `date` is exactly the start of a day in `timeZone` (lets drivers use daily rollups). */
export function isStartOfDay(date: Date, timeZone = 'UTC'): boolean {
  return startOfDay(dayKey(date, timeZone), timeZone).getTime() === date.getTime();
}

/** Every `YYYY-MM-DD` UTC day that overlaps `[from, to)`. */
export function utcDaysBetween(from: Date, to: Date): string[] {
  const days: string[] = [];
  let t = Date.UTC(from.getUTCFullYear(), from.getUTCMonth(), from.getUTCDate());
  for (; t < to.getTime(); t += 86_400_000) days.push(new Date(t).toISOString().slice(0, 10));
  return days;
}
