#!/usr/bin/env python3
"""Delay and jitter for the network test bed, where the kernel has no netem.

Attaches to a TUN device in the router namespace; policy routes send a link's packets into it, and
every packet read is written back unchanged after `delay ± jitter` ms, re-entering the kernel on the
TUN device to be routed on. Addresses and ports are never rewritten (ICE keeps working). Packets
leave in the order they came (a late one holds back the ones behind it, as on a real queue). Stdlib
only; prints "ready" once attached. Stops on SIGTERM/SIGINT.
"""
import argparse
import collections
import fcntl
import os
import random
import select
import signal
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
MAX_QUEUED = 20000  # packets; beyond this the newest are dropped, like a full router buffer


def attach(dev):
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", dev.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dev", required=True)
    ap.add_argument("--delay", type=float, required=True, help="one-way delay, ms")
    ap.add_argument("--jitter", type=float, default=0.0, help="± uniform, ms")
    args = ap.parse_args()
    if args.delay < 0 or args.jitter < 0 or args.jitter > args.delay:
        sys.exit("delay.py: need 0 <= jitter <= delay")

    fd = attach(args.dev)
    stop = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.append(1))
    queue = collections.deque()  # (due, packet), due non-decreasing
    last_due = 0.0
    dropped = 0
    print("ready", flush=True)
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    while not stop:
        now = time.monotonic()
        while queue and queue[0][0] <= now:
            try:
                os.write(fd, queue.popleft()[1])
            except OSError:
                dropped += 1
        timeout_ms = 100 if not queue else max(0.0, (queue[0][0] - now) * 1000)
        try:
            ready = poller.poll(timeout_ms)
        except InterruptedError:
            continue
        if not ready:
            continue
        for _ in range(256):  # drain what is there, bounded
            try:
                pkt = os.read(fd, 65535)
            except BlockingIOError:
                break
            if len(queue) >= MAX_QUEUED:
                dropped += 1
                continue
            due = time.monotonic() + (args.delay + random.uniform(-args.jitter, args.jitter)) / 1000
            last_due = max(last_due, due)
            queue.append((last_due, pkt))
    print(f"stopped, dropped={dropped}", flush=True)


if __name__ == "__main__":
    main()
