/**
 * The dashboard over PostgreSQL (tables with a unique `dash_` prefix, dropped afterwards): the same known
 * data as the memory run; tiles, daily chart data and activity equal the API's for the month, for all time
 * and for two agents, and the logs page lists the API's records with their costs.
 */
import type { Page } from 'playwright-core';
import { bootDashboard, cents, type DashApp } from './dashboard-app.fixture';
import { launch, ready, shot, type Browser } from './dashboard-browser.helper';

jest.setTimeout(120_000);

let dash: DashApp;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  dash = await bootDashboard('database');
  browser = await launch();
  page = await browser.page();
});

afterAll(async () => {
  await browser?.close();
  await dash?.close();
});

async function expectFigures(hash: string, query: string): Promise<void> {
  await page.goto(`${dash.origin}/agent-usage/dashboard#${hash}`);
  await ready(page);
  const s = await dash.api(`usage?${query}`);
  expect(s.operation_count).toBeGreaterThan(0);
  expect(await page.locator('[data-kpi="spend"] .tile-value').getAttribute('data-exact')).toBe(s.amount_spent_exact);
  expect(await page.locator('[data-kpi="spend"] .tile-value').textContent()).toBe(cents(s.amount_spent_exact));
  expect((await page.locator('[data-kpi="operations"] .tile-value').textContent())!.replace(/,/g, '')).toBe(String(s.operation_count));
  expect((await page.locator('[data-kpi="tokens"] .tile-value').textContent())!.replace(/,/g, '')).toBe(String(s.total_tokens));
  const a = await dash.api(`analytics?${query}&group_by=hour&split_by=agent`);
  const days = await page.$$eval('[data-table="daily"] tbody tr', (trs) => trs.map((tr) => [tr.getAttribute('data-date'), tr.querySelector('[data-col="cost"] .money')!.getAttribute('data-exact')]));
  expect(days).toEqual(a.daily_usage.map((d: any) => [d.date, d.cost_exact]));
  const b = await dash.api(`usage/breakdown?${query}&group_by=agent`);
  const activity = await page.$$eval('[data-table="activity"] tbody tr', (trs) => trs.map((tr) => [tr.querySelector('td')!.textContent, tr.querySelector('td[data-col="cost"] .money')!.getAttribute('data-exact')]));
  expect(activity).toEqual(b.agents.map((r: any) => [r.key, r.cost_exact]));
}

test("month, all time and two agents: the page shows the API's figures from PostgreSQL", async () => {
  await expectFigures('view=overview&period=month', 'period=month');
  await shot(page, 'overview-postgres');
  await expectFigures('view=overview&period=all_time', 'period=all_time');
  await expectFigures('view=overview&period=month&agent=triage&agent=billing', 'period=month&agent=triage&agent=billing');
});

test('logs from PostgreSQL with their costs', async () => {
  await page.goto(`${dash.origin}/agent-usage/dashboard#view=logs&period=all_time`);
  await ready(page);
  const logs = await dash.api('logs?period=all_time&limit=25');
  const rows = await page.$$eval('[data-table="logs"] tbody tr', (trs) => trs.map((tr) => [tr.getAttribute('data-id'), tr.querySelector('[data-col="cost"] .money')!.getAttribute('data-exact')]));
  expect(rows).toEqual(logs.items.map((i: any) => [i.id, i.cost_exact]));
  expect(await browser.violations()).toEqual([]);
});
