#!/usr/bin/env bash
# Builds lectern-hub and lectern-appliance .deb packages with plain dpkg-deb from a staging
# directory: no cargo-deb needed. `cargo deb -p lectern-hub` (from [package.metadata.deb] in
# hub/Cargo.toml) builds the same layout for those who have cargo-deb installed.
#
#   packaging/build-deb.sh [--bin-dir target/release] [--out target/debian] [hub|appliance ...]
#
# Binaries are taken as built (cargo build --release first); the packages are not signed.
set -euo pipefail
cd "$(dirname "$0")/.."

bin_dir=""
out=target/debian
fast=""
packages=()
while (($#)); do
    case "$1" in
        --bin-dir) bin_dir=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        # CI: no compression (the package is inspected and thrown away).
        --fast) fast=1; shift ;;
        hub | appliance) packages+=("$1"); shift ;;
        *) echo "usage: $0 [--bin-dir DIR] [--out DIR] [--fast] [hub|appliance ...]" >&2; exit 2 ;;
    esac
done
((${#packages[@]})) || packages=(hub appliance)
if [[ -z $bin_dir ]]; then
    if [[ -x target/release/lectern-hub ]]; then bin_dir=target/release; else bin_dir=target/debug; fi
fi

version=$(python3 -c 'import tomllib; print(tomllib.load(open("Cargo.toml", "rb"))["workspace"]["package"]["version"])')
arch=$(dpkg --print-architecture)
mkdir -p "$out"

# stage NAME: the files every package has (binary, unit, sysusers, tmpfiles, docs).
stage() {
    local name=$1 root=$2
    rm -rf "$root"
    install -D -m 0755 "$bin_dir/$name" "$root/usr/bin/$name"
    install -D -m 0644 "systemd/$name.service" "$root/usr/lib/systemd/system/$name.service"
    install -D -m 0644 "systemd/$name.sysusers.conf" "$root/usr/lib/sysusers.d/$name.conf"
    install -D -m 0644 "systemd/$name.tmpfiles.conf" "$root/usr/lib/tmpfiles.d/$name.conf"
    install -D -m 0644 README.md "$root/usr/share/doc/$name/README.md"
    install -D -m 0644 packaging/copyright "$root/usr/share/doc/$name/copyright"
    install -d -m 0755 "$root/DEBIAN"
}

# Maintainer scripts (the same files cargo-deb uses): user, directories, daemon-reload, and
# enable on first install for the hub only.
scripts() {
    local name=$1 root=$2
    install -m 0755 "packaging/debian/$name/postinst" "packaging/debian/$name/prerm" \
        "packaging/debian/$name/postrm" "$root/DEBIAN/"
}

control() {
    local name=$1 root=$2 depends=$3 description=$4
    local size
    size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
    cat >"$root/DEBIAN/control" <<CTL
Package: $name
Version: $version
Architecture: $arch
Maintainer: Lectern developers <dev@example.invalid>
Section: net
Priority: optional
Installed-Size: $size
Depends: $depends
Homepage: https://example.invalid/lectern
Description: $description
CTL
}

build() {
    local name=$1 root=$out/$1
    local deb=$out/${name}_${version}_${arch}.deb
    if [[ -n $fast ]]; then
        dpkg-deb --root-owner-group -Znone --build "$root" "$deb" >/dev/null
    else
        dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
    fi
    echo "$deb"
}

for p in "${packages[@]}"; do
    case $p in
    hub)
        root=$out/lectern-hub
        stage lectern-hub "$root"
        install -D -m 0640 packaging/hub/hub.toml "$root/etc/lectern-hub/hub.toml"
        install -D -m 0644 hub/hub.example.toml "$root/usr/share/doc/lectern-hub/hub.example.toml"
        install -D -m 0644 systemd/lectern-hub.sysctl.conf "$root/usr/lib/sysctl.d/60-lectern-hub.conf"
        # One unit per cluster node (docs/cluster.md): lectern-hub@NAME reads /etc/lectern-hub/hub-NAME.toml.
        install -D -m 0644 "systemd/lectern-hub@.service" "$root/usr/lib/systemd/system/lectern-hub@.service"
        echo /etc/lectern-hub/hub.toml >"$root/DEBIAN/conffiles"
        scripts lectern-hub "$root"
        # Self-contained (SQLite and TLS compiled in, web app embedded): the C library, and the
        # time zones of the timetable (jiff reads /usr/share/zoneinfo).
        control lectern-hub "$root" "libc6 (>= 2.36), systemd, tzdata" \
            "Lectern hub: classroom video SFU, signaling and web app
 Signaling, WHIP/WHEP ingest and egress, a WebRTC SFU (str0m), classroom
 state (lobby, hands, chat, polls, attendance) and the student web app in
 one binary. Data in /var/lib/lectern-hub, configuration in
 /etc/lectern-hub/hub.toml."
        build lectern-hub
        ;;
    appliance)
        root=$out/lectern-appliance
        stage lectern-appliance "$root"
        install -D -m 0644 packaging/appliance/appliance.toml "$root/usr/lib/lectern/appliance.toml"
        install -d -m 0755 "$root/usr/lib/lectern/config.d"
        install -D -m 0644 appliance/appliance.example.toml \
            "$root/usr/share/doc/lectern-appliance/appliance.example.toml"
        scripts lectern-appliance "$root"
        control lectern-appliance "$root" \
            "libc6 (>= 2.36), systemd, libgstreamer1.0-0 (>= 1.22), libgstreamer-plugins-base1.0-0 (>= 1.22), libgstreamer-plugins-bad1.0-0 (>= 1.22), gstreamer1.0-plugins-base, gstreamer1.0-plugins-good, gstreamer1.0-plugins-bad, gstreamer1.0-plugins-ugly, gstreamer1.0-libav, gstreamer1.0-nice, gstreamer1.0-alsa, gstreamer1.0-x" \
            "Lectern classroom appliance
 Captures a classroom's camera and microphone, publishes them to a Lectern
 hub over WHIP, plays the return feed in the room and drives the GPIO
 button/LED panel. Put the site's settings in /etc/lectern/appliance.toml and
 the device token in /etc/lectern/token, then enable lectern-appliance.service."
        build lectern-appliance
        ;;
    esac
done
