#!/usr/bin/env bash
# Build and roll out the production stack as a release, with a health gate and automatic rollback.
#
#   scripts/deploy.sh [TAG]     snapshot this tree and .env into a new release folder, build its
#                               images tagged TAG (default: the git commit), start it, wait until
#                               every service is healthy and nginx routes /health and /api/ingest;
#                               on failure, start the current release again
#   scripts/deploy.sh rollback  start the previous release: its compose file, mounted config, .env
#                               and images (run it again to go forward)
#   scripts/deploy.sh status    the releases (current, previous) and the services' health
#
# A release is DEPLOY_DIR/releases/<UTC time>-<TAG>/: everything compose builds or mounts (this tree
# without .git, .venv, .stack and node_modules), the .env, RELEASE (tag, time) and SHA256SUMS.
# DEPLOY_DIR/current and DEPLOY_DIR/previous are symlinks to releases, switched atomically (rename)
# once a release is healthy; compose always runs from the release's own folder.
#
# Settings (environment): ENV_FILE (.env), DEPLOY_DIR (.deploy), HEALTH_TIMEOUT (seconds, 300),
# KEEP_RELEASES (5 newest kept, with their image tags, besides current and previous), SKIP_BUILD=1
# (images already built or loaded), CHECK_HTTP_PORT / CHECK_HTTPS_PORT (80 / 443: where the route
# check reaches nginx on this box).
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
shopt -s inherit_errexit
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

HEALTH_TIMEOUT="${HEALTH_TIMEOUT:-300}"
KEEP_RELEASES="${KEEP_RELEASES:-5}"
CHECK_HTTP_PORT="${CHECK_HTTP_PORT:-80}"
CHECK_HTTPS_PORT="${CHECK_HTTPS_PORT:-443}"
OUR_IMAGES=(mathnotes/app mathnotes/nginx mathnotes/n8n)
# what a release leaves out of the tree (the .env is copied on its own, mode 600)
EXCLUDES=(--exclude=./.git --exclude=./.venv --exclude=./.stack --exclude=./.env --exclude=./test-artifacts
  --exclude=node_modules --exclude=__pycache__ --exclude=.mypy_cache --exclude=.ruff_cache --exclude=.pytest_cache
  --exclude=.hypothesis)

RELEASES="$DEPLOY_DIR/releases"

# the releases folder, and DEPLOY_DIR as an absolute path (it is left out of the tree a release copies)
init_dirs() {
  mkdir -p "$DEPLOY_DIR/releases"
  DEPLOY_DIR="$(cd "$DEPLOY_DIR" && pwd)"
  RELEASES="$DEPLOY_DIR/releases"
}

# new_release TAG: copy this tree and the .env into a new release folder; prints its id
new_release() {
  local tag="$1" stamp id n=1 incoming
  stamp="$(date -u +%Y%m%dT%H%M%SZ)"
  id="$stamp-$tag"
  while [ -e "$RELEASES/$id" ]; do id="$stamp-$tag.$n"; n=$((n + 1)); done
  incoming="$RELEASES/.incoming-$id"
  rm -rf "$incoming"
  mkdir -p "$incoming"
  tar -C "$ROOT" "${EXCLUDES[@]}" --exclude="./${DEPLOY_DIR#"$ROOT"/}" -cf - . | tar -C "$incoming" -xpf -
  install -m 600 "$ENV_FILE" "$incoming/.env"
  printf 'tag=%s\ncreated=%s\nfrom=%s\n' "$tag" "$stamp" "$ROOT" > "$incoming/RELEASE"
  write_sums "$incoming"
  mv "$incoming" "$RELEASES/$id"
  echo "$id"
}

# verify_release ID: its files are still the bytes it was made with
verify_release() {
  sums_match "$RELEASES/$1" || die "release $1 was changed after it was made (SHA256SUMS): redeploy instead"
}

# release_ids: the releases' folder names, oldest first
release_ids() {
  find "$RELEASES" -mindepth 1 -maxdepth 1 -type d ! -name '.*' -printf '%f\n' | sort
}

