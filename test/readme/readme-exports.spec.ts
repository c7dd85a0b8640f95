/**
 * The README's "Exports" section lists exactly the names the main entry exports, and the main entry lists
 * its exports by name (no `export *`), so a new internal cannot become public by accident.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(__dirname, '..', '..');
const index = readFileSync(join(root, 'libs/agent-usage/src/index.ts'), 'utf8');
const readme = readFileSync(join(root, 'libs/agent-usage/README.md'), 'utf8');

function indexNames(): string[] {
  const names: string[] = [];
  for (const m of index.matchAll(/export\s+(?:type\s+)?\{([^}]*)\}\s*from/g)) {
    for (const part of m[1].split(',')) {
      const name = part.trim().split(/\s+as\s+/).pop();
      if (name) names.push(name);
    }
  }
  return names.sort();
}

function readmeNames(): string[] {
  const start = readme.indexOf('\n### Exports\n');
  expect(start).toBeGreaterThan(0);
  const end = readme.indexOf('\n#', start + 2);
  const section = readme.slice(start, end);
  // Only the bullet list: the paragraphs around it mention subpath names and examples.
  const bullets = section.split('\n').filter((l, i, all) => l.startsWith('- ') || (l.startsWith('  ') && all.slice(0, i).some((x) => x.startsWith('- '))));
  return [...bullets.join('\n').matchAll(/`([A-Za-z_][A-Za-z0-9_]*)`/g)].map((m) => m[1]).sort();
}

it('the main entry has no export *', () => {
  expect(index).not.toMatch(/export\s+\*/);
});

it('the README lists exactly the exports of the main entry', () => {
  const names = indexNames();
  expect(new Set(names).size).toBe(names.length);
  expect(readmeNames()).toEqual(names);
});

it('the built main entry exports the listed values and nothing else', () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const built = Object.keys(require(join(root, 'libs/agent-usage/dist/index.js')) as object).filter((k) => k !== '__esModule');
  const listed = new Set(indexNames());
  expect(built.length).toBeGreaterThan(10);
  for (const k of built) expect(listed.has(k) ? k : `unlisted: ${k}`).toBe(k);
});
