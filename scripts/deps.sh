#!/usr/bin/env bash
# Installs what Lectern needs on Debian 12, skipping what is already there.
# Usage: scripts/deps.sh [--test]   (--test adds Chromium, the network test bed's tools and the
#                                     browser-test node modules)
#        scripts/deps.sh --turn     (adds coturn, for scripts/demo.sh --turn)
#        scripts/deps.sh --ota      (adds rauc and squashfs-tools: a hub that checks release signatures)
#        scripts/deps.sh --cluster  (adds postgresql and redis-server, for scripts/cluster-demo.sh)
#        scripts/deps.sh --list-pypi (prints the PyPI packages --test installs into its venv, one a line)
#        scripts/deps.sh --list     (prints the packages the product itself needs, one a line, and
#                                     installs nothing: the appliance's tests check it covers every
#                                     GStreamer element the box makes, see appliance/src/media/catalog.rs)
set -euo pipefail
cd "$(dirname "$0")/.."

# The Rust version the locked crates need (gstreamer-rs 0.25): keep equal to rust-version in Cargo.toml.
rust_min=1.92

packages=(
  # rustup brings no linker: cargo links with the system's cc (and a few crates compile C).
  build-essential pkg-config
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libgstreamer-plugins-bad1.0-dev
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly
  gstreamer1.0-nice gstreamer1.0-libav gstreamer1.0-alsa gstreamer1.0-tools
  # gst-discoverer-1.0: the recording tests check the files it writes (codecs, duration).
  gstreamer1.0-plugins-base-apps
  # textoverlay/timeoverlay (Pango): not in plugins-base on Debian, and only *recommended* by plugins-good.
  gstreamer1.0-x
  sqlite3 curl
  # The IANA time zones the timetable's slots are in (jiff reads /usr/share/zoneinfo).
  tzdata
  janus
)
# PyPI packages of the tests, installed by --test into a venv of their own (not the system's Python):
# moto's S3 server, which the recordings' storage tests run against (hub/tests/recording_s3.rs).
pypi_test=('moto[server]>=5.1,<6')
test_venv=${LECTERN_TEST_VENV:-/opt/lectern/test-venv}
if [[ "${1:-}" == "--list-pypi" ]]; then
  printf '%s\n' "${pypi_test[@]}"
  exit 0
fi
if [[ "${1:-}" == "--list" ]]; then
  printf '%s\n' "${packages[@]}"
  exit 0
fi
if [[ "${1:-}" == "--test" ]]; then
  # The network test bed (tests/netem): namespaces, tc, nft, its TUN delay forwarder.
  # coturn: the relay the TURN tests start on loopback (hub/tests/turn_coturn.rs).
  # libnss3-tools: certutil, so Chromium trusts a test CA through an NSS database (the HTTPS test,
  # tests/browser/https.test.mjs; TURN over TLS on the bed, tests/netem/testca.mjs); openssl makes that CA
  # and tells webrtcbin's certificate type (tests/tests/webrtcbin_rsa.rs); jq: scripts/interop.sh.
  # rauc + squashfs-tools: the OTA test signs a bundle and the hub checks it (tests/tests/ota.rs,
  # scripts/ota-bundle.sh); on a hub, rauc is an optional dependency (docs/ota.md).
  # postgresql: the store tests run on SQLite and on a real PostgreSQL each test binary starts in a temp
  # dir (lectern_common::test_db; initdb and the server run as `postgres` through setpriv, docs/cluster.md).
  packages+=(chromium nodejs npm python3 python3-venv systemd nftables iproute2 procps coturn libnss3-tools openssl jq
    rauc squashfs-tools postgresql util-linux)
  # redis-server: the cluster's coordination store; the tests start their own on free ports
  # (coord/tests/redis.rs), so the package's host-wide service is stopped below.
  packages+=(redis-server)
fi
if [[ "${1:-}" == "--turn" ]]; then
  packages+=(coturn)
fi
if [[ "${1:-}" == "--cluster" ]]; then
  # scripts/cluster-demo.sh: the shared database and the coordination store, run in its data dir.
  packages+=(postgresql redis-server util-linux)
fi
if [[ "${1:-}" == "--ota" ]]; then
  packages+=(rauc squashfs-tools)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
# Node may come from elsewhere (nodesource, nvm): only ask apt for it when there is none.
if command -v node >/dev/null && command -v npm >/dev/null; then
  filtered=()
  for p in "${missing[@]}"; do [[ "$p" == nodejs || "$p" == npm ]] || filtered+=("$p"); done
  missing=("${filtered[@]+"${filtered[@]}"}")
fi
if ((${#missing[@]})); then
  echo "==> installing Debian packages: ${missing[*]}"
  sudo_cmd=()
  [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
  # Debian's coturn enables and starts a host-wide relay; the tests start their own, so a coturn
  # installed here is stopped and disabled (one that was already installed is left as it was).
  if [[ " ${missing[*]} " == *" coturn "* && -d /run/systemd/system ]]; then
    "${sudo_cmd[@]}" systemctl disable --now coturn || echo "warning: could not stop the coturn package's own service" >&2
  fi
  if [[ " ${missing[*]} " == *" redis-server "* && -d /run/systemd/system ]]; then
    "${sudo_cmd[@]}" systemctl disable --now redis-server || echo "warning: could not stop the redis-server package's own service" >&2
  fi
  # Likewise Debian's postgresql starts a host-wide cluster on 5432 the tests never use.
  if [[ " ${missing[*]} " == *" postgresql "* && -d /run/systemd/system ]]; then
    "${sudo_cmd[@]}" systemctl disable --now postgresql || echo "warning: could not stop the postgresql package's own service" >&2
  fi
fi

if ! command -v cargo >/dev/null || ! command -v rustc >/dev/null; then
  echo "error: Rust $rust_min or newer is needed: install it with rustup (https://rustup.rs)" >&2
  exit 1
fi
have=$(rustc --version | awk '{print $2}')
if [[ $(printf '%s\n%s\n' "$rust_min" "${have%%-*}" | sort -V | head -1) != "$rust_min" ]]; then
  echo "error: Rust $have is too old: the locked crates need $rust_min or newer (rustup update stable)" >&2
  exit 1
fi

if [[ "${1:-}" == "--test" ]]; then
  if [[ ! -d tests/browser/node_modules/playwright-core ]]; then
    echo "==> installing browser-test node modules"
    (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
  fi
  if [[ ! -x "$test_venv/bin/moto_server" ]]; then
    echo "==> installing the tests' PyPI packages into $test_venv: ${pypi_test[*]}"
    python3 -m venv "$test_venv"
    "$test_venv/bin/pip" install --quiet --disable-pip-version-check "${pypi_test[@]}"
  fi
fi
