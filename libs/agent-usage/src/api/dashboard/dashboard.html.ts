import type { DashboardAsset } from './dashboard.assets';

/** How the page gets access: it asks for a key only when the API takes API keys. */
export type DashboardAccess = 'guard' | 'api-keys' | 'public';

/**
 * The Content-Security-Policy of the shell and its assets: nothing inline, nothing from elsewhere; fetches
 * to this origin only; blob: for the CSV download and the invoice opened with a key.
 */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'self'",
].join('; ');

const escapeAttr = (v: string): string => v.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * The HTML shell: no data and no inline script or style. `pagePath` is the path the browser asked for
 * (with any global prefix), so the asset links and the API base work wherever the module is mounted.
 */
export function dashboardHtml(pagePath: string, access: DashboardAccess, assets: Map<string, DashboardAsset>): string {
  const base = pagePath.replace(/\/+$/, '');
  const apiBase = base.replace(/\/dashboard$/, '');
  const asset = (name: string) => escapeAttr(`${base}/assets/${name}?v=${assets.get(name)?.hash ?? ''}`);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<meta name="referrer" content="no-referrer">
<title>Agent usage</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${asset('dashboard.css')}">
<script src="${asset('dashboard.js')}" defer></script>
</head>
<body data-api="${escapeAttr(apiBase)}" data-auth="${access}">
<header id="head"><h1>Agent usage</h1></header>
<p id="status" aria-live="polite"></p>
<main id="main"><noscript>The dashboard needs JavaScript; the same figures are in the JSON API under ${escapeAttr(apiBase)}.</noscript></main>
<dialog id="key" aria-labelledby="key-title">
<form method="dialog">
<h2 id="key-title">API key</h2>
<p id="key-why">This dashboard reads an API protected by keys.</p>
<label>Key <input type="password" name="key" autocomplete="off" required></label>
<p class="muted">Kept in this browser tab only (sessionStorage) and sent as a Bearer token.</p>
<button type="submit">Open the dashboard</button>
</form>
</dialog>
</body>
</html>
`;
}
