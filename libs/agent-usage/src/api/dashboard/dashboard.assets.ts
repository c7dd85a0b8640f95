import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The only files the dashboard serves (no path from the request ever reaches the file system). */
export const DASHBOARD_ASSET_TYPES: Readonly<Record<string, string>> = Object.freeze({
  'dashboard.js': 'text/javascript; charset=utf-8',
  'dashboard.css': 'text/css; charset=utf-8',
});

export interface DashboardAsset {
  /** Text (both files are UTF-8): Nest sends a string as is, where it would turn a Buffer into JSON. */
  body: string;
  contentType: string;
  /** sha256 of the content, first 16 hex digits: the ETag and the `?v=` of the shell's links. */
  hash: string;
}

/**
 * Where the bundle is: next to this file once built (dist/api/dashboard/assets, shipped in the package);
 * from the sources (tests, ts-node) the workspace's built copy.
 */
function assetDirs(): string[] {
  return [join(__dirname, 'assets'), join(__dirname, '..', '..', '..', 'dist', 'api', 'dashboard', 'assets')];
}

let cache: Map<string, DashboardAsset> | null = null;

/**
 * Reads the whitelisted files once (they are small and never change while the process runs). Loaded at
 * the first request, not at boot: an app started from the sources without a build still boots its API.
 */
export function dashboardAssets(): Map<string, DashboardAsset> {
  if (cache) return cache;
  const dir = assetDirs().find((d) => Object.keys(DASHBOARD_ASSET_TYPES).every((f) => existsSync(join(d, f))));
  if (!dir) {
    throw new Error(`the dashboard's assets are not built (looked in ${assetDirs().join(', ')}); run npm run build (node scripts/build-dashboard.mjs)`);
  }
  cache = new Map(
    Object.entries(DASHBOARD_ASSET_TYPES).map(([name, contentType]) => {
      const body = readFileSync(join(dir, name));
      return [name, { body: body.toString('utf8'), contentType, hash: createHash('sha256').update(body).digest('hex').slice(0, 16) }];
    }),
  );
  return cache;
}
