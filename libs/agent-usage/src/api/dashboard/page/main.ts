/**
 * The Agent Usage dashboard. The server sends an HTML shell with no data and no inline code (its CSP
 * allows only this bundle and its stylesheet); this script builds the page and reads the usage API next
 * to it (`data-api` on <body>).
 */
import 'uplot/dist/uPlot.min.css';
import './dashboard.css';
import { Api } from './api';
import { byId, failed, h, loading, replace } from './dom';
import { renderHeader } from './header';
import { knowsApiTimeZone, readState, setApiTimeZone, writeState, type State, type View } from './state';
import type { Breakdown, BreakdownRow, Range } from './types';
import { adviceView } from './views/advice.view';
import { alertsView } from './views/alerts.view';
import type { View as ViewFn, ViewContext } from './views/context';
import { fleetView } from './views/fleet.view';
import { logsView } from './views/logs.view';
import { overview } from './views/overview.view';
import { redrawCharts } from './views/trend.view';

const VIEWS: Record<View, ViewFn> = { overview, fleet: fleetView, logs: logsView, advice: adviceView, alerts: alertsView };
const THEME = 'agent-usage.theme';

const body = document.body;
const api = new Api(body.dataset.api ?? '.');
let state: State = readState(location.hash);
let knownAgents: string[] = [];
let renderCount = 0;
let timeZone = 'UTC';
/** The agent list (and with it the API's time zone), asked for once at boot, alongside the first view. */
let agentsLoaded: Promise<void> = Promise.resolve();

const head = byId('head');
const main = byId('main');
const status = byId('status');

function applyTheme(): void {
  const saved = localStorage.getItem(THEME);
  if (saved === 'light' || saved === 'dark') document.documentElement.dataset.theme = saved;
  else delete document.documentElement.dataset.theme;
}

function toggleTheme(): void {
  const dark = document.documentElement.dataset.theme ? document.documentElement.dataset.theme === 'dark' : matchMedia('(prefers-color-scheme: dark)').matches;
  localStorage.setItem(THEME, dark ? 'light' : 'dark');
  applyTheme();
  redrawCharts();
}

/** Asks for an API key (modal) and resolves when one is entered; the key stays in this tab only. */
function askForKey(code: number, message: string): Promise<void> {
  const dialog = byId<HTMLDialogElement>('key');
  const input = dialog.querySelector('input') as HTMLInputElement;
  byId('key-why').textContent =
    body.dataset.auth === 'api-keys' && code === 401 && !/invalid|wrong|unknown/i.test(message) ? 'This dashboard reads an API protected by keys.' : `The API answered ${message}.`;
  input.value = '';
  if (!dialog.open) dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener(
      'submit',
      (e) => {
        e.preventDefault();
        api.key = input.value.trim();
        dialog.close();
        resolve();
      },
      { once: true },
    );
  });
}

/** The range the current view showed (set again when the header is redrawn with the agent list). */
let shownRange: Range | null = null;

function setRange(range: Range): void {
  shownRange = range;
  timeZone = range.time_zone;
  setApiTimeZone(range.time_zone);
  const tz = document.getElementById('tz');
  if (!tz) return;
  const days = range.start_date && range.end_date ? `${range.start_date} – ${range.end_date}` : 'all time';
  tz.textContent = `${days} · ${range.time_zone}`;
  tz.dataset.timeZone = range.time_zone;
}

function change(next: Partial<State>): void {
  state = { ...state, ...next };
  history.replaceState(null, '', writeState(state));
  void render();
}

const headerHandlers = { change, toggleTheme, forgetKey: () => ((api.key = null), location.reload()) };

async function render(): Promise<void> {
  const mine = ++renderCount;
  shownRange = null;
  renderHeader(head, state, knownAgents, api, headerHandlers, status);
  const ctx: ViewContext = { api, state, knownAgents, setRange, timeZone: () => timeZone, refresh: () => void render() };
  replace(main, loading());
  main.setAttribute('aria-busy', 'true');
  body.dataset.ready = 'false';
  try {
    // The 7-day range is counted in the API's time zone, and the alert form lists every agent: both wait
    // for the boot's agent list; every other view asks for its figures at once.
    if ((state.period === '7d' && !state.startDate && !knowsApiTimeZone()) || state.view === 'alerts') {
      await agentsLoaded;
      if (mine !== renderCount) return;
      ctx.knownAgents = knownAgents;
    }
    await VIEWS[state.view](main, ctx);
  } catch (err) {
    if (mine === renderCount) replace(main, failed(err));
  } finally {
    if (mine === renderCount) {
      main.removeAttribute('aria-busy');
      body.dataset.ready = 'true';
    }
  }
}

async function boot(): Promise<void> {
  applyTheme();
  matchMedia('(prefers-color-scheme: dark)').addEventListener('change', redrawCharts);
  api.onUnauthorized = askForKey;
  window.addEventListener('hashchange', () => {
    state = readState(location.hash);
    void render();
  });
  // Asked for together with the view's own requests (not before them): the first render does not wait
  // for the all-time agent list; the header's agent picker is filled in when it arrives.
  agentsLoaded = api
    .get<Breakdown>('usage/breakdown', { period: 'all_time', group_by: 'agent' })
    .then((all) => {
      timeZone = all.range.time_zone;
      setApiTimeZone(all.range.time_zone);
      knownAgents = ((all.agents as BreakdownRow[]) ?? []).map((r) => r.key).filter((k): k is string => k !== null).sort();
      renderHeader(head, state, knownAgents, api, headerHandlers, status);
      if (shownRange) setRange(shownRange);
    })
    .catch((err) => {
      replace(status, h('span', { role: 'alert' }, `Could not list the agents: ${err instanceof Error ? err.message : String(err)}`));
    });
  await render();
}

void boot();
