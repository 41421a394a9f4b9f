#!/usr/bin/env bash
# Helpers shared by scripts/deploy.sh, backup.sh, restore.sh, init-env.sh and issue-certificate.sh (sourced).
# shellcheck disable=SC2034  # variables used by the scripts that source this file

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ENV_FILE="${ENV_FILE:-$ROOT/.env}"
COMPOSE_FILE="${COMPOSE_FILE:-$ROOT/docker-compose.prod.yml}"
PROJECT="${COMPOSE_PROJECT_NAME:-mathnotes}"
# deploy.sh keeps one folder per release in $DEPLOY_DIR/releases/<id>/, "current" and "previous" link to them
DEPLOY_DIR="${DEPLOY_DIR:-$ROOT/.deploy}"

say() { printf '\033[1m==>\033[0m %s\n' "$*"; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() { printf '%s: %s\n' "$(basename "$0")" "$*" >&2; exit 1; }

# env_get NAME: the value of NAME in $ENV_FILE (last assignment wins; no shell evaluation)
env_get() {
  [ -f "$ENV_FILE" ] || return 0
  sed -n "s/^$1=//p" "$ENV_FILE" | tail -n 1 | sed -e 's/^"\(.*\)"$/\1/' -e "s/^'\(.*\)'$/\1/"
}

# dc ARGS...: docker compose on the production file and env file
dc() {
  docker compose -p "$PROJECT" -f "$COMPOSE_FILE" --env-file "$ENV_FILE" "$@"
}

require_env_file() {
  [ -f "$ENV_FILE" ] || die "no $ENV_FILE: cp docker/.env.production.example .env && scripts/init-env.sh"
}

# write_sums DIR: DIR/SHA256SUMS lists every other file below DIR, in name order (deploy.sh, backup.sh)
write_sums() {
  (cd "$1" && find . -type f ! -path ./SHA256SUMS -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum > SHA256SUMS)
}

# sums_match DIR: every file DIR/SHA256SUMS lists still has the bytes it had (deploy.sh, restore.sh)
sums_match() {
  (cd "$1" && sha256sum --quiet --strict -c SHA256SUMS)
}

# release_id LINK: the release "current" or "previous" points at (empty when none)
release_id() {
  local target
  target="$(readlink "$DEPLOY_DIR/$1" 2>/dev/null)" || return 0
  basename "$target"
}

# release_tag ID: the image tag a release was deployed with
release_tag() {
  sed -n 's/^tag=//p' "$DEPLOY_DIR/releases/$1/RELEASE"
}

# use_release ID: compose from that release's own compose file and .env, in its folder
use_release() {
  RELEASE_DIR="$DEPLOY_DIR/releases/$1"
  [ -f "$RELEASE_DIR/RELEASE" ] || die "no release $1 in $DEPLOY_DIR/releases"
  COMPOSE_FILE="$RELEASE_DIR/docker-compose.prod.yml"
  ENV_FILE="$RELEASE_DIR/.env"
  cd "$RELEASE_DIR" || die "cannot enter $RELEASE_DIR"
}

# use_current_release: compose with the files of the release that runs, when deploy.sh made one
use_current_release() {
  local current
  current="$(release_id current)"
  if [ -n "$current" ]; then
    use_release "$current"
  fi
}

# the volumes backup.sh archives and restore.sh restores, and the service writing each of them
VOLUMES=(n8n-data grafana-data nodered-data openwebui-data mosquitto-data)
volume_service() {
  case "$1" in
    n8n-data) echo n8n ;;
    grafana-data) echo grafana ;;
    nodered-data) echo nodered ;;
    openwebui-data) echo openwebui ;;
    mosquitto-data) echo mosquitto ;;
    *) return 1 ;;
  esac
}

# helper_image: the image backup.sh and restore.sh run "python -m mathnotes.backup" in (HELPER_IMAGE, or
# the app image of the current release)
helper_image() {
  local current
  if [ -n "${HELPER_IMAGE:-}" ]; then
    echo "$HELPER_IMAGE"
    return 0
  fi
  current="$(release_id current)"
  [ -n "$current" ] || die "no release deployed (scripts/deploy.sh): set HELPER_IMAGE to an image of mathnotes/app"
  echo "mathnotes/app:$(release_tag "$current")"
}

# in_volume VOLUME MOUNT... -- ARGS: python -m mathnotes.backup ARGS in the helper image, the project's
# volume VOLUME at /data (read-write: SQLite's backup API takes locks) and each MOUNT (host:container[:ro])
in_volume() {
  local volume="$1" mounts=()
  shift
  while [ "$1" != "--" ]; do
    mounts+=(-v "$1")
    shift
  done
  shift
  docker run --rm --user 0 --entrypoint python -v "${PROJECT}_$volume:/data" "${mounts[@]}" "${HELPER:?the calling script sets HELPER from helper_image}" \
    -m mathnotes.backup "$@"
}
