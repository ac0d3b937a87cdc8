//! The Room plane: one lesson's participants, their tracks, the lobby and classroom, and the
//! return feed. A [`Room`] reaches its connections only through the shard's [`PeerTable`], takes
//! the time as an input and returns what should happen beyond the media path as [`RoomOutput`]s;
//! it never reads a clock or sends to a channel. Start at [`Room::on_peer_event`] (media) and
//! [`Room::join_browser`] (signaling).
//!
//! - `membership`: admitting and removing participants, WHIP/WHEP sessions.
//! - `lesson`: the classroom state machines meeting the media (lobby, moderation, exports).
//! - `subscription`: which published tracks flow to whom, and the offers that say so.
//! - `forward`: the packet path and keyframe requests.
//! - `return_feed`: the classroom box's switched slots.
//! - `bandwidth`: each subscriber's estimate and layer allocation.
//! - `takeover`: a classroom box's new WHIP session taking over its old one (make-before-break).
//! - `occurrence`: the lesson occurrence (its id; ended by a teacher, the API, the timetable or
//!   an empty room).
//! - `privacy`: the lesson's view mode (students see each other, or only the teacher and the room),
//!   and breakout groups: a track flows only within one space (see `docs/breakouts.md`).
//! - `access`: sessions ending with their credential (revoked, expired plus grace) and the lobby of
//!   a room nobody came to.

mod access;
mod bandwidth;
#[cfg(test)]
mod breakout_tests;
mod forward;
mod lesson;
mod membership;
mod occurrence;
mod participant;
mod privacy;
mod record;
mod restart;
mod return_feed;
mod subscription;
mod takeover;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use lectern_proto::device::HubMsg;
use lectern_proto::signal::ServerMsg;
use lectern_proto::{ParticipantId, RoomId, TrackId};

use self::participant::{Participant, UpTrack};
use super::command::Ident;
use super::peer::{Direction, PeerEvent, PeerKey};
use super::peer_table::PeerTable;
use super::speaker::SpeakerSelector;
use crate::classroom::Classroom;
use crate::store::StoreEvent;
use crate::time::Now;

/// How long a room without anyone in it keeps its lesson state.
const EMPTY_ROOM_KEPT: Duration = Duration::from_secs(3600);

/// What a room wants done outside the media path; the shard's IO shell does it.
#[derive(Debug)]
pub enum RoomOutput {
    /// A message on a browser's signaling channel.
    Signal(ParticipantId, ServerMsg),
    /// Something worth persisting.
    Store(StoreEvent),
    /// A message for the room's classroom box on its control channel.
    Device(RoomId, HubMsg),
    /// The participant is gone (left, removed, refused, or gave up waiting): its signaling
    /// channel closes after the messages before this one, and its WHIP/WHEP resource goes.
    SessionEnded(RoomId, ParticipantId),
    /// For the hub recorder: a recorded packet, or a file to close.
    Record(crate::recording::recorder::RecordOutput),
}

pub struct Room {
    id: RoomId,
    participants: BTreeMap<ParticipantId, Participant>,
    tracks: BTreeMap<TrackId, UpTrack>,
    next_track: u64,
    /// Loudness of remote participants, for the classroom's return feed.
    speakers: SpeakerSelector,
    /// When the return feed's slots were last chosen.
    last_selection: Option<Instant>,
    /// The lesson: lobby, hands, chat, polls, attendance. Outlives participants leaving, so a
    /// teacher can still export attendance after the last student left.
    classroom: Classroom,
    /// What admitting a browser waiting in the classroom's lobby needs. The classroom's lobby
    /// decides who waits; this holds an entry for exactly those (see `settle_lobby`).
    waiting: BTreeMap<ParticipantId, Ident>,
    /// Since when nobody is in the room (it is dropped after a while).
    empty_since: Option<Instant>,
    /// Subscribers that just connected, with when they may be given media (see
    /// [`START_DELAY`](forward::START_DELAY)).
    viewer_starts: Vec<(Instant, TrackId, PeerKey)>,
    /// Per subscriber with an estimate (or the audio-only toggle): its allocator.
    bandwidth: BTreeMap<ParticipantId, bandwidth::SubscriberBandwidth>,
    /// When the allocations are next re-run; `None` while no subscriber has an estimate.
    next_allocation: Option<Instant>,
    /// The earliest a session's token (plus grace) runs out (see `access`).
    session_deadline: Option<Instant>,
    /// When the breakout round's timer or recall countdown ends (see `lesson::follow_breakouts`).
    breakout_deadline: Option<Instant>,
    /// Who the hub recorder records (see `record`).
    recorder: record::RoomRecorder,
    out: Vec<RoomOutput>,
}

impl Room {
    pub fn new(id: RoomId) -> Self {
        Self {
            id,
            participants: BTreeMap::new(),
            tracks: BTreeMap::new(),
            next_track: 1,
            speakers: SpeakerSelector::default(),
            last_selection: None,
            classroom: Classroom::default(),
            waiting: BTreeMap::new(),
            empty_since: None,
            viewer_starts: Vec::new(),
            bandwidth: BTreeMap::new(),
            next_allocation: None,
            session_deadline: None,
            breakout_deadline: None,
            recorder: Default::default(),
            out: Vec::new(),
        }
    }

