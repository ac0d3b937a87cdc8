//! The media path: a publisher's RTP packet goes to every subscriber's open m-line (only with a payload type
//! negotiated there, and never while a teacher blocks it), and keyframe requests go the other way,
//! coalesced per published track. Of a simulcast track each subscriber gets one layer (see
//! `simulcast`).

use std::time::Instant;

use lectern_proto::{RoomId, TrackId};
use str0m::Rtc;
use str0m::format::PayloadParams;
use str0m::media::{KeyframeRequest, KeyframeRequestKind, MediaKind, Mid, Pt, Rid};
use str0m::rtp::{ExtensionValues, RtpPacket, RtpWrite};

use super::codec;
use super::core::ShardCore;
use super::keyframe::KeyframeThrottle;
use super::peer::{DownState, PeerKey};
use super::simulcast::Verdict;

impl ShardCore {
    /// Forwards one RTP packet of publish m-line `mid` to every subscriber's open m-line carrying
    /// its track. The payload is shared (an `Arc`), never copied; per subscriber only the header
    /// changes: payload type, sequence number and timestamp (see [`TimeRebase`](super::peer::TimeRebase)).
    pub(super) fn forward(&mut self, key: PeerKey, mid: Mid, rid: Option<Rid>, packet: RtpPacket, now: Instant) {
        let Some(peer) = self.peers.get(&key) else { return };
        let Some(track) = peer.up_track(mid) else { return };
        let pt_in = packet.header.payload_type;
        // The publisher's parameters for this PT: what subscribers' PTs are matched against.
        let Some(params) = peer.rtc.codec_config().find(|p| p.pt() == pt_in).copied() else { return };
        let Some(room) = self.rooms.get_mut(&peer.room) else { return };
        let Some(up) = room.tracks.get_mut(&track) else { return };
        let keyframe = up.kind == MediaKind::Video && codec::starts_keyframe(params.spec().codec, &packet.payload);
        // Of a simulcast track, the layer subscribers should receive.
        let wanted = rid.map(|r| (r, up.layers.observe(r, packet.payload.len(), now)));
        // Another layer's keyframe does not answer a request for the wanted one.
        if keyframe && wanted.is_none_or(|(r, w)| r == w) {
            up.keyframe.keyframe_seen();
        }
        let mut layer_keyframe = false;
        let (owner, kind, screen) = (up.owner, up.kind, up.screen);
        let member = room.members.get(&owner);
        // A teacher's mute or camera stop is enforced here: the packets go no further.
        if !screen && member.is_some_and(|m| m.blocks(kind)) {
            return;
        }
        let ext = packet.header.ext_vals;
        // The room's own microphone is never played back into the room.
        if let Some(level) = ext.audio_level
            && member.is_some_and(|m| m.ident.role != lectern_proto::Role::Device)
        {
            room.speakers.observe(track, owner, level, now);
        }
        // Only what describes the media travels on; MID, RID and transport-wide numbers are the
        // subscriber connection's own, written by str0m.
        let out_ext = ExtensionValues {
            audio_level: ext.audio_level,
            voice_activity: ext.voice_activity,
            video_orientation: ext.video_orientation,
            ..Default::default()
        };
        let freq = params.spec().clock_rate.get();
        // One frame: 20 ms of audio, 1/30 s of video (only used to space a source switch).
        let gap = if freq == 90_000 { 3000 } else { u64::from(freq) / 50 };
        let nackable = kind == MediaKind::Video;
        for sub in room.members.values().filter_map(|m| m.subscribe) {
            let Some(peer) = self.peers.get_mut(&sub) else { continue };
            let Some(down) =
                peer.downs.iter_mut().find(|d| d.source == Some(track) && matches!(d.state, DownState::Open(_)))
            else {
                continue;
            };
            let DownState::Open(out_mid) = down.state else { continue };
            if let Some((rid, wanted)) = wanted {
                let verdict = down.layer.on_packet(track, rid, wanted, keyframe);
                // After the verdict: a packet that just switched layers needs no request.
                layer_keyframe |= down.layer.needs_keyframe(track, wanted);
                match verdict {
                    Verdict::Skip => continue,
                    Verdict::Switch => down.rebase.switch(),
                    Verdict::Forward => {}
                }
            }
            let pt = match down.pt_map {
                Some((t, i, o)) if t == track && i == pt_in => o,
                _ => {
                    let Some(o) = subscriber_pt(&peer.rtc, out_mid, params) else {
                        tracing::debug!(peer = sub.0, %out_mid, "subscriber did not negotiate this codec");
                        continue;
                    };
                    down.pt_map = Some((track, pt_in, o));
                    o
                }
            };
            let Some(seq) = down.rebase.map_seq(*packet.seq_no) else { continue };
            let time = down.rebase.map(u64::from(packet.header.timestamp), gap) as u32;
            let mut api = peer.rtc.direct_api();
            let Some(tx) = api.stream_tx_by_mid(out_mid, None) else { continue };
            let write = RtpWrite::new(pt, seq.into(), time, packet.timestamp, packet.payload.clone())
                .marker(packet.header.marker)
                .ext_vals(out_ext.clone())
                .nackable(nackable);
            tx.write_rtp(write);
            self.dirty.push(sub);
        }
        if layer_keyframe && let Some(room_id) = self.peers.get(&key).map(|p| p.room.clone()) {
            self.request_keyframe(&room_id, track, now);
        }
    }

