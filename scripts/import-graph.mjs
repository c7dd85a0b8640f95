#!/usr/bin/env node
/* global process, console */
// Prints the run-time import graph between the library's top-level folders and exits 1 when folders
// import each other in a cycle. It reads the BUILT JavaScript (libs/agent-usage/dist), so only imports
// that survive compilation count: `import type` and imports used only as types are erased by tsc.
//
//   node scripts/import-graph.mjs [--dist DIR] [--warn-only]
import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

const args = process.argv.slice(2);
const distArg = args.indexOf('--dist');
const dist = resolve(distArg >= 0 ? args[distArg + 1] : 'libs/agent-usage/dist');
const warnOnly = args.includes('--warn-only');

if (!existsSync(dist)) {
  console.error(`import-graph: ${dist} does not exist; run npm run build first`);
  process.exit(2);
}

function* jsFiles(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* jsFiles(p);
    else if (name.endsWith('.js')) yield p;
  }
}

/** The top-level folder a file belongs to; files directly under dist/ form the "(root)" folder. */
function folderOf(file) {
  const rel = relative(dist, file).split(sep);
  return rel.length === 1 ? '(root)' : rel[0];
}

function resolveRequire(from, spec) {
  const base = resolve(dirname(from), spec);
  for (const candidate of [base, `${base}.js`, join(base, 'index.js')]) {
    if (existsSync(candidate) && statSync(candidate).isFile()) return candidate;
  }
  return null;
}

const edges = new Map(); // folder -> Map(folder -> [file pairs])
const requireRe = /require\(\s*["'](\.{1,2}\/[^"']*)["']\s*\)/g;
for (const file of jsFiles(dist)) {
  const src = readFileSync(file, 'utf8');
  const from = folderOf(file);
  for (const m of src.matchAll(requireRe)) {
    const target = resolveRequire(file, m[1]);
    if (!target) continue;
    const to = folderOf(target);
    if (to === from) continue;
    if (!edges.has(from)) edges.set(from, new Map());
    const out = edges.get(from);
    if (!out.has(to)) out.set(to, []);
    out.get(to).push(`${relative(dist, file)} -> ${relative(dist, target)}`);
  }
}

// Tarjan's strongly connected components: every component of more than one folder is a cycle.
const nodes = new Set([...edges.keys(), ...[...edges.values()].flatMap((m) => [...m.keys()])]);
let index = 0;
const idx = new Map();
const low = new Map();
const stack = [];
const onStack = new Set();
const cycles = [];
function strongConnect(v) {
  idx.set(v, index);
  low.set(v, index++);
  stack.push(v);
  onStack.add(v);
  for (const w of edges.get(v)?.keys() ?? []) {
    if (!idx.has(w)) {
      strongConnect(w);
      low.set(v, Math.min(low.get(v), low.get(w)));
    } else if (onStack.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
  }
  if (low.get(v) === idx.get(v)) {
    const comp = [];
    let w;
    do {
      w = stack.pop();
      onStack.delete(w);
      comp.push(w);
    } while (w !== v);
    if (comp.length > 1) cycles.push(comp.sort());
  }
}
for (const v of [...nodes].sort()) if (!idx.has(v)) strongConnect(v);

console.log('run-time imports between folders of libs/agent-usage (from the built JavaScript):');
for (const from of [...edges.keys()].sort()) {
  console.log(`  ${from} -> ${[...edges.get(from).keys()].sort().join(', ')}`);
}
if (cycles.length === 0) {
  console.log('import-graph: no cycle between folders');
  process.exit(0);
}
for (const comp of cycles) {
  console.log(`\nimport-graph: CYCLE between ${comp.join(', ')}`);
  for (const from of comp) {
    for (const [to, why] of edges.get(from) ?? []) {
      if (comp.includes(to)) console.log(`  ${from} -> ${to}: ${why.slice(0, 3).join('; ')}${why.length > 3 ? ` (+${why.length - 3} more)` : ''}`);
    }
  }
}
process.exit(warnOnly ? 0 : 1);
