#!/usr/bin/env bash
# Install Node-RED 4 (and node-red-contrib-influxdb) into a cache folder outside the repo, idempotently.
#
#   scripts/install-node-red.sh        -> prints the path of Node-RED's red.js on its last line
#
# Where:   ${NODE_RED_HOME:-${MATHNOTES_CACHE:-$HOME/.cache/mathnotes}/node-red}
# Version: ${NODE_RED_VERSION:-4} (an npm range). Honours NPM_CONFIG_REGISTRY (mirrors).
# Takes ~20 s the first time with Node 20; a second run is a no-op. Used by ./stack and the tests.
set -euo pipefail

NODE_RED_VERSION="${NODE_RED_VERSION:-4}"
NODE_RED_HOME="${NODE_RED_HOME:-${MATHNOTES_CACHE:-$HOME/.cache/mathnotes}/node-red}"
RED="$NODE_RED_HOME/node_modules/node-red/red.js"
STAMP="$NODE_RED_HOME/.installed-$NODE_RED_VERSION"

installed() {
  [ -f "$RED" ] && [ -d "$NODE_RED_HOME/node_modules/node-red-contrib-influxdb" ] && {
    [ -f "$STAMP" ] || grep -q "\"version\": \"${NODE_RED_VERSION}\." "$NODE_RED_HOME/node_modules/node-red/package.json"
  }
}

if installed; then
  echo "$RED"
  exit 0
fi

command -v npm >/dev/null || { echo "install-node-red: npm not found (needs Node.js 18+)" >&2; exit 1; }
mkdir -p "$NODE_RED_HOME"
# one installer at a time (parallel test runs share the cache); the second one finds it installed
exec 9>"$NODE_RED_HOME/.install.lock"
command -v flock >/dev/null && flock 9
if installed; then
  echo "$RED"
  exit 0
fi
echo "install-node-red: installing node-red@$NODE_RED_VERSION into $NODE_RED_HOME" >&2
npm install --prefix "$NODE_RED_HOME" --no-audit --no-fund --loglevel=error \
  "node-red@$NODE_RED_VERSION" node-red-contrib-influxdb >&2
rm -f "$NODE_RED_HOME"/.installed-*
touch "$STAMP"
echo "$RED"
