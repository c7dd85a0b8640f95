#!/usr/bin/env bash
# Nest 12 smoke check: builds the library, installs it into this folder next to NestJS 12, type-checks
# typecheck.ts (an ESM TypeScript consumer: module nodenext, strict, skipLibCheck false) and runs
# smoke.mjs, a plain ESM host app. Exit code 0 = passed.
#
# One copy of Nest: .npmrc sets install-links=true, so the `file:../../libs/agent-usage` dependency is
# packed and installed as a real copy in ./node_modules (not a symlink into libs/, from where Node would
# resolve the workspace's Nest 11); the library's own require('@nestjs/core') then resolves the Nest 12
# of this folder. smoke.mjs checks that.
#
# Env: NEST12_SMOKE_SKIP_BUILD=1 skips the build and the workspace install (scripts/test.sh has done both).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
lib=$root/libs/agent-usage
# shellcheck source-path=SCRIPTDIR/../../scripts source=ensure-deps.sh
source "$root/scripts/ensure-deps.sh"

log() { printf 'nest12-smoke: %s\n' "$*" >&2; }

if [[ ${NEST12_SMOKE_SKIP_BUILD:-} != 1 ]]; then
  ensure_deps "$root" "$lib/package.json"
  log "building the library"
  (cd "$root" && npm run --silent build)
fi
if [[ ! -f $lib/dist/index.js ]]; then
  log "libs/agent-usage/dist/index.js is missing: run 'npm run build' at the top of the repository"
  exit 1
fi

# The library's package.json may have moved on (new dependency, new version) since package-lock.json
# here was written; npm ci would then install a copy without the new dependencies. Refresh the lock
# (loudly: the refreshed lock file must be committed).
lock_follows_library() { lock_follows_package "$here" "$lib" nestjs-agent-usage; }

# The installed copy must be replaced whenever the build changed: its content is part of the stamp.
extra="libs/agent-usage dist $(tree_hash "$lib/dist")"
if ! lock_follows_library; then
  log "package-lock.json here no longer matches libs/agent-usage/package.json: updating it (commit test/nest12-smoke/package-lock.json)"
  # From scratch: an installed copy of the same version would count as "up to date" and stay stale.
  rm -rf "$here/node_modules"
  (cd "$here" && npm install --no-audit --no-fund ../../libs/agent-usage)
  write_deps_stamp "$here" "$extra"
fi
ensure_deps "$here" --exact "$extra"

cd "$here"
log "type-checking typecheck.ts (module nodenext, strict, skipLibCheck false)"
node_modules/.bin/tsc -p tsconfig.json
exec node smoke.mjs
