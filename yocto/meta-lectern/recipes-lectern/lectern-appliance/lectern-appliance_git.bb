SUMMARY = "Lectern classroom appliance daemon"
DESCRIPTION = "Captures a classroom's camera and microphone, publishes them to a Lectern hub \
               over WHIP, plays the remote students' return feed in the room and drives the \
               GPIO button/LED panel."
HOMEPAGE = "https://example.invalid/lectern"
BUGTRACKER = "https://example.invalid/lectern/issues"
SECTION = "multimedia"
LICENSE = "AGPL-3.0-or-later"
# The workspace has no LICENSE file yet: checksum the `license = ...` line of the root Cargo.toml
# (scripts/check-packaging.sh verifies it still matches). Point this at LICENSE once it exists.
LIC_FILES_CHKSUM = "file://Cargo.toml;beginline=11;endline=11;md5=c7953a78dbc0a0651b1cb8b96d902796"

# gstreamer-rs links libgstreamer, -app, -video, -sdp (plugins-base) and -webrtc (plugins-bad).
DEPENDS += "gstreamer1.0 \
            gstreamer1.0-plugins-bad \
            gstreamer1.0-plugins-base \
"

PV = "0.1.0+git"

# Release builds fetch a pinned revision (set SRCREV in a .bbappend or local.conf). The kas files
# build the checkout they live in instead (externalsrc), so a developer's working tree is what
# ends up in the image.
SRC_URI = "git://example.invalid/lectern.git;protocol=https;branch=main"
SRCREV = "0000000000000000000000000000000000000000"
S = "${WORKDIR}/git"

# One member of a Cargo workspace: cargo runs with --manifest-path ${S}/appliance/Cargo.toml and
# finds the workspace root (and its Cargo.lock) above it. The crates file covers the whole
# workspace's Cargo.lock, since cargo resolves the workspace as one even when building one member.
# Regenerate it with yocto/scripts/gen-crates-inc.py or `bitbake -c update_crates lectern-appliance`.
CARGO_SRC_DIR = "appliance"
CARGO_LOCK_SRC_DIR = "${S}"

require ${BPN}-crates.inc

inherit cargo cargo-update-recipe-crates pkgconfig systemd useradd features_check

REQUIRED_DISTRO_FEATURES = "systemd"

# x264enc is the software rung of the encoder ladder on every machine (Raspberry Pi 5 and
# Jetson Orin Nano depend on it). It needs LICENSE_FLAGS_ACCEPTED += "commercial".
LECTERN_SW_ENCODER ?= "gstreamer1.0-plugins-ugly-x264"
# Hardware encoders (besides the Pi 4's v4l2h264enc, which is plain v4l2 in plugins-good):
# Jetson Orin NX/AGX put "gstreamer1.0-plugins-nvvideo4linux2" (meta-tegra) here, see README.md.
LECTERN_HW_ENCODER ?= ""

USERADD_PACKAGES = "${PN}"
GROUPADD_PARAM:${PN} = "--system --force gpio"
USERADD_PARAM:${PN} = "--system --home-dir ${localstatedir}/lib/lectern --no-create-home \
                       --shell /sbin/nologin --user-group --groups video,audio,gpio lectern"

SYSTEMD_SERVICE:${PN} = "lectern-appliance.service"
SYSTEMD_AUTO_ENABLE:${PN} = "enable"

do_install:append() {
    install -d ${D}${systemd_system_unitdir} ${D}${nonarch_libdir}/sysusers.d ${D}${nonarch_libdir}/tmpfiles.d
    install -m 0644 ${S}/systemd/lectern-appliance.service ${D}${systemd_system_unitdir}/
    install -m 0644 ${S}/systemd/lectern-appliance.sysusers.conf ${D}${nonarch_libdir}/sysusers.d/lectern-appliance.conf
    install -m 0644 ${S}/systemd/lectern-appliance.tmpfiles.conf ${D}${nonarch_libdir}/tmpfiles.d/lectern-appliance.conf
    # Vendor defaults: /etc/lectern (the data partition on the image) holds only the site's settings.
    install -d ${D}${nonarch_libdir}/lectern/config.d
    install -m 0644 ${S}/packaging/appliance/appliance.toml ${D}${nonarch_libdir}/lectern/appliance.toml
    install -d ${D}${docdir}/${BPN}
    install -m 0644 ${S}/appliance/appliance.example.toml ${D}${docdir}/${BPN}/
    # Mount points for the writable data partition (lectern-data); tmpfiles sets their owners.
    install -d -m 0750 ${D}${sysconfdir}/lectern ${D}${localstatedir}/lib/lectern
}

FILES:${PN} += "${nonarch_libdir}/lectern \
                ${nonarch_libdir}/sysusers.d/lectern-appliance.conf \
                ${nonarch_libdir}/tmpfiles.d/lectern-appliance.conf \
                ${localstatedir}/lib/lectern \
                ${systemd_system_unitdir}/lectern-appliance.service \
"

# Every element the appliance makes (appliance/src/media/catalog.rs, which a test checks this list
# against): capture, conversion, text overlays, Opus, RTP, webrtcbin with nice/dtls/srtp, echo
# cancellation, snapshots, the return feed's decoders and sinks.
RDEPENDS:${PN} += "${LECTERN_HW_ENCODER} \
                   ${LECTERN_SW_ENCODER} \
                   gstreamer1.0 \
                   gstreamer1.0-libav \
                   gstreamer1.0-plugins-bad-dtls \
                   gstreamer1.0-plugins-bad-kms \
                   gstreamer1.0-plugins-bad-opusparse \
                   gstreamer1.0-plugins-bad-srtp \
                   gstreamer1.0-plugins-bad-videoparsersbad \
                   gstreamer1.0-plugins-bad-webrtc \
                   gstreamer1.0-plugins-bad-webrtcdsp \
                   gstreamer1.0-plugins-base-alsa \
                   gstreamer1.0-plugins-base-app \
                   gstreamer1.0-plugins-base-audioconvert \
                   gstreamer1.0-plugins-base-audiomixer \
                   gstreamer1.0-plugins-base-audioresample \
                   gstreamer1.0-plugins-base-audiotestsrc \
                   gstreamer1.0-plugins-base-opus \
                   gstreamer1.0-plugins-base-pango \
                   gstreamer1.0-plugins-base-videoconvertscale \
                   gstreamer1.0-plugins-base-videorate \
                   gstreamer1.0-plugins-base-videotestsrc \
                   gstreamer1.0-plugins-base-volume \
                   gstreamer1.0-plugins-good-autodetect \
                   gstreamer1.0-plugins-good-isomp4 \
                   gstreamer1.0-plugins-good-jpeg \
                   gstreamer1.0-plugins-good-level \
                   gstreamer1.0-plugins-good-multifile \
                   gstreamer1.0-plugins-good-rtp \
                   gstreamer1.0-plugins-good-rtpmanager \
                   gstreamer1.0-plugins-good-video4linux2 \
                   gstreamer1.0-plugins-good-videofilter \
                   gstreamer1.0-plugins-good-vpx \
                   libnice \
"
