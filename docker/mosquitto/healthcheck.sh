#!/bin/sh
# Container health probe: the broker answers an authenticated subscriber (user "health", whose
# random password entrypoint.sh wrote) with its $SYS uptime.
set -eu
DIR="${MOSQUITTO_CONFIG_DIR:-/mosquitto/config}"
# shellcheck disable=SC2016  # $SYS is a literal MQTT topic
exec mosquitto_sub -h "${MQTT_HEALTH_HOST:-127.0.0.1}" -p "${MQTT_HEALTH_PORT:-1883}" \
    -u health -P "$(cat "$DIR/health.pw")" -t '$SYS/broker/uptime' -C 1 -W 5
