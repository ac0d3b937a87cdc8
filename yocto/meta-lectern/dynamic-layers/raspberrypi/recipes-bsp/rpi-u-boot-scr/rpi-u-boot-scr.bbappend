# Raspberry Pi 4 with U-Boot: boot slot A or B by RAUC's boot-counting variables (docs/ota.md).
FILESEXTRAPATHS:prepend:lectern := "${THISDIR}/files:"
