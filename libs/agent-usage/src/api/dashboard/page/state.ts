/**
 * What the page shows: a period (or a custom date range), the agents it is filtered to and the open
 * view. Kept in the URL's hash, so a reload or a shared link opens the same page.
 */
import type { Query } from './api';
import type { Period } from './types';

export const VIEWS = ['overview', 'fleet', 'logs', 'advice', 'alerts'] as const;
export type View = (typeof VIEWS)[number];
export const PERIODS: [Period, string][] = [
  ['today', 'Today'],
  ['yesterday', 'Yesterday'],
  ['week', 'This week'],
  ['month', 'This month'],
  ['all_time', 'All time'],
];

export interface State {
  period: Period | null;
  startDate: string | null;
  endDate: string | null;
  agents: string[];
  view: View;
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;

export function readState(hash: string): State {
  const p = new URLSearchParams(hash.replace(/^#/, ''));
  const period = p.get('period') as Period | null;
  const start = p.get('from');
  const end = p.get('to');
  const view = p.get('view') as View | null;
  const custom = start !== null && end !== null && DAY.test(start) && DAY.test(end);
  return {
    period: custom ? null : PERIODS.some(([k]) => k === period) ? period : 'month',
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
  const q: Query = s.startDate && s.endDate ? { start_date: s.startDate, end_date: s.endDate } : { period: s.period ?? 'month' };
  if (s.agents.length) q.agent = s.agents;
  return q;
}
