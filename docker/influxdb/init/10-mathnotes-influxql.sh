#!/bin/sh
# InfluxDB 2.8 first-start hook (run by the influxdb image after DOCKER_INFLUXDB_INIT_MODE=setup,
# with the influx CLI already configured for the new instance).
#
# Makes InfluxQL work for the bucket: a DBRP mapping database "<bucket>" / retention policy
# "autogen" -> the bucket, which is what our dashboards, Node-RED flows and the services' reads
# query; and a read-only v1 user (INFLUX_V1_USER / INFLUX_V1_PASSWORD) for InfluxQL clients that speak
# user/password instead of a token (the Open WebUI telemetry tool: INFLUX_TOKEN valve "user:password").
# Safe to run again: existing mappings and users are kept.
set -eu

bucket="${DOCKER_INFLUXDB_INIT_BUCKET:?}"
org="${DOCKER_INFLUXDB_INIT_ORG:?}"
bucket_id="${DOCKER_INFLUXDB_INIT_BUCKET_ID:-}"
if [ -z "$bucket_id" ]; then
    bucket_id="$(influx bucket list --org "$org" --name "$bucket" --hide-headers | cut -f1)"
fi

if influx v1 dbrp list --org "$org" --db "$bucket" --hide-headers 2>/dev/null | grep -q .; then
    echo "influxql: DBRP mapping for database $bucket exists"
else
    influx v1 dbrp create --org "$org" --bucket-id "$bucket_id" --db "$bucket" --rp autogen --default
    echo "influxql: database $bucket / rp autogen -> bucket $bucket"
fi

if [ -n "${INFLUX_V1_USER:-}" ] && [ -n "${INFLUX_V1_PASSWORD:-}" ]; then
    if influx v1 auth list --org "$org" --user "$INFLUX_V1_USER" --hide-headers 2>/dev/null | grep -q .; then
        echo "influxql: v1 user $INFLUX_V1_USER exists"
    else
        influx v1 auth create --org "$org" --username "$INFLUX_V1_USER" --password "$INFLUX_V1_PASSWORD" \
            --read-bucket "$bucket_id" >/dev/null
        echo "influxql: v1 user $INFLUX_V1_USER can read $bucket"
    fi
fi
