#!/usr/bin/env bash
# Sourced by scripts/install-*.sh: an install cached in a folder outside the repo, one installer at a time.
#
#   installed() { ...; }          # true when the cache already holds what is wanted
#   report() { ...; }             # prints what the caller asked for (a binary's path, ...)
#   cached_or_locked "$HOME_DIR"  # done already: report and exit 0; else hold HOME_DIR's lock and return
#
# The check runs again once the lock is held: parallel test runs share the cache, and the second
# installer finds what the first one installed instead of installing it again.

cached_or_locked() {
  local dir="$1"
  if installed; then report; exit 0; fi
  mkdir -p "$dir"
  exec 9>"$dir/.install.lock"
  if command -v flock >/dev/null; then flock 9; fi
  if installed; then report; exit 0; fi
}
