#!/usr/bin/env python3
"""aiortc (PyPI) against a running hub, as a WHIP publisher and as a WHEP viewer, checking what it
saw. Prints one JSON line per check: {"client", "version", "role", "check", "ok", "detail"}, and
exits 1 if any check failed. Started by scripts/interop.sh (which starts the hub and mints tokens).

    aiortc_whip_whep.py BASE ROOM PUBLISH_TOKEN VIEW_TOKEN EXPECTED_ICE_URL
"""
import asyncio
import json
import re
import sys
import urllib.error
import urllib.request

import aiortc
from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError, VideoStreamTrack

FAILED = False


def report(role, check, ok, detail=""):
    global FAILED
    FAILED |= not ok
    print(json.dumps({"client": "aiortc", "version": aiortc.__version__, "role": role, "check": check,
                      "ok": bool(ok), "detail": str(detail)}), flush=True)


def http(method, url, token=None, body=None, headers=None):
    """(status, headers, body) without raising on 4xx/5xx."""
    h = dict(headers or {})
    if token:
        h["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=body.encode() if body is not None else None, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=15) as resp:
            return resp.status, resp.headers, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read().decode()


LINK = re.compile(r'<([^>]+)>\s*((?:;\s*[\w-]+(?:="[^"]*"|=[^;,]*)?\s*)*)')


def ice_servers(headers):
    """RTCIceServer objects from WHIP `Link: <url>; rel="ice-server"[; username=..; credential=..]`."""
    servers = []
    for value in headers.get_all("Link") or []:
        for url, params in LINK.findall(value):
            attrs = dict((k.lower(), v.strip('"')) for k, v in re.findall(r';\s*([\w-]+)=("[^"]*"|[^;,]*)', params))
            if attrs.get("rel") == "ice-server":
                servers.append(RTCIceServer(urls=url, username=attrs.get("username"), credential=attrs.get("credential")))
    return servers


async def wait_state(pc, wanted, seconds):
    for _ in range(int(seconds * 20)):
        if pc.connectionState == wanted:
            return True
        if pc.connectionState == "failed":
            return False
        await asyncio.sleep(0.05)
    return False


async def publish(base, room, token, expected_ice):
    url = f"{base}/whip/{room}"
    status, headers, _ = http("OPTIONS", url)
    servers = ice_servers(headers)
    urls = [s.urls for s in servers]
    report("publish", "OPTIONS Link ICE servers parsed", status in (200, 204) and expected_ice in urls, f"{status} {urls}")

    # The parsed servers are not used for gathering: the test hub names a STUN server no one runs.
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver(AudioStreamTrack(), direction="sendonly")
    pc.addTransceiver(VideoStreamTrack(), direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    status, headers, answer = http("POST", url, token, pc.localDescription.sdp, {"Content-Type": "application/sdp"})
    location, etag = headers.get("Location"), headers.get("ETag")
    report("publish", "POST offer → 201, Location, ETag", status == 201 and location and etag, f"{status} {location} {etag}")
    if status != 201:
        return pc, None
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    report("publish", "ICE + DTLS connected", await wait_state(pc, "connected", 20), pc.connectionState)
    resource = urllib.request.urljoin(url, location)

    # Trickle: aiortc gathers before offering, so send one of its own host candidates again.
    cand = next((l for l in pc.localDescription.sdp.splitlines() if l.startswith("a=candidate:")), None)
    ufrag = next((l for l in pc.localDescription.sdp.splitlines() if l.startswith("a=ice-ufrag:")), "")
    pwd = next((l for l in pc.localDescription.sdp.splitlines() if l.startswith("a=ice-pwd:")), "")
    frag = f"{ufrag}\r\n{pwd}\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\n{cand}\r\na=end-of-candidates\r\n"
    status, _, body = http("PATCH", resource, token, frag, {"Content-Type": "application/trickle-ice-sdpfrag"})
    report("publish", "trickle PATCH sdpfrag → 204", status == 204, f"{status} {body}")
    status, _, _ = http("PATCH", resource, token, frag, {"Content-Type": "text/plain"})
    report("publish", "PATCH with the wrong type → 415", status == 415, status)
    return pc, resource


async def view(base, room, token):
    url = f"{base}/whep/{room}"
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver("audio", direction="recvonly")
    pc.addTransceiver("video", direction="recvonly")
    frames = {"audio": 0, "video": 0, "width": 0}

    async def consume(track):
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            frames[track.kind] += 1
            if track.kind == "video":
                frames["width"] = frame.width

    pc.on("track", lambda track: asyncio.ensure_future(consume(track)))
    await pc.setLocalDescription(await pc.createOffer())
    status, headers, answer = http("POST", url, token, pc.localDescription.sdp, {"Content-Type": "application/sdp"})
    report("view", "POST offer → 201, Location", status == 201 and headers.get("Location"), f"{status}")
    if status != 201:
        return pc, None
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    report("view", "ICE + DTLS connected", await wait_state(pc, "connected", 20), pc.connectionState)
    for _ in range(400):
        if frames["video"] >= 30 and frames["audio"] >= 50:
            break
        await asyncio.sleep(0.05)
    report("view", "decoded the publisher's video and audio", frames["video"] >= 30 and frames["audio"] >= 50,
           f"video frames {frames['video']} ({frames['width']} px wide), audio frames {frames['audio']}")
    return pc, urllib.request.urljoin(url, headers.get("Location"))


async def main():
    base, room, publish_token, view_token, expected_ice = sys.argv[1:6]
    publisher, published = await publish(base, room, publish_token, expected_ice)
    viewer, viewed = await view(base, room, view_token)
    for role, pc, resource, token in (("view", viewer, viewed, view_token), ("publish", publisher, published, publish_token)):
        if resource:
            status, _, _ = http("DELETE", resource, token)
            report(role, "DELETE → 200/204", status in (200, 204), status)
            status, _, _ = http("DELETE", resource, token)
            report(role, "DELETE again → 404", status == 404, status)
        await pc.close()
    sys.exit(1 if FAILED else 0)


if __name__ == "__main__":
    asyncio.run(main())
