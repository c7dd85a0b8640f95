/** KPI tiles: spend, operations, tokens, average cost per operation, success rate, each with its change. */
import { h, replace } from '../dom';
import { addDays, change, count, daysBetween, money, percent, shortDate } from '../format';
import type { Summary } from '../types';
import type { ViewContext } from './context';

interface Tile {
  key: string;
  label: string;
  value: (s: Summary) => string;
  exact: (s: Summary) => string;
  /** Change vs the previous period in percent (or points for rates); null when it cannot be said. */
  delta: (now: Summary, before: Summary) => { text: string; up: boolean } | null;
  /** For cost tiles a rise is bad; for success rate a rise is good. */
  goodWhenUp: boolean;
}

const rel = (a: string, b: string) => {
  const c = change(a, b);
  return c === null ? null : { text: `${c > 0 ? '+' : ''}${c}%`, up: c > 0 };
};

const TILES: Tile[] = [
  { key: 'spend', label: 'Spend', value: (s) => money(s.amount_spent_exact), exact: (s) => s.amount_spent_exact, delta: (a, b) => rel(a.amount_spent_exact, b.amount_spent_exact), goodWhenUp: false },
  { key: 'operations', label: 'Operations', value: (s) => count(s.operation_count), exact: (s) => String(s.operation_count), delta: (a, b) => rel(String(a.operation_count), String(b.operation_count)), goodWhenUp: true },
  { key: 'tokens', label: 'Tokens', value: (s) => count(s.total_tokens), exact: (s) => String(s.total_tokens), delta: (a, b) => rel(String(a.total_tokens), String(b.total_tokens)), goodWhenUp: true },
  { key: 'avg-cost', label: 'Avg cost / operation', value: (s) => money(s.avg_cost_per_operation_exact), exact: (s) => s.avg_cost_per_operation_exact, delta: (a, b) => rel(a.avg_cost_per_operation_exact, b.avg_cost_per_operation_exact), goodWhenUp: false },
  {
    key: 'success-rate',
    label: 'Success rate',
    value: (s) => percent(s.success_rate),
    exact: (s) => (s.success_rate === null ? '' : String(s.success_rate)),
    delta: (a, b) => {
      if (a.success_rate === null || b.success_rate === null) return null;
      const d = Math.round((a.success_rate - b.success_rate) * 100) / 100;
      return { text: `${d > 0 ? '+' : ''}${d} pts`, up: d > 0 };
    },
    goodWhenUp: true,
  },
];

/** The previous period of equal length, ending the day before this one starts; null for all time. */
export function previousRange(s: Pick<Summary['range'], 'start_date' | 'end_date'>): { start_date: string; end_date: string } | null {
  const { start_date: start, end_date: end } = s;
  if (!start || !end) return null;
  const n = daysBetween(start, end);
  return { start_date: addDays(start, -n), end_date: addDays(start, -1) };
}

/** The previous period's summary (same agents). */
export function loadPrevious(ctx: ViewContext, range: Pick<Summary['range'], 'start_date' | 'end_date'>): Promise<Summary> | null {
  const prev = previousRange(range);
  return prev ? ctx.api.get<Summary>('usage', { ...prev, agent: ctx.state.agents.length ? ctx.state.agents : undefined }) : null;
}

export function renderTiles(host: HTMLElement, now: Summary, before: Summary | null): void {
  const prev = previousRange(now.range);
  const vs = prev ? `vs ${shortDate(prev.start_date)} – ${shortDate(prev.end_date)}` : 'no earlier period to compare';
  replace(
    host,
    TILES.map((t) => {
      const d = before ? t.delta(now, before) : null;
      const tone = !d || d.text.startsWith('0') ? 'flat' : d.up === t.goodWhenUp ? 'good' : 'bad';
      return h(
        'div',
        { class: 'tile', 'data-kpi': t.key },
        h('span', { class: 'tile-label' }, t.label),
        h('strong', { class: 'tile-value', 'data-exact': t.exact(now) }, t.value(now)),
        h('span', { class: `tile-delta ${tone}`, title: vs }, d ? `${d.text} ` : '', h('span', { class: 'muted' }, d || !before || !prev ? vs : `nothing to compare (${shortDate(prev.start_date)} – ${shortDate(prev.end_date)} had none)`)),
      );
    }),
  );
}

/** `before`: the previous period's summary when it was asked for already (a range known without the API). */
export async function loadTiles(host: HTMLElement, ctx: ViewContext, now: Summary, before?: Promise<Summary> | null): Promise<void> {
  renderTiles(host, now, await (before !== undefined ? before : loadPrevious(ctx, now.range)));
}
