SUMMARY = "Writable data partition for the Lectern appliance image"
DESCRIPTION = "The appliance image's root file system is read-only. The wic layout adds an \
               ext4 partition labelled lectern-data, mounted at /data; this package bind-mounts \
               its etc-lectern and lib-lectern directories over /etc/lectern (site configuration, \
               device token) and /var/lib/lectern (last good configuration)."
HOMEPAGE = "https://example.invalid/lectern"
BUGTRACKER = "https://example.invalid/lectern/issues"
SECTION = "base"
LICENSE = "MIT"
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/MIT;md5=0835ade698e0bcf8506ecda2f7b4f302"

SRC_URI = "file://etc-lectern.mount \
           file://lectern-data-init.service \
           file://var-lib-lectern.mount \
"
S = "${WORKDIR}"

inherit systemd features_check allarch

REQUIRED_DISTRO_FEATURES = "systemd"

SYSTEMD_SERVICE:${PN} = "lectern-data-init.service etc-lectern.mount var-lib-lectern.mount"
SYSTEMD_AUTO_ENABLE:${PN} = "enable"

do_install() {
    install -d ${D}${systemd_system_unitdir}
    install -m 0644 ${S}/lectern-data-init.service ${S}/etc-lectern.mount ${S}/var-lib-lectern.mount \
        ${D}${systemd_system_unitdir}/
}

FILES:${PN} += "${systemd_system_unitdir}"

RDEPENDS:${PN} += "lectern-appliance"