    pub(super) fn on_keyframe_request(&mut self, key: PeerKey, req: KeyframeRequest, now: Instant) {
        let Some(peer) = self.peers.get(&key) else { return };
        let Some(track) = peer.downs.iter().find(|d| d.state.mid() == Some(req.mid)).and_then(|d| d.source) else {
            return;
        };
        let room_id = peer.room.clone();
        self.ask_publisher(&room_id, track, now, KeyframeThrottle::request);
    }

    /// A new viewer of `track` needs a keyframe to start: asks its publisher, coalesced per track
    /// (see `keyframe` for how joins and repairs differ).
    pub(super) fn request_keyframe(&mut self, room_id: &RoomId, track: TrackId, now: Instant) {
        self.ask_publisher(room_id, track, now, KeyframeThrottle::request_join);
    }

    fn ask_publisher(
        &mut self,
        room_id: &RoomId,
        track: TrackId,
        now: Instant,
        throttle: fn(&mut KeyframeThrottle, Instant) -> bool,
    ) {
        let Some(up) = self.rooms.get_mut(room_id).and_then(|r| r.tracks.get_mut(&track)) else { return };
        if up.kind != MediaKind::Video || !throttle(&mut up.keyframe, now) {
            return;
        }
        self.keyframe_upstream(room_id, track);
    }

    /// Sends `track`'s publisher a keyframe request: to the layers in use if it has layers.
    pub(super) fn keyframe_upstream(&mut self, room_id: &RoomId, track: TrackId) {
        let Some(up) = self.rooms.get(room_id).and_then(|r| r.tracks.get(&track)) else { return };
        let (peer, mid) = (up.peer, up.mid);
        let rids = self.layers_in_use(room_id, track);
        self.send_keyframe_request(peer, mid, &rids);
    }

    fn send_keyframe_request(&mut self, peer: PeerKey, mid: Mid, rids: &[Rid]) {
        let Some(p) = self.peers.get_mut(&peer) else { return };
        // PLI where negotiated (every browser and GStreamer), FIR otherwise.
        let kind = if p.rtc.codec_config().params().iter().any(|c| c.fb_pli()) {
            KeyframeRequestKind::Pli
        } else {
            KeyframeRequestKind::Fir
        };
        let mut api = p.rtc.direct_api();
        let layers: Vec<Option<Rid>> =
            if rids.is_empty() { vec![None] } else { rids.iter().copied().map(Some).collect() };
        for rid in layers {
            match api.stream_rx_by_mid(mid, rid) {
                Some(rx) => rx.request_keyframe(kind),
                None => {
                    tracing::debug!(peer = peer.0, %mid, ?rid, "keyframe request not possible yet: nothing received")
                }
            }
        }
        self.dirty.push(peer);
    }
}

/// The payload type on the subscriber's m-line for media described by the publisher's `params`:
/// str0m matches against every codec it knows, but only a PT negotiated on this m-line will be
/// understood by the receiver, so fall back to one of the same codec there.
fn subscriber_pt(rtc: &Rtc, mid: Mid, params: PayloadParams) -> Option<Pt> {
    let negotiated = rtc.media(mid)?.remote_pts();
    let config = rtc.codec_config();
    config.match_params(params).map(|p| p.pt()).filter(|pt| negotiated.contains(pt)).or_else(|| {
        config.find(|p| negotiated.contains(&p.pt()) && p.spec().codec == params.spec().codec).map(|p| p.pt())
    })
}
