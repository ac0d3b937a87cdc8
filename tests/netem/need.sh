#!/usr/bin/env bash
# Installs what the network test bed needs and is missing: Debian packages, the browser tests' node
# modules, and aiortc (PyPI, into target/netem-venv) for NETEM_CLIENT=whep. scripts/deps.sh is the
# place for these in the long run.   Usage: need.sh SCENARIO (coturn, openssl and certutil only for relayonly, turntls, reach and all)
set -euo pipefail
cd "$(dirname "$0")/../.."
scenario=${1:-}
need=()
tools=(nft:nftables tc:iproute2 ss:iproute2 ps:procps /usr/bin/python3:python3 /usr/bin/chromium:chromium node:nodejs npm:npm)
[[ $scenario =~ ^(relayonly|turntls|reach|all)$ ]] && tools+=(turnserver:coturn openssl:openssl certutil:libnss3-tools)
for pair in "${tools[@]}"; do
  command -v "${pair%%:*}" >/dev/null || need+=("${pair#*:}")
done
if ((${#need[@]})); then
  echo "==> netem: installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # The bed starts its own turnserver inside a namespace; a host-wide one the package may have started is not wanted.
  if [[ " ${need[*]} " == *" coturn "* && -d /run/systemd/system ]]; then
    systemctl disable --now coturn >/dev/null 2>&1 && echo "==> netem: stopped and disabled the coturn package's host service"
  fi
fi
if [[ ! -d tests/browser/node_modules/playwright-core ]]; then
  echo "==> netem: installing the browser tests' node modules"
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
fi
if [[ ${NETEM_CLIENT:-} == whep ]] && ! target/netem-venv/bin/python -c 'import aiortc' 2>/dev/null; then
  echo "==> netem: installing aiortc (PyPI) into target/netem-venv"
  dpkg-query -W -f='${Status}' python3-venv 2>/dev/null | grep -q "ok installed" \
    || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
  /usr/bin/python3 -m venv target/netem-venv
  target/netem-venv/bin/pip install --quiet --disable-pip-version-check aiortc
fi
