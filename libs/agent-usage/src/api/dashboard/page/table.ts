/** Tables with sortable columns: each header is a button (keyboard usable), aria-sort says the order. */
import { h, replace } from './dom';
import { money } from './format';

export interface Column<T> {
  key: string;
  label: string;
  /** The value sorted on; a cell shows `cell` when given, else this value. */
  sort: (row: T) => number | string;
  cell?: (row: T) => Node | string;
  numeric?: boolean;
}

export function moneyCell(exact: string | null | undefined): HTMLElement {
  return h('span', { class: 'money', 'data-exact': exact ?? '' }, money(exact));
}

export function sortableTable<T>(caption: string, columns: Column<T>[], rows: T[], initial: { key: string; desc: boolean }, name: string): HTMLElement {
  let { key, desc } = initial;
  const body = h('tbody');
  const head = h('tr');
  const table = h('table', { class: 'data', 'data-table': name }, h('caption', { class: 'sr-only' }, caption), h('thead', {}, head), body);

  const draw = (): void => {
    const col = columns.find((c) => c.key === key) ?? columns[0];
    const sorted = [...rows].sort((a, b) => {
      const x = col.sort(a);
      const y = col.sort(b);
      const r = typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y));
      return desc ? -r : r;
    });
    replace(
      head,
      columns.map((c) =>
        h(
          'th',
          { scope: 'col', class: c.numeric ? 'num' : null, 'aria-sort': c.key === key ? (desc ? 'descending' : 'ascending') : 'none' },
          h('button', { type: 'button', class: 'sort', 'data-sort': c.key, onclick: () => ((desc = c.key === key ? !desc : true), (key = c.key), draw(), refocus(c.key)) }, c.label, h('span', { 'aria-hidden': 'true' }, c.key === key ? (desc ? ' ▾' : ' ▴') : '')),
        ),
      ),
    );
    replace(
      body,
      sorted.map((r) => h('tr', {}, columns.map((c) => h('td', { class: c.numeric ? 'num' : null, 'data-col': c.key }, c.cell ? c.cell(r) : String(c.sort(r)))))),
    );
  };
  // The header is redrawn on each sort: keep the keyboard focus on the button just used.
  const refocus = (k: string) => (head.querySelector(`button[data-sort="${k}"]`) as HTMLButtonElement | null)?.focus();
  draw();
  return h('div', { class: 'table-wrap' }, table);
}
