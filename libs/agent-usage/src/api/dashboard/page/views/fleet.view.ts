/** The fleet: every agent's budget as a bar with its status and the projection to the window's end. */
import { empty, h, replace } from '../dom';
import { count, money, percent } from '../format';
import { rangeQuery } from '../state';
import { moneyCell } from '../table';
import type { Fleet, FleetAgent } from '../types';
import { setWidth, type View } from './context';

const STATUS_LABEL: Record<string, string> = { low: 'LOW', normal: 'NORMAL', warning: 'WARNING', critical: 'CRITICAL', no_budget: 'no budget' };

function bar(a: FleetAgent): HTMLElement {
  const status = a.status ?? 'NONE';
  const p = a.projection;
  return h(
    'li',
    { class: `fleet-row status-${status.toLowerCase()}`, 'data-agent': a.name },
    h('div', { class: 'fleet-top' }, h('strong', {}, a.name), h('span', { class: 'badge', 'data-status': status }, a.status ?? 'no budget')),
    a.budget_exact !== null
      ? h('div', { class: 'meter', role: 'meter', 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': a.percent ?? 0, 'aria-label': `${a.name}: ${percent(a.percent)} of the ${a.budget_window ?? ''} budget` }, setWidth(h('span', { class: 'fill' }), a.percent ?? 0))
      : null,
    h(
      'div',
      { class: 'fleet-figures' },
      a.budget_exact !== null
        ? h('span', { 'data-window': a.budget_window ?? '' }, moneyCell(a.window_spent_exact), ' of ', moneyCell(a.budget_exact), ` this ${a.budget_window ?? 'window'} (${percent(a.percent)})`)
        : h('span', { class: 'muted' }, 'no budget set'),
      h('span', { class: 'muted' }, ' · in range ', moneyCell(a.spent_exact), `, ${count(a.operations)} operations`),
    ),
    p
      ? h(
          'div',
          { class: `projection${p.will_exceed_budget ? ' over' : ''}`, 'data-projection': p.estimated_total_exact },
          `Projected ${money(p.estimated_total_exact)} by ${p.window_end.slice(0, 16).replace('T', ' ')} (${percent(p.percent)} of budget)`,
          p.will_exceed_budget ? h('strong', {}, ' · will exceed the budget') : null,
        )
      : null,
  );
}

export const fleetView: View = async (root, ctx) => {
  const f = await ctx.api.get<Fleet>('fleet', rangeQuery(ctx.state));
  ctx.setRange(f.range);
  const t = f.totals;
  const head = h(
    'div',
    { class: 'panel-head' },
    h('h2', {}, 'Fleet'),
    h('span', { class: 'muted', 'data-fleet-total': t.spent_exact }, `${count(t.agents)} agents · ${money(t.spent_exact)} spent in range · ${money(t.budget_exact)} budgeted · ${count(t.operations)} operations`),
    h(
      'span',
      { class: 'status-counts' },
      Object.entries(t.status_counts ?? {})
        .filter(([, v]) => v > 0)
        .map(([k, v]) => h('span', { class: 'badge', 'data-status': STATUS_LABEL[k] ?? k }, `${STATUS_LABEL[k] ?? k} ${v}`)),
    ),
  );
  const card = h('section', { class: 'card wide', 'data-panel': 'fleet' }, head);
  if (!f.agents.length) card.append(empty('No agents in this range.', 'Agents appear here once they have usage; give them budgets in UsageTrackingModule options (budgets) or create an alert on the Alerts tab.'));
  else card.append(h('ul', { class: 'fleet' }, f.agents.map(bar)));
  replace(root, card);
};
