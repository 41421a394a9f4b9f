#!/usr/bin/env bash
# Install Grafana's published types (@grafana/schema) and TypeScript, exactly as package-lock.json pins
# them, into node_modules/ here (gitignored), idempotently; prints the path of tsc on its last line.
# Used by ./stack test and by tests/grafana/test_types.py. Honours NPM_CONFIG_REGISTRY (mirrors).
# About 3 s and 26 MB the first time; a no-op while node_modules/ holds this package-lock.json.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TSC="$HERE/node_modules/.bin/tsc"
STAMP="$HERE/node_modules/.mathnotes-package-lock.json"   # the lock file node_modules/ was installed from

installed() { [ -x "$TSC" ] && cmp -s "$HERE/package-lock.json" "$STAMP"; }

if ! installed; then
  command -v npm >/dev/null || { echo "grafana types: npm not found (needs Node.js 18+)" >&2; exit 1; }
  # one installer at a time (parallel test runs); the second one finds it installed
  exec 9>"$HERE/.install.lock"
  command -v flock >/dev/null && flock 9
  if ! installed; then
    echo "grafana types: npm ci in $HERE" >&2
    npm ci --prefix "$HERE" --no-audit --no-fund --loglevel=error >&2
    cp "$HERE/package-lock.json" "$STAMP"
  fi
fi
echo "$TSC"
