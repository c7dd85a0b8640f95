#!/usr/bin/env node
/* global process, console */
// Bundles the dashboard page (libs/agent-usage/src/api/dashboard/page: TypeScript, CSS, uPlot) with
// esbuild into libs/agent-usage/dist/api/dashboard/assets/ (dashboard.js, dashboard.css), shipped in
// the package: hosts serve it without a build step. Run by `npm run build` after tsc.
//
//   node scripts/build-dashboard.mjs [--out DIR]
import { build } from 'esbuild';
import { gzipSync } from 'node:zlib';
import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const outArg = process.argv.indexOf('--out');
const outdir = outArg >= 0 ? resolve(process.argv[outArg + 1]) : join(root, 'libs/agent-usage/dist/api/dashboard/assets');
const started = Date.now();

await build({
  entryPoints: { dashboard: join(root, 'libs/agent-usage/src/api/dashboard/page/main.ts') },
  outdir,
  bundle: true,
  minify: true,
  format: 'iife',
  // light-dark() in the stylesheet sets the floor: Chrome and Edge 123, Firefox 120, Safari 17.5.
  target: ['es2020', 'chrome123', 'firefox120', 'safari17.5'],
  platform: 'browser',
  legalComments: 'none',
  sourcemap: false,
  logLevel: 'warning',
  tsconfig: join(root, 'libs/agent-usage/src/api/dashboard/page/tsconfig.json'),
});

const sizes = readdirSync(outdir).map((f) => {
  const buf = readFileSync(join(outdir, f));
  return `${f} ${(buf.length / 1024).toFixed(1)} KB (${(gzipSync(buf).length / 1024).toFixed(1)} KB gzipped)`;
});
console.log(`dashboard: ${sizes.join(', ')} in ${Date.now() - started} ms`);
