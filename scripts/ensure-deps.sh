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
# The stamp is written only after a successful install. See npm_ci_or_install for the one case where
# `npm install` stands in for `npm ci`.

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

# npm_ci_or_install DIR: `npm ci`; if npm refuses the lock file as "not in sync" (EUSAGE), `npm install`
# instead, then checks that every locked version got installed. npm 11.16+ writes lock files without
# the entries of optional platform packages its registry cannot serve (here: @unrs/resolver-binding-*
# for other systems) and then has `npm ci` reject them (npm/cli#9846); `npm install` installs the very
# same locked versions.
npm_ci_or_install() {
  local dir=$1 out rc=0 before after
  out=$(mktemp)
  (cd "$dir" && npm ci --no-audit --no-fund) >"$out" 2>&1 || rc=$?
  cat "$out" >&2
  if [[ $rc == 0 ]]; then
    rm -f "$out"
    return 0
  fi
  if ! grep -q 'EUSAGE' "$out" || ! grep -q 'in sync' "$out"; then
    rm -f "$out"
    deps_log "npm ci failed in $dir (exit code $rc)"
    return 1
  fi
  rm -f "$out"
  deps_log "$dir: npm ci refused package-lock.json as out of sync (see npm/cli#9846 for optional platform packages): running npm install with the same lock file"
  before=$(sha256sum "$dir/package-lock.json")
  (cd "$dir" && npm install --no-audit --no-fund) || {
    deps_log "npm install failed in $dir"
    return 1
  }
  after=$(sha256sum "$dir/package-lock.json")
  if [[ $before != "$after" ]]; then
    deps_log "WARNING: npm install changed $dir/package-lock.json: package.json and the lock file disagreed; commit the updated lock file"
  fi
  if ! installed_tree_matches_lock "$dir"; then
    deps_log "the installed packages in $dir do not match package-lock.json"
    return 1
  fi
}
