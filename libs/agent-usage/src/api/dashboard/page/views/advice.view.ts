/** Recommendations computed by the API from the actual usage (usage/optimize). */
import { empty, h, replace } from '../dom';
import { money, percent } from '../format';
import { rangeQuery } from '../state';
import type { Recommendations } from '../types';
import type { View } from './context';

const describe = (o: Record<string, unknown>): string =>
  Object.entries(o)
    .map(([k, v]) => `${k}: ${typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v)}`)
    .join(', ');

export const adviceView: View = async (root, ctx) => {
  const r = await ctx.api.get<Recommendations>('usage/optimize', rangeQuery(ctx.state));
  ctx.setRange(r.range);
  const head = h(
    'div',
    { class: 'panel-head' },
    h('h2', {}, 'Recommendations'),
    h('span', { class: 'muted', 'data-exact': r.total_estimated_savings_exact }, `could save ${money(r.total_estimated_savings_exact)} a day`),
  );
  const card = h('section', { class: 'card wide', 'data-panel': 'advice' }, head);
  if (!r.recommendations.length) {
    card.append(empty('Nothing to recommend for this range.', 'Recommendations come from the recorded token mix and the price table: with more traffic (or a longer period) they appear here.'));
  } else {
    card.append(
      h(
        'ol',
        { class: 'advice' },
        r.recommendations.map((x) =>
          h(
            'li',
            { class: `rec priority-${x.priority}`, 'data-rec': x.id },
            h('div', { class: 'rec-head' }, h('strong', {}, x.title), h('span', { class: 'badge', 'data-priority': x.priority }, x.priority)),
            h('p', {}, h('span', { class: 'muted' }, 'Problem: '), x.problem),
            h('p', {}, h('span', { class: 'muted' }, 'Do: '), x.solution),
            h('p', { class: 'rec-figures' }, h('span', { class: 'money', 'data-exact': x.estimated_savings_exact }, `saves ${money(x.estimated_savings_exact)}/day`), ` · ${percent(x.percent_reduction)} less`),
            h('details', {}, h('summary', {}, 'Action and evidence'), h('code', {}, describe(x.action)), x.evidence ? h('p', { class: 'muted' }, describe(x.evidence)) : null),
          ),
        ),
      ),
    );
  }
  replace(root, card);
};
