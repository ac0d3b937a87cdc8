# Opus for the room's audio (opusenc/opusdec).
PACKAGECONFIG:append:lectern = " opus"
