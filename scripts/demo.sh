#!/usr/bin/env bash
# npm run demo: works on a fresh clone. Installs dependencies when needed (scripts/ensure-deps.sh),
# builds the library and the demo, then runs the demo in the foreground (Ctrl+C stops it).
# Env: USAGE_STORAGE=file|memory|database|cache (default file), PORT (default 3000),
#      USAGE_DATA_DIR (file storage, default ./.usage-data), DATABASE_URL, REDIS_URL.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source-path=SCRIPTDIR source=ensure-deps.sh
source scripts/ensure-deps.sh

ensure_deps "$root" "$root/libs/agent-usage/package.json"
echo "demo: building the library and the demo" >&2
npm run --silent build
node_modules/.bin/tsc -p tsconfig.app.json
exec node dist/demo/main.js
