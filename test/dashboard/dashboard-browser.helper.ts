/**
 * The system Chromium driven by playwright-core (no browser download): a fresh profile per launch, and a
 * listener for Content-Security-Policy violations installed in every page before its own scripts run.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

// Browser globals of the callbacks that run in the page (page.evaluate): the test's tsconfig has no DOM lib.
declare const window: any;
declare const document: any;
declare const getComputedStyle: any;

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const ARTIFACTS = join(__dirname, '..', '..', 'test-artifacts', 'dashboard');
/** The launch flags of the browser tests (the benchmark's first-render row uses the same). */
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export interface Browser {
  context: BrowserContext;
  page(options?: { width?: number; height?: number; dark?: boolean }): Promise<Page>;
  /** Uncaught errors and console errors of the pages (other than CSP reports). */
  errors: string[];
  /** Every CSP violation seen by any page so far ("directive: blocked URI"). */
  violations(): Promise<string[]>;
  close(): Promise<void>;
}

/** `timezoneId`: the browser's own time zone (the page must follow the API's, whatever the browser's is). */
export async function launch(downloads?: string, options: { timezoneId?: string } = {}): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'agent-usage-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    timezoneId: options.timezoneId,
    viewport: { width: 1360, height: 900 },
    acceptDownloads: true,
    downloadsPath: downloads,
  });
  const pages: Page[] = [];
  const seen: string[] = [];
  // Installed through the DevTools protocol, so the page's own CSP does not apply to this listener.
  await context.addInitScript(() => {
    (window as any).__csp = [];
    document.addEventListener('securitypolicyviolation', (e: any) => (window as any).__csp.push(`${e.violatedDirective}: ${e.blockedURI || 'inline'}`));
  });
  const errors: string[] = [];
  context.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) seen.push(m.text());
    else if (m.type() === 'error') errors.push(m.text());
  });
  context.on('weberror', (e) => errors.push(String(e.error())));
  mkdirSync(ARTIFACTS, { recursive: true });
  return {
    context,
    errors,
    async page({ width = 1360, height = 900, dark = false } = {}) {
      const p = await context.newPage();
      await p.setViewportSize({ width, height });
      await p.emulateMedia({ colorScheme: dark ? 'dark' : 'light' });
      pages.push(p);
      return p;
    },
    async violations() {
      const fromPages = await Promise.all(pages.filter((p) => !p.isClosed()).map((p) => p.evaluate(() => ((window as any).__csp as string[]) ?? []).catch(() => [] as string[])));
      return [...seen, ...fromPages.flat()];
    },
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Waits until the dashboard finished rendering its view (body[data-ready=true], nothing loading). */
export async function ready(page: Page): Promise<void> {
  await page.waitForSelector('body[data-ready="true"]', { timeout: 20_000 });
  await page.waitForFunction(() => !document.querySelector('[aria-busy="true"], .state.loading'), undefined, { timeout: 20_000 });
}

/** Computed styles the invoice's stylesheet sets (a browser's defaults differ in each). */
export async function invoiceStyle(page: Page): Promise<{ bodyMargin: string; mainMaxWidth: string }> {
  return page.evaluate(() => ({ bodyMargin: getComputedStyle(document.body).margin, mainMaxWidth: getComputedStyle(document.querySelector('main')).maxWidth }));
}

export async function shot(page: Page, name: string): Promise<string> {
  const file = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}
