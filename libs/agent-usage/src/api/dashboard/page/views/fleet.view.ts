/** The fleet: every agent's budget as a bar with its status and the projection to the period's end. */
import { empty, h, replace } from '../dom';
import { count, money, percent } from '../format';
import { rangeQuery } from '../state';
import { moneyCell } from '../table';
import type { Fleet, FleetAgent } from '../types';
import { setWidth, type View } from './context';

/** The projection as the API gives it: a number, an exact string, or an object with an estimated total. */
function projection(p: unknown): string | null {
  if (p === null || p === undefined) return null;
  if (typeof p === 'number' || typeof p === 'string') return `projected ${money(String(p))}`;
  if (typeof p === 'object') {
    const o = p as Record<string, unknown>;
    const total = o.estimated_total_exact ?? o.projected_spend_exact ?? o.estimated_total ?? o.projected_spend;
    const parts: string[] = [];
    if (total !== undefined && total !== null) parts.push(`projected ${money(String(total))}`);
    if (o.will_exceed_budget === true) parts.push('will exceed the budget');
    if (typeof o.hours_until_depleted === 'number') parts.push(`${Math.round(o.hours_until_depleted)} h until depleted`);
    return parts.join(' · ') || null;
  }
  return null;
}

function bar(a: FleetAgent): HTMLElement {
  const status = a.status ?? 'NONE';
  const fill = setWidth(h('span', { class: 'fill' }), a.percent ?? 0);
  const proj = projection(a.projection);
  return h(
    'li',
    { class: `fleet-row status-${status.toLowerCase()}`, 'data-agent': a.name },
    h('div', { class: 'fleet-top' }, h('strong', {}, a.name), h('span', { class: 'badge', 'data-status': status }, a.status ?? 'no budget')),
    a.budget_exact !== null
      ? h('div', { class: 'meter', role: 'meter', 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': a.percent ?? 0, 'aria-label': `${a.name}: ${percent(a.percent)} of budget` }, fill)
      : null,
    h(
      'div',
      { class: 'fleet-figures' },
      moneyCell(a.spent_exact),
      a.budget_exact !== null ? h('span', {}, ' of ', moneyCell(a.budget_exact), ` (${percent(a.percent)})`) : h('span', { class: 'muted' }, ' spent, no budget set'),
      h('span', { class: 'muted' }, ` · ${count(a.operations)} operations`),
      proj ? h('span', { class: 'projection' }, ` · ${proj}`) : null,
    ),
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
    h('span', { class: 'muted', 'data-fleet-total': t.spent_exact }, `${count(t.agents)} agents · ${money(t.spent_exact)} spent`, t.budget_exact ? ` of ${money(t.budget_exact)} budgeted` : '', ` · ${count(t.operations)} operations`),
    h('span', { class: 'status-counts' }, Object.entries(t.status_counts ?? {}).map(([k, v]) => h('span', { class: 'badge', 'data-status': k }, `${k} ${v}`))),
  );
  const card = h('section', { class: 'card wide', 'data-panel': 'fleet' }, head);
  if (!f.agents.length) card.append(empty('No agents in this range.', 'Agents appear here once they have usage; give them budgets in UsageTrackingModule options (budgets) or create an alert on the Alerts tab.'));
  else card.append(h('ul', { class: 'fleet' }, f.agents.map(bar)));
  replace(root, card);
};
