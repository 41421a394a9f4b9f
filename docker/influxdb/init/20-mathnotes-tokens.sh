#!/bin/sh
# InfluxDB 2.7 first-start hook (after 10-mathnotes-influxql.sh): the least-privilege tokens.
#
# The operator token (INFLUX_TOKEN, DOCKER_INFLUXDB_INIT_ADMIN_TOKEN) stays with InfluxDB and you; the
# services get a token that can do only their job, each written to its own folder, a volume that only
# its readers mount (read-only):
#   $MATHNOTES_READ_TOKEN_DIR/token    read the bucket:  Grafana, the n8n daily digest
#   $MATHNOTES_WRITE_TOKEN_DIR/token   write the bucket: ingest, ingest-2
# (docker/influxdb/with-token.sh hands the file to the service as INFLUX_TOKEN at its start.)
#
# Safe to run again, and run it again after restoring InfluxDB from a backup or when a volume was lost:
#   docker compose -p mathnotes -f docker-compose.prod.yml exec influxdb /docker-entrypoint-initdb.d/20-mathnotes-tokens.sh
# A token file whose token InfluxDB still knows is kept; otherwise a new token is created and written
# (then restart its readers). Tokens are never printed.
set -eu

bucket="${DOCKER_INFLUXDB_INIT_BUCKET:?}"
org="${DOCKER_INFLUXDB_INIT_ORG:?}"
user="${DOCKER_INFLUXDB_INIT_USERNAME:?}"
bucket_id="${DOCKER_INFLUXDB_INIT_BUCKET_ID:-}"
if [ -z "$bucket_id" ]; then
    bucket_id="$(influx bucket list --org "$org" --name "$bucket" --hide-headers | cut -f1)"
fi
[ -n "$bucket_id" ] || { echo "tokens: bucket $bucket not found in org $org" >&2; exit 1; }

# the value of "token" in `influx auth ... --json` output (one object, or a list of them)
json_tokens() {
    sed -n 's/.*"token": *"\([^"]*\)".*/\1/p'
}

# ensure DIR PERMISSION WHO: DIR/token holds a live token with PERMISSION (read or write) on the bucket
ensure() {
    dir="$1" permission="$2" who="$3"
    mkdir -p "$dir"
    if [ -s "$dir/token" ] && influx auth list --json | json_tokens | grep -qxF "$(cat "$dir/token")"; then
        echo "tokens: $permission token for $who exists"
        return 0
    fi
    created="$(influx auth create --org "$org" --user "$user" --"$permission"-bucket "$bucket_id" \
        --description "mathnotes: $permission $bucket ($who)" --json | json_tokens)"
    if [ -z "$created" ]; then
        echo "tokens: influx auth create gave no token for $who" >&2
        exit 1
    fi
    umask 022
    printf '%s' "$created" > "$dir/token.new"
    chmod 644 "$dir/token.new"
    mv "$dir/token.new" "$dir/token"
    echo "tokens: $permission token for $who written to $dir/token (can only $permission bucket $bucket)"
}

ensure "${MATHNOTES_READ_TOKEN_DIR:-/etc/influxdb2/mathnotes-read}" read "Grafana, n8n"
ensure "${MATHNOTES_WRITE_TOKEN_DIR:-/etc/influxdb2/mathnotes-write}" write "ingest"
