/** Spend logs: newest first, cursor-paged, filterable, each row opens its full record. */
import { empty, h, replace } from '../dom';
import { count } from '../format';
import { rangeQuery } from '../state';
import { moneyCell } from '../table';
import type { LogItem, Logs } from '../types';
import type { View } from './context';

const PAGE = 25;
const FILTERS: [string, string][] = [
  ['model', 'Model'],
  ['user', 'User'],
  ['category', 'Category'],
  ['provider', 'Provider'],
];

const str = (v: unknown): string => (v === null || v === undefined ? '' : String(v));
/** An instant as wall-clock time in the API's time zone (the zone days and periods follow). */
function time(v: unknown, timeZone: string): string {
  const t = Date.parse(str(v));
  if (Number.isNaN(t)) return str(v);
  return new Intl.DateTimeFormat('sv-SE', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' }).format(t);
}

/** The full record in a modal dialog (native <dialog>: focus stays inside, Esc closes it). */
function openRecord(item: LogItem): void {
  const dialog = h(
    'dialog',
    { class: 'record', 'aria-label': `Record ${item.id}` },
    h('form', { method: 'dialog' }, h('div', { class: 'panel-head' }, h('h2', {}, 'Record'), h('button', { type: 'submit', class: 'ghost' }, 'Close'))),
    h(
      'dl',
      {},
      Object.entries(item).flatMap(([k, v]) => [h('dt', {}, k), h('dd', { 'data-field': k }, typeof v === 'object' && v !== null ? h('pre', {}, JSON.stringify(v, null, 2)) : str(v))]),
    ),
  );
  dialog.addEventListener('close', () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
}

export const logsView: View = async (root, ctx) => {
  const filters: Record<string, string> = {};
  const cursors: (string | null)[] = [null];
  const form = h(
    'form',
    { class: 'filters', 'aria-label': 'Filter the logs' },
    FILTERS.map(([k, label]) => h('label', {}, label, h('input', { name: k, type: 'text', autocomplete: 'off', placeholder: 'any' }))),
    h('button', { type: 'submit' }, 'Filter'),
  );
  const list = h('div', { class: 'logs-body' });
  const pager = h('nav', { class: 'pager', 'aria-label': 'Pages' });
  replace(root, h('section', { class: 'card wide', 'data-panel': 'logs' }, h('div', { class: 'panel-head' }, h('h2', {}, 'Spend logs'), h('span', { class: 'muted' }, 'newest first; select a row to see the whole record')), form, list, pager));

  const load = async (page: number): Promise<void> => {
    list.setAttribute('aria-busy', 'true');
    const res = await ctx.api.get<Logs>('logs', { ...rangeQuery(ctx.state), ...filters, limit: PAGE, cursor: cursors[page] ?? undefined });
    list.removeAttribute('aria-busy');
    cursors[page + 1] = res.next_cursor;
    if (!res.items.length) {
      replace(list, empty(page ? 'No more records.' : 'No records match.', 'Widen the period or clear the filters; records appear as soon as your agents make calls.'));
    } else {
      replace(
        list,
        h(
          'div',
          { class: 'table-wrap' },
          h(
            'table',
            { class: 'data', 'data-table': 'logs' },
            h('thead', {}, h('tr', {}, [`Time (${ctx.timeZone()})`, 'Agent', 'Model', 'Category', 'Input', 'Output', 'Outcome', 'Cost'].map((c, i) => h('th', { scope: 'col', class: i >= 4 && i !== 6 ? 'num' : null }, c)))),
            h(
              'tbody',
              {},
              res.items.map((it) =>
                h(
                  'tr',
                  { 'data-id': it.id },
                  h('td', {}, h('button', { type: 'button', class: 'link', onclick: () => openRecord(it), 'aria-label': `Open record ${it.id}` }, time(it.recorded_at, ctx.timeZone()))),
                  h('td', {}, str(it.agent_name)),
                  h('td', {}, str(it.model_name)),
                  h('td', {}, str(it.category)),
                  h('td', { class: 'num' }, count(it.input_tokens as number | null)),
                  h('td', { class: 'num' }, count(it.output_tokens as number | null)),
                  h('td', {}, it.success === false ? h('span', { class: 'badge', 'data-status': 'CRITICAL' }, 'failed') : 'ok'),
                  h('td', { class: 'num', 'data-col': 'cost' }, it.cost_exact === null ? h('span', { class: 'muted' }, 'unpriced') : moneyCell(it.cost_exact)),
                ),
              ),
            ),
          ),
        ),
      );
    }
    replace(
      pager,
      h('button', { type: 'button', disabled: page === 0, onclick: () => void load(page - 1), 'data-page': 'prev' }, '← Newer'),
      h('span', { class: 'muted' }, `page ${page + 1}`),
      h('button', { type: 'button', disabled: !res.next_cursor, onclick: () => void load(page + 1), 'data-page': 'next' }, 'Older →'),
    );
  };
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const data = new FormData(form);
    for (const [k] of FILTERS) {
      const v = String(data.get(k) ?? '').trim();
      if (v) filters[k] = v;
      else delete filters[k];
    }
    cursors.length = 1;
    void load(0).catch((err) => replace(list, h('p', { class: 'state error', role: 'alert' }, String(err instanceof Error ? err.message : err))));
  });
  await load(0);
};
