//! The media path: a publisher's frame goes to every subscriber's open m-line (only with a payload type
//! negotiated there, and never while a teacher blocks it), and keyframe requests go the other way,
//! coalesced per published track.

use std::time::Instant;

use lectern_proto::{RoomId, TrackId};
use str0m::media::{KeyframeRequest, KeyframeRequestKind, MediaData, MediaKind, Mid};

use super::core::ShardCore;
use super::peer::{DownState, PeerKey};

impl ShardCore {
    pub(super) fn forward(&mut self, key: PeerKey, data: MediaData, now: Instant) {
        let Some(peer) = self.peers.get(&key) else { return };
        let Some(track) = peer.up_track(data.mid) else { return };
        let room_id = peer.room.clone();
        let Some(room) = self.rooms.get_mut(&room_id) else { return };
        let Some(up) = room.tracks.get_mut(&track) else { return };
        let mut repair = None;
        if data.is_keyframe() {
            up.keyframe.keyframe_seen();
        } else if !data.contiguous && up.keyframe.request(now) {
            // A hole the retransmissions could not fill: only a keyframe repairs the picture.
            repair = Some((up.peer, up.mid));
        }
        let (owner, kind, screen) = (up.owner, up.kind, up.screen);
        let member = room.members.get(&owner);
        // A teacher's mute or camera stop is enforced here: the packets go no further.
        let blocked = !screen && member.is_some_and(|m| m.blocks(kind));
        let subs: Vec<PeerKey> = if blocked { Vec::new() } else { room.subscriber_peers().collect() };
        // The room's own microphone is never played back into the room.
        if let Some(level) = data.ext_vals.audio_level
            && !blocked
            && member.is_some_and(|m| m.ident.role != lectern_proto::Role::Device)
        {
            room.speakers.observe(track, owner, level, now);
        }
        if let Some((p, m)) = repair {
            self.send_keyframe_request(p, m);
        }
        let freq = data.time.frequency();
        // One frame: 20 ms of audio, 1/30 s of video.
        let gap = if freq.get() == 90_000 { 3000 } else { u64::from(freq.get()) / 50 };
        for sub in subs {
            let Some(peer) = self.peers.get_mut(&sub) else { continue };
            let Some((mid, rebase)) = peer.downs.iter_mut().find_map(|d| match d.state {
                DownState::Open(m) if d.source == Some(track) => Some((m, &mut d.rebase)),
                _ => None,
            }) else {
                continue;
            };
            let time = str0m::media::MediaTime::new(rebase.map(data.time.numer(), gap), freq);
            let Some(writer) = peer.rtc.writer(mid) else { continue };
            // str0m matches against every codec it knows; only a PT negotiated on this m-line will
            // be understood by the receiver, so fall back to one of the same codec there.
            let matched = writer.match_params(data.params).filter(|pt| writer.payload_params().any(|p| p.pt() == *pt));
            let same_codec =
                || writer.payload_params().find(|p| p.spec().codec == data.params.spec().codec).map(|p| p.pt());
            let Some(pt) = matched.or_else(same_codec) else {
                tracing::debug!(peer = sub.0, %mid, "subscriber did not negotiate this codec");
                continue;
            };
            let writer = match data.ext_vals.audio_level {
                Some(level) => writer.audio_level(level, data.ext_vals.voice_activity.unwrap_or(false)),
                None => writer,
            };
            if let Err(e) = writer.write(pt, data.network_time, time, data.data.clone()) {
                tracing::info!(peer = sub.0, error = %e, "forwarding failed; closing subscriber");
                peer.rtc.disconnect();
            }
            self.dirty.push(sub);
        }
    }

    pub(super) fn on_keyframe_request(&mut self, key: PeerKey, req: KeyframeRequest, now: Instant) {
        let Some(peer) = self.peers.get(&key) else { return };
        let Some(track) = peer.downs.iter().find(|d| d.state.mid() == Some(req.mid)).and_then(|d| d.source) else {
            return;
        };
        let room_id = peer.room.clone();
        self.request_keyframe(&room_id, track, now);
    }

    /// Asks the publisher of `track` for a keyframe, coalesced per track.
    pub(super) fn request_keyframe(&mut self, room_id: &RoomId, track: TrackId, now: Instant) {
        let Some(up) = self.rooms.get_mut(room_id).and_then(|r| r.tracks.get_mut(&track)) else { return };
        if up.kind != MediaKind::Video || !up.keyframe.request(now) {
            return;
        }
        let (p, m) = (up.peer, up.mid);
        self.send_keyframe_request(p, m);
    }

    pub(super) fn send_keyframe_request(&mut self, peer: PeerKey, mid: Mid) {
        let Some(p) = self.peers.get_mut(&peer) else { return };
        let Some(mut w) = p.rtc.writer(mid) else { return };
        let kind = if w.is_request_keyframe_possible(KeyframeRequestKind::Pli) {
            KeyframeRequestKind::Pli
        } else {
            KeyframeRequestKind::Fir
        };
        if let Err(e) = w.request_keyframe(None, kind) {
            tracing::debug!(peer = peer.0, error = %e, "keyframe request not possible");
        }
        self.dirty.push(peer);
    }
}
