#!/usr/bin/env bash
# Fill every empty secret in an env file with a random value, idempotently.
#
#   cp docker/.env.production.example .env
#   scripts/init-env.sh [.env]
#
# Secrets are the variables whose names end in PASSWORD, SECRET, SECRET_KEY, TOKEN, ENCRYPTION_KEY,
# _API_KEYS (the keys the vision and ingest APIs accept) or VISION_API_KEY (the key each caller
# inside the stack sends to the vision API); values already set are never changed (changing
# N8N_ENCRYPTION_KEY or NODE_RED_CREDENTIAL_SECRET later would lose stored credentials). API keys
# of model providers (DASHSCOPE_API_KEY, DEEPSEEK_API_KEY, N8N_CHAT_API_KEY) are yours to fill in.
# The file ends up mode 600. Prints the names it generated, never the values.
set -euo pipefail

file="${1:-${ENV_FILE:-.env}}"
[ -f "$file" ] || { echo "init-env: $file not found (cp docker/.env.production.example $file)" >&2; exit 1; }
command -v openssl >/dev/null || { echo "init-env: openssl is needed" >&2; exit 1; }

secret_for() {
  case "$1" in
    N8N_OWNER_PASSWORD) printf 'Mn-%s-7Q' "$(openssl rand -hex 12)" ;;  # n8n wants a digit and a capital
    *) openssl rand -hex 24 ;;
  esac
}

tmp="$(mktemp "${file}.XXXXXX")"
trap 'rm -f "$tmp"' EXIT
generated=()
while IFS= read -r line || [ -n "$line" ]; do
  if [[ "$line" =~ ^([A-Z0-9_]*(PASSWORD|SECRET|SECRET_KEY|TOKEN|ENCRYPTION_KEY|_API_KEYS|VISION_API_KEY))=$ ]]; then
    name="${BASH_REMATCH[1]}"
    printf '%s=%s\n' "$name" "$(secret_for "$name")" >> "$tmp"
    generated+=("$name")
  else
    printf '%s\n' "$line" >> "$tmp"
  fi
done < "$file"
chmod 600 "$tmp"
mv "$tmp" "$file"
trap - EXIT

if [ "${#generated[@]}" -gt 0 ]; then
  echo "init-env: generated ${generated[*]}"
else
  echo "init-env: every secret already has a value"
fi
for required in DOMAIN N8N_OWNER_EMAIL LETSENCRYPT_EMAIL; do
  grep -q "^${required}=." "$file" || echo "init-env: still empty, fill it in: $required"
done
