#!/usr/bin/env bash
# Packaging test: what a stranger installs. Exit code 0 = passed.
#   1. check-pack.mjs: `npm pack --dry-run` lists README.md, LICENSE, CHANGELOG.md and no source map, and no
#      shipped file points at a file that is not shipped; then packs the tarball.
#   2. For each throw-away host app in hosts/ (nest11-cjs: Nest 11 CommonJS with typeorm 1.x, ioredis 6,
#      class-validator 0.14; bare: no optional peer): install (cached, see below), check that the installed
#      nestjs-agent-usage is exactly the tarball's content, type-check (strict, skipLibCheck false), build,
#      run: boot, record, read back exact aggregates. Nest 12 ESM / nodenext is test/nest12-smoke/run.sh.
#
# The hosts run OUTSIDE the repository (Node and tsc would otherwise find the workspace's node_modules
# above them, typeorm included): each is copied to a cache folder, with the extracted tarball beside them
# as ../package-under-test, which their package.json depends on (`file:`; .npmrc install-links=true
# installs a real copy, not a symlink). Installs are cached like test/nest12-smoke: a committed package-lock.json with pinned
# versions, `npm ci` only when the lock, the package or node changed (the stamp hashes the tarball's
# content, so a new build reinstalls the package).
#
# Env: PACKAGING_SKIP_BUILD=1 skips the build and the workspace install (scripts/test.sh has done both);
#      PACKAGING_CACHE_DIR (default ${TMPDIR:-/tmp}/nestjs-agent-usage-packaging-<uid>): where hosts install;
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
# (Not `tee /dev/stderr`: when stderr is a file, reopening it would truncate it.)
pack_rc=0
pack_out=$(node "$here/check-pack.mjs" "$lib" "$work") || pack_rc=$?
printf '%s\n' "$pack_out" >&2
if [[ $pack_rc != 0 ]]; then
  log "FAILED: npm pack checks"
  exit 1
fi
tarball=$(tail -n 1 <<<"$pack_out")
mkdir -p "$work/tarball"
tar xzf "$tarball" -C "$work/tarball"

cache=${PACKAGING_CACHE_DIR:-${TMPDIR:-/tmp}/nestjs-agent-usage-packaging-$(id -u)}
rm -rf "$cache/package-under-test"
mkdir -p "$cache"
cp -r "$work/tarball/package" "$cache/package-under-test"
extra="package-under-test $(tree_hash "$cache/package-under-test")"
failed=()
for host in nest11-cjs bare; do
  src=$here/hosts/$host
  dir=$cache/$host
  log "host $host (in $dir)"
  mkdir -p "$dir"
  rm -rf "$dir/src" "$dir/dist"
  cp -r "$src/src" "$src/package.json" "$src/.npmrc" "$src/tsconfig.json" "$dir/"
  if [[ -f $src/package-lock.json ]] && lock_follows_package "$src" "$cache/package-under-test" nestjs-agent-usage; then
    cp "$src/package-lock.json" "$dir/"
  else
    log "hosts/$host/package-lock.json does not match the package: updating it (commit test/packaging/hosts/$host/package-lock.json)"
    # From scratch: an installed copy of the same version would count as "up to date" and stay stale.
    rm -rf "$dir/package-lock.json" "$dir/node_modules"
    (cd "$dir" && npm install --no-audit --no-fund) && cp "$dir/package-lock.json" "$src/package-lock.json" && write_deps_stamp "$dir" "$extra"
  fi
  if ! ensure_deps "$dir" --exact "$extra"; then
    failed+=("$host (install)")
    continue
  fi
  # The installed copy is the tarball, file for file (a real folder, not a link to it).
  if [[ -L $dir/node_modules/nestjs-agent-usage ]] || ! diff -r "$work/tarball/package" "$dir/node_modules/nestjs-agent-usage" >&2; then
    log "$host: the installed nestjs-agent-usage differs from the npm pack tarball"
    failed+=("$host (installed copy)")
    continue
  fi
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
