#!/usr/bin/env bash
# Install a pinned Node.js (default 24) from the npm registry into a cache folder outside the repo,
# idempotently, without touching the system Node.
#
#   scripts/install-node.sh          -> prints the bin dir (holding `node`) on its last line
#   eval "$(scripts/install-node.sh --env)"
#                                    -> puts that Node first on PATH and points native rebuilds
#                                       (node-gyp) at its headers: PATH, npm_config_nodedir
#
# Where:   ${NODE_HOME:-${MATHNOTES_CACHE:-$HOME/.cache/mathnotes}/node$MAJOR}
# Version: ${NODE_VERSION:-24.22.3} (exact). It is the registry's platform package
# node-<os>-<arch> (what the `node` package's install script would fetch): a copy of the official
# release with bin/node and include/node, so its folder is a complete `nodedir` for node-gyp.
# (This machine's ~/.npmrc says nodedir=/usr, the system Node 20's headers; a module rebuilt
# against those would not load in Node 24.) The system npm runs under whichever node is first
# on PATH, so `--env` is all a caller needs. Honours NPM_CONFIG_REGISTRY (mirrors).
# Takes ~5 s and ~190 MB the first time; a second run is a no-op.
set -euo pipefail

NODE_VERSION="${NODE_VERSION:-24.22.3}"
MAJOR="${NODE_VERSION%%.*}"
NODE_HOME="${NODE_HOME:-${MATHNOTES_CACHE:-$HOME/.cache/mathnotes}/node$MAJOR}"
MODE="${1:-}"
case "$MODE" in --env | "") ;; *) echo "usage: $0 [--env]" >&2; exit 2 ;; esac

case "$(uname -s)" in
  Linux) OS=linux ;;
  Darwin) OS=darwin ;;
  *) echo "install-node: unsupported system $(uname -s)" >&2; exit 1 ;;
esac
case "$(uname -m)" in
  x86_64 | amd64) ARCH=x64 ;;
  aarch64 | arm64) ARCH=arm64 ;;
  *) echo "install-node: unsupported machine $(uname -m)" >&2; exit 1 ;;
esac
PKG="node-$OS-$ARCH"
DIR="$NODE_HOME/node_modules/$PKG"
BIN_DIR="$DIR/bin"

report() {
  if [ "$MODE" = --env ]; then
    # shellcheck disable=SC2016  # $PATH expands where the output is eval-ed
    printf 'export PATH=%q:"$PATH"\n' "$BIN_DIR"
    printf 'export npm_config_nodedir=%q\n' "$DIR"
  else
    echo "$BIN_DIR"
  fi
}

installed() { [ -x "$BIN_DIR/node" ] && [ "$("$BIN_DIR/node" --version 2>/dev/null)" = "v$NODE_VERSION" ] && [ -f "$DIR/include/node/node.h" ]; }

# shellcheck source=scripts/cache-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/cache-lib.sh"
cached_or_locked "$NODE_HOME"

command -v npm >/dev/null || { echo "install-node: npm not found (any Node.js with npm will do)" >&2; exit 1; }
cat > "$NODE_HOME/package.json" <<JSON
{ "name": "mathnotes-node-runtime", "private": true, "dependencies": { "$PKG": "$NODE_VERSION" } }
JSON
echo "install-node: installing Node.js $NODE_VERSION ($PKG) into $NODE_HOME" >&2
(cd "$NODE_HOME" && npm install --no-audit --no-fund --ignore-scripts --loglevel=error >&2)
installed || { echo "install-node: $BIN_DIR/node is not Node.js v$NODE_VERSION with headers" >&2; exit 1; }
report
