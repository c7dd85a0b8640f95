/**
 * Coverage per library folder (libs/agent-usage/src/<folder>, storage drivers one by one), from Jest's
 * json-summary, against the floors in scripts/coverage-floors.json (set just under the figures measured
 * when they were last raised). Prints one table; exits 1 when a folder is below a floor or has no floor.
 *   node -r ts-node/register/transpile-only scripts/coverage-check.ts <coverage-summary.json>
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

interface Counts {
  covered: number;
  total: number;
}
type Summary = Record<string, { lines: Counts; branches: Counts }>;
type Floors = Record<string, { lines: number; branches: number }>;

const root = path.resolve(__dirname, '..');
const src = path.join(root, 'libs/agent-usage/src') + path.sep;
const summary = JSON.parse(fs.readFileSync(process.argv[2], 'utf8')) as Summary;
const floors = (JSON.parse(fs.readFileSync(path.join(__dirname, 'coverage-floors.json'), 'utf8')) as { floors: Floors }).floors;

/** `budgets`, `storage/cache`, ...; files directly in src/ are `(root)`. */
function folderOf(file: string): string {
  const parts = path.relative(src, file).split(path.sep);
  if (parts.length === 1) return '(root)';
  return parts[0] === 'storage' && parts.length > 2 ? `storage/${parts[1]}` : parts[0];
}

const folders = new Map<string, { lines: [number, number]; branches: [number, number] }>();
for (const [file, s] of Object.entries(summary)) {
  if (file === 'total' || !file.startsWith(src)) continue;
  const f = folderOf(file);
  const acc = folders.get(f) ?? { lines: [0, 0] as [number, number], branches: [0, 0] as [number, number] };
  acc.lines[0] += s.lines.covered;
  acc.lines[1] += s.lines.total;
  acc.branches[0] += s.branches.covered;
  acc.branches[1] += s.branches.total;
  folders.set(f, acc);
}

// A folder without lines (types only) is 100 %: nothing to run.
const pct = ([covered, total]: [number, number]): number => (total === 0 ? 100 : Math.floor((covered * 10000) / total) / 100);
const problems: string[] = [];
const rows = [...folders.keys()].sort().map((f) => {
  const c = folders.get(f)!;
  const got = { lines: pct(c.lines), branches: pct(c.branches) };
  const floor = floors[f];
  if (!floor) problems.push(`${f}: no floor in scripts/coverage-floors.json`);
  else for (const k of ['lines', 'branches'] as const) if (got[k] < floor[k]) problems.push(`${f}: ${k} ${got[k]} % < floor ${floor[k]} %`);
  const cell = (k: 'lines' | 'branches') => `${got[k].toFixed(2).padStart(6)} %${floor ? ` (>= ${floor[k]})` : ''}`.padEnd(20);
  return `${f.padEnd(18)} ${cell('lines')} ${cell('branches')}`;
});
console.log(`${'folder'.padEnd(18)} ${'lines'.padEnd(20)} ${'branches'.padEnd(20)}`);
for (const r of rows) console.log(r);
for (const p of problems) console.log(`COVERAGE BELOW FLOOR: ${p}`);
process.exit(problems.length ? 1 : 0);
