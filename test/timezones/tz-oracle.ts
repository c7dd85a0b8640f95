/**
 * An independent time oracle: Luxon (its own tz arithmetic, used only by tests) generates a table of day
 * and hour boundaries over several years, and the expected day / hour of any instant. Nothing here
 * imports the library, so a boundary bug in query/time-zone.ts cannot cancel out.
 */
import { DateTime } from 'luxon';

export const ORACLE_ZONES = ['UTC', 'America/New_York', 'Europe/Paris', 'Australia/Lord_Howe', 'America/Santiago', 'Asia/Kathmandu'] as const;
export const ORACLE_YEARS = [2024, 2025, 2026, 2027, 2028] as const;

const QUARTER_MS = 900_000; // every offset and transition of these zones is a multiple of 15 minutes

export interface OracleDay {
  /** `YYYY-MM-DD` in the zone. */
  day: string;
  /** First instant of the day (the transition when midnight is skipped). */
  start: number;
  /** First instant of the next day. */
  end: number;
  /** Why it is in the table. */
  why: 'transition' | 'around transition' | 'year start' | 'month start';
}

/** A maximal run of instants sharing one wall-clock hour and one UTC offset: one hour-budget window. */
export interface OracleHour {
  key: string; // YYYY-MM-DDTHH, wall clock
  start: number;
  end: number;
}

export interface ZoneTable {
  zone: string;
  days: OracleDay[];
  /** The wall-clock hours (runs) of every transition day, in order. */
  hours: OracleHour[];
}

export const oracleDayKey = (ms: number, zone: string): string => DateTime.fromMillis(ms, { zone }).toFormat('yyyy-MM-dd');
export const oracleHourKey = (ms: number, zone: string): string => DateTime.fromMillis(ms, { zone }).toFormat("yyyy-MM-dd'T'HH");
const offsetAt = (ms: number, zone: string): number => DateTime.fromMillis(ms, { zone }).offset;

/** Start of a calendar day in the zone: Luxon moves a skipped midnight forward to the transition. */
export function oracleDayStart(day: string, zone: string): number {
  return DateTime.fromISO(day, { zone }).startOf('day').toMillis();
}
const nextDay = (day: string): string => DateTime.fromISO(day, { zone: 'UTC' }).plus({ days: 1 }).toISODate()!;
const prevDay = (day: string): string => DateTime.fromISO(day, { zone: 'UTC' }).minus({ days: 1 }).toISODate()!;

function oracleDay(day: string, zone: string, why: OracleDay['why']): OracleDay {
  return { day, start: oracleDayStart(day, zone), end: oracleDayStart(nextDay(day), zone), why };
}

/** The hour runs covering `[start, end)`, found by walking quarter hours with Luxon. */
export function oracleHours(start: number, end: number, zone: string): OracleHour[] {
  const out: OracleHour[] = [];
  for (let t = start; t < end; t += QUARTER_MS) {
    const key = oracleHourKey(t, zone);
    const last = out[out.length - 1];
    if (last && last.key === key && offsetAt(last.start, zone) === offsetAt(t, zone)) last.end = t + QUARTER_MS;
    else out.push({ key, start: t, end: t + QUARTER_MS });
  }
  return out;
}

/** The window an hour budget should use at `ms`: the run containing it. */
export function oracleHourWindow(ms: number, zone: string): { start: number; end: number } {
  const slot = Math.floor(ms / QUARTER_MS) * QUARTER_MS;
  const runs = oracleHours(slot - 2 * 3_600_000, slot + 2 * 3_600_000, zone);
  const r = runs.find((h) => h.start <= ms && ms < h.end)!;
  return { start: r.start, end: r.end };
}

/** Day, ISO week (Monday) and month windows at `ms`, straight from Luxon. */
export function oracleWindow(kind: 'hour' | 'day' | 'week' | 'month', ms: number, zone: string): { start: number; end: number } {
  if (kind === 'hour') return oracleHourWindow(ms, zone);
  const t = DateTime.fromMillis(ms, { zone });
  const unit = kind === 'day' ? 'days' : kind === 'week' ? 'weeks' : 'months';
  const start = t.startOf(kind);
  return { start: start.toMillis(), end: start.plus({ [unit]: 1 }).startOf(kind).toMillis() };
}

/**
 * Days whose length is not 24 hours (found by Luxon, not from any list), the days either side of them,
 * 1 January and 1 March/September of every year (so zones without DST still get boundaries). Hours: every
 * wall-clock hour of the transition days.
 */
export function zoneTable(zone: string, years: readonly number[] = ORACLE_YEARS): ZoneTable {
  const days = new Map<string, OracleDay>();
  const hours: OracleHour[] = [];
  const add = (day: string, why: OracleDay['why']) => {
    if (!days.has(day) || why === 'transition') days.set(day, oracleDay(day, zone, why));
  };
  for (const y of years) {
    for (let d = DateTime.fromObject({ year: y, month: 1, day: 1 }, { zone: 'UTC' }); d.year === y; d = d.plus({ days: 1 })) {
      const day = d.toISODate()!;
      const s = oracleDayStart(day, zone);
      const e = oracleDayStart(nextDay(day), zone);
      if (e - s !== 86_400_000) {
        add(prevDay(day), 'around transition');
        add(nextDay(day), 'around transition');
        add(day, 'transition');
        hours.push(...oracleHours(s, e, zone));
      }
    }
    add(`${y}-01-01`, 'year start');
    add(`${y}-03-01`, 'month start');
    add(`${y}-09-01`, 'month start');
  }
  return { zone, days: [...days.values()].sort((a, b) => a.start - b.start), hours };
}

/**
 * Instants to record: each table day's first and last millisecond and its middle; each transition-day
 * hour's first and last millisecond. Tokens are distinct powers-of-two-free numbers (1, 2, 3, ...), so a
 * record counted in the wrong day changes totals, not only counts.
 */
export function oracleInstants(table: ZoneTable): number[] {
  const set = new Set<number>();
  for (const d of table.days) {
    set.add(d.start);
    set.add(d.end - 1);
    set.add(d.start + Math.floor((d.end - d.start) / 2));
  }
  for (const h of table.hours) {
    set.add(h.start);
    set.add(h.end - 1);
  }
  return [...set].sort((a, b) => a - b);
}
