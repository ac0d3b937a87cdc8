SUMMARY = "Signed RAUC update bundle of the Lectern appliance image"
DESCRIPTION = "The root file system of lectern-appliance-image as a verity-format RAUC bundle, \
               signed with RAUC_KEY_FILE and RAUC_CERT_FILE (scripts/ota-dev-key.sh makes a \
               development pair; never commit keys). Upload the .raucb in the web admin's \
               Releases page to roll it out (docs/ota.md)."
HOMEPAGE = "https://example.invalid/lectern"
BUGTRACKER = "https://example.invalid/lectern/issues"
SECTION = "base"
LICENSE = "MIT"
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/MIT;md5=0835ade698e0bcf8506ecda2f7b4f302"

# Nothing to fetch: the bundle class packs the image built by RAUC_SLOT_rootfs.
SRC_URI = ""

inherit bundle

RAUC_BUNDLE_COMPATIBLE = "lectern-${MACHINE}"
RAUC_BUNDLE_VERSION = "${DISTRO_VERSION}"
RAUC_BUNDLE_DESCRIPTION = "Lectern appliance ${DISTRO_VERSION}"
RAUC_BUNDLE_FORMAT = "verity"
RAUC_BUNDLE_SLOTS = "rootfs"
RAUC_SLOT_rootfs = "lectern-appliance-image"
RAUC_SLOT_rootfs[fstype] = "ext4"

# Set both in local.conf (kas: local_conf_header), e.g. to the output of scripts/ota-dev-key.sh:
#   RAUC_KEY_FILE = "/path/to/keys/signing.key.pem"
#   RAUC_CERT_FILE = "/path/to/keys/signing.cert.pem"
RAUC_KEY_FILE ??= ""
RAUC_CERT_FILE ??= ""
