/** The header: period buttons, a date range, the agent multi-select, the time zone, export and invoice. */
import type { Api } from './api';
import { h, replace } from './dom';
import { PERIODS, rangeQuery, VIEWS, type State, type View } from './state';

export interface HeaderHandlers {
  change(next: Partial<State>): void;
  toggleTheme(): void;
  forgetKey(): void;
}

const VIEW_LABELS: Record<View, string> = { overview: 'Overview', fleet: 'Fleet', logs: 'Logs', advice: 'Recommendations', alerts: 'Alerts' };

function agentPicker(state: State, agents: string[], on: HeaderHandlers): HTMLElement {
  const chosen = new Set(state.agents);
  const summary = chosen.size === 0 ? 'All agents' : chosen.size <= 2 ? [...chosen].join(', ') : `${chosen.size} agents`;
  const boxes = agents.map((a) =>
    h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'agent', value: a, checked: chosen.has(a), onchange: (e: Event) => ((e.target as HTMLInputElement).checked ? chosen.add(a) : chosen.delete(a)) }), a),
  );
  const details = h(
    'details',
    { class: 'picker', 'data-picker': 'agents' },
    h('summary', { 'aria-label': `Agents: ${summary}` }, summary),
    h(
      'div',
      { class: 'picker-menu' },
      agents.length ? boxes : h('p', { class: 'muted' }, 'No agents recorded yet.'),
      h(
        'div',
        { class: 'picker-actions' },
        h('button', { type: 'button', class: 'ghost', onclick: () => on.change({ agents: [] }) }, 'All'),
        h('button', { type: 'button', 'data-apply': 'agents', onclick: () => on.change({ agents: agents.filter((a) => chosen.has(a)) }) }, 'Apply'),
      ),
    ),
  );
  details.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') details.open = false;
  });
  return details;
}

/**
 * The invoice page with its stylesheet link made absolute: read from a blob: URL, a link from the root
 * would resolve against nothing (blob: URLs have no path) and the page would open unstyled.
 */
function absoluteLinks(html: string): string {
  const doc = new DOMParser().parseFromString(html, 'text/html');
  for (const link of doc.querySelectorAll('link[href]')) link.setAttribute('href', new URL(link.getAttribute('href') ?? '', location.href).href);
  return `<!doctype html>\n${doc.documentElement.outerHTML}`;
}

function thisMonth(): string {
  return new Date().toISOString().slice(0, 7);
}

export function renderHeader(host: HTMLElement, state: State, agents: string[], api: Api, on: HeaderHandlers, status: HTMLElement): void {
  const from = h('input', { type: 'date', name: 'from', value: state.startDate ?? '', required: true, 'aria-label': 'From (first day)' });
  const to = h('input', { type: 'date', name: 'to', value: state.endDate ?? '', required: true, 'aria-label': 'To (last day, included)' });
  const range = h('form', { class: 'range', 'aria-label': 'Date range' }, from, h('span', { 'aria-hidden': 'true' }, '–'), to, h('button', { type: 'submit' }, 'Apply'));
  range.addEventListener('submit', (e) => {
    e.preventDefault();
    if (from.value && to.value) on.change({ period: null, startDate: from.value <= to.value ? from.value : to.value, endDate: from.value <= to.value ? to.value : from.value });
  });
  const month = h('input', { type: 'month', value: thisMonth(), 'aria-label': 'Invoice month' });
  const invoiceLink = h('a', { class: 'button', target: '_blank', rel: 'noopener', 'data-action': 'invoice' }, 'Invoice');
  const invoiceQuery = () => ({ month: month.value || thisMonth(), format: 'html', agent: state.agents.length ? state.agents : undefined });
  const setHref = () => invoiceLink.setAttribute('href', api.url('invoice', invoiceQuery()));
  month.addEventListener('change', setHref);
  setHref();
  // With a key the invoice is fetched with it and opened from memory (a link cannot carry the key).
  invoiceLink.addEventListener('click', (e) => {
    if (!api.key) return;
    e.preventDefault();
    const tab = window.open('', '_blank');
    void api.request('GET', 'invoice', invoiceQuery()).then(async (res) => {
      const url = URL.createObjectURL(new Blob([absoluteLinks(await res.text())], { type: 'text/html' }));
      if (tab) tab.location.href = url;
    });
  });
  const exportButton = h('button', { type: 'button', 'data-action': 'export' }, 'Export CSV');
  exportButton.addEventListener('click', () => {
    exportButton.disabled = true;
    api
      .download('usage/export', { ...rangeQuery(state), format: 'csv' }, 'agent-usage.csv')
      .then((name) => (status.textContent = `Downloaded ${name}`))
      .catch((err) => (status.textContent = `Export failed: ${err instanceof Error ? err.message : String(err)}`))
      .finally(() => (exportButton.disabled = false));
  });

  replace(
    host,
    h(
      'div',
      { class: 'bar top' },
      h('h1', {}, 'Agent usage'),
      h('span', { class: 'tz', id: 'tz', title: 'Days and periods follow this time zone' }),
      h('span', { class: 'spacer' }),
      exportButton,
      h('span', { class: 'invoice' }, month, invoiceLink),
      api.key ? h('button', { type: 'button', class: 'ghost', onclick: on.forgetKey }, 'Forget key') : null,
      h('button', { type: 'button', class: 'ghost', id: 'theme', onclick: on.toggleTheme, 'aria-label': 'Switch light or dark' }, '◐'),
    ),
    h(
      'div',
      { class: 'bar controls' },
      h(
        'div',
        { class: 'segmented', role: 'group', 'aria-label': 'Period' },
        PERIODS.map(([p, label]) => h('button', { type: 'button', 'data-period': p, 'aria-pressed': String(state.period === p), onclick: () => on.change({ period: p, startDate: null, endDate: null }) }, label)),
      ),
      range,
      agentPicker(state, agents, on),
    ),
    h(
      'nav',
      { class: 'tabs', 'aria-label': 'Views' },
      VIEWS.map((v) => h('a', { href: '#', 'data-view': v, 'aria-current': state.view === v ? 'page' : null, onclick: (e: Event) => (e.preventDefault(), on.change({ view: v })) }, VIEW_LABELS[v])),
    ),
  );
}
