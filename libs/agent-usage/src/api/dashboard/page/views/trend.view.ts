/** Daily spend stacked by agent or by model (switchable) and the hourly pattern, each with its data table. */
import { BarChart } from '../chart';
import { empty, h, replace } from '../dom';
import { count, money, shortDate } from '../format';
import { moneyCell } from '../table';
import type { Analytics } from '../types';
import { rangeQuery } from '../state';
import type { ViewContext } from './context';

export type SplitBy = 'agent' | 'model';
/** The charts on the page by name; a redraw replaces its predecessor (and stops its resize observer). */
const charts = new Map<string, BarChart>();
function keep(name: string, chart: BarChart): void {
  charts.get(name)?.destroy();
  charts.set(name, chart);
}

/** Redraws every chart (the theme changed: colours come from CSS variables). */
export function redrawCharts(): void {
  for (const c of charts.values()) c.draw();
}

export function clearCharts(): void {
  for (const c of charts.values()) c.destroy();
  charts.clear();
}

/** Axis and legend labels: two significant digits under a dollar (a tick at 0.025 must not read $0.03). */
const usd = (v: number): string => (v === 0 ? '$0' : v < 1 ? `$${+v.toPrecision(2)}` : `$${v.toLocaleString('en-US', { maximumFractionDigits: 2 })}`);
const label = (k: string | null, other?: boolean): string => (other ? 'other' : (k ?? '(none)'));

export function renderTrend(host: HTMLElement, a: Analytics, splitBy: SplitBy, onSplit: (s: SplitBy) => void): void {
  const days = a.daily_usage;
  const series = a.series ?? [];
  const switcher = h(
    'div',
    { class: 'segmented', role: 'group', 'aria-label': 'Stack the bars by' },
    (['agent', 'model'] as SplitBy[]).map((s) => h('button', { type: 'button', 'aria-pressed': String(s === splitBy), 'data-split': s, onclick: () => onSplit(s) }, `By ${s}`)),
  );
  const head = h('div', { class: 'panel-head' }, h('h2', {}, 'Daily spend'), h('span', { class: 'muted', 'data-total': a.summary.total_exact }, `${money(a.summary.total_exact)} total · ${money(a.summary.daily_average_exact)} a day`), switcher);
  if (!days.length || a.summary.operations === 0) {
    replace(host, head, empty('No spend in this range.', 'Pick a longer period above, or record usage: every @TrackUsage() call and usage.record() lands here.'));
    return;
  }
  const chartHost = h('div', { class: 'chart', 'data-chart': 'daily', role: 'img', 'aria-label': `Daily spend by ${splitBy}, ${days.length} days` });
  const table = h(
    'table',
    { class: 'data', 'data-table': 'daily' },
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Day'), series.map((s) => h('th', { scope: 'col', class: 'num' }, label(s.key, s.other))), h('th', { scope: 'col', class: 'num' }, 'Total'), h('th', { scope: 'col', class: 'num' }, 'Operations'), h('th', { scope: 'col', class: 'num' }, 'Tokens'))),
    h(
      'tbody',
      {},
      days.map((d, i) =>
        h(
          'tr',
          { 'data-date': d.date },
          h('th', { scope: 'row' }, d.date),
          series.map((s) => h('td', { class: 'num', 'data-series': label(s.key, s.other) }, moneyCell(s.daily_usage[i]?.cost_exact))),
          h('td', { class: 'num', 'data-col': 'cost' }, moneyCell(d.cost_exact)),
          h('td', { class: 'num', 'data-col': 'operations' }, count(d.operations)),
          h('td', { class: 'num', 'data-col': 'tokens' }, count(d.tokens)),
        ),
      ),
    ),
  );
  replace(host, head, chartHost, h('details', { class: 'chart-data' }, h('summary', {}, 'Show the numbers'), h('div', { class: 'table-wrap' }, table)));
  const layers = series.length ? series.map((s) => ({ label: label(s.key, s.other), values: s.daily_usage.map((d) => Number(d.cost_exact)) })) : [{ label: 'spend', values: days.map((d) => Number(d.cost_exact)) }];
  keep('daily', new BarChart(chartHost, { labels: days.map((d) => shortDate(d.date)), layers, y: usd }));
}

export function renderHourly(host: HTMLElement, a: Analytics, timeZone: string): void {
  const hours = a.hourly_usage ?? [];
  const head = h('div', { class: 'panel-head' }, h('h2', {}, 'Hourly pattern'), h('span', { class: 'muted' }, `average spend per hour of the day (${timeZone})`));
  if (!hours.length || hours.every((x) => x.avg_operations === 0)) {
    replace(host, head, empty('No hourly pattern yet.', 'It appears once usage is recorded in this range.'));
    return;
  }
  const chartHost = h('div', { class: 'chart', 'data-chart': 'hourly', role: 'img', 'aria-label': 'Average spend per hour of the day' });
  const table = h(
    'table',
    { class: 'data', 'data-table': 'hourly' },
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Hour'), h('th', { scope: 'col', class: 'num' }, 'Avg spend'), h('th', { scope: 'col', class: 'num' }, 'Avg operations'))),
    h('tbody', {}, hours.map((x) => h('tr', { 'data-hour': x.hour }, h('th', { scope: 'row' }, `${String(x.hour).padStart(2, '0')}:00`), h('td', { class: 'num' }, moneyCell(x.avg_cost_exact)), h('td', { class: 'num' }, String(x.avg_operations))))),
  );
  replace(host, head, chartHost, h('details', { class: 'chart-data' }, h('summary', {}, 'Show the numbers'), h('div', { class: 'table-wrap' }, table)));
  keep('hourly', new BarChart(chartHost, { labels: hours.map((x) => String(x.hour).padStart(2, '0')), layers: [{ label: 'avg spend', values: hours.map((x) => Number(x.avg_cost_exact)) }], y: usd, height: 180 }));
}

/** The daily trend split by agent or model (the costly part of analytics: asked apart from the hours). */
export async function loadAnalytics(ctx: ViewContext, splitBy: SplitBy): Promise<Analytics> {
  return ctx.api.get<Analytics>('analytics', { ...rangeQuery(ctx.state), group_by: 'day', split_by: splitBy });
}

/** The hourly pattern alone: a request of its own, so it runs alongside the split trend, not inside it. */
export async function loadHourly(ctx: ViewContext): Promise<Analytics> {
  return ctx.api.get<Analytics>('analytics', { ...rangeQuery(ctx.state), group_by: 'hour' });
}
