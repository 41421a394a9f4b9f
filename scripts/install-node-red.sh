#!/usr/bin/env bash
# Install Node-RED 5 (pinned) with its own Node.js 24 into a cache folder outside the repo, idempotently.
#
#   scripts/install-node-red.sh          -> prints the path of a `node-red` launcher on its last line
#   scripts/install-node-red.sh --test   -> the same, plus node-red-node-test-helper (for tests/nodered)
#
# The launcher runs Node-RED's red.js (arguments passed on: -u <user dir> -p <port> <flows file>) with
# the Node that scripts/install-node.sh brings from the npm registry: Node-RED 5 needs Node >= 22.9,
# and the system Node stays as it is. Tests that need that Node itself (node-red-node-test-helper)
# ask scripts/install-node.sh for it.
# Where:   ${NODE_RED_HOME:-${MATHNOTES_CACHE:-$HOME/.cache/mathnotes}/node-red}
# Version: ${NODE_RED_VERSION:-5.0.7} (exact, or a major/minor prefix such as 5); the production
# image (docker-compose.prod.yml) pins the same version. Only Node-RED's core nodes are installed:
# our flows use no palette node (they write through MQTT to mathnotes-ingest).
# Honours NPM_CONFIG_REGISTRY (mirrors). Takes ~15 s and ~110 MB (+ ~190 MB for Node 24) the first
# time; a second run is a no-op.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NODE_RED_VERSION="${NODE_RED_VERSION:-5.0.7}"
NODE_RED_HOME="${NODE_RED_HOME:-${MATHNOTES_CACHE:-$HOME/.cache/mathnotes}/node-red}"
RED="$NODE_RED_HOME/node_modules/node-red/red.js"
LAUNCHER="$NODE_RED_HOME/node-red"
HELPER=node-red-node-test-helper
MODE="${1:-}"
case "$MODE" in
  --test | "") ;;
  *) echo "usage: $0 [--test]" >&2; exit 2 ;;
esac

eval "$("$ROOT/scripts/install-node.sh" --env)"   # PATH and npm_config_nodedir: Node 24 first
NODE="$(command -v node)"

version_of() { "$NODE" -p "require('$NODE_RED_HOME/node_modules/$1/package.json').version" 2>/dev/null; }

installed_as() {
  [ -f "$RED" ] && [ -x "$LAUNCHER" ] && grep -qF "$NODE" "$LAUNCHER" || return 1
  # the installed Node-RED is the wanted version (NODE_RED_VERSION exact, or a prefix on a dot boundary)
  case "$(version_of node-red)." in "$NODE_RED_VERSION".*) ;; *) return 1 ;; esac
  [ "${1:-}" != --test ] || [ -n "$(version_of "$HELPER")" ]
}

installed() { installed_as "${MODE:-}"; }
report() { echo "$LAUNCHER"; }
# shellcheck source=scripts/cache-lib.sh
. "$ROOT/scripts/cache-lib.sh"
cached_or_locked "$NODE_RED_HOME"

command -v npm >/dev/null || { echo "install-node-red: npm not found" >&2; exit 1; }
# what the folder holds is exactly this list (npm prunes the rest, e.g. the node-red-contrib-influxdb
# of earlier installs); the test helper stays once installed, so a plain install after --test keeps it
DEPS="\"node-red\": \"$NODE_RED_VERSION\""
if [ "$MODE" = --test ] || [ -n "$(version_of "$HELPER")" ]; then
  DEPS="$DEPS, \"$HELPER\": \"${NODE_RED_TEST_HELPER_VERSION:-0.3.6}\""
fi
cat > "$NODE_RED_HOME/package.json" <<JSON
{ "name": "mathnotes-node-red-runtime", "private": true, "dependencies": { $DEPS } }
JSON
echo "install-node-red: installing node-red@$NODE_RED_VERSION with Node $("$NODE" --version) into $NODE_RED_HOME" >&2
(cd "$NODE_RED_HOME" && npm install --no-audit --no-fund --loglevel=error >&2)
cat > "$LAUNCHER" <<SH
#!/bin/sh
# Node-RED $NODE_RED_VERSION on its own Node (written by scripts/install-node-red.sh)
exec "$NODE" "$RED" "\$@"
SH
chmod +x "$LAUNCHER"
installed || { echo "install-node-red: npm finished but $RED (node-red@$NODE_RED_VERSION) is missing" >&2; exit 1; }
echo "$LAUNCHER"
