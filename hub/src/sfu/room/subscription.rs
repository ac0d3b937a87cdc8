//! Which tracks flow to whom: published tracks (UpTracks) become m-lines on subscribers (DownTracks),
//! offered to browsers in batches, bound to WHEP slots, and stopped when their source leaves; and
//! the browser's side of that negotiation (its publish offers, subscribe answers, candidates).

use std::time::Instant;

use lectern_proto::signal::{ServerMsg, TrackInfo};
use lectern_proto::{ParticipantId, TrackId};
use str0m::Candidate;
use str0m::change::{SdpAnswer, SdpOffer};
use str0m::media::{Direction as SdpDirection, MediaKind, Mid};

use super::Room;
use super::participant::UpTrack;
use crate::sfu::command::SfuError;
use crate::sfu::peer::{Direction, DownState, DownTrack, PeerKey, str0m_kind, wire_kind};
use crate::sfu::peer_table::PeerTable;

impl Room {
    pub(super) fn add_up_track(
        &mut self,
        peers: &mut PeerTable,
        key: PeerKey,
        mid: Mid,
        kind: MediaKind,
        now: Instant,
    ) {
        let Some(peer) = peers.get_mut(key) else { return };
        if peer.up_track(mid).is_some() {
            return;
        }
        let track = TrackId(self.next_track);
        self.next_track += 1;
        peer.ups.push((mid, track));
        let screen = peer.screen_mid == Some(mid) && kind == MediaKind::Video;
        let owner = peer.participant;
        self.tracks.insert(track, UpTrack::new(owner, key, mid, kind, screen));
        tracing::info!(room = %self.id, participant = %owner, %track, ?kind, "track published");
        let subscribers: Vec<ParticipantId> = self
            .participants
            .values()
            .filter(|p| p.id() != owner && p.role().can_subscribe())
            .map(|p| p.id())
            .collect();
        for sub in subscribers {
            self.add_down(peers, sub, track, now);
        }
    }

    /// A WHEP viewer's m-line: a fixed slot, bound now or when a publisher of that kind arrives.
    pub(super) fn add_whep_slot(
        &mut self,
        peers: &mut PeerTable,
        key: PeerKey,
        mid: Mid,
        kind: MediaKind,
        now: Instant,
    ) {
        let Some(peer) = peers.get_mut(key) else { return };
        if peer.hub_offers || peer.downs.iter().any(|d| d.state.mid() == Some(mid)) {
            return;
        }
        peer.downs.push(DownTrack::new(wire_kind(kind), None, None, DownState::Open(mid), false));
        let pid = peer.participant;
        let free: Vec<TrackId> = self.tracks.keys().copied().collect();
        for t in free {
            self.add_down(peers, pid, t, now);
        }
    }

    /// Makes `track` flow to participant `sub`.
    pub(super) fn add_down(&mut self, peers: &mut PeerTable, sub: ParticipantId, track: TrackId, now: Instant) {
        let (Some(up), Some(participant)) = (self.tracks.get(&track), self.participants.get(&sub)) else { return };
        let (kind, owner, screen) = (wire_kind(up.kind), up.owner, up.screen);
        if self.hidden_from(participant, up) {
            return; // the lesson's view mode: see privacy.rs
        }
        if participant.is_return_feed() {
            return; // its slots follow the speakers: see return_feed.rs
        }
        if !participant.is_browser() {
            // WHEP: bind to a free slot of the same kind; a device's WHIP session receives nothing here.
            let Some(key) = participant.subscribe else { return };
            let Some(peer) = peers.get_mut(key) else { return };
            if peer.downs.iter().any(|d| d.source == Some(track)) {
                return;
            }
            if let Some(slot) = peer.downs.iter_mut().find(|d| d.kind == kind && d.source.is_none()) {
                slot.source = Some(track);
                slot.owner = Some(owner);
                if peer.connected() {
                    self.start_viewer(peers, track, key, now);
                }
            }
            return;
        }
        let key = match participant.subscribe {
            Some(k) if peers.contains(k) => k,
            _ => {
                let k = peers.create(&self.id, sub, Direction::Subscribe, now);
                // Invariant: `create` just inserted it.
                let peer = peers.get_mut(k).expect("just created");
                peer.hub_offers = true;
                peer.ice_restartable = true;
                if let Some(p) = self.participants.get_mut(&sub) {
                    p.subscribe = Some(k);
                }
                k
            }
        };
        // Invariant: found or created just above.
        let peer = peers.get_mut(key).expect("subscribe peer exists");
        peer.downs.push(DownTrack::new(kind, Some(track), Some(owner), DownState::ToOpen, screen));
        peers.renegotiate(key);
    }

