/**
 * Comparisons of what the dashboard shows with the API's answer for the same filters: tiles, the daily
 * chart's data (its table and legend), the hourly pattern and the activity table.
 */
import type { Page } from 'playwright-core';
import { cents, type DashApp } from './dashboard-app.fixture';

export const qs = (filters: Record<string, string | string[]>): string =>
  Object.entries(filters)
    .flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((x) => `${k}=${encodeURIComponent(x)}`))
    .join('&');

/** Tiles: the exact string of each and its text, against GET usage for the same filters. */
export async function expectTiles(dash: DashApp, page: Page, filters: Record<string, string | string[]>): Promise<void> {
  const s = await dash.api(`usage?${qs(filters)}`);
  const tile = async (key: string) => page.locator(`[data-kpi="${key}"] .tile-value`);
  expect(await (await tile('spend')).getAttribute('data-exact')).toBe(s.amount_spent_exact);
  expect(await (await tile('spend')).textContent()).toBe(cents(s.amount_spent_exact));
  expect(await (await tile('operations')).getAttribute('data-exact')).toBe(String(s.operation_count));
  expect((await (await tile('operations')).textContent())!.replace(/,/g, '')).toBe(String(s.operation_count));
  expect((await (await tile('tokens')).textContent())!.replace(/,/g, '')).toBe(String(s.total_tokens));
  expect(await (await tile('avg-cost')).getAttribute('data-exact')).toBe(s.avg_cost_per_operation_exact);
  const avg = (await (await tile('avg-cost')).textContent())!;
  if (Number(s.avg_cost_per_operation_exact) >= 0.01) expect(avg).toBe(cents(s.avg_cost_per_operation_exact));
  else expect(avg.startsWith('$0.00')).toBe(true);
  expect(await (await tile('success-rate')).getAttribute('data-exact')).toBe(s.success_rate === null ? '' : String(s.success_rate));
  expect(s.operation_count).toBeGreaterThan(0);
}

/** The daily chart's numbers (its data table) against GET analytics: every day, every series. */
export async function expectDaily(dash: DashApp, page: Page, filters: Record<string, string | string[]>, split: 'agent' | 'model'): Promise<void> {
  const a = await dash.api(`analytics?${qs({ ...filters, group_by: 'hour', split_by: split })}`);
  const rows = await page.$$eval('[data-table="daily"] tbody tr', (trs) =>
    trs.map((tr) => ({
      date: tr.getAttribute('data-date'),
      cost: tr.querySelector('[data-col="cost"] .money')!.getAttribute('data-exact'),
      operations: tr.querySelector('[data-col="operations"]')!.textContent!.replace(/,/g, ''),
      series: [...tr.querySelectorAll('[data-series]')].map((td) => [td.getAttribute('data-series'), td.querySelector('.money')!.getAttribute('data-exact')]),
    })),
  );
  expect(rows.map((r) => r.date)).toEqual(a.daily_usage.map((d: any) => d.date));
  expect(rows.map((r) => r.cost)).toEqual(a.daily_usage.map((d: any) => d.cost_exact));
  expect(rows.map((r) => r.operations)).toEqual(a.daily_usage.map((d: any) => String(d.operations)));
  expect(rows.map((r) => r.series)).toEqual(a.daily_usage.map((_: any, i: number) => a.series.map((s: any) => [s.key ?? '(none)', s.daily_usage[i].cost_exact])));
  // The canvas is drawn (uPlot) with one legend entry per series.
  expect(await page.locator('[data-chart="daily"] canvas').count()).toBe(1);
  expect(await page.locator('[data-chart="daily"] .u-legend .u-series').count()).toBe(a.series.length + 1);
  const hours = await page.$$eval('[data-table="hourly"] tbody .money', (els) => els.map((e) => e.getAttribute('data-exact')));
  expect(hours).toEqual(a.hourly_usage.map((x: any) => x.avg_cost_exact));
}

/** The activity table against GET usage?agent=X for each agent of the breakdown. */
export async function expectActivity(dash: DashApp, page: Page, filters: Record<string, string | string[]>): Promise<string[]> {
  const b = await dash.api(`usage/breakdown?${qs({ ...filters, group_by: 'agent' })}`);
  const names: string[] = b.agents.map((r: any) => r.key);
  const rows = await page.$$eval('[data-table="activity"] tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.querySelector('.money')?.getAttribute('data-exact') ?? td.textContent!.replace(/,/g, ''))));
  expect(rows.map((r) => r[0]).sort()).toEqual([...names].sort());
  for (const r of rows) {
    const s = await dash.api(`usage?${qs({ ...filters, agent: r[0] })}`);
    const pct = s.success_rate === null ? '–' : `${s.success_rate}%`;
    expect(r).toEqual([r[0], String(s.operation_count), String(s.input_tokens), String(s.output_tokens), String(s.cached_tokens), String(s.reasoning_tokens), pct, s.amount_spent_exact]);
  }
  return names;
}
