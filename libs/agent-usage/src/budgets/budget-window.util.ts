import { dayKey, offsetChangeBetween, timeZoneOffsetMs, zonedTimeToUtc } from '../query/time-zone';
import type { UsageBudgetWindow } from './budget-options.interface';

const HOUR_MS = 3_600_000;

/** Epoch-ms bounds `[start, end)` of a calendar window. */
export interface WindowBounds {
  start: number;
  end: number;
}

/**
 * The calendar window containing `nowMs` in `timeZone`: the wall-clock hour, day, ISO week (Monday) or
 * month. Computed only when a window rolls over, so the Intl cost stays off the hot path.
 */
export function windowAt(kind: UsageBudgetWindow, nowMs: number, timeZone: string): WindowBounds {
  const k = dayKey(new Date(nowMs), timeZone); // YYYY-MM-DD (wall clock)
  const y = +k.slice(0, 4);
  const mo = +k.slice(5, 7);
  const d = +k.slice(8, 10);
  let start: number;
  let end: number;
  switch (kind) {
    case 'hour': {
      // The wall-clock hour at the current offset; a DST change inside it cuts it short, so a repeated
      // wall hour (fall-back) makes two windows, not one of two hours.
      const offset = timeZoneOffsetMs(new Date(nowMs), timeZone);
      start = Math.floor((nowMs + offset) / HOUR_MS) * HOUR_MS - offset;
      end = start + HOUR_MS;
      if (timeZoneOffsetMs(new Date(start), timeZone) !== offset) start = offsetChangeBetween(start, nowMs, timeZone);
      if (timeZoneOffsetMs(new Date(end - 1000), timeZone) !== offset) end = offsetChangeBetween(nowMs, end - 1000, timeZone);
      return { start, end };
    }
    case 'day':
      return { start: zonedTimeToUtc(y, mo, d, 0, timeZone).getTime(), end: zonedTimeToUtc(y, mo, d + 1, 0, timeZone).getTime() };
    case 'week': {
      const back = (new Date(Date.UTC(y, mo - 1, d)).getUTCDay() + 6) % 7; // days since Monday
      return {
        start: zonedTimeToUtc(y, mo, d - back, 0, timeZone).getTime(),
        end: zonedTimeToUtc(y, mo, d - back + 7, 0, timeZone).getTime(),
      };
    }
    case 'month':
      return { start: zonedTimeToUtc(y, mo, 1, 0, timeZone).getTime(), end: zonedTimeToUtc(y, mo + 1, 1, 0, timeZone).getTime() };
  }
}
