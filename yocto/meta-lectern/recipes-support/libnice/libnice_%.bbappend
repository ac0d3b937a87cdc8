# nicesrc/nicesink: webrtcbin's ICE transport.
PACKAGECONFIG:append:lectern = " gstreamer"
