#!/bin/sh
# nginx container entry point (docker/nginx/Dockerfile):
#   1. renders templates/*.template into conf.d/ (only our variables are substituted),
#   2. points tls/ at the Let's Encrypt certificate for $DOMAIN when certbot has made one,
#      otherwise at a self-signed one generated here (HTTPS works from the first start),
#   3. every hour (unless NGINX_CERT_WATCH=0): switches to the Let's Encrypt certificate once it exists, and reloads nginx
#      every 12 hours so renewed certificates are picked up,
#   4. runs nginx in the foreground.
set -eu

: "${DOMAIN:?DOMAIN must name the site, e.g. notes.example.com}"
AI_DOMAIN="${AI_DOMAIN:-ai.${DOMAIN}}"
N8N_DOMAIN="${N8N_DOMAIN:-}"
NGINX_HTTP_LISTEN="${NGINX_HTTP_LISTEN:-80}"
NGINX_HTTPS_LISTEN="${NGINX_HTTPS_LISTEN:-443}"
export DOMAIN AI_DOMAIN N8N_DOMAIN NGINX_HTTP_LISTEN NGINX_HTTPS_LISTEN

CONF_DIR="${NGINX_CONF_DIR:-/etc/nginx}"
TLS_DIR="$CONF_DIR/tls"
LE_DIR="${LETSENCRYPT_DIR:-/etc/letsencrypt}/live/$DOMAIN"
SELF_DIR="${SELF_SIGNED_DIR:-/var/lib/mathnotes-tls}"
RELOAD_HOURS="${NGINX_RELOAD_HOURS:-12}"
CERT_WATCH="${NGINX_CERT_WATCH:-1}"

log() { echo "nginx-entrypoint: $*" >&2; }

render_templates() {
    # shellcheck disable=SC2016  # envsubst takes the variable names literally
    vars='${DOMAIN} ${AI_DOMAIN} ${N8N_DOMAIN} ${NGINX_HTTP_LISTEN} ${NGINX_HTTPS_LISTEN}'
    mkdir -p "$CONF_DIR/conf.d"
    rm -f "$CONF_DIR"/conf.d/*.conf
    for template in "$CONF_DIR"/templates/*.template; do
        name="$(basename "$template" .template)"
        if [ "$name" = "n8n.conf" ] && [ -z "$N8N_DOMAIN" ]; then
            continue
        fi
        envsubst "$vars" < "$template" > "$CONF_DIR/conf.d/$name"
    done
}

self_signed() {
    if [ -s "$SELF_DIR/fullchain.pem" ] && [ -s "$SELF_DIR/privkey.pem" ] \
        && [ "$(cat "$SELF_DIR/names" 2>/dev/null)" = "$DOMAIN $AI_DOMAIN $N8N_DOMAIN" ] \
        && openssl x509 -checkend 172800 -noout -in "$SELF_DIR/fullchain.pem" >/dev/null 2>&1; then
        return 0
    fi
    log "no Let's Encrypt certificate for $DOMAIN yet: generating a self-signed one"
    mkdir -p "$SELF_DIR"
    san="DNS:$DOMAIN,DNS:$AI_DOMAIN"
    [ -n "$N8N_DOMAIN" ] && san="$san,DNS:$N8N_DOMAIN"
    openssl req -x509 -newkey rsa:2048 -nodes -days 90 -subj "/CN=$DOMAIN" \
        -addext "subjectAltName=$san" \
        -keyout "$SELF_DIR/privkey.pem" -out "$SELF_DIR/fullchain.pem" 2>/dev/null
    chmod 600 "$SELF_DIR/privkey.pem"
    echo "$DOMAIN $AI_DOMAIN $N8N_DOMAIN" > "$SELF_DIR/names"
}

# prints "letsencrypt" or "self-signed" after pointing tls/ at the right files
link_certificate() {
    mkdir -p "$TLS_DIR"
    if [ -s "$LE_DIR/fullchain.pem" ] && [ -s "$LE_DIR/privkey.pem" ]; then
        ln -sfn "$LE_DIR/fullchain.pem" "$TLS_DIR/fullchain.pem"
        ln -sfn "$LE_DIR/privkey.pem" "$TLS_DIR/privkey.pem"
        echo letsencrypt
    else
        self_signed
        ln -sfn "$SELF_DIR/fullchain.pem" "$TLS_DIR/fullchain.pem"
        ln -sfn "$SELF_DIR/privkey.pem" "$TLS_DIR/privkey.pem"
        echo self-signed
    fi
}

watch_certificates() {
    current="$1"
    elapsed=0
    while sleep 3600; do
        elapsed=$((elapsed + 1))
        now="$(link_certificate)"
        if [ "$now" != "$current" ] || [ "$elapsed" -ge "$RELOAD_HOURS" ]; then
            log "reloading nginx (certificate: $now)"
            nginx -s reload || log "reload failed; the running configuration stays"
            current="$now"
            elapsed=0
        fi
    done
}

render_templates
kind="$(link_certificate)"
log "serving https://$DOMAIN/ and https://$AI_DOMAIN/ with a $kind certificate"
nginx -t -q -p "$CONF_DIR/" -c "$CONF_DIR/nginx.conf"
if [ "$#" -eq 0 ]; then
    set -- nginx -g 'daemon off;'
fi
if [ "$CERT_WATCH" = 1 ]; then
    watch_certificates "$kind" &
fi
exec "$@"
