/**
 * The dashboard in real Chromium against a real Nest app (memory driver, known data): every figure on
 * the page is compared with the API's answer for the same filters, fetched here; periods, a two-agent
 * filter, the split switch, sorting, logs paging and the record dialog, CSV export, alert create/delete
 * and the invoice; screenshots of every view (desktop and phone, light and dark) for people to look at;
 * no CSP violation.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { AGENTS, bootDashboard, cents, TIME_ZONE, type DashApp } from './dashboard-app.fixture';
import { expectActivity, expectDaily, expectTiles, qs } from './dashboard-expect.helper';
import { ARTIFACTS, invoiceStyle, launch, ready, shot, type Browser } from './dashboard-browser.helper';

// Browser globals of the callbacks that run in the page (page.evaluate): the test's tsconfig has no DOM lib.
declare const document: any;
declare const getComputedStyle: any;

jest.setTimeout(120_000);

let dash: DashApp;
let browser: Browser;
let page: Page;
const timings: Record<string, number> = {};

beforeAll(async () => {
  dash = await bootDashboard('memory');
  browser = await launch(ARTIFACTS);
  page = await browser.page();
  const started = Date.now();
  await page.goto(`${dash.origin}/agent-usage/dashboard`);
  await ready(page).catch(async (err) => {
    await shot(page, 'failed-first-render');
    throw new Error(`${err.message}\npage errors: ${browser.errors.join('\n')}`);
  });
  timings.firstRender = Date.now() - started;
});

afterAll(async () => {
  // The figures of this run, for the report (printed, not asserted).
  console.log(`dashboard timings (ms): ${JSON.stringify(timings)}`);
  await browser?.close();
  await dash?.close();
});

test("first render shows the month: tiles, daily chart data, hourly pattern and activity equal the API", async () => {
  expect(await page.locator('[data-period="month"]').getAttribute('aria-pressed')).toBe('true');
  expect(await page.locator('#tz').getAttribute('data-time-zone')).toBe(TIME_ZONE);
  await expectTiles(dash, page, { period: 'month' });
  await expectDaily(dash, page, { period: 'month' }, 'agent');
  await expectActivity(dash, page, { period: 'month' });
  await shot(page, 'overview-desktop-light');
});

test("each period button shows that period's figures", async () => {
  expect(await page.$$eval('[data-period]', (bs) => bs.map((b) => b.textContent))).toEqual(['Today', 'Yesterday', '7 days', 'This month', 'All time']);
  for (const period of ['today', 'yesterday', 'all_time', 'month']) {
    const started = Date.now();
    await page.click(`[data-period="${period}"]`);
    await ready(page);
    timings[`period:${period}`] = Date.now() - started;
    expect(page.url()).toContain(`period=${period}`);
    await expectTiles(dash, page, { period });
  }
});

/** The calendar day of `now` in a time zone, written here again (not the page's code). */
const dayOf = (timeZone: string, now = new Date()): string => new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(now);
const plusDays = (day: string, n: number): string => new Date(Date.parse(`${day}T00:00:00Z`) + n * 86_400_000).toISOString().slice(0, 10);

test('"7 days": the last 7 days including today in the API\'s time zone (not the browser\'s), compared with the 7 days before', async () => {
  const today = dayOf(TIME_ZONE);
  // A browser whose own calendar day is not the API's right now: the page must count in the API's zone.
  const zone = ['Pacific/Kiritimati', 'Pacific/Pago_Pago'].find((z) => dayOf(z) !== today)!;
  const other = await launch(undefined, { timezoneId: zone });
  try {
    const p = await other.page();
    const asked: string[] = [];
    p.on('request', (r) => {
      const url = new URL(r.url());
      if (url.pathname === '/agent-usage/usage') asked.push(url.search);
    });
    const start = plusDays(today, -6);
    const check = async () => {
      expect(await p.locator('[data-period="7d"]').getAttribute('aria-pressed')).toBe('true');
      expect(await p.locator('#tz').textContent()).toBe(`${start} – ${today} · ${TIME_ZONE}`);
      await expectTiles(dash, p, { start_date: start, end_date: today });
      await expectDaily(dash, p, { start_date: start, end_date: today }, 'agent');
      // The tiles' change is against the 7 days before.
      expect(asked).toContain(`?start_date=${plusDays(today, -13)}&end_date=${plusDays(today, -7)}`);
    };
    await p.goto(`${dash.origin}/agent-usage/dashboard#view=overview&period=month`);
    await ready(p);
    expect(await p.evaluate(() => new Date().getTimezoneOffset())).not.toBe(0);
    await p.click('[data-period="7d"]');
    await ready(p);
    expect(p.url()).toContain('period=7d');
    await check();
    await shot(p, 'overview-7-days');
    // Opened from a link: the first view waits for the API's time zone.
    asked.length = 0;
    await p.reload();
    await ready(p);
    await check();
    expect(await other.violations()).toEqual([]);
  } finally {
    await other.close();
  }
});

