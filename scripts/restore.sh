#!/usr/bin/env bash
# Restore a backup made by scripts/backup.sh into the running stack.
#
#   scripts/restore.sh BACKUP_DIR [PART...]   PARTs default to every part the backup holds:
#                                             influxdb postgres notes n8n-data grafana-data nodered-data
#                                             openwebui-data mosquitto-data
#
# First checks every file against the backup's SHA256SUMS. Then, per part:
#   *-data volumes  stop the service writing the volume, empty it and unpack the archive into it
#                   (`python -m mathnotes.backup restore`, owners and modes as archived), start it
#   influxdb        `influx restore --full`: replaces all InfluxDB data and metadata, tokens included
#                   (INFLUX_TOKEN in .env must be the backed-up install's admin token)
#   postgres        stop n8n, `pg_restore --clean --if-exists` into its database, start n8n
#   notes           stop vision, `pg_restore --clean --if-exists --single-transaction` into the library's
#                   database as the superuser (owners and grants as they were; all or nothing), start vision.
#                   The database and its roles must exist: docker/postgres/init/20-mathnotes.sh makes them
# Whatever the part held after the backup was taken is lost: take a fresh backup first if unsure.
# Settings: ENV_FILE (.env), HELPER_IMAGE (default: mathnotes/app of the current release).
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
shopt -s inherit_errexit
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ "$#" -ge 1 ] || die "usage: scripts/restore.sh BACKUP_DIR [PART...]"
[ -d "$1" ] || die "no backup folder $1"
BACKUP="$(cd "$1" && pwd)"
PARTS=("${@:2}")

use_current_release
require_env_file
command -v docker >/dev/null || die "docker is not installed"
[ -f "$BACKUP/SHA256SUMS" ] || die "$BACKUP has no SHA256SUMS: not a backup.sh folder"
sums_match "$BACKUP" || die "$BACKUP does not match its SHA256SUMS"

if [ "${#PARTS[@]}" -eq 0 ]; then
  if [ -d "$BACKUP/influxdb" ]; then PARTS+=(influxdb); fi
  if [ -f "$BACKUP/n8n-postgres.dump" ]; then PARTS+=(postgres); fi
  if [ -f "$BACKUP/notes-postgres.dump" ]; then PARTS+=(notes); fi
  for volume in "${VOLUMES[@]}"; do
    if [ -f "$BACKUP/$volume.tar.gz" ]; then PARTS+=("$volume"); fi
  done
  [ "${#PARTS[@]}" -gt 0 ] || die "$BACKUP holds no part to restore"
fi
for part in "${PARTS[@]}"; do
  case "$part" in
    influxdb) [ -d "$BACKUP/influxdb" ] || die "$BACKUP has no influxdb/" ;;
    postgres) [ -f "$BACKUP/n8n-postgres.dump" ] || die "$BACKUP has no n8n-postgres.dump" ;;
    notes) [ -f "$BACKUP/notes-postgres.dump" ] || die "$BACKUP has no notes-postgres.dump" ;;
    *)
      volume_service "$part" >/dev/null || die "unknown part: $part"
      [ -f "$BACKUP/$part.tar.gz" ] || die "$BACKUP has no $part.tar.gz"
      ;;
  esac
done
HELPER="$(helper_image)"

for part in "${PARTS[@]}"; do
  case "$part" in
    influxdb)
      say "InfluxDB <- $BACKUP/influxdb"
      dc exec -T influxdb rm -rf /tmp/mathnotes-restore
      dc cp "$BACKUP/influxdb" influxdb:/tmp/mathnotes-restore
      # shellcheck disable=SC2016  # expanded inside the container, where the token variable lives
      dc exec -T influxdb sh -c 'influx restore /tmp/mathnotes-restore --full -t "$DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"'
      dc exec -T influxdb rm -rf /tmp/mathnotes-restore
      # the restore replaced the tokens: make sure the services' least-privilege ones exist, then restart their readers
      dc exec -T influxdb /docker-entrypoint-initdb.d/20-mathnotes-tokens.sh
      dc restart ingest ingest-2 grafana n8n
      ;;
    postgres)
      say "n8n database <- $BACKUP/n8n-postgres.dump"
      dc stop n8n
      dc exec -T postgres pg_restore -U n8n -d n8n --clean --if-exists --no-owner < "$BACKUP/n8n-postgres.dump"
      dc start n8n
      ;;
    notes)
      say "notes library <- $BACKUP/notes-postgres.dump"
      dc stop vision
      dc exec -T postgres pg_restore -U n8n -d mathnotes --clean --if-exists --single-transaction < "$BACKUP/notes-postgres.dump"
      dc start vision
      ;;
    *)
      service="$(volume_service "$part")"
      say "volume $part <- $BACKUP/$part.tar.gz ($service stopped meanwhile)"
      dc stop "$service"
      in_volume "$part" "$BACKUP:/backup:ro" -- restore "/backup/$part.tar.gz" /data --replace
      dc start "$service"
      ;;
  esac
done
say "restored ${PARTS[*]} from $BACKUP"
