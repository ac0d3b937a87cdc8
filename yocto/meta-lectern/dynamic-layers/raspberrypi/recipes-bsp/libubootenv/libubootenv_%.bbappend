# RAUC reads and writes U-Boot's boot-counting variables with fw_printenv/fw_setenv: U-Boot keeps
# its environment in uboot.env on the boot partition (mounted at /boot).
FILESEXTRAPATHS:prepend:lectern := "${THISDIR}/files:"

SRC_URI:append:lectern = " file://fw_env.config"

do_install:append:lectern() {
    install -d ${D}${sysconfdir}
    install -m 0644 ${WORKDIR}/fw_env.config ${D}${sysconfdir}/fw_env.config
}
