#!/usr/bin/env bash
# Installs what the network test bed needs and is missing (Debian packages; the browser tests'
# node modules). The project's scripts/deps.sh is the place for these in the long run.
set -euo pipefail
cd "$(dirname "$0")/../.."
need=()
for pair in nft:nftables tc:iproute2 turnserver:coturn ss:iproute2 python3:python3 /usr/bin/chromium:chromium node:nodejs; do
  command -v "${pair%%:*}" >/dev/null || need+=("${pair#*:}")
done
if ((${#need[@]})); then
  echo "==> netem: installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if [[ ! -d tests/browser/node_modules/playwright-core ]]; then
  echo "==> netem: installing the browser tests' node modules"
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
fi
if [[ ${NETEM_CLIENT:-} == whep ]] && ! target/netem-venv/bin/python -c 'import aiortc' 2>/dev/null; then
  echo "==> netem: installing aiortc (PyPI) into target/netem-venv"
  /usr/bin/python3 -m venv target/netem-venv
  target/netem-venv/bin/pip install --quiet --disable-pip-version-check aiortc
fi
