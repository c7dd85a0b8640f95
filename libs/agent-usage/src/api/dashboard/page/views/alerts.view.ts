/** Runtime alerts: the list (with delete) and a form to create one (POST alerts). */
import { empty, h, replace } from '../dom';
import { money } from '../format';
import type { Alert } from '../types';
import type { View } from './context';

const DIMENSION: Record<string, string> = { agentName: 'agent', userId: 'user', group: 'group', modelName: 'model', providerName: 'provider', category: 'category' };
const target = (a: Alert): string => (a.scope ? `${DIMENSION[a.scope.dimension] ?? a.scope.dimension} ${a.scope.value}` : a.agent_name ? `agent ${a.agent_name}` : 'all usage');
const budget = (a: Alert): string =>
  a.daily_budget !== undefined && a.daily_budget !== null
    ? `${money(String(a.daily_budget))} a day`
    : `${a.metric === 'tokens' ? `${a.limit} tokens` : money(String(a.limit))} per ${a.window ?? 'day'}`;

function alertForm(agents: string[], onCreate: (body: Record<string, unknown>) => Promise<void>): HTMLFormElement {
  const status = h('p', { class: 'form-status', role: 'status' });
  const form = h(
    'form',
    { class: 'alert-form', 'aria-label': 'Create an alert' },
    h('label', {}, 'Agent', h('select', { name: 'agent', required: true }, agents.map((a) => h('option', { value: a }, a)))),
    h('label', {}, 'Budget', h('select', { name: 'kind' }, h('option', { value: 'daily' }, 'USD a day'), h('option', { value: 'cost' }, 'USD per window'), h('option', { value: 'tokens' }, 'tokens per window'))),
    h('label', {}, 'Amount', h('input', { name: 'amount', type: 'text', inputmode: 'decimal', required: true, placeholder: '10.00', pattern: '\\d+(\\.\\d+)?' })),
    h('label', {}, 'Window', h('select', { name: 'window' }, ['hour', 'day', 'week', 'month'].map((w) => h('option', { value: w, selected: w === 'day' }, w)))),
    h('label', {}, 'At percent', h('input', { name: 'levels', type: 'text', required: true, value: '80, 100', pattern: '\\s*\\d+(\\s*,\\s*\\d+)*\\s*' })),
    h('label', {}, 'Action', h('select', { name: 'action' }, h('option', { value: 'webhook' }, 'call a webhook'), h('option', { value: 'pause_agent' }, 'pause the agent'))),
    h('label', { class: 'grow' }, 'Webhook URL', h('input', { name: 'webhook_url', type: 'url', placeholder: 'https://example.com/hook' })),
    h('button', { type: 'submit' }, 'Create alert'),
    status,
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const f = new FormData(form);
    const kind = String(f.get('kind'));
    const action = String(f.get('action'));
    const body: Record<string, unknown> = {
      agent: f.get('agent'),
      alerts: String(f.get('levels'))
        .split(',')
        .map((p) => ({ percent: Number(p.trim()), action })),
    };
    if (kind === 'daily') body.daily_budget = String(f.get('amount'));
    else Object.assign(body, { limit: String(f.get('amount')), window: f.get('window'), metric: kind });
    const url = String(f.get('webhook_url') ?? '').trim();
    if (url) body.webhook_url = url;
    status.textContent = 'Creating…';
    onCreate(body).then(
      () => (status.textContent = ''),
      (err) => (status.textContent = `Not created: ${err instanceof Error ? err.message : String(err)}`),
    );
  });
  return form;
}

export const alertsView: View = async (root, ctx) => {
  const alerts = await ctx.api.get<Alert[] | { alerts: Alert[] }>('alerts');
  const list = Array.isArray(alerts) ? alerts : alerts.alerts;
  const create = async (body: Record<string, unknown>): Promise<void> => {
    await ctx.api.send('POST', 'alerts', body);
    ctx.refresh();
  };
  const remove = async (a: Alert): Promise<void> => {
    await ctx.api.send('DELETE', `alerts/${encodeURIComponent(a.id)}`);
    ctx.refresh();
  };
  const table = list.length
    ? h(
        'div',
        { class: 'table-wrap' },
        h(
          'table',
          { class: 'data', 'data-table': 'alerts' },
          h('thead', {}, h('tr', {}, ['For', 'Budget', 'Levels', 'State', 'Created', ''].map((c) => h('th', { scope: 'col' }, c)))),
          h(
            'tbody',
            {},
            list.map((a) =>
              h(
                'tr',
                { 'data-id': a.id },
                h('td', {}, target(a)),
                h('td', {}, budget(a)),
                h('td', {}, a.alerts.map((l) => `${l.percent}% ${l.action === 'pause_agent' ? 'pause' : 'webhook'}`).join(', ')),
                h('td', {}, a.paused ? h('span', { class: 'badge', 'data-status': 'CRITICAL' }, 'paused') : 'active'),
                h('td', {}, a.created_at?.slice(0, 16).replace('T', ' ') ?? ''),
                h('td', {}, h('button', { type: 'button', class: 'danger', 'aria-label': `Delete the alert for ${target(a)}`, onclick: () => void remove(a).catch((err) => alert(String(err))) }, 'Delete')),
              ),
            ),
          ),
        ),
      )
    : empty('No alerts yet.', 'Create one below: a daily budget or a limit per window, with a webhook or a pause at the percents you choose.');
  const agents = ctx.knownAgents;
  replace(
    root,
    h('section', { class: 'card wide', 'data-panel': 'alerts' }, h('div', { class: 'panel-head' }, h('h2', {}, 'Alerts')), table),
    h('section', { class: 'card wide', 'data-panel': 'alert-form' }, h('h2', {}, 'New alert'), agents.length ? alertForm(agents, create) : empty('No agents yet.', 'Alerts are set per agent: record some usage first.')),
  );
};
