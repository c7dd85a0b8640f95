/**
 * Part of `query` (called by analytics.bench.ts on each data set): the dashboard's first render in
 * headless Chromium (playwright-core, the system Chromium, the launch flags of test/dashboard), from the
 * navigation to the moment the overview has rendered its tiles, charts and tables for one month of the
 * data set, the bundle cached (a warm-up load first, then a fresh navigation each time). Issue 13's
 * target: under 1 s with a month of 10M records. The baseline, in the same run: the slowest single API
 * request the page makes for that view, timed directly (the page cannot be faster than that).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CHROMIUM, CHROMIUM_ARGS } from '../test/dashboard/dashboard-browser.helper';
import { type BenchConfig, type ResultRow, fmtMs, fmtRatio, log, median, msSince, nowNs } from './common';

// Browser globals of the callback that runs in the page.
declare const document: any;
declare const performance: any;

/** What the page asks for while it renders, the dashboard's own shell and assets excluded. */
function isApiRequest(url: URL, apiPath: string): boolean {
  return url.pathname.startsWith(`${apiPath}/`) && !url.pathname.startsWith(`${apiPath}/dashboard`);
}

/**
 * `base`: the API's URL (`http://host:port/<path>`) of a UsageApiModule with the dashboard; `month`:
 * YYYY-MM, the month the other rows ask about (the page is pointed at it through its URL hash).
 */
export async function measureDashboard(cfg: BenchConfig, label: string, base: string, month: string, rows: ResultRow[], findings: string[]): Promise<void> {
  const metric = `dashboard first render (overview, one month), ${label}`;
  if (!existsSync(CHROMIUM)) {
    const ci = !!process.env.CI && process.env.CI !== 'false' && process.env.CI !== '0';
    const why = `no Chromium at ${CHROMIUM} (install Debian's chromium package, or set CHROMIUM_PATH)`;
    if (ci) rows.push({ part: 'query', metric, driver: 'database', value: '—', baseline: '—', ratio: null, ratioText: '—', target: '< 1 s', pass: null, error: `CI: ${why}` });
    else findings.push(`Dashboard first render at ${label} not measured: ${why}.`);
    return;
  }
  const { chromium } = await import('playwright-core');
  const [y, m] = month.split('-').map(Number);
  const last = new Date(Date.UTC(y, m, 0)).toISOString().slice(0, 10);
  const apiPath = new URL(base).pathname.replace(/\/+$/, '');
  const pageUrl = `${base}/dashboard#view=overview&from=${month}-01&to=${last}`;
  const profile = mkdtempSync(join(tmpdir(), 'agent-usage-bench-chromium-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, viewport: { width: 1360, height: 900 } });
  try {
    const page = await context.newPage();
    const asked = new Set<string>();
    page.on('request', (r) => {
      const url = new URL(r.url());
      if (isApiRequest(url, apiPath)) asked.add(url.pathname.slice(apiPath.length + 1) + url.search);
    });
    let lastCount = 0;
    /** One load from a blank page; the time from the navigation's start to the overview fully drawn. */
    const load = async (): Promise<number> => {
      await page.goto('about:blank');
      asked.clear();
      await page.goto(pageUrl);
      const handle = await page.waitForFunction(
        () => {
          const drawn =
            document.body.dataset.ready === 'true' &&
            !document.querySelector('[aria-busy="true"], .state.loading') &&
            document.querySelector('[data-kpi="spend"] .tile-value') &&
            document.querySelector('[data-chart="daily"] canvas') &&
            document.querySelector('[data-chart="hourly"] canvas') &&
            document.querySelector('[data-table="activity"] tbody tr');
          // performance.now() counts from the navigation's start (the new document's time origin).
          return drawn ? performance.now() : false;
        },
        undefined,
        { polling: 'raf', timeout: 60_000 },
      );
      lastCount = asked.size;
      return Number(await handle.jsonValue());
    };
    await load(); // warm-up: the bundle into the cache, the server's code paths warm
    const times: number[] = [];
    for (let i = 0; i < (cfg.quick ? 3 : 5); i++) times.push(await load());
    const render = median(times);
    const requests = [...asked];
    if (requests.length === 0) throw new Error(`the dashboard made no API request (${pageUrl})`);
    // Each request of the view alone, timed from here (median of 3 after a warm-up): the slowest is the floor.
    let slowest = { route: '', ms: 0 };
    for (const route of requests) {
      const one = async () => {
        const res = await fetch(`${base}/${route}`);
        await res.arrayBuffer();
        if (res.status !== 200) throw new Error(`GET ${route}: ${res.status}`);
      };
      await one();
      const ts: number[] = [];
      for (let i = 0; i < 3; i++) {
        const t = nowNs();
        await one();
        ts.push(msSince(t));
      }
      const ms = median(ts);
      if (ms > slowest.ms) slowest = { route, ms };
    }
    rows.push({
      part: 'query',
      metric,
      driver: 'database',
      value: fmtMs(render),
      baseline: `slowest of its ${lastCount} API requests ${fmtMs(slowest.ms)}`,
      ratio: slowest.ms / render,
      ratioText: `render = ${fmtRatio(render / slowest.ms)} that request`,
      target: '< 1 s',
      pass: cfg.quick ? null : render < 1000,
      note: `headless Chromium, bundle cached, median of ${times.length} loads (${times.map((t) => Math.round(t)).join(', ')} ms) from navigation to tiles, both charts and the activity table drawn; slowest request GET ${slowest.route.split('?')[0]}`,
    });
    log(`query: ${label}: dashboard first render ${fmtMs(render)} (${lastCount} API requests, slowest ${slowest.route} ${fmtMs(slowest.ms)})`);
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
}
