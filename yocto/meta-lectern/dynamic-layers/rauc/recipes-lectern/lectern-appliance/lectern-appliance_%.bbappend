# On an image with RAUC the appliance runs its update agent with the RAUC installer, may ask the
# RAUC service to install (D-Bus policy) and may reboot the box (polkit rule), as user lectern.
FILESEXTRAPATHS:prepend := "${THISDIR}/files:"

SRC_URI:append = " file://50-update.toml \
                   file://lectern-rauc.conf \
                   file://50-lectern-reboot.rules \
"

do_install:append() {
    install -d ${D}${nonarch_libdir}/lectern/config.d ${D}${datadir}/dbus-1/system.d ${D}${datadir}/polkit-1/rules.d
    install -m 0644 ${WORKDIR}/50-update.toml ${D}${nonarch_libdir}/lectern/config.d/
    install -m 0644 ${WORKDIR}/lectern-rauc.conf ${D}${datadir}/dbus-1/system.d/
    install -m 0644 ${WORKDIR}/50-lectern-reboot.rules ${D}${datadir}/polkit-1/rules.d/
}

FILES:${PN} += "${datadir}/dbus-1/system.d/lectern-rauc.conf \
                ${datadir}/polkit-1/rules.d/50-lectern-reboot.rules \
"

RDEPENDS:${PN} += "polkit rauc"