test('first render: every request that needs no other answer is sent before the first answer arrives', async () => {
  const p = await browser.page();
  try {
    const sent: string[] = [];
    let answered = false;
    p.on('request', (r) => {
      const url = new URL(r.url());
      if (!answered && url.pathname.startsWith('/agent-usage/') && !url.pathname.startsWith('/agent-usage/dashboard')) sent.push(`${url.pathname.slice(13)}${url.search}`);
    });
    p.on('response', (r) => {
      if (new URL(r.url()).pathname.startsWith('/agent-usage/') && !r.url().includes('/agent-usage/dashboard')) answered = true;
    });
    await p.goto(`${dash.origin}/agent-usage/dashboard#view=overview&from=2026-11-01&to=2026-11-30`);
    await ready(p);
    const range = 'start_date=2026-11-01&end_date=2026-11-30';
    // The agent list, the summary and the previous 30 days' (for the tiles), the trend split by agent, the
    // hours and the agents of the range: none waits for another (only the per-agent panels follow the last).
    expect(sent.sort()).toEqual(
      [
        'usage/breakdown?period=all_time&group_by=agent',
        `usage?${range}`,
        'usage?start_date=2026-10-02&end_date=2026-10-31',
        `analytics?${range}&group_by=day&split_by=agent`,
        `analytics?${range}&group_by=hour`,
        `usage/breakdown?${range}&group_by=agent`,
      ].sort(),
    );
  } finally {
    await p.close();
  }
});

test("a custom date range and a two-agent filter apply to tiles, chart data, models and activity", async () => {
  const [a, b] = ['research', 'support'];
  await page.click('[data-picker="agents"] summary');
  await page.check(`[data-picker="agents"] input[value="${a}"]`);
  await page.check(`[data-picker="agents"] input[value="${b}"]`);
  await page.click('[data-apply="agents"]');
  await ready(page);
  const filters = { period: 'month', agent: [b, a] };
  await expectTiles(dash, page, filters);
  await expectDaily(dash, page, filters, 'agent');
  expect((await expectActivity(dash, page, filters)).sort()).toEqual([a, b]);
  // Models per agent: one bar per filtered agent, each model's exact cost as the API's breakdown.
  for (const agent of [a, b]) {
    const m = await dash.api(`usage/breakdown?${qs({ period: 'month', agent, group_by: 'model' })}`);
    const shown = await page.$$eval(`.model-bars > li[data-agent="${agent}"] .legend li`, (lis) => lis.map((li) => [li.getAttribute('data-model'), li.querySelector('.money')!.getAttribute('data-exact')]));
    expect(shown).toEqual(m.models.map((r: any) => [r.key, r.cost_exact]));
  }
  // Split by model: the series become the models of those two agents.
  await page.click('[data-split="model"]');
  await page.waitForSelector('[data-split="model"][aria-pressed="true"]');
  await page.waitForFunction(() => !document.querySelector('[data-panel="trend"] .loading'));
  await expectDaily(dash, page, filters, 'model');
  await shot(page, 'overview-two-agents-by-model');
  // A custom range: 10 days ending yesterday's end date of the API's month range.
  const month = await dash.api('usage?period=month');
  const end = month.range.end_date;
  const start = new Date(Date.parse(`${end}T00:00:00Z`) - 9 * 86_400_000).toISOString().slice(0, 10);
  await page.fill('input[name="from"]', start);
  await page.fill('input[name="to"]', end);
  await page.click('form.range button[type="submit"]');
  await ready(page);
  await expectTiles(dash, page, { start_date: start, end_date: end, agent: [b, a] });
  expect(await page.locator('[data-table="daily"] tbody tr').count()).toBe(10);
  await page.click('[data-picker="agents"] summary');
  await page.click('[data-picker="agents"] button.ghost');
  await ready(page);
  await page.click('[data-period="month"]');
  await ready(page);
});

