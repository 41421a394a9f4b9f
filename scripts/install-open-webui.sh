#!/usr/bin/env bash
# Install Open WebUI (pinned) from PyPI into a venv in a cache folder outside the repo, idempotently.
#
#   scripts/install-open-webui.sh     -> prints the open-webui binary path on its last line
#
# Where:   ${OPENWEBUI_HOME:-${MATHNOTES_CACHE:-$HOME/.cache/mathnotes}/openwebui-$OPENWEBUI_VERSION}
# Version: ${OPENWEBUI_VERSION:-0.12.4} (what tests/openwebui runs our tools in, and compose pins).
# Python:  ${OPENWEBUI_PYTHON}, else the first python3.11 / python3.12 on PATH (open-webui 0.12 requires
#          >=3.11,<3.13).
# Honours PIP_INDEX_URL (mirrors) and a pip constraints file (PIP_CONSTRAINT, /etc/xdg/pip) that
# caps torch: Open WebUI pulls torch through sentence-transformers, so this is the bulk of it.
# Takes ~7-9 minutes and 7.4 GB the first time (torch 2.14.1 with its CUDA libraries, pulled in by
# sentence-transformers); a second run is a no-op.
set -euo pipefail

OPENWEBUI_VERSION="${OPENWEBUI_VERSION:-0.12.4}"
OPENWEBUI_HOME="${OPENWEBUI_HOME:-${MATHNOTES_CACHE:-$HOME/.cache/mathnotes}/openwebui-$OPENWEBUI_VERSION}"
PYTHON="${OPENWEBUI_PYTHON:-$(command -v python3.11 || command -v python3.12 || echo python3.11)}"
STAMP="$OPENWEBUI_HOME/.installed-$OPENWEBUI_VERSION"
BIN="$OPENWEBUI_HOME/venv/bin/open-webui"

installed() { [ -f "$STAMP" ] && [ -x "$BIN" ]; }
report() { echo "$BIN"; }
# shellcheck source=scripts/cache-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/cache-lib.sh"
cached_or_locked "$OPENWEBUI_HOME"

command -v "$PYTHON" >/dev/null || { echo "install-open-webui: $PYTHON not found (set OPENWEBUI_PYTHON)" >&2; exit 1; }
echo "install-open-webui: installing open-webui==$OPENWEBUI_VERSION into $OPENWEBUI_HOME (takes several minutes, ~7 GB)" >&2
[ -x "$OPENWEBUI_HOME/venv/bin/pip" ] || "$PYTHON" -m venv "$OPENWEBUI_HOME/venv"
"$OPENWEBUI_HOME/venv/bin/pip" install --quiet --disable-pip-version-check --no-input \
  "open-webui==$OPENWEBUI_VERSION" >&2
# the package imports (a broken wheel set fails here, not in the first test)
"$OPENWEBUI_HOME/venv/bin/python" -c "import open_webui" >&2
rm -f "$OPENWEBUI_HOME"/.installed-*
touch "$STAMP"
echo "$BIN"
