#!/bin/sh
# Playwright's executable for a student: the same Chromium, started inside the namespace named by
# LNT_NETNS. `ip netns exec` execs, so Playwright's control pipes (fds 3 and 4) pass through.
exec ip netns exec "$LNT_NETNS" "${LNT_CHROMIUM:-/usr/bin/chromium}" "$@"
