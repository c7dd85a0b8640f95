/** The overview: KPI tiles, the daily trend, the hourly pattern, models per agent, activity per agent. */
import { failed, h, loading, replace } from '../dom';
import { rangeQuery } from '../state';
import type { Analytics, Summary } from '../types';
import { renderActivity, renderModels, loadAgents } from './agents.view';
import type { ViewContext } from './context';
import { loadTiles } from './kpi.view';
import { clearCharts, loadAnalytics, renderHourly, renderTrend, type SplitBy } from './trend.view';

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

  const summary = ctx.api.get<Summary>('usage', rangeQuery(ctx.state));
  const analytics = loadAnalytics(ctx, splitBy);
  // The first draw reuses the request the hourly panel shares; a switch asks for the other split.
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
      await loadTiles(tiles, ctx, s);
    }),
    panel(trend, () => drawTrend(splitBy)),
    panel(hourly, async () => renderHourly(hourly, await analytics, (await analytics).range.time_zone)),
    panel(models, async () => {
      const rows = loadAgents(ctx);
      await Promise.all([
        panel(activity, async () => renderActivity(activity, await rows)),
        (async () => renderModels(models, await rows))(),
      ]);
    }),
  ]);
}
