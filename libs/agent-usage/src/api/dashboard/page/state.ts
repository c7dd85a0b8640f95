/**
 * What the page shows: a period (or a custom date range), the agents it is filtered to and the open
 * view. Kept in the URL's hash, so a reload or a shared link opens the same page.
 */
import type { Query } from './api';
import { addDays } from './format';
import type { Period } from './types';

export const VIEWS = ['overview', 'fleet', 'logs', 'advice', 'alerts'] as const;
export type View = (typeof VIEWS)[number];
/**
 * A period of the page: the API's named periods, and `7d`, the last 7 days including today (the API has
 * only the calendar week, so the page asks for those days as a date range).
 */
export type PagePeriod = Period | '7d';
export const PERIODS: [PagePeriod, string][] = [
  ['today', 'Today'],
  ['yesterday', 'Yesterday'],
  ['7d', '7 days'],
  ['month', 'This month'],
  ['all_time', 'All time'],
];
/** Periods a link may carry besides the buttons: `week` (the API's calendar week) from older links. */
const LINK_PERIODS: readonly string[] = [...PERIODS.map(([k]) => k), 'week'];

/**
 * The API's time zone (its answers' `range.time_zone`): "today" of the 7-day range is the API's today,
 * not the browser's. Null until an answer arrived.
 */
let apiTimeZone: string | null = null;
export const setApiTimeZone = (tz: string): void => void (apiTimeZone = tz);
export const knowsApiTimeZone = (): boolean => apiTimeZone !== null;

/** The calendar day `now` falls on in `timeZone` (YYYY-MM-DD). */
export function dayIn(timeZone: string, now: Date = new Date()): string {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).formatToParts(now);
  const part = (t: string) => parts.find((x) => x.type === t)?.value ?? '';
  return `${part('year')}-${part('month')}-${part('day')}`;
}

/** The last 7 days including today, in the API's time zone. */
export function lastSevenDays(timeZone: string, now: Date = new Date()): { start_date: string; end_date: string } {
  const today = dayIn(timeZone, now);
  return { start_date: addDays(today, -6), end_date: today };
}

export interface State {
  period: PagePeriod | null;
  startDate: string | null;
  endDate: string | null;
  agents: string[];
  view: View;
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;

export function readState(hash: string): State {
  const p = new URLSearchParams(hash.replace(/^#/, ''));
  const period = p.get('period') as PagePeriod | null;
  const start = p.get('from');
  const end = p.get('to');
  const view = p.get('view') as View | null;
  const custom = start !== null && end !== null && DAY.test(start) && DAY.test(end);
  return {
    period: custom ? null : period && LINK_PERIODS.includes(period) ? period : 'month',
    startDate: custom ? start : null,
    endDate: custom ? end : null,
    agents: p.getAll('agent').filter(Boolean),
    view: view && (VIEWS as readonly string[]).includes(view) ? view : 'overview',
  };
}

export function writeState(s: State): string {
  const p = new URLSearchParams();
  p.set('view', s.view);
  if (s.startDate && s.endDate) {
    p.set('from', s.startDate);
    p.set('to', s.endDate);
  } else if (s.period) p.set('period', s.period);
  for (const a of s.agents) p.append('agent', a);
  return `#${p.toString()}`;
}

/** The API query for the state's range and agents. */
export function rangeQuery(s: State): Query {
  let q: Query;
  if (s.startDate && s.endDate) q = { start_date: s.startDate, end_date: s.endDate };
  else if (s.period === '7d') {
    // main.ts waits for the API's time zone before a 7-day view renders.
    if (!apiTimeZone) throw new Error("the API's time zone is not known yet");
    q = lastSevenDays(apiTimeZone);
  } else q = { period: s.period ?? 'month' };
  if (s.agents.length) q.agent = s.agents;
  return q;
}