test("the activity table sorts by a column from the keyboard", async () => {
  const header = page.locator('[data-table="activity"] button[data-sort="requests"]');
  await header.focus();
  await page.keyboard.press('Enter');
  const requests = await page.$$eval('[data-table="activity"] tbody td[data-col="requests"]', (tds) => tds.map((td) => Number(td.textContent!.replace(/,/g, ''))));
  expect(requests).toEqual([...requests].sort((x, y) => y - x));
  expect(await page.locator('[data-table="activity"] th[aria-sort="descending"] button[data-sort="requests"]').count()).toBe(1);
  await page.keyboard.press('Enter');
  const asc = await page.$$eval('[data-table="activity"] tbody td[data-col="requests"]', (tds) => tds.map((td) => Number(td.textContent!.replace(/,/g, ''))));
  expect(asc).toEqual([...requests].reverse());
});

test("fleet: one bar per agent with the API's status, spend and projection", async () => {
  await page.click('[data-view="fleet"]');
  await ready(page);
  const f = await dash.api('fleet?period=month');
  // The projection extrapolates to now (it moves between two requests): its presence is compared, the rest exactly.
  const rows = await page.$$eval('.fleet-row', (lis) =>
    lis.map((li) => [li.getAttribute('data-agent'), li.querySelector('.badge')!.getAttribute('data-status'), [...li.querySelectorAll('.money')].map((m) => m.getAttribute('data-exact')), li.querySelector('[data-projection]') !== null]),
  );
  expect(rows).toEqual(
    f.agents.map((a: any) => [a.name, a.status ?? 'NONE', a.budget_exact === null ? [a.spent_exact] : [a.window_spent_exact, a.budget_exact, a.spent_exact], a.projection !== null]),
  );
  expect(f.agents.some((a: any) => a.status !== null)).toBe(true);
  expect(await page.locator('[data-fleet-total]').getAttribute('data-fleet-total')).toBe(f.totals.spent_exact);
  await shot(page, 'fleet-desktop');
});

test("logs: the API's page with its costs, the next page, and a row opened to its full record", async () => {
  await page.click('[data-view="logs"]');
  await ready(page);
  const first = await dash.api('logs?period=month&limit=25');
  const ids = await page.$$eval('[data-table="logs"] tbody tr', (trs) => trs.map((tr) => tr.getAttribute('data-id')));
  expect(ids).toEqual(first.items.map((i: any) => i.id));
  const costs = await page.$$eval('[data-table="logs"] tbody td[data-col="cost"] .money', (els) => els.map((e) => e.getAttribute('data-exact')));
  expect(costs).toEqual(first.items.map((i: any) => i.cost_exact));
  await page.click('[data-page="next"]');
  await page.waitForFunction((id) => document.querySelector('[data-table="logs"] tbody tr')?.getAttribute('data-id') !== id, ids[0]);
  const second = await dash.api(`logs?period=month&limit=25&cursor=${encodeURIComponent(first.next_cursor)}`);
  expect(await page.$$eval('[data-table="logs"] tbody tr', (trs) => trs.map((tr) => tr.getAttribute('data-id')))).toEqual(second.items.map((i: any) => i.id));
  // Filter by model, then open the first row with the keyboard.
  await page.fill('.filters input[name="model"]', 'gpt-4o-mini');
  await page.click('.filters button[type="submit"]');
  await page.waitForFunction(() => [...document.querySelectorAll('[data-table="logs"] tbody tr td:nth-child(3)')].every((td) => td.textContent === 'gpt-4o-mini'));
  const filtered = await dash.api('logs?period=month&limit=25&model=gpt-4o-mini');
  expect(await page.$$eval('[data-table="logs"] tbody tr', (trs) => trs.map((tr) => tr.getAttribute('data-id')))).toEqual(filtered.items.map((i: any) => i.id));
  await page.locator('[data-table="logs"] tbody tr button.link').first().focus();
  await page.keyboard.press('Enter');
  const dialog = page.locator('dialog.record');
  await dialog.waitFor();
  expect(await dialog.locator('[data-field="id"]').textContent()).toBe(filtered.items[0].id);
  expect(await dialog.locator('[data-field="cost_exact"]').textContent()).toBe(filtered.items[0].cost_exact);
  await shot(page, 'logs-record-desktop');
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'detached' });
  await shot(page, 'logs-desktop');
});

test("recommendations: the API's savings", async () => {
  await page.click('[data-view="advice"]');
  await ready(page);
  const r = await dash.api('usage/optimize?period=month');
  expect(await page.locator('[data-panel="advice"] .panel-head [data-exact]').getAttribute('data-exact')).toBe(r.total_estimated_savings_exact);
  expect(await page.$$eval('[data-rec]', (els) => els.map((e) => e.getAttribute('data-rec')))).toEqual(r.recommendations.map((x: any) => x.id));
  await shot(page, 'advice-desktop');
});

