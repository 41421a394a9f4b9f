#!/usr/bin/env bash
# Back up the production stack's state into one dated folder, and prune old backups.
#
#   scripts/backup.sh [DEST]      DEST defaults to /var/backups/mathnotes
#
# What: an InfluxDB backup (influx backup, all buckets and metadata), n8n's PostgreSQL database
# (pg_dump custom format) and its data volume (encryption key, community packages), the Grafana,
# Node-RED, Open WebUI and Mosquitto volumes (tar.gz). Restore notes are in DEPLOY.md.
# Settings: ENV_FILE (.env), KEEP_DAYS (14), HELPER_IMAGE (alpine:3.20.3, for reading volumes).
# Cron example (03:30 daily):  30 3 * * * cd /opt/mathnotes && scripts/backup.sh >> /var/log/mathnotes-backup.log 2>&1
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DEST="${1:-/var/backups/mathnotes}"
KEEP_DAYS="${KEEP_DAYS:-14}"
HELPER_IMAGE="${HELPER_IMAGE:-alpine:3.20.3}"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
OUT="$DEST/$STAMP"
VOLUMES=(n8n-data grafana-data nodered-data openwebui-data mosquitto-data)

require_env_file
command -v docker >/dev/null || die "docker is not installed"
umask 077
mkdir -p "$OUT"

say "InfluxDB -> $OUT/influxdb"
# shellcheck disable=SC2016  # expanded inside the container, where the token variable lives
dc exec -T influxdb sh -c 'rm -rf /tmp/mathnotes-backup && influx backup /tmp/mathnotes-backup -t "$DOCKER_INFLUXDB_INIT_ADMIN_TOKEN" >/dev/null'
dc cp influxdb:/tmp/mathnotes-backup "$OUT/influxdb"
dc exec -T influxdb rm -rf /tmp/mathnotes-backup

say "n8n database -> $OUT/n8n-postgres.dump"
dc exec -T postgres pg_dump -U n8n -d n8n -Fc > "$OUT/n8n-postgres.dump"

for volume in "${VOLUMES[@]}"; do
  say "volume $volume -> $OUT/$volume.tar.gz"
  docker run --rm -v "${PROJECT}_${volume}:/data:ro" -v "$OUT:/backup" "$HELPER_IMAGE" \
    tar -czf "/backup/$volume.tar.gz" -C /data .
done

sums="$(cd "$OUT" && find . -type f -exec sha256sum {} +)"
printf '%s\n' "$sums" > "$OUT/SHA256SUMS"
say "backup complete: $OUT ($(du -sh "$OUT" | cut -f1))"

if [ "$KEEP_DAYS" -gt 0 ]; then
  find "$DEST" -mindepth 1 -maxdepth 1 -type d -name '20*T*Z' -mtime "+$KEEP_DAYS" -print -exec rm -rf {} +
fi
