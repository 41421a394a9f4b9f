#!/bin/sh
# with-token.sh VAR FILE COMMAND [ARG...]: runs COMMAND with the environment variable VAR set to the
# content of FILE, so a token written by docker/influxdb/init/20-mathnotes-tokens.sh reaches a service
# without ever sitting in docker-compose.prod.yml's environment (or `docker inspect`). A missing or
# empty FILE stops the start with one line saying what to run.
set -eu

if [ "$#" -lt 3 ]; then
    echo "usage: with-token.sh VAR FILE COMMAND [ARG...]" >&2
    exit 2
fi
var="$1"
file="$2"
shift 2
if [ ! -s "$file" ]; then
    echo "with-token: $file is missing or empty: run docker/influxdb/init/20-mathnotes-tokens.sh in the influxdb container (DEPLOY.md)" >&2
    exit 1
fi
value="$(cat "$file")"
export "$var=$value"
exec "$@"
