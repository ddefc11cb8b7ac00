#!/usr/bin/env bash
# Make a fresh Debian 12 machine ready: system packages (as root) and npm dependencies.
# Idempotent and quiet when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || need+=(mariadb-server)
command -v mariadb-binlog >/dev/null 2>&1 || need+=(mariadb-client)
command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ] || need+=(openssh-server)
# The traffic hooks (hooks/) and their namespace tests: iproute2, iputils arping, socat,
# keepalived and HAProxy.
command -v ip >/dev/null 2>&1 || [ -x /usr/sbin/ip ] || need+=(iproute2)
{ command -v arping >/dev/null 2>&1 || [ -x /usr/sbin/arping ]; } && { arping -V 2>&1 || /usr/sbin/arping -V 2>&1; } | grep -qi iputils ||
  need+=(iputils-arping)
command -v socat >/dev/null 2>&1 || need+=(socat)
command -v keepalived >/dev/null 2>&1 || [ -x /usr/sbin/keepalived ] || need+=(keepalived)
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || need+=(haproxy)
# Manager HA (etcd) and the topology page's browser test (headless Chromium, driven by
# playwright-core with executablePath, never a downloaded browser).
command -v etcd >/dev/null 2>&1 || [ -x /usr/bin/etcd ] || need+=(etcd-server)
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: missing ${need[*]}; run as root or: sudo apt-get install -y ${need[*]}" >&2
    exit 1
  fi
  echo "setup: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >&2
  apt-get install -y --no-install-recommends "${need[@]}" >&2
  # The package starts a system server; mha-ts runs its own instances.
  if command -v systemctl >/dev/null 2>&1; then systemctl stop mariadb >/dev/null 2>&1 || true; fi
  # Same for keepalived and HAProxy: the tests start their own, inside network namespaces.
  if command -v systemctl >/dev/null 2>&1; then systemctl stop keepalived haproxy etcd >/dev/null 2>&1 || true; fi
fi
if [ ! -x node_modules/.bin/tsc ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci" >&2
  npm ci --no-audit --no-fund >&2
fi
