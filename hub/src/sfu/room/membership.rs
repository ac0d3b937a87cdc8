//! Who is in the room: WHIP/WHEP sessions (one peer is the whole participant), admitting a
//! participant and telling the others, and removing one with its peers and tracks.

use lectern_proto::signal::{ErrorCode, ParticipantInfo, ServerMsg};
use lectern_proto::{ParticipantId, TrackId};
use str0m::change::{SdpAnswer, SdpOffer};
use str0m::media::Mid;

use super::participant::Participant;
use super::{Room, RoomOutput};
use crate::sfu::command::{Ident, SfuError};
use crate::sfu::peer::{Direction, PeerKey};
use crate::sfu::peer_table::PeerTable;
use crate::store::{StoreEvent, Transport};
use crate::time::Now;

impl Room {
    /// WHIP and WHEP: the client offers; one peer is the whole participant. `screen_mid` (WHIP
    /// only) is the m-line that carries a screen rather than a camera.
    pub fn add_offering_peer(
        &mut self,
        peers: &mut PeerTable,
        ident: Ident,
        offer: SdpOffer,
        direction: Direction,
        screen_mid: Option<String>,
        now: Now,
    ) -> Result<SdpAnswer, SfuError> {
        let pid = ident.participant;
        if direction == Direction::Publish {
            self.check_track_limits(pid, &offer, screen_mid.as_deref())?;
        }
        // The return feed is the same classroom box, already in the lesson through its WHIP session.
        if ident.transport != Transport::Return {
            self.gate(peers, &ident, now)?;
        }
        let key = peers.create(&self.id, pid, direction, now.mono);
        // Invariant: `create` just inserted it.
        let peer = peers.get_mut(key).expect("peer was just inserted");
        // Before the offer's tracks appear: `add_up_track` reads it when they do.
        peer.screen_mid = screen_mid.map(|m| Mid::from(m.as_str()));
        // A box that lost its path publishes again and takes this participant over (see
        // `takeover`): kept meanwhile, so nobody sees the room leave.
        peer.ice_restartable = ident.transport == Transport::Whip && ident.role == lectern_proto::Role::Device;
        let answer = match peer.rtc.sdp_api().accept_offer(offer) {
            Ok(a) => a,
            Err(e) => {
                peers.remove(key);
                self.classroom_left(peers, pid, now);
                return Err(SfuError::BadOffer(e.to_string()));
            }
        };
        let mut participant = Participant::new(ident);
        match direction {
            Direction::Publish => participant.publish = Some(key),
            Direction::Subscribe => participant.subscribe = Some(key),
        }
        let pid = participant.id();
        self.admit(participant, now);
        self.lesson_admitted(peers, pid, now);
        peers.mark_dirty(key);
        Ok(answer)
    }

    /// Adds a participant to the room and tells the others.
    pub(super) fn admit(&mut self, mut participant: Participant, now: Now) {
        self.start_blocked(&mut participant);
        let ident = &participant.ident;
        self.emit(RoomOutput::Store(StoreEvent::Joined {
            participant: ident.participant,
            room: ident.room.clone(),
            subject: ident.subject.clone(),
            name: ident.name.clone(),
            role: ident.role,
            transport: ident.transport,
            at: now.unix_secs(),
        }));
        self.empty_since = None;
        self.note_session_end(&participant.ident, now);
        let pid = participant.id();
        if !participant.is_return_feed() {
            self.broadcast(pid, &ServerMsg::ParticipantJoined { participant: participant.info() });
        }
        tracing::info!(room = %participant.room(), participant = %pid, role = %participant.role(), transport = ?participant.ident.transport, "participant joined");
        self.participants.insert(pid, participant);
    }

    /// Everyone a newcomer should know about: the return feed is the classroom box's second
    /// connection, not another participant.
    pub(super) fn infos_except(&self, except: ParticipantId) -> Vec<ParticipantInfo> {
        self.participants.values().filter(|p| p.id() != except && !p.is_return_feed()).map(Participant::info).collect()
    }

    pub(super) fn participant(&self, pid: ParticipantId) -> Result<&Participant, SfuError> {
        self.participants.get(&pid).ok_or(SfuError::UnknownParticipant)
    }

    /// A connection closed: the whole participant goes if it was one of their current ones,
    /// else just that peer. A box's old connection closing while its new one connects to take
    /// over, or the new one failing while the old one still works, ends only that connection.
    pub(super) fn on_peer_closed(&mut self, peers: &mut PeerTable, key: PeerKey, pid: ParticipantId, now: Now) {
        tracing::info!(peer = key.0, room = %self.id, participant = %pid, "media connection closed");
        let Some(p) = self.participants.get_mut(&pid) else {
            peers.remove(key);
            return;
        };
        let replaced_alive = p.publish.is_some_and(|k| peers.contains(k));
        if p.replacing.as_ref().is_some_and(|r| r.key == key) && replaced_alive {
            p.replacing = None;
            peers.remove(key);
            return;
        }
        if p.publish == Some(key) && p.replacing.is_some() {
            p.publish = None;
            peers.remove(key);
            return;
        }
        let whole =
            p.publish == Some(key) || p.subscribe == Some(key) || p.replacing.as_ref().is_some_and(|r| r.key == key);
        if p.is_browser() {
            self.signal(
                pid,
                ServerMsg::Error {
                    code: ErrorCode::Internal,
                    message: "the media connection was lost; reconnecting".into(),
                    fatal: true,
                },
            );
        }
        if whole {
            let _ = self.remove_participant(peers, pid, now);
        } else {
            peers.remove(key);
        }
    }

    /// Removes a participant (or someone waiting in the lobby), its peers and its tracks, and
    /// tells the room.
    pub fn remove_participant(&mut self, peers: &mut PeerTable, pid: ParticipantId, now: Now) -> Result<(), SfuError> {
        let Some(participant) = self.participants.remove(&pid) else {
            // Someone leaving the lobby is not a participant yet.
            if self.waiting.contains_key(&pid) {
                self.classroom_left(peers, pid, now);
                return Ok(());
            }
            return Err(SfuError::UnknownParticipant);
        };
        let gone: Vec<TrackId> = self.tracks.iter().filter(|(_, t)| t.owner == pid).map(|(id, _)| *id).collect();
        for t in &gone {
            self.tracks.remove(t);
        }
        if !participant.is_return_feed() {
            self.broadcast(pid, &ServerMsg::ParticipantLeft { participant_id: pid });
        }
        self.speakers.remove_participant(pid);
        self.stop_recording_of(pid);
        if self.participants.is_empty() {
            self.empty_since = Some(now.mono);
        }
        let replacing = participant.replacing.as_ref().map(|r| r.key);
        for key in [participant.publish, participant.subscribe, replacing].into_iter().flatten() {
            peers.remove(key);
        }
        self.unsubscribe(peers, &gone);
        self.classroom_left(peers, pid, now);
        if self.participants.is_empty() {
            self.save_lesson(now);
        }
        self.emit(RoomOutput::Store(StoreEvent::Left { participant: pid, at: now.unix_secs() }));
        self.emit(RoomOutput::SessionEnded(self.id.clone(), pid));
        tracing::info!(room = %self.id, participant = %pid, "participant left");
        Ok(())
    }
}
