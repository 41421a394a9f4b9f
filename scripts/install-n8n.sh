#!/usr/bin/env bash
# Install n8n (pinned) with its own Node.js 24 into a cache folder outside the repo, idempotently.
#
#   scripts/install-n8n.sh            -> prints the path of an `n8n` launcher on its last line
#
# Where:   ${N8N_HOME:-${MATHNOTES_CACHE:-$HOME/.cache/mathnotes}/n8n/$N8N_VERSION}; a successful
#          install removes the other versions beside it (each is ~3 GB).
# Version: ${N8N_VERSION:-2.41.1}. n8n 2.41 needs Node >= 24, which scripts/install-node.sh brings
# from the npm registry without touching the system Node; the launcher runs n8n with it.
# Why not a plain `npm install n8n`: @confluentinc/kafka-javascript's install script downloads a
# binary from outside the registry, so scripts are skipped and only the native modules n8n needs
# are rebuilt (isolated-vm for the expression sandbox, sqlite3 for the database), against Node 24's
# own headers (npm_config_nodedir; a ~/.npmrc may point node-gyp at the system Node's).
# 2.41.3 does not resolve (it wants @n8n/agents@0.26.2, which the registry lacks).
# Honours NPM_CONFIG_REGISTRY (mirrors). Takes ~10 minutes and ~2.9 GB the first time; a second
# run is a no-op.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
N8N_VERSION="${N8N_VERSION:-2.41.1}"
N8N_ROOT="${MATHNOTES_CACHE:-$HOME/.cache/mathnotes}/n8n"
N8N_HOME_GIVEN="${N8N_HOME:+1}"
N8N_HOME="${N8N_HOME:-$N8N_ROOT/$N8N_VERSION}"
NATIVE=(isolated-vm sqlite3)
LAUNCHER="$N8N_HOME/n8n"

eval "$("$ROOT/scripts/install-node.sh" --env)"   # PATH and npm_config_nodedir: Node 24 first
NODE="$(command -v node)"
STAMP="$N8N_HOME/.installed-$N8N_VERSION-node$("$NODE" --version)"

installed() { [ -f "$STAMP" ] && [ -x "$LAUNCHER" ]; }
report() { echo "$LAUNCHER"; }
# shellcheck source=scripts/cache-lib.sh
. "$ROOT/scripts/cache-lib.sh"
cached_or_locked "$N8N_HOME"

command -v npm >/dev/null || { echo "install-n8n: npm not found" >&2; exit 1; }
rm -f "$N8N_HOME"/.installed-*
cat > "$N8N_HOME/package.json" <<JSON
{ "name": "mathnotes-n8n-runtime", "private": true, "dependencies": { "n8n": "$N8N_VERSION" } }
JSON
echo "install-n8n: installing n8n@$N8N_VERSION with Node $("$NODE" --version) into $N8N_HOME (takes ~10 minutes)" >&2
(
  cd "$N8N_HOME"
  npm install --no-audit --no-fund --ignore-scripts --loglevel=error >&2
  npm rebuild --loglevel=error "${NATIVE[@]}" >&2
)
cat > "$LAUNCHER" <<SH
#!/bin/sh
# n8n $N8N_VERSION on its own Node (written by scripts/install-n8n.sh)
PATH="$(dirname "$NODE"):\$PATH" exec "$NODE" "$N8N_HOME/node_modules/n8n/bin/n8n" "\$@"
SH
chmod +x "$LAUNCHER"
"$LAUNCHER" --version >&2
touch "$STAMP"
# other versions' installs beside this one (and the single-folder layout of earlier scripts) go,
# unless N8N_HOME was given
if [ -z "$N8N_HOME_GIVEN" ]; then
  find "$N8N_ROOT" -mindepth 1 -maxdepth 1 ! -name "$N8N_VERSION" -exec rm -rf {} + 2>/dev/null || true
fi
echo "$LAUNCHER"
