#!/bin/sh
# InfluxDB 2.8 first-start hook (after 10-mathnotes-influxql.sh): the least-privilege tokens.
#
# The operator token (INFLUX_TOKEN, DOCKER_INFLUXDB_INIT_ADMIN_TOKEN) stays with InfluxDB and you; the
# services get a token that can do only their job, each written to its own folder, a volume that only
# its readers mount (read-only):
#   $MATHNOTES_READ_TOKEN_DIR/token    read the bucket:  Grafana, the n8n daily digest
#   $MATHNOTES_WRITE_TOKEN_DIR/token   write the bucket: ingest, ingest-2
# (docker/influxdb/with-token.sh hands the file to the service as INFLUX_TOKEN at its start.) Next to each
# token, DIR/id holds its authorization ID (not a secret).
#
# Safe to run again, and run it again after restoring InfluxDB from a backup or when a volume was lost:
#   docker compose -p mathnotes -f docker-compose.prod.yml exec influxdb /docker-entrypoint-initdb.d/20-mathnotes-tokens.sh
# A token file whose token InfluxDB still knows is kept; otherwise a new token is created and written
# (then restart its readers). Tokens are never printed.
#
# "Still knows" is decided by the authorization ID in DIR/id, so it holds with hashed tokens too
# (InfluxDB 2.8 with INFLUXD_USE_HASHED_TOKENS=true, 2.9 by default), where `influx auth list` no longer
# shows any token: the authorization must still exist and, where InfluxDB still shows its token, that token
# must be the file's. A token file without an id (written before ids were kept) is looked up by its token,
# which works only while tokens are not hashed, and its id is recorded: run this once before turning
# hashing on (DEPLOY.md, "InfluxDB versions").
set -eu

bucket="${DOCKER_INFLUXDB_INIT_BUCKET:?}"
org="${DOCKER_INFLUXDB_INIT_ORG:?}"
user="${DOCKER_INFLUXDB_INIT_USERNAME:?}"
bucket_id="${DOCKER_INFLUXDB_INIT_BUCKET_ID:-}"
if [ -z "$bucket_id" ]; then
    bucket_id="$(influx bucket list --org "$org" --name "$bucket" --hide-headers | cut -f1)"
fi
[ -n "$bucket_id" ] || { echo "tokens: bucket $bucket not found in org $org" >&2; exit 1; }

# the values of FIELD ("id", "token") in `influx auth ... --json` output (one object, or a list of them;
# the CLI prints one field per line)
json_values() {
    sed -n "s/^[[:space:]]*\"$1\": *\"\([^\"]*\)\".*/\1/p"
}

# the ID of the authorization whose token is $1, from `influx auth list --json` on stdin (empty if none)
id_of_token() {
    awk -v want="$1" '
        /^[ \t]*"id": *"/ { id = $0; sub(/^[ \t]*"id": *"/, "", id); sub(/".*/, "", id) }
        /^[ \t]*"token": *"/ { t = $0; sub(/^[ \t]*"token": *"/, "", t); sub(/".*/, "", t); if (t == want) print id }'
}

# known DIR: DIR/token is a token InfluxDB still holds (recording its authorization ID in DIR/id if missing)
known() {
    token="$(cat "$1/token")"
    if [ -s "$1/id" ]; then
        found="$(influx auth list --id "$(cat "$1/id")" --json 2>/dev/null)" || return 1
        shown="$(printf '%s\n' "$found" | json_values token)"
        [ -z "$shown" ] || [ "$shown" = "$token" ]
        return
    fi
    id="$(influx auth list --json | id_of_token "$token" | head -n 1)"
    [ -n "$id" ] || return 1
    printf '%s' "$id" > "$1/id"
    chmod 644 "$1/id"
}

# ensure DIR PERMISSION WHO: DIR/token holds a live token with PERMISSION (read or write) on the bucket
ensure() {
    dir="$1" permission="$2" who="$3"
    mkdir -p "$dir"
    umask 022
    if [ -s "$dir/token" ] && known "$dir"; then
        echo "tokens: $permission token for $who exists"
        return 0
    fi
    created="$(influx auth create --org "$org" --user "$user" --"$permission"-bucket "$bucket_id" \
        --description "mathnotes: $permission $bucket ($who)" --json)" || created=""
    token="$(printf '%s\n' "$created" | json_values token)"
    id="$(printf '%s\n' "$created" | json_values id)"
    if [ -z "$token" ] || [ -z "$id" ]; then
        echo "tokens: influx auth create gave no token for $who" >&2
        exit 1
    fi
    printf '%s' "$token" > "$dir/token.new"
    printf '%s' "$id" > "$dir/id.new"
    chmod 644 "$dir/token.new" "$dir/id.new"
    mv "$dir/token.new" "$dir/token"
    mv "$dir/id.new" "$dir/id"
    echo "tokens: $permission token for $who written to $dir/token (can only $permission bucket $bucket)"
}

ensure "${MATHNOTES_READ_TOKEN_DIR:-/etc/influxdb2/mathnotes-read}" read "Grafana, n8n"
ensure "${MATHNOTES_WRITE_TOKEN_DIR:-/etc/influxdb2/mathnotes-write}" write "ingest"
