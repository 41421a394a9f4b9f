#!/usr/bin/env bash
# Helpers shared by scripts/deploy.sh, backup.sh, init-env.sh and issue-certificate.sh (sourced).
# shellcheck disable=SC2034  # variables used by the scripts that source this file

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ENV_FILE="${ENV_FILE:-$ROOT/.env}"
COMPOSE_FILE="${COMPOSE_FILE:-$ROOT/docker-compose.prod.yml}"
PROJECT="${COMPOSE_PROJECT_NAME:-mathnotes}"

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
