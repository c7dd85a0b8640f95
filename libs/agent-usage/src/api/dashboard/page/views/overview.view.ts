/** The overview: KPI tiles, the daily trend, the hourly pattern, models per agent, activity per agent. */
import { failed, h, loading, replace } from '../dom';
import { rangeQuery } from '../state';
import type { Analytics, Summary } from '../types';
import { renderActivity, renderModels, loadAgents } from './agents.view';
import type { ViewContext } from './context';
import { loadPrevious, loadTiles } from './kpi.view';
import { clearCharts, loadAnalytics, loadHourly, renderHourly, renderTrend, type SplitBy } from './trend.view';

let splitBy: SplitBy = 'agent';

/** Each panel loads on its own: a slow or failing one does not hold the others back. */
async function panel(host: HTMLElement, work: () => Promise<void>): Promise<void> {
  replace(host, loading());
  host.setAttribute('aria-busy', 'true');
  try {
    await work();
  } catch (err) {
    replace(host, failed(err));
  } finally {
    host.removeAttribute('aria-busy');
  }
}

export async function overview(root: HTMLElement, ctx: ViewContext): Promise<void> {
  clearCharts();
  const tiles = h('section', { class: 'tiles', 'aria-label': 'Key figures', 'data-panel': 'kpi' });
  const trend = h('section', { class: 'card wide', 'data-panel': 'trend' });
  const hourly = h('section', { class: 'card', 'data-panel': 'hourly' });
  const models = h('section', { class: 'card', 'data-panel': 'models' });
  const activity = h('section', { class: 'card wide', 'data-panel': 'activity' });
  replace(root, tiles, h('div', { class: 'grid' }, trend, hourly, models, activity));

  // Every request of the first draw starts now, none waits for another's answer: the summary, the
  // previous period's when the range is known here (dates in the URL or the 7 days; a named period's
  // dates come from the API), the split trend, the hours, and the agent list.
  const range = rangeQuery(ctx.state);
  const summary = ctx.api.get<Summary>('usage', range);
  const before = typeof range.start_date === 'string' && typeof range.end_date === 'string' ? loadPrevious(ctx, { start_date: range.start_date, end_date: range.end_date }) : undefined;
  // Awaited only once the summary is in: a failure meanwhile must not be an unhandled rejection.
  void before?.catch(() => undefined);
  const analytics = loadAnalytics(ctx, splitBy);
  const hours = loadHourly(ctx);
  // The first draw uses the request made above; a switch asks for the other split.
  let first: Promise<Analytics> | null = analytics;
  const drawTrend = async (s: SplitBy): Promise<void> => {
    splitBy = s;
    const a = await (first ?? loadAnalytics(ctx, s));
    first = null;
    renderTrend(trend, a, s, (next) => void panel(trend, () => drawTrend(next)));
  };
  await Promise.all([
    panel(tiles, async () => {
      const s = await summary;
      ctx.setRange(s.range);
      await loadTiles(tiles, ctx, s, before);
    }),
    panel(trend, () => drawTrend(splitBy)),
    panel(hourly, async () => {
      const a = await hours;
      renderHourly(hourly, a, a.range.time_zone);
    }),
    panel(models, async () => {
      const rows = loadAgents(ctx);
      await Promise.all([
        panel(activity, async () => renderActivity(activity, await rows)),
        (async () => renderModels(models, await rows))(),
      ]);
    }),
  ]);
}