# point LINK ID: switch the symlink LINK (current, previous) to release ID in one rename
point() {
  ln -sfn "releases/$2" "$DEPLOY_DIR/.$1.new"
  mv -Tf "$DEPLOY_DIR/.$1.new" "$DEPLOY_DIR/$1"
}

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
  dc exec -T nginx nginx -s reload || return 1
  sleep 2
  local https="$domain:$CHECK_HTTPS_PORT" http="$domain:$CHECK_HTTP_PORT"
  code="$(curl -sk -o /dev/null -w '%{http_code}' --resolve "$https:127.0.0.1" "https://$https/health")"
  case "$code" in 200|503) ;; *) echo "https://$domain/health answered $code" >&2; return 1 ;; esac
  code="$(curl -sk -o /dev/null -w '%{http_code}' --resolve "$https:127.0.0.1" "https://$https/api/ingest/health")"
  case "$code" in 2??|4??) ;; *) echo "https://$domain/api/ingest/ answered $code" >&2; return 1 ;; esac
  code="$(curl -s -o /dev/null -w '%{http_code}' --resolve "$http:127.0.0.1" "http://$http/")"
  [ "$code" = 301 ] || { echo "http://$domain/ answered $code instead of a redirect" >&2; return 1; }
}

# roll_out ID: start release ID from its own folder (compose file, config, .env) with its images
roll_out() {
  (
    use_release "$1"
    tag="$(release_tag "$1")"
    export MATHNOTES_TAG="$tag"
    say "starting release $1 (images $tag)"
    dc up -d --remove-orphans || exit 1
    say "waiting until every service is healthy (up to ${HEALTH_TIMEOUT}s)"
    wait_healthy && check_routes
  )
}

# prune: keep the KEEP_RELEASES newest releases, current and previous, and their images
prune() {
  local id image tag keep=() tags=()
  mapfile -t keep < <(
    release_ids | tail -n "$KEEP_RELEASES"
    release_id current
    release_id previous
  )
  while read -r id; do
    if ! printf '%s\n' "${keep[@]}" | grep -qxF "$id"; then
      rm -rf "${RELEASES:?}/$id"
    fi
  done < <(find "$RELEASES" -mindepth 1 -maxdepth 1 -type d -printf '%f\n')
  for id in "${keep[@]}"; do
    if [ -f "$RELEASES/$id/RELEASE" ]; then tags+=("$(release_tag "$id")"); fi
  done
  for image in "${OUR_IMAGES[@]}"; do
    docker image ls "$image" --format '{{.Tag}}' | while read -r tag; do
      if [ "$tag" != "<none>" ] && ! printf '%s\n' "${tags[@]}" | grep -qxF "$tag"; then
        docker image rm "$image:$tag" >/dev/null 2>&1 || true
      fi
    done
  done
}

deploy() {
  local tag="${1:-}" id before
  require_env_file
  [ -n "$tag" ] || tag="$(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null || date -u +%Y%m%d%H%M%S)"
  [[ "$tag" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,100}$ ]] || die "not a usable image tag: $tag"
  before="$(release_id current)"
  id="$(new_release "$tag")"
  say "release $id in $RELEASES/$id"
  if [ "${SKIP_BUILD:-0}" != 1 ]; then
    say "building images $tag"
    (use_release "$id" && MATHNOTES_TAG="$tag" dc build --pull) || die "building $id failed; nothing changed"
  fi
  if roll_out "$id"; then
    if [ -n "$before" ]; then
      point previous "$before"
    fi
    point current "$id"
    prune
    say "deployed $id"
    return 0
  fi
  warn "release $id failed the health gate"
  (use_release "$id" && dc ps && dc logs --tail 30) || true
  if [ -n "$before" ]; then
    warn "rolling back to $before"
    if roll_out "$before"; then
      die "rolled back to $before; $id was not deployed (its folder is kept to look at)"
    fi
    die "rollback to $before is not healthy either: look at 'docker compose logs'"
  fi
  die "no previous release to roll back to"
}

rollback() {
  local prev current
  prev="$(release_id previous)"
  current="$(release_id current)"
  [ -n "$prev" ] || die "no previous release in $DEPLOY_DIR"
  verify_release "$prev"
  if ! roll_out "$prev"; then
    warn "release $prev is not healthy; starting $current again"
    roll_out "$current" || die "$current is not healthy either: look at 'docker compose logs'"
    die "rollback to $prev failed; $current runs"
  fi
  point previous "$current"
  point current "$prev"
  say "rolled back to $prev"
}

status() {
  local id current previous mark
  current="$(release_id current)"
  previous="$(release_id previous)"
  while read -r id; do
    mark=""
    [ "$id" = "$current" ] && mark="current"
    [ "$id" = "$previous" ] && mark="previous"
    printf '%-9s %s (images %s)\n' "$mark" "$id" "$(release_tag "$id")"
  done < <(release_ids)
  [ -n "$current" ] || { echo "no release deployed yet"; return 0; }
  (use_release "$current" && dc ps)
}

case "${1:-}" in
  -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac
command -v docker >/dev/null || die "docker is not installed (scripts/setup-server.sh)"
init_dirs
case "${1:-}" in
  rollback) rollback ;;
  status) status ;;
  *) deploy "${1:-}" ;;
esac
