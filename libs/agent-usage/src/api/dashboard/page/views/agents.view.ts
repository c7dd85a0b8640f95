/** Per agent: the model breakdown (a bar of model shares) and the activity table (sortable). */
import { PALETTE } from '../chart';
import { empty, h, replace } from '../dom';
import { count, money, percent } from '../format';
import { rangeQuery } from '../state';
import { moneyCell, sortableTable } from '../table';
import type { Breakdown, BreakdownRow, Summary } from '../types';
import { setWidth, type ViewContext } from './context';

export interface AgentRow {
  agent: string;
  summary: Summary;
  models: BreakdownRow[];
}

/** Two requests per agent: the panels show the agents with the most spend, the filter picks others. */
const MAX_AGENTS = 15;
/** Agents of the last load left out by MAX_AGENTS. */
let hidden = 0;
const hiddenNote = () => (hidden ? h('span', { class: 'muted' }, `top ${MAX_AGENTS} by spend; ${hidden} more: pick them in the agent filter`) : null);

/** One summary and one model breakdown per agent of the range (agents filtered by the header). */
export async function loadAgents(ctx: ViewContext): Promise<AgentRow[]> {
  const base = rangeQuery(ctx.state);
  const byAgent = await ctx.api.get<Breakdown>('usage/breakdown', { ...base, group_by: 'agent' });
  const agents = ((byAgent.agents as BreakdownRow[]) ?? []).map((r) => r.key).filter((k): k is string => k !== null);
  hidden = Math.max(0, agents.length - MAX_AGENTS);
  return Promise.all(
    agents.slice(0, MAX_AGENTS).map(async (agent) => {
      const q = { ...base, agent };
      const [summary, models] = await Promise.all([ctx.api.get<Summary>('usage', q), ctx.api.get<Breakdown>('usage/breakdown', { ...q, group_by: 'model' })]);
      return { agent, summary, models: (models.models as BreakdownRow[]) ?? [] };
    }),
  );
}

const NO_AGENTS = () => empty('No agent has usage in this range.', 'Name your agents with @TrackUsage({ agentName }) or runWithContext({ agentName }), then pick a period that has calls.');

export function renderModels(host: HTMLElement, rows: AgentRow[]): void {
  const head = h('div', { class: 'panel-head' }, h('h2', {}, 'Models per agent'), hiddenNote());
  if (!rows.length) return replace(host, head, NO_AGENTS());
  const colour = new Map<string, string>();
  const colourOf = (m: string) => colour.get(m) ?? (colour.set(m, PALETTE[colour.size % PALETTE.length]), colour.get(m)!);
  replace(
    host,
    head,
    h(
      'ul',
      { class: 'model-bars' },
      rows.map((r) =>
        h(
          'li',
          { 'data-agent': r.agent },
          h('span', { class: 'bar-label' }, r.agent, ' ', h('span', { class: 'muted' }, money(r.summary.amount_spent_exact))),
          h(
            'div',
            { class: 'stack', role: 'img', 'aria-label': r.models.map((m) => `${m.key ?? '(none)'} ${percent(m.percent)}`).join(', ') },
            r.models.map((m) => {
              const seg = setWidth(h('span', { class: 'seg', title: `${m.key ?? '(none)'}: ${money(m.cost_exact)} (${percent(m.percent)})` }), m.percent);
              seg.style.background = colourOf(m.key ?? '(none)');
              return seg;
            }),
          ),
          h(
            'ul',
            { class: 'legend' },
            r.models.map((m) => {
              const dot = h('i', { class: 'dot', 'aria-hidden': 'true' });
              dot.style.background = colourOf(m.key ?? '(none)');
              return h('li', { 'data-model': m.key ?? '' }, dot, `${m.key ?? '(none)'} `, moneyCell(m.cost_exact), h('span', { class: 'muted' }, ` ${percent(m.percent)} · ${count(m.calls)} calls`));
            }),
          ),
        ),
      ),
    ),
  );
}

export function renderActivity(host: HTMLElement, rows: AgentRow[]): void {
  const head = h('div', { class: 'panel-head' }, h('h2', {}, 'Activity per agent'), h('span', { class: 'muted' }, 'select a column to sort'), hiddenNote());
  if (!rows.length) return replace(host, head, NO_AGENTS());
  replace(
    host,
    head,
    sortableTable<AgentRow>(
      'Activity per agent',
      [
        { key: 'agent', label: 'Agent', sort: (r) => r.agent },
        { key: 'requests', label: 'Requests', sort: (r) => r.summary.operation_count, cell: (r) => count(r.summary.operation_count), numeric: true },
        { key: 'input', label: 'Input', sort: (r) => r.summary.input_tokens, cell: (r) => count(r.summary.input_tokens), numeric: true },
        { key: 'output', label: 'Output', sort: (r) => r.summary.output_tokens, cell: (r) => count(r.summary.output_tokens), numeric: true },
        { key: 'cached', label: 'Cached', sort: (r) => r.summary.cached_tokens, cell: (r) => count(r.summary.cached_tokens), numeric: true },
        { key: 'reasoning', label: 'Reasoning', sort: (r) => r.summary.reasoning_tokens, cell: (r) => count(r.summary.reasoning_tokens), numeric: true },
        { key: 'success', label: 'Success', sort: (r) => r.summary.success_rate ?? -1, cell: (r) => percent(r.summary.success_rate), numeric: true },
        { key: 'cost', label: 'Cost', sort: (r) => Number(r.summary.amount_spent_exact), cell: (r) => moneyCell(r.summary.amount_spent_exact), numeric: true },
      ],
      rows,
      { key: 'cost', desc: true },
      'activity',
    ),
  );
}
