#!/usr/bin/env python3
"""A WHEP viewer for the network test bed (aiortc): receives the room from the hub and prints,
4 times a second, one JSON line shaped like the Chromium sampler's raw sample (see summary.mjs), with the
frames it decoded itself. Audio is received but not reported (aiortc conceals nothing).

    whep.py URL TOKEN [--seconds N]      URL = http://HUB/whep/ROOM; runs N seconds (default 600)
"""
import argparse
import asyncio
import json
import signal
import sys
import time
import urllib.parse
import urllib.request

from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError


def post(url, token, sdp):
    req = urllib.request.Request(url, data=sdp.encode(), method="POST", headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/sdp"})
    with urllib.request.urlopen(req, timeout=15) as resp:
        return resp.read().decode(), resp.headers.get("Location")


def delete(url, token):
    req = urllib.request.Request(url, method="DELETE", headers={"Authorization": f"Bearer {token}"})
    try:
        urllib.request.urlopen(req, timeout=5).read()
    except OSError:
        pass


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("token")
    ap.add_argument("--seconds", type=float, default=600)
    args = ap.parse_args()

    pc = RTCPeerConnection()
    video = {"framesDecoded": 0, "frameWidth": 0, "framesPerSecond": 0, "freezeCount": 0, "totalFreezesDuration": 0}
    pc.addTransceiver("audio", direction="recvonly")
    pc.addTransceiver("video", direction="recvonly")

    async def consume(track):
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            if track.kind == "video":
                video["framesDecoded"] += 1
                video["frameWidth"] = frame.width

    @pc.on("track")
    def on_track(track):
        asyncio.ensure_future(consume(track))

    await pc.setLocalDescription(await pc.createOffer())
    loop = asyncio.get_running_loop()
    answer, location = await loop.run_in_executor(None, post, args.url, args.token, pc.localDescription.sdp)
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    resource = urllib.parse.urljoin(args.url, location) if location else None

    end = time.monotonic() + args.seconds
    try:
        while time.monotonic() < end:
            stats = await pc.getStats()
            bytes_in = sum(s.bytesReceived for s in stats.values() if s.type == "transport")
            pair = None
            try:  # aiortc has no candidate-pair stats: ask its ICE agent (aioice) which pair it nominated
                conn = pc.getTransceivers()[0].receiver.transport.transport._connection
                for p in conn._nominated.values():
                    pair = {"local": p.local_candidate.type, "remote": p.remote_candidate.type,
                            "protocol": p.local_candidate.transport.lower()}
            except (AttributeError, IndexError):
                pass
            print(json.dumps({"pc": 1, "state": pc.connectionState, "ice": pc.iceConnectionState,
                              "video": dict(video), "audio": None, "bytes": bytes_in, "pair": pair}), flush=True)
            await asyncio.sleep(0.25)  # fresher than the runner samples (every 0.5 s)
    finally:
        if resource:
            await loop.run_in_executor(None, delete, resource, args.token)
        await pc.close()


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