    pub fn id(&self) -> &RoomId {
        &self.id
    }

    /// The admitted participants (not the lobby).
    pub fn participant_ids(&self) -> Vec<ParticipantId> {
        self.participants.keys().copied().collect()
    }

    /// Moves what the room wants done to `into`, oldest first.
    pub fn drain_outputs_into(&mut self, into: &mut Vec<RoomOutput>) {
        into.append(&mut self.out);
    }

    /// Nobody has been here for long enough that the lesson's state can go.
    pub fn is_expired(&self, now: Instant) -> bool {
        self.empty_since.is_some_and(|t| now.saturating_duration_since(t) > EMPTY_ROOM_KEPT)
    }

    /// The earliest time [`on_timeout`](Self::on_timeout) or
    /// [`start_due_viewers`](Self::start_due_viewers) has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        let throttles = self.tracks.values().filter_map(|t| t.keyframe.next_deadline());
        let sessions = self.session_deadline();
        let lesson = self.lesson_deadline();
        throttles
            .chain(self.viewer_starts.iter().map(|s| s.0))
            .chain(self.next_allocation)
            .chain(sessions)
            .chain(lesson)
            .chain(self.breakout_deadline)
            .min()
    }

    /// Time passed: deferred keyframe requests go upstream, return feeds are re-chosen,
    /// subscribers' layers re-allocated.
    pub fn on_timeout(&mut self, peers: &mut PeerTable, now: Now) {
        let due: Vec<TrackId> =
            self.tracks.iter_mut().filter_map(|(id, t)| t.keyframe.poll(now.mono).then_some(*id)).collect();
        for track in due {
            self.keyframe_upstream(peers, track);
        }
        self.select_return_feeds(peers, now.mono);
        self.allocate_due(peers, now.mono);
        self.expire_sessions(peers, now);
        self.lesson_timeout(peers, now);
        self.breakout_timeout(peers, now);
    }

    /// Gives media to subscribers whose start was deferred until now. Called after the shard
    /// flushed, so the DTLS flight that completes a new subscriber's handshake is on the wire
    /// before its first media. False if nothing was due.
    pub fn start_due_viewers(&mut self, peers: &mut PeerTable, now: Now) -> bool {
        if !self.viewer_starts.iter().any(|s| s.0 <= now.mono) {
            return false;
        }
        let (due, later) = std::mem::take(&mut self.viewer_starts).into_iter().partition(|s| s.0 <= now.mono);
        self.viewer_starts = later;
        for (_, track, key) in due {
            self.start_viewer(peers, track, key, now.mono);
        }
        true
    }

    /// Something happened on one of this room's peers (`key`).
    pub fn on_peer_event(&mut self, peers: &mut PeerTable, key: PeerKey, ev: PeerEvent, now: Now) {
        let Some(peer) = peers.get(key) else { return };
        let (pid, direction) = (peer.participant, peer.direction);
        match ev {
            PeerEvent::Connected => {
                tracing::debug!(peer = key.0, "peer connected");
                if direction == Direction::Publish {
                    self.complete_takeover(peers, pid, key, now.mono);
                } else {
                    let sources: Vec<TrackId> = peer.downs.iter().filter_map(|d| d.source).collect();
                    for t in sources {
                        self.start_viewer(peers, t, key, now.mono);
                    }
                }
            }
            PeerEvent::MediaAdded { mid, kind } => match direction {
                // Known from its offer; it takes them over once connected.
                Direction::Publish if self.is_replacing(pid, key) => {}
                Direction::Publish => self.add_up_track(peers, key, mid, kind, now.mono),
                Direction::Subscribe => self.add_whep_slot(peers, key, mid, kind, now.mono),
            },
            PeerEvent::Rtp { mid, rid, packet } => self.forward(peers, key, mid, rid, packet, now),
            PeerEvent::KeyframeRequest(req) => self.on_keyframe_request(peers, key, req, now.mono),
            PeerEvent::Estimate { bps, remb } => self.on_estimate(pid, bps, remb, now.mono),
            PeerEvent::Closed => self.on_peer_closed(peers, key, pid, now),
        }
    }

    fn emit(&mut self, output: RoomOutput) {
        self.out.push(output);
    }

    fn signal(&mut self, to: ParticipantId, msg: ServerMsg) {
        self.out.push(RoomOutput::Signal(to, msg));
    }

    /// Sends `msg` to every browser in the room except `except`.
    fn broadcast(&mut self, except: ParticipantId, msg: &ServerMsg) {
        let out = &mut self.out;
        for p in self.participants.values().filter(|p| p.id() != except && p.is_browser()) {
            out.push(RoomOutput::Signal(p.id(), msg.clone()));
        }
    }

    fn subscriber_peers(&self) -> impl Iterator<Item = PeerKey> + '_ {
        self.participants.values().filter_map(|p| p.subscribe)
    }
}
