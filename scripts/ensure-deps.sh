# shellcheck shell=bash
# Installs npm dependencies only when needed. Sourced by scripts/demo.sh, scripts/test.sh and
# test/nest12-smoke/run.sh; it defines functions and changes nothing by itself.
#
#   ensure_deps DIR [--exact] [EXTRA...]
#
# Runs `npm ci` in DIR when DIR/node_modules is missing, or when the fingerprint of the install
# (node's version, DIR's package.json, package-lock.json and .npmrc, plus each EXTRA: a file, or a
# literal string) differs from DIR/node_modules/.install-stamp. On a stamp mismatch without --exact
# the installed tree is compared with package-lock.json first (every locked package present at its
# locked version): when it already matches, for instance after a plain `npm install`, only the stamp
# is rewritten, so a working node_modules is never wiped for nothing. --exact always reinstalls on a
# mismatch (used where an EXTRA stands for content npm copies, such as a packed local package).
# The stamp is written only after a successful install. A lock file out of sync with package.json is an
# error (see npm_ci_or_install), never silently rewritten.

deps_log() { printf 'ensure-deps: %s\n' "$*" >&2; }

# deps_fingerprint DIR [EXTRA...]: prints the fingerprint of DIR's install.
deps_fingerprint() {
  local dir=$1 item rel
  shift
  {
    printf 'node %s\n' "$(node -v)"
    for item in "$dir/package.json" "$dir/package-lock.json" "$dir/.npmrc" "$@"; do
      if [[ -f $item ]]; then
        rel=$(realpath --relative-to="$dir" "$item")
        printf '== file %s\n' "$rel"
        cat "$item"
      elif [[ $item == "$dir/"* ]]; then
        printf '== absent %s\n' "${item#"$dir/"}"
      else
        printf '== value %s\n' "$item"
      fi
    done
  } | sha256sum | cut -d' ' -f1
}

# tree_hash DIR...: one hash of the names and contents of every file under the given folders.
tree_hash() {
  local d
  for d in "$@"; do
    if [[ -d $d ]]; then
      (cd "$d" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum)
    else
      printf 'absent %s\n' "$d"
    fi
  done | sha256sum | cut -d' ' -f1
}

# installed_tree_matches_lock DIR: exit 0 when every package of DIR/package-lock.json is installed
# at its locked version (platform-specific optional packages may be absent).
installed_tree_matches_lock() {
  node - "$1" <<'NODE'
const fs = require('node:fs');
const path = require('node:path');
const dir = process.argv[2];
const lock = JSON.parse(fs.readFileSync(path.join(dir, 'package-lock.json'), 'utf8'));
for (const [key, entry] of Object.entries(lock.packages ?? {})) {
  if (!key.startsWith('node_modules/') && !key.includes('/node_modules/')) continue;
  if (entry.inBundle) continue;
  const at = path.join(dir, key);
  if (entry.link) {
    if (!fs.existsSync(at)) process.exit(1);
    continue;
  }
  let installed;
  try {
    installed = JSON.parse(fs.readFileSync(path.join(at, 'package.json'), 'utf8')).version;
  } catch {
    if (entry.optional || entry.devOptional) continue;
    process.exit(1);
  }
  if (installed !== entry.version) process.exit(1);
}
NODE
}

# write_deps_stamp DIR [EXTRA...]: records the current fingerprint as installed.
write_deps_stamp() {
  local dir=$1
  shift
  deps_fingerprint "$dir" "$@" >"$dir/node_modules/.install-stamp"
}

ensure_deps() {
  local dir=$1 exact=0
  shift
  if [[ ${1:-} == --exact ]]; then
    exact=1
    shift
  fi
  if [[ ! -f $dir/package-lock.json ]]; then
    deps_log "no package-lock.json in $dir"
    return 1
  fi
  local want have="" reason
  want=$(deps_fingerprint "$dir" "$@")
  if [[ -f $dir/node_modules/.install-stamp ]]; then
    have=$(<"$dir/node_modules/.install-stamp")
  fi
  if [[ ! -d $dir/node_modules ]]; then
    reason="node_modules is missing"
  elif [[ $have == "$want" ]]; then
    return 0
  elif [[ $exact == 0 ]] && installed_tree_matches_lock "$dir"; then
    deps_log "$dir: installed packages already match package-lock.json; stamp updated"
    write_deps_stamp "$dir" "$@"
    return 0
  elif [[ -z $have ]]; then
    reason="no install stamp and node_modules does not match package-lock.json"
  else
    reason="package files changed since the last install"
  fi
  deps_log "$dir: $reason: running npm ci"
  npm_ci_or_install "$dir" || return 1
  write_deps_stamp "$dir" "$@"
}

# npm_ci_or_install DIR: `npm ci`, nothing else. When npm refuses package-lock.json as out of sync with
# package.json, this fails and says how to fix it: falling back to `npm install` would rewrite the lock
# file, leave the clone dirty and hide the drift.
npm_ci_or_install() {
  local dir=$1 out rc=0
  out=$(mktemp)
  (cd "$dir" && npm ci --no-audit --no-fund) >"$out" 2>&1 || rc=$?
  cat "$out" >&2
  if [[ $rc != 0 ]] && grep -q 'EUSAGE' "$out" && grep -q 'in sync' "$out"; then
    deps_log "$dir/package-lock.json is out of sync with package.json: run 'npm install' in $dir and commit package-lock.json"
  elif [[ $rc != 0 ]]; then
    deps_log "npm ci failed in $dir (exit code $rc)"
  fi
  rm -f "$out"
  return "$rc"
}

# lock_follows_package LOCKDIR PKGDIR NAME: exit 0 when LOCKDIR/package-lock.json's entry for the local
# package NAME (installed from PKGDIR) has PKGDIR/package.json's version and dependency fields.
lock_follows_package() {
  node - "$1/package-lock.json" "$2/package.json" "$3" <<'NODE'
const fs = require('node:fs');
const [lockFile, pkgFile, name] = process.argv.slice(2);
const entry = JSON.parse(fs.readFileSync(lockFile, 'utf8')).packages?.[`node_modules/${name}`];
const pkg = JSON.parse(fs.readFileSync(pkgFile, 'utf8'));
if (!entry) process.exit(1);
const sorted = (o) => JSON.stringify(Object.keys(o ?? {}).sort().map((k) => [k, o[k]]));
for (const f of ['dependencies', 'optionalDependencies', 'peerDependencies', 'peerDependenciesMeta']) {
  if (sorted(entry[f]) !== sorted(pkg[f])) process.exit(1);
}
if (entry.version !== pkg.version) process.exit(1);
NODE
}
