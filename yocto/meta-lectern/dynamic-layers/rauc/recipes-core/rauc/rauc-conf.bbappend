# The A/B slots of a Lectern image and the keyring its bundles must be signed with. The keyring
# is the development CA from scripts/ota-dev-key.sh unless local.conf names the production one:
#   RAUC_KEYRING_FILE = "/path/to/keys/ca.cert.pem"
FILESEXTRAPATHS:prepend:lectern := "${THISDIR}/files:"

SRC_URI:append:lectern = " file://system.conf"

do_install:append:lectern() {
    sed -i -e 's/@@MACHINE@@/${MACHINE}/' ${D}${sysconfdir}/rauc/system.conf
}
