#!/usr/bin/env node
/**
 * Coverage per library folder (libs/agent-usage/src/<folder>, storage drivers one by one), from Jest's
 * json-summary, against the floors in scripts/coverage-floors.json (set just under the figures measured
 * when they were last raised). Prints one table; exits 1 when a folder is below a floor or has no floor.
 *   node scripts/coverage-check.js <coverage-summary.json>
 */
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const src = path.join(root, 'libs/agent-usage/src') + path.sep;
const summary = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const floors = JSON.parse(fs.readFileSync(path.join(__dirname, 'coverage-floors.json'), 'utf8')).floors;

/** `budgets`, `storage/cache`, ...; files directly in src/ are `(root)`. */
function folderOf(file) {
  const parts = path.relative(src, file).split(path.sep);
  if (parts.length === 1) return '(root)';
  return parts[0] === 'storage' && parts.length > 2 ? `storage/${parts[1]}` : parts[0];
}

const folders = new Map();
for (const [file, s] of Object.entries(summary)) {
  if (file === 'total' || !file.startsWith(src)) continue;
  const f = folderOf(file);
  const acc = folders.get(f) ?? { lines: [0, 0], branches: [0, 0] };
  acc.lines[0] += s.lines.covered;
  acc.lines[1] += s.lines.total;
  acc.branches[0] += s.branches.covered;
  acc.branches[1] += s.branches.total;
  folders.set(f, acc);
}

// A folder without lines (types only) is 100 %: nothing to run.
const pct = ([covered, total]) => (total === 0 ? 100 : Math.floor((covered * 10000) / total) / 100);
const problems = [];
const rows = [...folders.keys()].sort().map((f) => {
  const c = folders.get(f);
  const got = { lines: pct(c.lines), branches: pct(c.branches) };
  const floor = floors[f];
  if (!floor) problems.push(`${f}: no floor in scripts/coverage-floors.json`);
  else for (const k of ['lines', 'branches']) if (got[k] < floor[k]) problems.push(`${f}: ${k} ${got[k]} % < floor ${floor[k]} %`);
  const cell = (k) => `${got[k].toFixed(2).padStart(6)} %${floor ? ` (>= ${floor[k]})` : ''}`.padEnd(20);
  return `${f.padEnd(18)} ${cell('lines')} ${cell('branches')}`;
});
console.log(`${'folder'.padEnd(18)} ${'lines'.padEnd(20)} ${'branches'.padEnd(20)}`);
for (const r of rows) console.log(r);
for (const p of problems) console.log(`COVERAGE BELOW FLOOR: ${p}`);
process.exit(problems.length ? 1 : 0);
