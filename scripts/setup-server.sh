#!/usr/bin/env bash
# Prepare a fresh Ubuntu 22.04 VM (e.g. an Alibaba Cloud ECS box) for the production stack.
# Idempotent: run it again after changing a setting.
#
#   sudo scripts/setup-server.sh               # official sources
#   sudo CN_MIRRORS=1 scripts/setup-server.sh  # Aliyun mirrors for apt and Docker CE
#
# Does: apt mirror (optional), Docker Engine + Compose plugin from Docker's apt repository (or
# its mirror), Docker daemon settings (registry mirror, log rotation, live-restore), a firewall
# (ufw: SSH, 80, 443 only), a swap file, kernel settings for Redis, and a deploy user in the
# docker group.
#
# Settings (environment):
#   CN_MIRRORS=1            use the Aliyun mirrors below unless set explicitly
#   APT_MIRROR              Ubuntu mirror, e.g. https://mirrors.aliyun.com/ubuntu (empty: keep)
#   DOCKER_CE_MIRROR        Docker CE apt mirror (default https://download.docker.com; CN: Aliyun)
#   DOCKER_REGISTRY_MIRROR  Docker Hub pull mirror(s), comma-separated, e.g. your Aliyun
#                           accelerator https://<id>.mirror.aliyuncs.com (empty: none)
#   SSH_PORT (22)  SWAP_GB (2, 0 = none)  DEPLOY_USER (mathnotes, empty = none)
set -euo pipefail

CN_MIRRORS="${CN_MIRRORS:-0}"
if [ "$CN_MIRRORS" = 1 ]; then
  APT_MIRROR="${APT_MIRROR-https://mirrors.aliyun.com/ubuntu}"
  DOCKER_CE_MIRROR="${DOCKER_CE_MIRROR:-https://mirrors.aliyun.com/docker-ce}"
fi
APT_MIRROR="${APT_MIRROR:-}"
DOCKER_CE_MIRROR="${DOCKER_CE_MIRROR:-https://download.docker.com}"
DOCKER_REGISTRY_MIRROR="${DOCKER_REGISTRY_MIRROR:-}"
SSH_PORT="${SSH_PORT:-22}"
SWAP_GB="${SWAP_GB:-2}"
DEPLOY_USER="${DEPLOY_USER-mathnotes}"

say() { printf '\033[1m==>\033[0m %s\n' "$*"; }
die() { printf 'setup-server: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (sudo)"
# shellcheck source=/dev/null
. /etc/os-release
[ "${ID:-}" = ubuntu ] || echo "setup-server: written for Ubuntu 22.04, this is ${PRETTY_NAME:-unknown}" >&2
export DEBIAN_FRONTEND=noninteractive

if [ -n "$APT_MIRROR" ]; then
  say "apt mirror: $APT_MIRROR"
  for list in /etc/apt/sources.list /etc/apt/sources.list.d/ubuntu.sources; do
    [ -f "$list" ] || continue
    sed -i -E "s#https?://([a-z]+\.)?(archive|security)\.ubuntu\.com/ubuntu#${APT_MIRROR%/}#g" "$list"
  done
fi

say "base packages"
apt-get update -q
apt-get install -y -q --no-install-recommends ca-certificates curl gnupg git openssl rsync ufw cron

if ! command -v docker >/dev/null || ! docker compose version >/dev/null 2>&1; then
  say "Docker Engine and the Compose plugin from ${DOCKER_CE_MIRROR}"
  install -m 0755 -d /etc/apt/keyrings
  curl -fsSL "${DOCKER_CE_MIRROR%/}/linux/ubuntu/gpg" -o /etc/apt/keyrings/docker.asc
  chmod a+r /etc/apt/keyrings/docker.asc
  echo "deb [arch=$(dpkg --print-architecture) signed-by=/etc/apt/keyrings/docker.asc] ${DOCKER_CE_MIRROR%/}/linux/ubuntu ${VERSION_CODENAME} stable" \
    > /etc/apt/sources.list.d/docker.list
  apt-get update -q
  apt-get install -y -q docker-ce docker-ce-cli containerd.io docker-buildx-plugin docker-compose-plugin
fi

say "Docker daemon settings"
mirrors_json="[]"
if [ -n "$DOCKER_REGISTRY_MIRROR" ]; then
  mirrors_json="[\"${DOCKER_REGISTRY_MIRROR//,/\", \"}\"]"
fi
daemon_json="$(cat <<JSON
{
  "registry-mirrors": ${mirrors_json},
  "log-driver": "json-file",
  "log-opts": {"max-size": "10m", "max-file": "5"},
  "live-restore": true
}
JSON
)"
mkdir -p /etc/docker
if [ "$(cat /etc/docker/daemon.json 2>/dev/null)" != "$daemon_json" ]; then
  printf '%s\n' "$daemon_json" > /etc/docker/daemon.json
  systemctl restart docker
fi
systemctl enable --now docker >/dev/null

say "firewall: SSH ($SSH_PORT), 80 and 443"
ufw allow "$SSH_PORT/tcp" >/dev/null
ufw allow 80/tcp >/dev/null
ufw allow 443/tcp >/dev/null
ufw --force enable >/dev/null
echo "  (also open 80 and 443 in the ECS security group)"

if [ "$SWAP_GB" -gt 0 ] && ! swapon --show | grep -q .; then
  say "swap: ${SWAP_GB} GB at /swapfile"
  fallocate -l "${SWAP_GB}G" /swapfile
  chmod 600 /swapfile
  mkswap /swapfile >/dev/null
  swapon /swapfile
  grep -q '^/swapfile ' /etc/fstab || echo '/swapfile none swap sw 0 0' >> /etc/fstab
fi

say "kernel settings"
cat > /etc/sysctl.d/90-mathnotes.conf <<'SYSCTL'
# Redis background saves
vm.overcommit_memory = 1
# keep the stack in RAM, swap only under pressure
vm.swappiness = 10
net.core.somaxconn = 1024
SYSCTL
sysctl --system >/dev/null

if [ -n "$DEPLOY_USER" ]; then
  if ! id "$DEPLOY_USER" >/dev/null 2>&1; then
    say "deploy user $DEPLOY_USER"
    useradd --create-home --shell /bin/bash "$DEPLOY_USER"
  fi
  usermod -aG docker "$DEPLOY_USER"
  install -d -o "$DEPLOY_USER" -g "$DEPLOY_USER" /opt/mathnotes
fi

say "ready: $(docker --version), $(docker compose version)"
cat <<NEXT
Next (DEPLOY.md, step 3 on):
  git clone <repo> /opt/mathnotes && cd /opt/mathnotes
  cp docker/.env.production.example .env && scripts/init-env.sh .env && \$EDITOR .env
  scripts/deploy.sh && scripts/issue-certificate.sh
NEXT
