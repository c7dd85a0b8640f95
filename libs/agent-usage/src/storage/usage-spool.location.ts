import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';

const hash = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 12);
const safe = (s: string) => s.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 60);

/**
 * Default spool root of this app: `<os tmpdir>/nestjs-agent-usage/<package name>-<hash of the working
 * directory>`. Two apps on one machine (or two checkouts of one app) never share it.
 */
export function defaultSpoolRoot(cwd = process.cwd()): string {
  let name = basename(cwd);
  try {
    const pkg = JSON.parse(readFileSync(join(cwd, 'package.json'), 'utf8')) as { name?: unknown };
    if (typeof pkg.name === 'string' && pkg.name) name = pkg.name;
  } catch {
    // no package.json: the folder name will do
  }
  return join(tmpdir(), 'nestjs-agent-usage', `${safe(name)}-${hash(cwd)}`);
}

/**
 * The spool folder of one store: `<root>/<driver name>-<hash of its target>`, the target being what the
 * driver writes to (database + table, Redis + key prefix, directory). Files there are only ever
 * replayed into that store. Before the driver started its target is unknown: `<name>-unbound`, adopted
 * by the store of that name at its next start.
 */
export function spoolFolderOf(root: string, storeName: string, target: string | undefined): string {
  return join(root, `${safe(storeName)}-${target ? hash(target) : 'unbound'}`);
}
