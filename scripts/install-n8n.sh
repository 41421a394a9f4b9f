#!/usr/bin/env bash
# Install n8n (pinned) into a cache folder outside the repo, idempotently.
#
#   scripts/install-n8n.sh            -> prints the n8n binary path on its last line
#
# Where:   ${N8N_HOME:-${MATHNOTES_CACHE:-$HOME/.cache/mathnotes}/n8n}
# Version: ${N8N_VERSION:-1.123.0}. Later 1.123.x pull a native module that does not
# build on Node 20; n8n's own xlsx tarball lives off the npm registry, so it is
# overridden with the registry's xlsx@0.18.5. Honours NPM_CONFIG_REGISTRY (mirrors).
# Takes ~3 minutes and ~1.6 GB the first time; a second run is a no-op.
set -euo pipefail

N8N_VERSION="${N8N_VERSION:-1.123.0}"
N8N_HOME="${N8N_HOME:-${MATHNOTES_CACHE:-$HOME/.cache/mathnotes}/n8n}"
STAMP="$N8N_HOME/.installed-$N8N_VERSION"
BIN="$N8N_HOME/node_modules/.bin/n8n"

if [ -f "$STAMP" ] && [ -x "$BIN" ]; then
  echo "$BIN"
  exit 0
fi

command -v npm >/dev/null || { echo "install-n8n: npm not found (needs Node.js 20.19+)" >&2; exit 1; }
mkdir -p "$N8N_HOME"
# one installer at a time (parallel test runs share the cache); the second one finds the stamp
exec 9>"$N8N_HOME/.install.lock"
command -v flock >/dev/null && flock 9
if [ -f "$STAMP" ] && [ -x "$BIN" ]; then
  echo "$BIN"
  exit 0
fi
cat > "$N8N_HOME/package.json" <<JSON
{
  "name": "mathnotes-n8n-runtime",
  "private": true,
  "dependencies": { "n8n": "$N8N_VERSION" },
  "overrides": { "xlsx": "npm:xlsx@0.18.5" }
}
JSON
echo "install-n8n: installing n8n@$N8N_VERSION into $N8N_HOME (takes a few minutes)" >&2
(cd "$N8N_HOME" && npm install --no-audit --no-fund --loglevel=error >&2)
"$BIN" --version >&2
rm -f "$N8N_HOME"/.installed-*
touch "$STAMP"
echo "$BIN"
