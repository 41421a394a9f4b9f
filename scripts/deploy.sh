#!/usr/bin/env bash
# Build and roll out the production stack with a health gate and automatic rollback.
#
#   scripts/deploy.sh [TAG]     build images tagged TAG (default: the git commit), replace the
#                               containers, wait until every service is healthy and nginx routes
#                               /health and /api/ingest; on failure, bring back the previous tag
#   scripts/deploy.sh rollback  go back to the previous successful tag
#   scripts/deploy.sh status    the current and previous tags and the services' health
#
# Settings (environment): ENV_FILE (.env), HEALTH_TIMEOUT (seconds, 300), KEEP_IMAGES (3 tags
# kept for rollbacks), SKIP_BUILD=1 (images already built or loaded). Tags live in .deploy/.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STATE_DIR="$ROOT/.deploy"
HEALTH_TIMEOUT="${HEALTH_TIMEOUT:-300}"
KEEP_IMAGES="${KEEP_IMAGES:-3}"
OUR_IMAGES=(mathnotes/app mathnotes/nginx mathnotes/n8n)

current_tag() { cat "$STATE_DIR/current-tag" 2>/dev/null || true; }
previous_tag() { cat "$STATE_DIR/previous-tag" 2>/dev/null || true; }

# every container of the project healthy (or finished one-shot jobs), within HEALTH_TIMEOUT
wait_healthy() {
  local deadline=$((SECONDS + HEALTH_TIMEOUT)) ids id state pending
  while :; do
    mapfile -t ids < <(dc ps --all -q)
    pending=()
    for id in "${ids[@]}"; do
      state="$(docker inspect --format '{{.Name}} {{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' "$id")"
      case "$state" in
        *" healthy") ;;
        *" unhealthy"|*" exited"|*" dead") echo "  $state"; pending+=("$state") ;;
        *) pending+=("$state") ;;
      esac
    done
    if [ "${#ids[@]}" -gt 0 ] && [ "${#pending[@]}" -eq 0 ]; then
      return 0
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "not healthy after ${HEALTH_TIMEOUT}s: ${pending[*]:-no containers}" >&2
      return 1
    fi
    sleep 5
  done
}

# nginx answers over HTTPS on this box, and routes to the vision and ingest services
check_routes() {
  local domain code
  domain="$(env_get DOMAIN)"
  # containers may have new addresses: nginx resolves upstream names on (re)load
  dc exec -T nginx nginx -s reload
  sleep 2
  code="$(curl -sk -o /dev/null -w '%{http_code}' --resolve "$domain:443:127.0.0.1" "https://$domain/health")"
  case "$code" in 200|503) ;; *) echo "https://$domain/health answered $code" >&2; return 1 ;; esac
  code="$(curl -sk -o /dev/null -w '%{http_code}' --resolve "$domain:443:127.0.0.1" "https://$domain/api/ingest/health")"
  case "$code" in 2??|4??) ;; *) echo "https://$domain/api/ingest/ answered $code" >&2; return 1 ;; esac
  code="$(curl -s -o /dev/null -w '%{http_code}' --resolve "$domain:80:127.0.0.1" "http://$domain/")"
  [ "$code" = 301 ] || { echo "http://$domain/ answered $code instead of a redirect" >&2; return 1; }
}

roll_out() {
  local tag="$1"
  say "starting the stack with images tagged $tag"
  MATHNOTES_TAG="$tag" dc up -d --remove-orphans
  say "waiting until every service is healthy (up to ${HEALTH_TIMEOUT}s)"
  MATHNOTES_TAG="$tag" wait_healthy && check_routes
}

prune_images() {
  local image keep=()
  mapfile -t keep < <(printf '%s\n' "$(current_tag)" "$(previous_tag)")
  for image in "${OUR_IMAGES[@]}"; do
    docker image ls "$image" --format '{{.Tag}}' | tail -n "+$((KEEP_IMAGES + 1))" | while read -r tag; do
      if ! printf '%s\n' "${keep[@]}" | grep -qx "$tag"; then
        docker image rm "$image:$tag" >/dev/null 2>&1 || true
      fi
    done
  done
}

deploy() {
  local tag="${1:-}" before
  require_env_file
  [ -n "$tag" ] || tag="$(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null || date -u +%Y%m%d%H%M%S)"
  before="$(current_tag)"
  mkdir -p "$STATE_DIR"
  if [ "${SKIP_BUILD:-0}" != 1 ]; then
    say "building images $tag"
    MATHNOTES_TAG="$tag" dc build --pull
  fi
  if roll_out "$tag"; then
    [ -n "$before" ] && [ "$before" != "$tag" ] && echo "$before" > "$STATE_DIR/previous-tag"
    echo "$tag" > "$STATE_DIR/current-tag"
    prune_images
    say "deployed $tag"
    return 0
  fi
  warn "deployment of $tag failed the health gate"
  dc ps || true
  dc logs --tail 30 || true
  if [ -n "$before" ] && [ "$before" != "$tag" ]; then
    warn "rolling back to $before"
    if roll_out "$before"; then
      die "rolled back to $before; $tag was not deployed"
    fi
    die "rollback to $before is not healthy either: look at 'docker compose logs'"
  fi
  die "no previous deployment to roll back to"
}

rollback() {
  local prev
  require_env_file
  prev="$(previous_tag)"
  [ -n "$prev" ] || die "no previous tag in $STATE_DIR"
  roll_out "$prev" || die "rollback to $prev is not healthy"
  current_tag > "$STATE_DIR/previous-tag"
  echo "$prev" > "$STATE_DIR/current-tag"
  say "rolled back to $prev"
}

status() {
  echo "current:  $(current_tag)"
  echo "previous: $(previous_tag)"
  dc ps
}

command -v docker >/dev/null || die "docker is not installed (scripts/setup-server.sh)"
case "${1:-}" in
  rollback) rollback ;;
  status) status ;;
  -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' ;;
  *) deploy "${1:-}" ;;
esac
