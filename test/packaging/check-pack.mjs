// Checks what `npm pack` of libs/agent-usage ships (run by run.sh; exit code 0 = passed):
// - `npm pack --dry-run` lists README.md, LICENSE, CHANGELOG.md, package.json and no source map;
// - in the real tarball, every file a shipped file points at exists: relative require()/import/export
//   specifiers of .js and .d.ts files, `sourceMappingURL` comments, and package.json's main, types,
//   exports and typesVersions targets.
// Prints the tarball's path on its last line.
/* global process, console */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';

const [lib, dest] = process.argv.slice(2);
const problems = [];
const npm = (args) => execFileSync('npm', args, { cwd: lib, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });

const dry = JSON.parse(npm(['pack', '--dry-run', '--json', '--ignore-scripts']))[0];
const listed = dry.files.map((f) => f.path).sort();
// The dashboard's bundle is built by npm run build (scripts/build-dashboard.mjs) and served from the package.
for (const must of ['README.md', 'LICENSE', 'CHANGELOG.md', 'package.json', 'dist/index.js', 'dist/index.d.ts', 'dist/api/dashboard/assets/dashboard.js', 'dist/api/dashboard/assets/dashboard.css']) {
  if (!listed.includes(must)) problems.push(`npm pack --dry-run does not list ${must}`);
}
for (const f of listed.filter((p) => p.endsWith('.map'))) problems.push(`ships a source map: ${f}`);
for (const f of listed.filter((p) => /\.spec\.|\.ts$/.test(p) && !p.endsWith('.d.ts'))) problems.push(`ships a source or spec file: ${f}`);
console.log(`npm pack --dry-run: ${listed.length} files, ${dry.size} bytes packed; outside dist/: ${listed.filter((p) => !p.startsWith('dist/')).join(', ')}`);

const packed = JSON.parse(npm(['pack', '--json', '--ignore-scripts', '--pack-destination', dest]))[0];
const tarball = join(dest, packed.filename);
const root = mkdtempSync(join(tmpdir(), 'agent-usage-pack-'));
execFileSync('tar', ['xzf', tarball, '-C', root]);
const pkgDir = join(root, 'package');
const walk = (d) => readdirSync(d).flatMap((n) => (statSync(join(d, n)).isDirectory() ? walk(join(d, n)) : [join(d, n)]));
const files = walk(pkgDir).map((f) => relative(pkgDir, f)).sort();
if (JSON.stringify(files) !== JSON.stringify(listed)) problems.push('the tarball does not hold what --dry-run listed');

const resolvesTo = (from, spec, exts) => {
  const base = resolve(dirname(from), spec);
  return exts.some((e) => existsSync(base + e) && statSync(base + e).isFile());
};
for (const f of files) {
  const abs = join(pkgDir, f);
  if (!/\.(js|d\.ts)$/.test(f)) continue;
  const text = readFileSync(abs, 'utf8');
  const exts = f.endsWith('.d.ts') ? ['.d.ts', '/index.d.ts', '.js'] : ['', '.js', '/index.js', '.json'];
  const re = /(?:require\(|import\(|from\s+|import\s+)['"](\.{1,2}\/[^'"]*)['"]/g;
  for (const m of text.matchAll(re)) {
    if (!resolvesTo(abs, m[1], exts)) problems.push(`${f} points at ${m[1]}, which is not shipped`);
  }
  for (const m of text.matchAll(/sourceMappingURL=(\S+)/g)) {
    if (!existsSync(resolve(dirname(abs), m[1]))) problems.push(`${f} has sourceMappingURL=${m[1]}, which is not shipped`);
  }
}
const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));
const targets = [pkg.main, pkg.types];
const collect = (v) => (typeof v === 'string' ? targets.push(v) : v && typeof v === 'object' && Object.values(v).forEach(collect));
collect(pkg.exports);
collect(pkg.typesVersions);
for (const t of targets) if (!existsSync(join(pkgDir, t))) problems.push(`package.json points at ${t}, which is not shipped`);

if (problems.length) {
  console.error(`pack check: FAILED\n  - ${problems.join('\n  - ')}`);
  process.exit(1);
}
console.log(`pack check: OK (${files.length} files; ${targets.length} package.json targets and every relative import resolve; no source maps)`);
console.log(tarball);
