#!/usr/bin/env bash
# Builds a signed RAUC bundle (verity format, RAUC >= 1.8) for development and tests: a tiny
# random "rootfs" image stands in for a real one (the Yocto layer's lectern-bundle recipe
# builds the real thing). Needs rauc and squashfs-tools (scripts/deps.sh --test).
# Usage: scripts/ota-bundle.sh KEYDIR VERSION OUT.raucb [COMPATIBLE] [PAYLOAD_KIB]
#   KEYDIR from scripts/ota-dev-key.sh; COMPATIBLE defaults to lectern-virtual; PAYLOAD_KIB (the
#   stand-in image's size) to 64.
set -euo pipefail

keydir=$1 version=$2 out=$3 compatible=${4:-lectern-virtual} kib=${5:-64}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/content"
# A stand-in image (random bytes, so squashfs cannot shrink it below what RAUC accepts).
head -c $((kib * 1024)) /dev/urandom >"$work/content/rootfs.img"
printf 'lectern %s\n' "$version" | dd of="$work/content/rootfs.img" conv=notrunc status=none
cat >"$work/content/manifest.raucm" <<MANIFEST
[update]
compatible=$compatible
version=$version
description=Lectern $version (development bundle)

[bundle]
format=verity

[image.rootfs]
filename=rootfs.img
MANIFEST
rm -f "$out"
rauc bundle --cert="$keydir/signing.cert.pem" --key="$keydir/signing.key.pem" \
    --keyring="$keydir/ca.cert.pem" "$work/content" "$out" >/dev/null
echo "$out"
