#!/usr/bin/env bash
# The dashboard's browser tests (test/dashboard) and its benchmark row drive the system Chromium through
# playwright-core (no browser download). Installs Debian's package when it is missing and this user can
# (root with apt-get); otherwise says how. Used by scripts/test.sh (npm test) and .ci/run.
set -euo pipefail

chromium=${CHROMIUM_PATH:-/usr/bin/chromium}
if [[ -x $chromium ]]; then
  echo "Chromium: $chromium" >&2
elif [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
  echo "Chromium missing: installing Debian's chromium package (browser tests)" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
else
  echo "WARNING: no Chromium at $chromium; the dashboard's browser tests will fail." >&2
  echo "         Install it with: sudo apt-get install -y chromium  (or set CHROMIUM_PATH)" >&2
fi
