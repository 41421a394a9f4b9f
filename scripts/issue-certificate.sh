#!/usr/bin/env bash
# Ask Let's Encrypt for the stack's certificate (HTTP-01 through nginx's webroot), then switch
# nginx to it. Run once after the first scripts/deploy.sh, when DNS points at the VM; the certbot
# service renews it afterwards and nginx reloads every 12 hours.
#
#   scripts/issue-certificate.sh [--staging]
#
# Names: DOMAIN, AI_DOMAIN (default ai.$DOMAIN) and N8N_DOMAIN when set, from .env; the
# certificate is stored under /etc/letsencrypt/live/$DOMAIN in the letsencrypt volume.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

require_env_file
domain="$(env_get DOMAIN)"
ai_domain="$(env_get AI_DOMAIN)"
n8n_domain="$(env_get N8N_DOMAIN)"
email="$(env_get LETSENCRYPT_EMAIL)"
[ -n "$domain" ] || die "DOMAIN is empty in $ENV_FILE"
[ -n "$email" ] || die "LETSENCRYPT_EMAIL is empty in $ENV_FILE"
ai_domain="${ai_domain:-ai.$domain}"

args=(certonly --webroot -w /var/www/certbot --cert-name "$domain" -d "$domain" -d "$ai_domain"
      --email "$email" --agree-tos --non-interactive --keep-until-expiring --expand)
[ -n "$n8n_domain" ] && args+=(-d "$n8n_domain")
[ "${1:-}" = "--staging" ] && args+=(--staging)

say "requesting a certificate for $domain $ai_domain ${n8n_domain}"
dc run --rm --no-deps --entrypoint certbot certbot "${args[@]}"
say "switching nginx to the new certificate"
dc restart nginx
say "done: https://$domain/"
