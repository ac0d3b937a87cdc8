# v4l2src and the Raspberry Pi 4's v4l2h264enc; vp8dec for browsers' VP8 in the return feed.
PACKAGECONFIG:append:lectern = " v4l2 vpx"
