#!/bin/sh
# n8n container entry point (docker/n8n/Dockerfile), idempotent:
#   every start: copies our community package n8n-nodes-mathnotes into ~/.n8n/nodes/node_modules
#     (the folder lives in the n8n-data volume, so a new image brings its new package version);
#   first start only (no marker in the n8n-data volume):
#     1. imports the credentials our workflows name ("Math Notes API", "Chat model (OpenAI-compatible)",
#        "Math Notes webhook key", "InfluxDB read token"), filled from MATHNOTES_API_URL / MATHNOTES_API_KEY /
#        MATHNOTES_CHAT_BASE_URL / MATHNOTES_CHAT_API_KEY / MATHNOTES_WEBHOOK_TOKEN and the read-only
#        InfluxDB token in MATHNOTES_INFLUX_TOKEN_FILE;
#     2. imports /opt/mathnotes/workflows/*.json, inactive (n8n links the credentials by name), with
#        their Config nodes filled from MATHNOTES_CHAT_MODEL, MATHNOTES_NOTIFY_URL, MATHNOTES_INFLUX_URL,
#        MATHNOTES_INFLUX_DB, MATHNOTES_DEVICE_TAG (prepare-import.mjs): the workflows never read $env,
#        which n8n 2.x blocks (N8N_BLOCK_ENV_ACCESS_IN_NODE stays true);
#        later changes to credentials and settings are made in the editor, which this script never overwrites;
#     3. notes their ids in ~/.n8n/.mathnotes-activate;
#   in the background (setup-owner.mjs): once n8n answers, creates the owner from N8N_OWNER_EMAIL /
#   N8N_OWNER_PASSWORD when the instance has none, and publishes (activates) the noted workflows
#   (a failure is retried at the next start; a workflow you unpublish later stays unpublished);
#   then hands over to the image's own entry point (n8n start) without the credentials' seeds
#   (MATHNOTES_API_KEY, MATHNOTES_CHAT_API_KEY, MATHNOTES_WEBHOOK_TOKEN, MATHNOTES_INFLUX_TOKEN) and the
#   owner's password: they are in n8n's encrypted database by then.
set -eu

HERE="$(dirname "$0")"
DATA="${N8N_USER_FOLDER:-/home/node}/.n8n"
MARKER="$DATA/.mathnotes-imported"
PENDING="$DATA/.mathnotes-activate"
WORKFLOWS="${MATHNOTES_WORKFLOWS_DIR:-/opt/mathnotes/workflows}"
PACKAGE="${MATHNOTES_N8N_PACKAGE:-/opt/mathnotes/n8n-nodes-mathnotes}"

log() { echo "n8n-entrypoint: $*" >&2; }

mkdir -p "$DATA"

if [ -f "$PACKAGE/package.json" ]; then
    mkdir -p "$DATA/nodes/node_modules"
    rm -rf "$DATA/nodes/node_modules/n8n-nodes-mathnotes"
    cp -R "$PACKAGE" "$DATA/nodes/node_modules/n8n-nodes-mathnotes"
    log "community package n8n-nodes-mathnotes $(node -p "require('$PACKAGE/package.json').version") in $DATA/nodes"
fi

# first_start STAGING: import credentials and workflows; fails (to be retried next start) on any error
first_start() {
    log "first start: $(node "$HERE/prepare-import.mjs" "$WORKFLOWS" "$1") to import"
    n8n import:credentials --input="$1/credentials.json" || return 1
    if [ -n "$(ls "$1/workflows")" ]; then
        n8n import:workflow --separate --input="$1/workflows" || return 1
    fi
    cp "$1/activate" "$PENDING"
    date -u +%FT%TZ > "$MARKER"
    log "imported; workflows to activate: $(tr '\n' ' ' < "$PENDING")"
}

# the daily digest reads InfluxDB with the read-only token docker/influxdb/init/20-mathnotes-tokens.sh wrote
# (MATHNOTES_INFLUX_TOKEN_FILE): the first start puts it in the "InfluxDB read token" credential
if [ -n "${MATHNOTES_INFLUX_TOKEN_FILE:-}" ]; then
    if [ -s "$MATHNOTES_INFLUX_TOKEN_FILE" ]; then
        MATHNOTES_INFLUX_TOKEN="$(cat "$MATHNOTES_INFLUX_TOKEN_FILE")"
        export MATHNOTES_INFLUX_TOKEN
    elif [ ! -f "$MARKER" ]; then
        log "$MATHNOTES_INFLUX_TOKEN_FILE is missing or empty: the daily digest cannot read InfluxDB until its \"InfluxDB read token\" credential is set (DEPLOY.md)"
    fi
    unset MATHNOTES_INFLUX_TOKEN_FILE
fi

if [ ! -f "$MARKER" ]; then
    staging="$(mktemp -d)"
    first_start "$staging" || log "first-start import failed; it is retried at the next start"
    rm -rf "$staging"
fi

if [ -n "${N8N_OWNER_EMAIL:-}" ] && [ -n "${N8N_OWNER_PASSWORD:-}" ]; then
    MATHNOTES_ACTIVATE_FILE="$PENDING" node "$HERE/setup-owner.mjs" &
else
    log "N8N_OWNER_EMAIL / N8N_OWNER_PASSWORD not set: create the owner in the editor"
fi

unset MATHNOTES_API_KEY MATHNOTES_CHAT_API_KEY MATHNOTES_WEBHOOK_TOKEN MATHNOTES_INFLUX_TOKEN N8N_OWNER_PASSWORD
exec "${N8N_IMAGE_ENTRYPOINT:-/docker-entrypoint.sh}" "$@"