    /// Sends a new subscribe offer to a browser if m-lines changed and no offer is outstanding.
    pub fn negotiate(&mut self, peers: &mut PeerTable, key: PeerKey) {
        let Some(peer) = peers.get_mut(key) else { return };
        if !peer.hub_offers || peer.pending.is_some() {
            return;
        }
        // An offer with every m-line stopped has no BUNDLE group, which a browser configured for
        // max-bundle refuses (and its connection is then stuck). Stopping the last tracks waits
        // until there is one to add: both go in one offer. Nothing is forwarded on them meanwhile.
        let keeps_one = peer.downs.iter().any(|d| match d.state {
            DownState::Open(_) | DownState::Negotiating(_) => true,
            DownState::ToOpen => d.source.is_some(),
            _ => false,
        });
        if !keeps_one {
            return;
        }
        let mut change = peer.rtc.sdp_api();
        for d in &mut peer.downs {
            match d.state {
                DownState::ToOpen if d.source.is_some() => {
                    let stream = d.owner.map(|o| o.to_string());
                    let mid = change.add_media(str0m_kind(d.kind), SdpDirection::SendOnly, stream, None, None);
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
        let tracks = offered_tracks(&peer.downs);
        let pid = peer.participant;
        let msg = ServerMsg::SubscribeOffer { sdp: offer.to_sdp_string(), tracks };
        peer.pending_offer = Some(msg.clone());
        peers.mark_dirty(key);
        if self.participants.contains_key(&pid) {
            self.signal(pid, msg);
        }
    }

    /// Stops forwarding tracks that no longer exist.
    pub(super) fn unsubscribe(&mut self, peers: &mut PeerTable, gone: &[TrackId]) {
        if gone.is_empty() {
            return;
        }
        let subs: Vec<PeerKey> = self.subscriber_peers().collect();
        for key in subs {
            stop_downs(peers, key, gone);
        }
    }

    /// A browser's (re)offer for its publish connection.
    pub fn publish_offer(
        &mut self,
        peers: &mut PeerTable,
        pid: ParticipantId,
        offer: SdpOffer,
        screen_mid: Option<String>,
        now: Instant,
    ) -> Result<SdpAnswer, SfuError> {
        let participant = self.participant(pid)?;
        if !participant.role().can_publish() {
            return Err(SfuError::Conflict("this role may not publish"));
        }
        if screen_mid.is_some() && self.classroom.screen_sharer() != Some(pid) {
            return Err(SfuError::Conflict("ask to share your screen first (requestScreenShare)"));
        }
        self.check_track_limits(pid, &offer, screen_mid.as_deref())?;
        let key = match participant.publish {
            Some(k) if peers.contains(k) => k,
            _ => {
                let k = peers.create(&self.id, pid, Direction::Publish, now);
                if let Some(peer) = peers.get_mut(k) {
                    peer.ice_restartable = true; // a browser's: this is its publish offer
                }
                if let Some(p) = self.participants.get_mut(&pid) {
                    p.publish = Some(k);
                }
                k
            }
        };
        // Invariant: found or created just above.
        let peer = peers.get_mut(key).expect("publish peer exists");
        let answer = peer.rtc.sdp_api().accept_offer(offer).map_err(|e| SfuError::BadOffer(e.to_string()))?;
        peer.screen_mid = screen_mid.map(|m| Mid::from(m.as_str()));
        peers.mark_dirty(key);
        Ok(answer)
    }

    /// A browser's answer to the hub's last subscribe offer.
    pub fn subscribe_answer(
        &mut self,
        peers: &mut PeerTable,
        pid: ParticipantId,
        answer: SdpAnswer,
        now: Instant,
    ) -> Result<(), SfuError> {
        const NONE_OUTSTANDING: SfuError = SfuError::Conflict("no subscribe offer is outstanding");
        let key = self.participant(pid)?.subscribe.ok_or(NONE_OUTSTANDING)?;
        let peer = peers.get_mut(key).ok_or(NONE_OUTSTANDING)?;
        let pending = peer.pending.take().ok_or(NONE_OUTSTANDING)?;
        if let Err(e) = peer.rtc.sdp_api().accept_answer(pending, answer) {
            // str0m keeps no half-applied state; the browser's next answer must match a new offer.
            for d in &mut peer.downs {
                if let DownState::Negotiating(_) = d.state {
                    d.state = DownState::ToOpen;
                }
            }
            return Err(SfuError::BadAnswer(e.to_string()));
        }
        let mut opened = Vec::new();
        for d in &mut peer.downs {
            if let DownState::Negotiating(m) = d.state {
                d.state = DownState::Open(m);
                opened.extend(d.source);
            }
        }
        // Stopped m-lines are done with; str0m may recycle their mids in a later offer.
        peer.downs.retain(|d| !matches!(d.state, DownState::Stopping(_)));
        peers.mark_dirty(key);
        for track in opened {
            self.start_viewer(peers, track, key, now);
        }
        peers.renegotiate(key);
        Ok(())
    }

    /// Trickled candidates for a participant's publish (WHIP) or receive (WHEP) connection.
    pub fn remote_candidates(
        &mut self,
        peers: &mut PeerTable,
        pid: ParticipantId,
        candidates: Vec<Candidate>,
    ) -> Result<(), SfuError> {
        let p = self.participant(pid)?;
        // A box's session taking over is the one still gathering (the old one's trickle is ignored).
        let replacing = p.replacing.as_ref().map(|r| r.key);
        let key = replacing.or(p.publish).or(p.subscribe).ok_or(SfuError::UnknownParticipant)?;
        let peer = peers.get_mut(key).ok_or(SfuError::UnknownParticipant)?;
        for c in candidates {
            peer.rtc.add_remote_candidate(c);
        }
        peers.mark_dirty(key);
        Ok(())
    }
}

/// Whose track each active m-line of a subscribe offer carries (`subscribeOffer.tracks`).
pub(super) fn offered_tracks(downs: &[DownTrack]) -> Vec<TrackInfo> {
    downs
        .iter()
        .filter_map(|d| match (d.state, d.owner) {
            (DownState::Negotiating(m) | DownState::Open(m), Some(owner)) => {
                Some(TrackInfo { mid: m.to_string(), participant_id: owner, kind: d.kind, screen: d.screen })
            }
            _ => None,
        })
        .collect()
}

/// Stops forwarding `gone` to one subscriber connection (its m-lines are stopped in the next offer).
pub(super) fn stop_downs(peers: &mut PeerTable, key: PeerKey, gone: &[TrackId]) {
    let Some(peer) = peers.get_mut(key) else { return };
    let hub_offers = peer.hub_offers;
    let is_gone = |d: &DownTrack| d.source.is_some_and(|s| gone.contains(&s));
    // Never offered: simply forget them.
    peer.downs.retain(|d| !(hub_offers && d.state == DownState::ToOpen && is_gone(d)));
    // The first m-line carries the BUNDLE group's transport: stopping it would move the
    // group to another m-line, and stopping every m-line would leave an offer without a
    // group, which a max-bundle browser refuses. So it stays, idle, and is never stopped.
    let tag = peer.downs.iter().position(|d| matches!(d.state, DownState::Negotiating(_) | DownState::Open(_)));
    for (i, d) in peer.downs.iter_mut().enumerate().filter(|(_, d)| is_gone(d)) {
        if !hub_offers || Some(i) == tag {
            d.source = None; // a WHEP slot waits for the next publisher; a browser's tag idles
            d.owner = None;
        } else if let DownState::Negotiating(m) | DownState::Open(m) = d.state {
            d.state = DownState::ToStop(m);
        }
    }
    peers.renegotiate(key);
}
