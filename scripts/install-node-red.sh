#!/usr/bin/env bash
# Install Node-RED 4 (and node-red-contrib-influxdb) into a cache folder outside the repo, idempotently.
#
#   scripts/install-node-red.sh          -> prints the path of Node-RED's red.js on its last line
#   scripts/install-node-red.sh --test   -> the same, plus node-red-node-test-helper (for tests/nodered)
#
# Where:   ${NODE_RED_HOME:-${MATHNOTES_CACHE:-$HOME/.cache/mathnotes}/node-red}
# Version: ${NODE_RED_VERSION:-4} (an npm range). Honours NPM_CONFIG_REGISTRY (mirrors).
# Takes ~20 s the first time with Node 20; a second run is a no-op. Used by ./stack and the tests.
set -euo pipefail

NODE_RED_VERSION="${NODE_RED_VERSION:-4}"
NODE_RED_HOME="${NODE_RED_HOME:-${MATHNOTES_CACHE:-$HOME/.cache/mathnotes}/node-red}"
RED="$NODE_RED_HOME/node_modules/node-red/red.js"
PACKAGES=("node-red@$NODE_RED_VERSION" node-red-contrib-influxdb)
WANT=(node-red-contrib-influxdb)
case "${1:-}" in
  --test) PACKAGES+=(node-red-node-test-helper); WANT+=(node-red-node-test-helper) ;;
  "") ;;
  *) echo "usage: $0 [--test]" >&2; exit 2 ;;
esac

installed() {
  [ -f "$RED" ] || return 1
  # the installed Node-RED matches the wanted major version (NODE_RED_VERSION is a major number or a range)
  grep -q "\"version\": \"${NODE_RED_VERSION%%.*}\." "$NODE_RED_HOME/node_modules/node-red/package.json" || return 1
  local pkg
  for pkg in "${WANT[@]}"; do
    [ -f "$NODE_RED_HOME/node_modules/$pkg/package.json" ] || return 1
  done
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
if [ -f "$RED" ] && grep -q "\"version\": \"${NODE_RED_VERSION%%.*}\." "$NODE_RED_HOME/node_modules/node-red/package.json"; then
  # Node-RED is there: add only what is missing, leaving the installed versions alone
  PACKAGES=()
  for pkg in "${WANT[@]}"; do
    [ -f "$NODE_RED_HOME/node_modules/$pkg/package.json" ] || PACKAGES+=("$pkg")
  done
fi
echo "install-node-red: installing ${PACKAGES[*]} into $NODE_RED_HOME" >&2
npm install --prefix "$NODE_RED_HOME" --no-audit --no-fund --loglevel=error "${PACKAGES[@]}" >&2
installed || { echo "install-node-red: npm finished but $RED or ${WANT[*]} is missing" >&2; exit 1; }
echo "$RED"
