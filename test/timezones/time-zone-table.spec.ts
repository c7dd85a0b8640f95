/**
 * query/time-zone.ts, the day filters and the budget windows against the Luxon table (tz-oracle.ts):
 * every table day's bounds, the day and hour of every table instant, and the hour/day/week/month budget
 * window of every table instant, in six zones over five years.
 */
import { dayKey, endOfDayExclusive, hourKey, isStartOfDay, startOfDay } from '../../libs/agent-usage/src/query/time-zone';
import { normalizeFilters } from '../../libs/agent-usage/src/query/usage-filters';
import { windowAt } from '../../libs/agent-usage/src/budgets/budget-window.util';
import { ORACLE_ZONES, oracleDayKey, oracleHourKey, oracleInstants, oracleWindow, zoneTable } from './tz-oracle';

const iso = (ms: number) => new Date(ms).toISOString();

describe.each(ORACLE_ZONES)('time zone table: %s', (zone) => {
  const table = zoneTable(zone);
  const instants = oracleInstants(table);

  it('has the boundaries it is meant to have', () => {
    const transitions = table.days.filter((d) => d.why === 'transition').length;
    // Two DST changes a year in the four DST zones, none in UTC and Kathmandu.
    expect(transitions).toBe(zone === 'UTC' || zone === 'Asia/Kathmandu' ? 0 : 10);
    expect(table.days.length).toBeGreaterThanOrEqual(15);
  });

  it('starts and ends every day where Luxon does, and knows a day start when it sees one', () => {
    const wrong: string[] = [];
    for (const d of table.days) {
      const s = startOfDay(d.day, zone).getTime();
      const e = endOfDayExclusive(d.day, zone).getTime();
      if (s !== d.start || e !== d.end) wrong.push(`${d.day}: [${iso(s)}, ${iso(e)}) expected [${iso(d.start)}, ${iso(d.end)})`);
      if (!isStartOfDay(new Date(d.start), zone)) wrong.push(`${d.day}: ${iso(d.start)} not seen as a day start`);
      if (isStartOfDay(new Date(d.start + 1), zone) || isStartOfDay(new Date(d.start - 1), zone)) wrong.push(`${d.day}: a neighbour of the start seen as one`);
    }
    expect(wrong).toEqual([]);
  });

  it('turns date, dateFrom and dateTo into the same instants as Luxon', () => {
    const wrong: string[] = [];
    for (const d of table.days) {
      const f = normalizeFilters({ date: d.day }, zone);
      if (f.from?.getTime() !== d.start || f.to?.getTime() !== d.end) wrong.push(`date ${d.day}`);
      const r = normalizeFilters({ dateFrom: d.day, dateTo: d.day }, zone);
      if (r.from?.getTime() !== d.start || r.to?.getTime() !== d.end) wrong.push(`dateFrom/dateTo ${d.day}`);
    }
    expect(wrong).toEqual([]);
  });

  it('keys every instant by the day and hour Luxon gives', () => {
    const wrong = instants.filter((t) => dayKey(new Date(t), zone) !== oracleDayKey(t, zone) || hourKey(new Date(t), zone) !== oracleHourKey(t, zone));
    expect(wrong.map(iso)).toEqual([]);
  });

  it.each(['hour', 'day', 'week', 'month'] as const)('puts every instant in the %s budget window Luxon gives', (kind) => {
    const wrong: string[] = [];
    for (const t of instants) {
      const w = windowAt(kind, t, zone);
      const o = oracleWindow(kind, t, zone);
      if (w.start !== o.start || w.end !== o.end) wrong.push(`${iso(t)}: [${iso(w.start)}, ${iso(w.end)}) expected [${iso(o.start)}, ${iso(o.end)})`);
    }
    expect(wrong).toEqual([]);
  });
});

describe('America/Santiago, 2026-09-06 (midnight is skipped)', () => {
  it('starts at its real first instant, 01:00 local (04:00 UTC), not 23:00 of the day before', () => {
    expect(startOfDay('2026-09-06', 'America/Santiago').toISOString()).toBe('2026-09-06T04:00:00.000Z');
    expect(endOfDayExclusive('2026-09-05', 'America/Santiago').toISOString()).toBe('2026-09-06T04:00:00.000Z');
    expect(dayKey(new Date('2026-09-06T03:59:59.999Z'), 'America/Santiago')).toBe('2026-09-05');
  });
});
