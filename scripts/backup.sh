#!/usr/bin/env bash
# Back up the production stack's state into one dated folder, consistently, and prune old backups.
#
#   scripts/backup.sh [DEST [PART...]]   DEST defaults to /var/backups/mathnotes; PARTs default to all:
#                                        influxdb postgres notes n8n-data grafana-data nodered-data
#                                        openwebui-data mosquitto-data
#
# How each part stays consistent while the stack runs:
#   influxdb        `influx backup` (InfluxDB 2.x snapshots its data and metadata itself)
#   postgres        `pg_dump -Fc` of n8n's database (one transaction's snapshot)
#   notes           `pg_dump -Fc` of the notes library's database, mathnotes (the same; as the server's
#                   superuser, so its extension, grants and Grafana's event trigger come along). With the
#                   library on a managed PostgreSQL (NOTES_DATABASE_URL), leave this part out: back it up there
#   *-data volumes  `python -m mathnotes.backup archive` in a throw-away container of our app image:
#                   SQLite databases (grafana.db, webui.db, n8n's database.sqlite if used) through
#                   SQLite's online backup API, checked with quick_check; other files as they are
#   mosquitto-data  SIGUSR1 first: the broker rewrites mosquitto.db (autosave is every 30 s
#                   otherwise); the archive waits for that new file, which holds every message queued
#                   before the signal
# Restore with scripts/restore.sh. Settings: ENV_FILE (.env), KEEP_DAYS (14), HELPER_IMAGE (default:
# mathnotes/app of the current release), FRESH_TIMEOUT (60 s for the broker's save).
# Cron example (03:30 daily):  30 3 * * * cd /opt/mathnotes && scripts/backup.sh >> /var/log/mathnotes-backup.log 2>&1
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
shopt -s inherit_errexit
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DEST="${1:-/var/backups/mathnotes}"
KEEP_DAYS="${KEEP_DAYS:-14}"
FRESH_TIMEOUT="${FRESH_TIMEOUT:-60}"
PARTS=("${@:2}")
[ "${#PARTS[@]}" -gt 0 ] || PARTS=(influxdb postgres notes "${VOLUMES[@]}")

use_current_release
require_env_file
command -v docker >/dev/null || die "docker is not installed"
for part in "${PARTS[@]}"; do
  case "$part" in influxdb|postgres|notes) ;; *) volume_service "$part" >/dev/null || die "unknown part: $part" ;; esac
done
HELPER="$(helper_image)"
umask 077
mkdir -p "$DEST"
DEST="$(cd "$DEST" && pwd)"
OUT="$DEST/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir "$OUT"

for part in "${PARTS[@]}"; do
  case "$part" in
    influxdb)
      say "InfluxDB -> $OUT/influxdb"
      # shellcheck disable=SC2016  # expanded inside the container, where the token variable lives
      dc exec -T influxdb sh -c 'rm -rf /tmp/mathnotes-backup && influx backup /tmp/mathnotes-backup -t "$DOCKER_INFLUXDB_INIT_ADMIN_TOKEN" >/dev/null'
      dc cp influxdb:/tmp/mathnotes-backup "$OUT/influxdb"
      dc exec -T influxdb rm -rf /tmp/mathnotes-backup
      ;;
    postgres)
      say "n8n database -> $OUT/n8n-postgres.dump"
      dc exec -T postgres pg_dump -U n8n -d n8n -Fc > "$OUT/n8n-postgres.dump"
      ;;
    notes)
      say "notes library -> $OUT/notes-postgres.dump"
      dc exec -T postgres pg_dump -U n8n -d mathnotes -Fc > "$OUT/notes-postgres.dump"
      ;;
    mosquitto-data)
      say "volume $part -> $OUT/$part.tar.gz (after the broker saved its queues)"
      since="$(date +%s.%N)"
      dc kill -s SIGUSR1 mosquitto
      in_volume "$part" "$OUT:/backup" -- archive /data "/backup/$part.tar.gz" \
        --fresh mosquitto.db --since "$since" --timeout "$FRESH_TIMEOUT"
      ;;
    *)
      say "volume $part -> $OUT/$part.tar.gz"
      in_volume "$part" "$OUT:/backup" -- archive /data "/backup/$part.tar.gz"
      ;;
  esac
done

write_sums "$OUT"
say "backup complete: $OUT ($(du -sh "$OUT" | cut -f1))"

if [ "$KEEP_DAYS" -gt 0 ]; then
  find "$DEST" -mindepth 1 -maxdepth 1 -type d -name '20*T*Z' -mtime "+$KEEP_DAYS" -print -exec rm -rf {} +
fi
