#!/usr/bin/env bash
# Cross-checks the appliance for a Raspberry Pi 4/5 (arm64) from an x86_64 Debian/Ubuntu machine:
# `cargo check --target aarch64-unknown-linux-gnu` against Debian's arm64 GStreamer dev packages
# (multiarch). Not part of scripts/test.sh: it needs the Rust arm64 standard library from rustup's
# download server, which CI machines cannot reach. Run it on a workstation before a release.
set -euo pipefail
cd "$(dirname "$0")/.."

target=aarch64-unknown-linux-gnu
sudo_cmd=()
[[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)

rustup target add "$target"
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  "${sudo_cmd[@]}" dpkg --add-architecture arm64
  "${sudo_cmd[@]}" apt-get update -qq
fi
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends \
  gcc-aarch64-linux-gnu libc6-dev-arm64-cross \
  libgstreamer1.0-dev:arm64 libgstreamer-plugins-base1.0-dev:arm64 libgstreamer-plugins-bad1.0-dev:arm64

export PKG_CONFIG_ALLOW_CROSS=1
export PKG_CONFIG_PATH=/usr/lib/aarch64-linux-gnu/pkgconfig
export PKG_CONFIG_SYSROOT_DIR=/
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
cargo check -p lectern-appliance --target "$target" --locked
echo "lectern-appliance checks for $target"