test("alerts: create one from the form, see it listed by the API, delete it", async () => {
  await page.click('[data-view="alerts"]');
  await ready(page);
  expect(await dash.api('alerts')).toEqual([]);
  await page.selectOption('.alert-form select[name="agent"]', 'research');
  await page.fill('.alert-form input[name="amount"]', '12.50');
  await page.fill('.alert-form input[name="levels"]', '50, 90');
  await page.selectOption('.alert-form select[name="action"]', 'pause_agent');
  await page.click('.alert-form button[type="submit"]');
  await page.waitForSelector('[data-table="alerts"] tbody tr');
  await ready(page);
  const listed = await dash.api('alerts');
  expect(listed).toHaveLength(1);
  expect(listed[0]).toMatchObject({ agent_name: 'research', alerts: [{ percent: 50, action: 'pause_agent' }, { percent: 90, action: 'pause_agent' }] });
  expect(await page.locator(`[data-table="alerts"] tr[data-id="${listed[0].id}"]`).count()).toBe(1);
  await shot(page, 'alerts-desktop');
  await page.click(`[data-table="alerts"] tr[data-id="${listed[0].id}"] button.danger`);
  await page.waitForSelector('[data-panel="alerts"] .state.empty');
  expect(await dash.api('alerts')).toEqual([]);
});

test("CSV export downloads what the API exports; the invoice opens as a printable page", async () => {
  await page.click('[data-view="overview"]');
  await ready(page);
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('[data-action="export"]')]);
  const file = join(ARTIFACTS, 'export.csv');
  await download.saveAs(file);
  const res = await fetch(`${dash.origin}/agent-usage/usage/export?period=month&format=csv`);
  expect(readFileSync(file, 'utf8')).toBe(await res.text());
  expect(readFileSync(file, 'utf8').split('\r\n').filter(Boolean).length).toBe((await dash.api('usage?period=month')).operation_count + 1);

  const month = (await dash.api('usage?period=month')).range.start_date.slice(0, 7);
  await page.fill('.invoice input[type="month"]', month);
  const [popup] = await Promise.all([page.context().waitForEvent('page'), page.click('[data-action="invoice"]')]);
  await popup.waitForLoadState();
  const invoice = await dash.api(`invoice?month=${month}`);
  expect(invoice.line_items.length).toBeGreaterThan(0);
  expect(await popup.textContent('body')).toContain(`Total${cents(invoice.total_exact).replace('$', 'USD ')}`);
  // Styled by its stylesheet (a public asset of the module).
  expect(await invoiceStyle(popup)).toEqual({ bodyMargin: '0px', mainMaxWidth: '832px' });
  await popup.screenshot({ path: join(ARTIFACTS, 'invoice.png'), fullPage: true });
  await popup.close();
});

test("phone width, dark mode and the theme toggle; no CSP violation anywhere", async () => {
  // A second load of the page, its bundle cached: the time a user waits for the overview.
  const started = Date.now();
  await page.reload();
  await ready(page);
  timings.reload = Date.now() - started;
  await shot(page, 'overview-desktop-light-final');
  const dark = await browser.page({ dark: true });
  await dark.goto(`${dash.origin}/agent-usage/dashboard`);
  await ready(dark);
  expect(await dark.evaluate(() => getComputedStyle(document.body).backgroundColor)).not.toBe('rgb(246, 247, 249)');
  await shot(dark, 'overview-desktop-dark');
  const phone = await browser.page({ width: 390, height: 844 });
  for (const view of ['overview', 'fleet', 'logs', 'advice', 'alerts']) {
    await phone.goto(`${dash.origin}/agent-usage/dashboard#view=${view}&period=month`);
    await ready(phone);
    await shot(phone, `${view}-phone-light`);
    // Nothing wider than the screen but what scrolls in its own box (tables, the tab strip).
    const wide = await phone.evaluate(() =>
      [...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > 391 && !e.closest('.table-wrap, .tabs')).map((e) => `${e.tagName}.${e.className}`).slice(0, 5),
    );
    expect(wide).toEqual([]);
    expect(await phone.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
  }
  const phoneDark = await browser.page({ width: 390, height: 844, dark: true });
  await phoneDark.goto(`${dash.origin}/agent-usage/dashboard#view=overview&period=month`);
  await ready(phoneDark);
  await shot(phoneDark, 'overview-phone-dark');
  // The toggle overrides the system setting (kept in localStorage).
  await page.click('#theme');
  expect(await page.evaluate(() => document.documentElement.dataset.theme)).toBe('dark');
  await page.click('#theme');
  expect(await page.evaluate(() => document.documentElement.dataset.theme)).toBe('light');
  expect(await browser.violations()).toEqual([]);
  expect(AGENTS.length).toBe(5);
});
