# x264enc: the software H.264 rung (Raspberry Pi 5, Jetson Orin Nano). Needs
# LICENSE_FLAGS_ACCEPTED += "commercial" (the kas files set it).
PACKAGECONFIG:append:lectern = " x264"
