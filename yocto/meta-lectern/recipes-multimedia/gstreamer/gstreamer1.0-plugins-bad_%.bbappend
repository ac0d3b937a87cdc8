# webrtcbin (libnice), DTLS-SRTP, echo cancellation (webrtcdsp/webrtcechoprobe), kmssink for the
# return feed on the room display.
PACKAGECONFIG:append:lectern = " dtls kms srtp webrtc webrtcdsp"
