#!/usr/bin/env bash
# Packaging test: what a stranger installs. Exit code 0 = passed.
#   1. check-pack.mjs: `npm pack --dry-run` lists README.md, LICENSE, CHANGELOG.md and no source map, and no
#      shipped file points at a file that is not shipped; then packs the tarball.
#   2. For each throw-away host app in hosts/ (nest11-cjs: Nest 11 CommonJS with typeorm 1.x, ioredis 6,
#      class-validator 0.14; bare: no optional peer): install (cached, see below), check that the installed
#      nestjs-agent-usage is exactly the tarball's content, type-check (strict, skipLibCheck false), build,
#      run: boot, record, read back exact aggregates. Nest 12 ESM / nodenext is test/nest12-smoke/run.sh.
#
# Installs are cached like test/nest12-smoke: each host has a committed package-lock.json with pinned
# versions; .npmrc install-links=true makes npm pack libs/agent-usage and install a real copy (the very
# packing `npm pack` does); the stamp includes a hash of the built dist, so a new build reinstalls.
#
# Env: PACKAGING_SKIP_BUILD=1 skips the build and the workspace install (scripts/test.sh has done both);
#      USAGE_TEST_PG_URL, USAGE_TEST_REDIS_URL for host nest11-cjs (default: the local servers).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
lib=$root/libs/agent-usage
# shellcheck source-path=SCRIPTDIR/../../scripts source=ensure-deps.sh
source "$root/scripts/ensure-deps.sh"

log() { printf 'packaging: %s\n' "$*" >&2; }
started=$SECONDS

if [[ ${PACKAGING_SKIP_BUILD:-} != 1 ]]; then
  ensure_deps "$root" "$lib/package.json"
  log "building the library"
  (cd "$root" && npm run --silent build)
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/agent-usage-packaging.XXXXXX")
trap 'rm -rf "$work"' EXIT
tarball=$(node "$here/check-pack.mjs" "$lib" "$work" | tee /dev/stderr | tail -n 1)
mkdir -p "$work/tarball"
tar xzf "$tarball" -C "$work/tarball"

extra="libs/agent-usage dist $(tree_hash "$lib/dist")"
failed=()
for host in nest11-cjs bare; do
  dir=$here/hosts/$host
  log "host $host"
  if ! lock_follows_package "$dir" "$lib" nestjs-agent-usage; then
    log "$host/package-lock.json does not match libs/agent-usage/package.json: updating it (commit it)"
    (cd "$dir" && npm install --no-audit --no-fund) && write_deps_stamp "$dir" "$extra"
  fi
  if ! ensure_deps "$dir" --exact "$extra"; then
    failed+=("$host (install)")
    continue
  fi
  # The installed copy is the tarball, file for file.
  if ! diff -r "$work/tarball/package" "$dir/node_modules/nestjs-agent-usage" >&2; then
    log "$host: the installed nestjs-agent-usage differs from the npm pack tarball"
    failed+=("$host (installed copy)")
    continue
  fi
  rm -rf "$dir/dist"
  if ! (cd "$dir" && node_modules/.bin/tsc -p tsconfig.json); then
    failed+=("$host (type-check)")
    continue
  fi
  (cd "$dir" && node dist/main.js) || failed+=("$host (run)")
done

log "took $((SECONDS - started)) s"
if ((${#failed[@]})); then
  log "FAILED: ${failed[*]}"
  exit 1
fi
log "OK: tarball checked; hosts nest11-cjs and bare installed, type-checked and ran"
