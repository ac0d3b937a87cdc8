//! Make-before-break for a classroom box. GStreamer 1.22's webrtcbin cannot restart ICE, so a box
//! whose path to the hub broke (a network change, a cut) publishes a new WHIP session and DELETEs
//! the old one once the new one is up. The new session takes over the box's participant: the same
//! participant id and the same track ids, so subscribers keep their m-lines (no renegotiation, no
//! `participantLeft`) and switch to the new stream at its first keyframe, with RTP time and
//! sequence numbers kept continuous. Until the new connection is up, the old one keeps forwarding
//! whatever still reaches the hub over it.

use std::time::Instant;

use lectern_proto::{ParticipantId, Role, TrackId};
use str0m::change::{SdpAnswer, SdpOffer};
use str0m::media::{Direction as SdpDirection, MediaKind, Mid};

use super::Room;
use super::participant::{Replacement, UpTrack};
use crate::sfu::command::SfuError;
use crate::sfu::peer::{Direction, PeerKey};
use crate::sfu::peer_table::PeerTable;
use crate::store::Transport;
use crate::time::Now;

impl Room {
    /// A new WHIP session of the box participant `pid`: its connection is built and answered, but
    /// takes over only once connected ([`complete_takeover`](Self::complete_takeover)). A second
    /// attempt replaces a first one still connecting. `UnknownParticipant` if `pid` is no longer
    /// a box publishing here (the caller then admits a new participant).
    pub fn begin_takeover(
        &mut self,
        peers: &mut PeerTable,
        pid: ParticipantId,
        offer: SdpOffer,
        screen_mid: Option<String>,
        now: Now,
    ) -> Result<SdpAnswer, SfuError> {
        let publishing_box = |p: &super::Participant| p.role() == Role::Device && p.ident.transport == Transport::Whip;
        if !self.participants.get(&pid).is_some_and(publishing_box) {
            return Err(SfuError::UnknownParticipant);
        }
        // From the offer, not from str0m's `MediaAdded` events, which may come only after the
        // connection is up: by then the m-lines must be known to take the old tracks over.
        let media = sending_media(&offer);
        let key = peers.create(&self.id, pid, Direction::Publish, now.mono);
        // Invariant: `create` just inserted it.
        let peer = peers.get_mut(key).expect("peer was just inserted");
        peer.screen_mid = screen_mid.map(|m| Mid::from(m.as_str()));
        peer.ice_restartable = true;
        let answer = match peer.rtc.sdp_api().accept_offer(offer) {
            Ok(a) => a,
            Err(e) => {
                // The session being replaced carries on (or times out) as before.
                peers.remove(key);
                return Err(SfuError::BadOffer(e.to_string()));
            }
        };
        // Invariant: checked above, and nothing since removed it.
        let participant = self.participants.get_mut(&pid).expect("participant checked above");
        if let Some(stale) = participant.replacing.replace(Replacement { key, media }) {
            peers.remove(stale.key);
        }
        tracing::info!(room = %self.id, participant = %pid, peer = key.0, "a box's new WHIP session is connecting to take over its old one");
        peers.mark_dirty(key);
        Ok(answer)
    }

    /// Whether `key` is `pid`'s replacing connection, whose m-lines wait for it to take over.
    pub(super) fn is_replacing(&self, pid: ParticipantId, key: PeerKey) -> bool {
        self.participants.get(&pid).and_then(|p| p.replacing.as_ref()).is_some_and(|r| r.key == key)
    }

    /// `key`, `pid`'s replacing connection, is up: it becomes the participant's publish
    /// connection. Each of its m-lines takes over the old track of the same kind (and screen or
    /// not); old tracks it does not carry end, new ones are published. False if `key` is not a
    /// replacing connection.
    pub(super) fn complete_takeover(
        &mut self,
        peers: &mut PeerTable,
        pid: ParticipantId,
        key: PeerKey,
        now: Instant,
    ) -> bool {
        let Some(participant) = self.participants.get_mut(&pid) else { return false };
        let Some(replacement) = participant.replacing.take_if(|r| r.key == key) else { return false };
        let old = participant.publish.replace(key);
        let screen_mid = peers.get(key).and_then(|p| p.screen_mid);
        let mut orphans: Vec<TrackId> = self.tracks.iter().filter(|(_, t)| t.owner == pid).map(|(id, _)| *id).collect();
        let mut fresh = Vec::new();
        for (mid, kind) in replacement.media {
            let screen = screen_mid == Some(mid) && kind == MediaKind::Video;
            let same = |t: &TrackId| self.tracks.get(t).is_some_and(|u| u.kind == kind && u.screen == screen);
            let Some(i) = orphans.iter().position(same) else {
                fresh.push((mid, kind));
                continue;
            };
            let track = orphans.swap_remove(i);
            // A fresh record: the old stream's keyframe state, GOP cache, layers and rates are of no use.
            self.tracks.insert(track, UpTrack::new(pid, key, mid, kind, screen));
            if let Some(peer) = peers.get_mut(key) {
                peer.ups.push((mid, track));
            }
            self.switch_viewers(peers, track, now);
        }
        for t in &orphans {
            self.tracks.remove(t);
            self.speakers.remove_track(*t);
        }
        self.unsubscribe(peers, &orphans);
        if let Some(old) = old.filter(|o| *o != key) {
            peers.remove(old);
        }
        for (mid, kind) in fresh {
            self.add_up_track(peers, key, mid, kind, now);
        }
        tracing::info!(room = %self.id, participant = %pid, peer = key.0, "the box's new WHIP session took over");
        true
    }

    /// Subscribers of `track` go on from its new source's next keyframe, with their RTP time and
    /// sequence numbers continuing where the old source left them.
    fn switch_viewers(&mut self, peers: &mut PeerTable, track: TrackId, now: Instant) {
        let subscribers: Vec<PeerKey> = self.subscriber_peers().collect();
        for sub in subscribers {
            let Some(peer) = peers.get_mut(sub) else { continue };
            let mut viewing = false;
            for d in peer.downs.iter_mut().filter(|d| d.source == Some(track)) {
                d.rebase.switch();
                d.started = false;
                d.layer = Default::default();
                d.pt_map = None;
                viewing = true;
            }
            if viewing && peer.connected() {
                self.start_viewer(peers, track, sub, now);
            }
        }
    }
}

/// The audio and video m-lines `offer` sends on, in order.
fn sending_media(offer: &SdpOffer) -> Vec<(Mid, MediaKind)> {
    offer
        .media_lines
        .iter()
        .filter(|m| {
            !m.disabled && m.typ.is_media() && matches!(m.direction(), SdpDirection::SendOnly | SdpDirection::SendRecv)
        })
        .map(|m| (m.mid(), MediaKind::from(m.typ.clone())))
        .collect()
}
