/**
 * Every ```ts / ```typescript block of the user guide (libs/agent-usage/README.md) and the repo README is
 * type-checked as a consumer's file against the BUILT package: files are written under
 * node_modules/.cache (ignored by git), so `nestjs-agent-usage` and its subpaths resolve through
 * node_modules and the package's `exports` to dist/*.d.ts (run `npm run build` first; npm test does).
 * Settings are strict, with skipLibCheck false. Each block is its own module: it must carry its imports.
 * A block that starts with a `// name.ts` comment is written as that file (next to the other blocks of its
 * README), so a later block may import it. New blocks are picked up automatically; a diagnostic names the
 * README file and line.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import * as ts from 'typescript';

const root = join(__dirname, '..', '..');
const readmes = ['libs/agent-usage/README.md', 'README.md'];
const out = join(root, 'node_modules', '.cache', 'readme-snippets');

interface Snippet {
  readme: string;
  line: number; // 1-based line of the block's first code line
  code: string;
  file: string;
}

function extract(readme: string): Snippet[] {
  const lines = readFileSync(join(root, readme), 'utf8').split('\n');
  const found: Snippet[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)```(ts|typescript)\s*$/.exec(lines[i]);
    if (!open) continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && !/^\s*```\s*$/.test(lines[end])) end++;
    if (end === lines.length) throw new Error(`${readme}:${i + 1}: code block never closed`);
    const indent = open[1].length;
    const code = lines.slice(start, end).map((l) => l.slice(indent)).join('\n');
    // A block whose first line is `// some.name.ts` is that file, so later blocks can import it ('./some.name').
    const named = /^\/\/ ([\w.-]+\.ts)\b/.exec(code);
    const name = named ? named[1] : `snippet_L${start + 1}.ts`;
    found.push({ readme, line: start + 1, code, file: join(out, readme.replace(/[^A-Za-z0-9]+/g, '_'), name) });
    i = end;
  }
  return found;
}

const compilerOptions: ts.CompilerOptions = {
  strict: true,
  skipLibCheck: false,
  noEmit: true,
  target: ts.ScriptTarget.ES2022,
  lib: ['lib.es2022.d.ts'],
  module: ts.ModuleKind.Node16,
  moduleResolution: ts.ModuleResolutionKind.Node16,
  experimentalDecorators: true,
  emitDecoratorMetadata: true,
  esModuleInterop: true,
  types: ['node'],
  // Snippets show declarations the reader adds to their app; unused ones are not errors.
  noUnusedLocals: false,
};

describe('README TypeScript snippets compile against the built package', () => {
  const snippets = readmes.flatMap(extract);

  beforeAll(() => {
    if (!existsSync(join(root, 'libs/agent-usage/dist/index.d.ts'))) {
      throw new Error('libs/agent-usage/dist is missing: run `npm run build` first');
    }
    rmSync(out, { recursive: true, force: true });
    mkdirSync(out, { recursive: true });
    // Every block is a module of its own, even one without imports.
    for (const s of snippets) {
      // A name used twice: the first block keeps it (imports resolve to it), a later one gets its line.
      if (existsSync(s.file)) s.file = s.file.replace(/\.ts$/, `_L${s.line}.ts`);
      mkdirSync(dirname(s.file), { recursive: true });
      writeFileSync(s.file, `${s.code}\nexport {};\n`);
    }
  });

  it('finds the guide’s snippets', () => {
    expect(snippets.filter((s) => s.readme === readmes[0]).length).toBeGreaterThanOrEqual(10);
  });

  it('resolves nestjs-agent-usage to the built declarations, not the sources', () => {
    const r = ts.resolveModuleName('nestjs-agent-usage', join(out, 'probe.ts'), compilerOptions, ts.sys);
    expect(relative(root, r.resolvedModule?.resolvedFileName ?? '(unresolved)')).toMatch(/^(node_modules\/nestjs-agent-usage|libs\/agent-usage)\/dist\/index\.d\.ts$/);
  });

  it('type-checks every block (strict, skipLibCheck false)', () => {
    const program = ts.createProgram(snippets.map((s) => s.file), compilerOptions);
    const bySnippet = new Map(snippets.map((s) => [s.file, s]));
    const problems = ts.getPreEmitDiagnostics(program).map((d) => {
      const text = ts.flattenDiagnosticMessageText(d.messageText, '\n');
      if (!d.file) return text;
      const { line } = d.file.getLineAndCharacterOfPosition(d.start ?? 0);
      const s = bySnippet.get(d.file.fileName);
      return s ? `${s.readme}:${s.line + line}: TS${d.code}: ${text}` : `${relative(root, d.file.fileName)}:${line + 1}: TS${d.code}: ${text}`;
    });
    expect(problems).toEqual([]);
  });
});
