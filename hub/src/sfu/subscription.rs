//! Which tracks flow to whom: published tracks (UpTracks) become m-lines on subscribers (DownTracks),
//! offered to browsers in batches, bound to WHEP slots, and stopped when their source leaves.

use std::time::Instant;

use lectern_proto::signal::{ServerMsg, TrackInfo};
use lectern_proto::{ParticipantId, RoomId, TrackId};
use str0m::media::{Direction as SdpDirection, MediaKind, Mid};

use super::core::ShardCore;
use super::peer::{Direction, DownState, DownTrack, PeerKey, wire_kind};
use super::room::UpTrack;

impl ShardCore {
    pub(super) fn add_up_track(&mut self, key: PeerKey, mid: Mid, kind: MediaKind, now: Instant) {
        let Some(peer) = self.peers.get_mut(&key) else { return };
        if peer.up_track(mid).is_some() {
            return;
        }
        let track = TrackId(self.next_track);
        self.next_track += 1;
        peer.ups.push((mid, track));
        let screen = peer.screen_mid == Some(mid) && kind == MediaKind::Video;
        let (room_id, owner) = (peer.room.clone(), peer.participant);
        let Some(room) = self.rooms.get_mut(&room_id) else { return };
        room.tracks.insert(
            track,
            UpTrack {
                owner,
                peer: key,
                mid,
                kind,
                keyframe: Default::default(),
                gops: Default::default(),
                screen,
                layers: Default::default(),
            },
        );
        tracing::info!(room = %room_id, participant = %owner, %track, ?kind, "track published");
        let subscribers: Vec<ParticipantId> = room
            .members
            .values()
            .filter(|m| m.ident.participant != owner && m.ident.role.can_subscribe())
            .map(|m| m.ident.participant)
            .collect();
        for sub in subscribers {
            self.add_down(&room_id, sub, track, now);
        }
    }

    /// A WHEP viewer's m-line: a fixed slot, bound now or when a publisher of that kind arrives.
    pub(super) fn add_whep_slot(&mut self, key: PeerKey, mid: Mid, kind: MediaKind, now: Instant) {
        let Some(peer) = self.peers.get_mut(&key) else { return };
        if peer.hub_offers || peer.downs.iter().any(|d| d.state.mid() == Some(mid)) {
            return;
        }
        peer.downs.push(DownTrack {
            kind: wire_kind(kind),
            source: None,
            owner: None,
            state: DownState::Open(mid),
            rebase: Default::default(),
            pt_map: None,
            screen: false,
            started: false,
            layer: Default::default(),
            rtx_sized: false,
        });
        let (room_id, pid) = (peer.room.clone(), peer.participant);
        let free: Vec<TrackId> =
            self.rooms.get(&room_id).map(|r| r.tracks.keys().copied().collect()).unwrap_or_default();
        for t in free {
            self.add_down(&room_id, pid, t, now);
        }
    }

    /// Makes `track` flow to participant `sub`.
    pub(super) fn add_down(&mut self, room_id: &RoomId, sub: ParticipantId, track: TrackId, now: Instant) {
        let Some(room) = self.rooms.get(room_id) else { return };
        let (Some(up), Some(member)) = (room.tracks.get(&track), room.members.get(&sub)) else { return };
        let (kind, owner, screen) = (wire_kind(up.kind), up.owner, up.screen);
        if member.is_return_feed() {
            return; // its slots follow the speakers: see return_feed.rs
        }
        if !member.is_browser() {
            // WHEP: bind to a free slot of the same kind; a device's WHIP session receives nothing here.
            let Some(key) = member.subscribe else { return };
            let Some(peer) = self.peers.get_mut(&key) else { return };
            if peer.downs.iter().any(|d| d.source == Some(track)) {
                return;
            }
            if let Some(slot) = peer.downs.iter_mut().find(|d| d.kind == kind && d.source.is_none()) {
                slot.source = Some(track);
                slot.owner = Some(owner);
                if peer.connected() {
                    self.start_viewer(room_id, track, key, now);
                }
            }
            return;
        }
        let key = match member.subscribe {
            Some(k) if self.peers.contains_key(&k) => k,
            _ => {
                let k = self.new_peer(room_id, sub, Direction::Subscribe, now);
                self.peers.get_mut(&k).expect("just created").hub_offers = true;
                if let Ok(m) = self.member_mut(room_id, sub) {
                    m.subscribe = Some(k);
                }
                k
            }
        };
        let peer = self.peers.get_mut(&key).expect("subscribe peer exists");
        peer.downs.push(DownTrack {
            kind,
            source: Some(track),
            owner: Some(owner),
            state: DownState::ToOpen,
            rebase: Default::default(),
            pt_map: None,
            screen,
            started: false,
            layer: Default::default(),
            rtx_sized: false,
        });
        self.renegotiate.push(key);
    }

    /// Sends a new subscribe offer to a browser if m-lines changed and no offer is outstanding.
    pub(super) fn negotiate(&mut self, key: PeerKey) {
        let Some(peer) = self.peers.get_mut(&key) else { return };
        if !peer.hub_offers || peer.pending.is_some() {
            return;
        }
        let mut change = peer.rtc.sdp_api();
        for d in &mut peer.downs {
            match d.state {
                DownState::ToOpen if d.source.is_some() => {
                    let stream = d.owner.map(|o| o.to_string());
                    let mid =
                        change.add_media(super::peer::str0m_kind(d.kind), SdpDirection::SendOnly, stream, None, None);
                    d.state = DownState::Negotiating(mid);
                }
                DownState::ToStop(m) => {
                    change.stop_media(m);
                    d.state = DownState::Stopping(m);
                }
                _ => {}
            }
        }
        if !change.has_changes() {
            return;
        }
        let Some((offer, pending)) = change.apply() else { return };
        peer.pending = Some(pending);
        let tracks = peer
            .downs
            .iter()
            .filter_map(|d| match (d.state, d.owner) {
                (DownState::Negotiating(m) | DownState::Open(m), Some(owner)) => {
                    Some(TrackInfo { mid: m.to_string(), participant_id: owner, kind: d.kind, screen: d.screen })
                }
                _ => None,
            })
            .collect();
        let (room_id, pid) = (peer.room.clone(), peer.participant);
        self.dirty.push(key);
        if let Ok(m) = self.member(&room_id, pid) {
            m.send(ServerMsg::SubscribeOffer { sdp: offer.to_sdp_string(), tracks });
        }
    }

    /// Stops forwarding tracks that no longer exist.
    pub(super) fn unsubscribe(&mut self, room_id: &RoomId, gone: &[TrackId]) {
        if gone.is_empty() {
            return;
        }
        let subs: Vec<PeerKey> = self.rooms.get(room_id).map(|r| r.subscriber_peers().collect()).unwrap_or_default();
        for key in subs {
            let Some(peer) = self.peers.get_mut(&key) else { continue };
            let hub_offers = peer.hub_offers;
            let is_gone = |d: &DownTrack| d.source.is_some_and(|s| gone.contains(&s));
            // Never offered: simply forget them.
            peer.downs.retain(|d| !(hub_offers && d.state == DownState::ToOpen && is_gone(d)));
            for d in peer.downs.iter_mut().filter(|d| is_gone(d)) {
                if !hub_offers {
                    d.source = None; // WHEP slot waits for the next publisher
                    d.owner = None;
                } else if let DownState::Negotiating(m) | DownState::Open(m) = d.state {
                    d.state = DownState::ToStop(m);
                }
            }
            self.renegotiate.push(key);
        }
    }
}
