#!/usr/bin/env bash
# npm test: the whole check, as CI runs it (.ci/run starts PostgreSQL and Redis first).
#   dependencies (npm ci only when needed) -> lint -> typecheck -> build (stop at the first failure)
#   -> import graph (no run-time cycle between the library's folders) -> Jest (test/ and the library's
#   specs, with coverage) -> coverage floors per library folder -> Nest 12 smoke -> packaging
#   -> bench:quick (only if bench/run.ts exists)
# Ends with one line "N passed, N failed, N skipped" (todo tests, if any, on the line before): Jest's
# tests (a suite that could not run counts as one failure), plus one each for the import graph, the
# coverage floors, the Nest 12 smoke, the packaging test and bench:quick when it runs.
# Exit code 0 only when nothing failed.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source-path=SCRIPTDIR source=ensure-deps.sh
source scripts/ensure-deps.sh

step() { printf '\n==> %s\n' "$*" >&2; }
trap 'printf "\ntest.sh: stopped, this step failed: %s\n" "$BASH_COMMAND" >&2' ERR

step "dependencies"
ensure_deps "$root" "$root/libs/agent-usage/package.json"
step "lint"
npm run --silent lint
step "typecheck"
npm run --silent typecheck
step "build"
npm run --silent build
trap - ERR

step "import graph"
graph_rc=0
node scripts/import-graph.mjs || graph_rc=$?

step "services"
if ! command -v pg_isready >/dev/null || ! pg_isready -h 127.0.0.1 -q; then
  echo "WARNING: PostgreSQL is not answering on 127.0.0.1:5432; the database suites will fail." >&2
  echo "         Start it with: pg_ctlcluster --skip-systemctl-redirect \$(ls /etc/postgresql) main start  (bash .ci/run does it)" >&2
else
  echo "PostgreSQL answers on 127.0.0.1:5432" >&2
fi
if ! command -v redis-cli >/dev/null || [[ $(redis-cli -h 127.0.0.1 ping 2>/dev/null) != PONG ]]; then
  echo "WARNING: Redis is not answering on 127.0.0.1:6379; the cache suites will fail." >&2
  echo "         Start it with: redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save \"\" --appendonly no  (bash .ci/run does it)" >&2
else
  echo "Redis answers on 127.0.0.1:6379" >&2
fi

# The Redis Cluster suites start their own nodes (ports 7100-7999) from redis-server 7+.
if ! command -v redis-server >/dev/null; then
  echo "WARNING: redis-server is not on PATH; the Redis Cluster suites (test/**/cluster*, test/support) will fail." >&2
fi

bash scripts/ensure-chromium.sh

step "jest"
results=$(mktemp "${TMPDIR:-/tmp}/jest-results.XXXXXX")
coverage=$(mktemp -d "${TMPDIR:-/tmp}/jest-coverage.XXXXXX")
trap 'rm -rf "$results" "$coverage"' EXIT
jest_rc=0
node_modules/.bin/jest --ci --json --outputFile="$results" \
  --coverage --coverageDirectory="$coverage" --coverageReporters=json-summary \
  --collectCoverageFrom='libs/agent-usage/src/**/*.ts' --collectCoverageFrom='!**/*.spec.ts' \
  --collectCoverageFrom='!libs/agent-usage/src/api/dashboard/page/**' || jest_rc=$?

step "coverage (lines / branches per library folder; floors in scripts/coverage-floors.json)"
coverage_rc=0
node -r ts-node/register/transpile-only scripts/coverage-check.ts "$coverage/coverage-summary.json" >&2 || coverage_rc=$?

step "nest 12 smoke"
smoke_rc=0
NEST12_SMOKE_SKIP_BUILD=1 bash test/nest12-smoke/run.sh || smoke_rc=$?

step "packaging"
packaging_rc=0
PACKAGING_SKIP_BUILD=1 bash test/packaging/run.sh || packaging_rc=$?

bench_rc=
if [[ -f bench/run.ts ]]; then
  step "bench:quick"
  bench_rc=0
  npm run --silent bench:quick || bench_rc=$?
fi

# Jest's counts; a suite that failed to run (syntax error, failing beforeAll import...) has no failed
# test of its own, so it is counted as one failure; so is a Jest that failed without saying why.
read -r passed failed skipped todo < <(node - "$results" <<'NODE'
const fs = require('node:fs');
try {
  const r = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  console.log(r.numPassedTests ?? 0, (r.numFailedTests ?? 0) + (r.numRuntimeErrorTestSuites ?? 0), r.numPendingTests ?? 0, r.numTodoTests ?? 0);
} catch {
  console.log(0, 0, 0, 0);
}
NODE
)
if [[ $jest_rc != 0 && $failed == 0 ]]; then
  echo "Jest exited with code $jest_rc without a failed test in its report: counted as one failure" >&2
  failed=1
fi

echo >&2
echo "Jest: exit code $jest_rc" >&2
# tally NAME RC [WHERE]: one passed or failed item for a step that is not a Jest test.
tally() {
  if [[ $2 == 0 ]]; then
    passed=$((passed + 1))
    echo "$1: passed" >&2
  else
    failed=$((failed + 1))
    echo "$1: FAILED (exit code $2${3:+; $3})" >&2
  fi
}
tally "import graph" "$graph_rc" "a cycle between folders is printed above"
tally "coverage floors" "$coverage_rc" "see the coverage step above"
tally "Nest 12 smoke" "$smoke_rc"
tally "packaging" "$packaging_rc"
if [[ -n $bench_rc ]]; then tally "bench:quick" "$bench_rc"; fi

if [[ $todo != 0 ]]; then echo "$todo todo"; fi
echo "$passed passed, $failed failed, $skipped skipped"
[[ $failed == 0 ]]
