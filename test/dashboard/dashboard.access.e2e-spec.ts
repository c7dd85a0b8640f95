/**
 * How the dashboard is served: the shell and assets (headers, CSP, caching, the whitelist, size), the
 * API-key flow in a real browser (the shell loads without a key, the page asks for one, keeps it in
 * sessionStorage and sends it as Bearer), `dashboard: false`, and a check that the CSP listener used by
 * the browser tests does see a violation when there is one.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { bootDashboard, cents, type DashApp } from './dashboard-app.fixture';
import { invoiceStyle, launch, ready, shot, type Browser } from './dashboard-browser.helper';

// Browser globals of the callbacks that run in the page (page.evaluate): the test's tsconfig has no DOM lib.
declare const document: any;
declare const sessionStorage: any;
declare const window: any;

jest.setTimeout(90_000);

const KEY = 'dash-test-key-0123456789abcdef';
const ASSETS = join(__dirname, '..', '..', 'libs', 'agent-usage', 'dist', 'api', 'dashboard', 'assets');

describe('the shell and its assets', () => {
  let dash: DashApp;
  beforeAll(async () => (dash = await bootDashboard('memory', { public: true, path: 'ops/usage' }, [])));
  afterAll(async () => dash?.close());

  test('the shell: no data, no inline code, a CSP without unsafe-inline, links under the mount path', async () => {
    const res = await fetch(`${dash.origin}/ops/usage/dashboard`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('no-store');
    const csp = res.headers.get('content-security-policy')!;
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("style-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    const html = await res.text();
    expect(html).not.toMatch(/<script>|<style|\sstyle="|\son\w+="/);
    expect(html).toContain('data-api="/ops/usage"');
    const js = /src="([^"]+dashboard\.js\?v=[0-9a-f]{16})"/.exec(html)![1];
    const css = /href="([^"]+dashboard\.css\?v=[0-9a-f]{16})"/.exec(html)![1];
    expect(js.startsWith('/ops/usage/dashboard/assets/')).toBe(true);

    const a = await fetch(`${dash.origin}${js}`);
    expect(a.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(a.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(await a.text()).toBe(readFileSync(join(ASSETS, 'dashboard.js'), 'utf8'));
    const c = await fetch(`${dash.origin}${css}`);
    expect(c.headers.get('content-type')).toBe('text/css; charset=utf-8');
    // Without the version, the browser revalidates: the ETag answers 304.
    const plain = await fetch(`${dash.origin}/ops/usage/dashboard/assets/dashboard.css`);
    expect(plain.headers.get('cache-control')).toBe('no-cache');
    const again = await fetch(`${dash.origin}/ops/usage/dashboard/assets/dashboard.css`, { headers: { 'if-none-match': plain.headers.get('etag')! } });
    expect(again.status).toBe(304);
  });

  test('only whitelisted files are served', async () => {
    for (const name of ['main.ts', '..%2F..%2Fpackage.json', 'dashboard.js.map', 'index.html']) {
      expect((await fetch(`${dash.origin}/ops/usage/dashboard/assets/${name}`)).status).toBe(404);
    }
  });

  test('the shipped assets stay under 300 KB gzipped', () => {
    const files = readdirSync(ASSETS);
    expect(files.sort()).toEqual(['dashboard.css', 'dashboard.js']);
    const gz = files.reduce((n, f) => n + gzipSync(readFileSync(join(ASSETS, f))).length, 0);
    expect(gz).toBeLessThan(300 * 1024);
  });

  test('an empty store: every panel says what to do', async () => {
    const browser = await launch();
    try {
      const page = await browser.page();
      await page.goto(`${dash.origin}/ops/usage/dashboard`);
      await ready(page);
      expect(await page.locator('[data-panel="trend"] .state.empty').textContent()).toContain('record usage');
      expect(await page.locator('[data-panel="activity"] .state.empty').count()).toBe(1);
      await shot(page, 'empty-desktop');
      expect(await browser.violations()).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});

test('with a guard: the shell loads, says so, and the data stays behind the guard', async () => {
  const guard = { canActivate: (ctx: any) => ctx.switchToHttp().getRequest().headers['x-team'] === 'ops' };
  const dash = await bootDashboard('memory', { guard }, []);
  try {
    const shell = await fetch(`${dash.origin}/agent-usage/dashboard`);
    expect(shell.status).toBe(200);
    expect(await shell.text()).toContain('data-auth="guard"');
    expect((await fetch(`${dash.origin}/agent-usage/usage`)).status).toBe(403);
    expect((await fetch(`${dash.origin}/agent-usage/usage`, { headers: { 'x-team': 'ops' } })).status).toBe(200);
    // In a browser that passes the guard (the header on every request), the invoice link opens styled.
    const browser = await launch();
    try {
      await browser.context.setExtraHTTPHeaders({ 'x-team': 'ops' });
      const page = await browser.page();
      await page.goto(`${dash.origin}/agent-usage/dashboard`);
      await ready(page);
      const [popup] = await Promise.all([page.context().waitForEvent('page'), page.click('[data-action="invoice"]')]);
      await popup.waitForLoadState();
      expect(await popup.textContent('h1')).toMatch(/^Agent usage invoice \d{4}-\d{2}$/);
      expect(await invoiceStyle(popup)).toEqual({ bodyMargin: '0px', mainMaxWidth: '832px' });
      expect(await browser.violations()).toEqual([]);
    } finally {
      await browser.close();
    }
  } finally {
    await dash.close();
  }
});

test('dashboard: false mounts the API without the page', async () => {
  const dash = await bootDashboard('memory', { public: true, dashboard: false }, []);
  try {
    expect((await fetch(`${dash.origin}/agent-usage/dashboard`)).status).toBe(404);
    expect((await fetch(`${dash.origin}/agent-usage/usage`)).status).toBe(200);
  } finally {
    await dash.close();
  }
});

describe('with API keys', () => {
  let dash: DashApp;
  let browser: Browser;
  beforeAll(async () => {
    dash = await bootDashboard('memory', { apiKeys: [KEY] });
    browser = await launch();
  });
  afterAll(async () => {
    await browser?.close();
    await dash?.close();
  });

  test('the shell loads without a key, the page asks for it, keeps it for the tab and sends it as Bearer', async () => {
    expect((await fetch(`${dash.origin}/agent-usage/dashboard`)).status).toBe(200);
    expect((await fetch(`${dash.origin}/agent-usage/usage`)).status).toBe(401);
    const page = await browser.page();
    const auth: (string | undefined)[] = [];
    page.on('request', (r) => {
      if (r.url().includes('/agent-usage/usage')) auth.push(r.headers().authorization);
    });
    await page.goto(`${dash.origin}/agent-usage/dashboard`);
    const dialog = page.locator('dialog#key');
    await dialog.waitFor({ state: 'visible' });
    await shot(page, 'key-prompt');
    // A wrong key is refused (403) and asked again.
    await dialog.locator('input').fill('wrong-key-0123456789abcdef');
    await dialog.locator('input').press('Enter');
    await page.waitForFunction(() => document.querySelector('#key-why')?.textContent?.includes('403'));
    await dialog.locator('input').fill(KEY);
    await dialog.locator('input').press('Enter');
    await ready(page);
    const s = await dash.api('usage?period=month', KEY);
    expect(await page.locator('[data-kpi="spend"] .tile-value').textContent()).toBe(cents(s.amount_spent_exact));
    expect(await page.evaluate(() => sessionStorage.getItem('agent-usage.api-key'))).toBe(KEY);
    expect(auth).toContain(`Bearer ${KEY}`);
    // The export goes through fetch with the key (a plain link could not send it).
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('[data-action="export"]')]);
    expect(download.suggestedFilename()).toMatch(/\.csv$/);
    // The invoice is fetched with the key and opened from a blob: URL; its stylesheet still applies.
    const month = s.range.start_date.slice(0, 7);
    await page.fill('.invoice input[type="month"]', month);
    const [popup] = await Promise.all([page.context().waitForEvent('page'), page.click('[data-action="invoice"]')]);
    await popup.waitForURL(/^blob:/);
    await popup.waitForLoadState();
    const invoice = await dash.api(`invoice?month=${month}`, KEY);
    expect(await popup.textContent('body')).toContain(`Total${cents(invoice.total_exact).replace('$', 'USD ')}`);
    expect(await invoiceStyle(popup)).toEqual({ bodyMargin: '0px', mainMaxWidth: '832px' });
    await shot(popup, 'invoice-api-keys');
    await popup.close();
    // A new tab of the same browser has no key: sessionStorage is per tab.
    const other = await browser.page();
    await other.goto(`${dash.origin}/agent-usage/dashboard`);
    await other.locator('dialog#key').waitFor({ state: 'visible' });
    expect(await other.evaluate(() => sessionStorage.getItem('agent-usage.api-key'))).toBeNull();
    expect(await browser.violations()).toEqual([]);
  });
});

test('the CSP listener sees a violation when the page breaks the policy', async () => {
  const dash = await bootDashboard('memory', { public: true }, []);
  const browser = await launch();
  try {
    const page = await browser.page();
    await page.goto(`${dash.origin}/agent-usage/dashboard`);
    await ready(page);
    // An inline style attribute added as markup is what the policy forbids.
    await page.evaluate(() => (document.body.insertAdjacentHTML('beforeend', '<div style="color:red">x</div>'), undefined));
    await page.waitForFunction(() => window.__csp.length > 0);
    expect((await browser.violations()).join('\n')).toMatch(/style-src/);
  } finally {
    await browser.close();
    await dash.close();
  }
});
