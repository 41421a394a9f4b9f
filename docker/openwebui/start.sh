#!/bin/sh
# Open WebUI container start (docker-compose.prod.yml runs it as the command, in /app/backend):
#   1. create_admin.py creates the admin account from WEBUI_ADMIN_EMAIL / WEBUI_ADMIN_PASSWORD when the
#      instance has no user yet, so the first visitor cannot make themselves the admin and sign-up can
#      stay off (ENABLE_SIGNUP=false); a failure stops the start with its reason in the log;
#   2. hands over to the image's own start.sh.
set -eu

HERE="$(dirname "$0")"
python "$HERE/create_admin.py"
exec bash "${OPENWEBUI_START:-/app/backend/start.sh}" "$@"
