SUMMARY = "Lectern classroom appliance image"
DESCRIPTION = "A read-only root file system that boots straight into lectern-appliance, with a \
               small writable partition for the site configuration and state (see lectern-data)."
HOMEPAGE = "https://example.invalid/lectern"
BUGTRACKER = "https://example.invalid/lectern/issues"
SECTION = "images"
LICENSE = "MIT"

inherit core-image

# Read-only root: power cuts cannot corrupt the system, and a reflash resets everything but
# /data. Volatile paths (/var/log, /var/tmp, ...) are tmpfs, as OE arranges for read-only roots.
IMAGE_FEATURES += "read-only-rootfs"

IMAGE_INSTALL += "alsa-utils-alsactl \
                  alsa-utils-amixer \
                  lectern-appliance \
                  lectern-data \
                  v4l-utils \
"

# Over-the-air updates (docs/ota.md): the RAUC service, U-Boot's environment tools for its boot
# counter, and the kernel inside the root file system so a release updates both.
IMAGE_INSTALL:append = "${@bb.utils.contains('DISTRO_FEATURES', 'rauc', ' rauc libubootenv-bin kernel-image', '', d)}"

# The partition layout (boot, read-only root, lectern-data) comes from the machine's kas file:
# WKS_FILE = "lectern-raspberrypi.wks" on Raspberry Pi; meta-tegra flashes with its own layout.
