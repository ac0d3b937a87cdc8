//! The sans-IO heart of a shard: rooms, peers and forwarding, driven by commands, datagrams and
//! time. The shard's IO loop ([`super::shard`]) feeds it and sends what it queues; tests feed it
//! directly with str0m clients on simulated time.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use lectern_proto::signal::ServerMsg;
use lectern_proto::{ParticipantId, RoomId, TrackId};
use str0m::change::{SdpAnswer, SdpOffer};
use str0m::media::Mid;
use str0m::net::{Protocol, Receive};
use str0m::rtp::{Extension, ExtensionMap};
use str0m::{Candidate, Input, Rtc};
use tokio::sync::mpsc;

use super::command::{Command, Ident, SfuError};
use super::peer::{Datagram, Direction, DownState, Peer, PeerEvent, PeerKey};
use super::room::{Member, Room};
use super::timer::Timers;
use crate::store::{StoreEvent, Transport};

/// A peer that has not connected this long after its offer/answer is dropped.
const CONNECT_DEADLINE: Duration = Duration::from_secs(30);
/// How long a room without anyone in it keeps its lesson state.
const EMPTY_ROOM_KEPT: Duration = Duration::from_secs(3600);

pub struct ShardCore {
    pub(super) candidates: Vec<Candidate>,
    pub(super) peers: BTreeMap<PeerKey, Peer>,
    pub(super) created: HashMap<PeerKey, Instant>,
    pub(super) rooms: HashMap<RoomId, Room>,
    /// Remote address → peer, so most datagrams skip the scan over every peer.
    pub(super) routes: HashMap<SocketAddr, PeerKey>,
    pub(super) next_peer: u64,
    pub(super) next_track: u64,
    pub(super) out: Vec<Datagram>,
    pub(super) dirty: Vec<PeerKey>,
    /// Every peer's next str0m deadline, earliest first.
    timers: Timers,
    /// Reused buffers of [`flush`](Self::flush), so polling allocates nothing per packet.
    dirty_scratch: Vec<PeerKey>,
    events: Vec<PeerEvent>,
    /// Subscribe peers whose m-lines changed; offered once per flush so that a publisher's audio
    /// and video reach a browser in one offer, not two rounds.
    pub(super) renegotiate: Vec<PeerKey>,
    /// Subscribers that just connected, with when they may be given media (see
    /// [`START_DELAY`](super::forward::START_DELAY)).
    pub(super) viewer_starts: Vec<(Instant, RoomId, TrackId, PeerKey)>,
    pub(super) store: Option<mpsc::UnboundedSender<StoreEvent>>,
    /// Messages for classroom boxes on their control channel (e.g. the hand queue for the display).
    pub(super) devices: Option<mpsc::UnboundedSender<(RoomId, lectern_proto::device::HubMsg)>>,
    pub(super) clock: fn() -> u64,
}

impl ShardCore {
    /// `candidates` are the shard's local ICE candidates (host, and server-reflexive behind NAT).
    pub fn new(candidates: Vec<Candidate>, store: Option<mpsc::UnboundedSender<StoreEvent>>) -> Self {
        Self {
            candidates,
            peers: BTreeMap::new(),
            created: HashMap::new(),
            rooms: HashMap::new(),
            routes: HashMap::new(),
            next_peer: 1,
            next_track: 1,
            out: Vec::new(),
            dirty: Vec::new(),
            timers: Timers::default(),
            dirty_scratch: Vec::new(),
            events: Vec::new(),
            renegotiate: Vec::new(),
            viewer_starts: Vec::new(),
            store,
            devices: None,
            clock: crate::token::unix_now,
        }
    }

    /// Routes messages for classroom boxes (their control channel lives outside the shard).
    pub fn with_devices(mut self, tx: mpsc::UnboundedSender<(RoomId, lectern_proto::device::HubMsg)>) -> Self {
        self.devices = Some(tx);
        self
    }

    /// Datagrams ready to send, oldest first.
    pub fn drain_datagrams(&mut self) -> std::vec::Drain<'_, Datagram> {
        self.out.drain(..)
    }

    /// Swaps the queued datagrams into `into` (which must be empty), keeping both allocations.
    pub fn swap_datagrams(&mut self, into: &mut Vec<Datagram>) {
        std::mem::swap(&mut self.out, into);
    }

    pub fn room_count(&self) -> usize {
        self.rooms.len()
    }

    pub fn peer_count(&self) -> usize {
        self.peers.len()
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be called.
    pub fn next_timeout(&mut self, now: Instant) -> Instant {
        let peers = &self.peers;
        let peers = self.timers.next(|k| peers.get(&k).map(|p| p.next_timeout));
        let throttles = self.rooms.values().flat_map(|r| r.tracks.values().filter_map(|t| t.keyframe.next_deadline()));
        let starts = self.viewer_starts.iter().map(|s| s.0);
        peers.into_iter().chain(throttles).chain(starts).min().unwrap_or(now + Duration::from_secs(1)).max(now)
    }

    pub fn handle_command(&mut self, cmd: Command, now: Instant) {
        match cmd {
            Command::Whip { ident, offer, screen_mid, reply } => {
                let _ = reply.send(self.add_offering_peer(ident, offer, Direction::Publish, screen_mid, now));
            }
            Command::Whep { ident, offer, reply } | Command::Return { ident, offer, reply } => {
                let _ = reply.send(self.add_offering_peer(ident, offer, Direction::Subscribe, None, now));
            }
            Command::Join { ident, events, reply } => {
                let _ = reply.send(self.join_browser(ident, events, now));
            }
            Command::Classroom { room, participant, command, reply } => {
                let _ = reply.send(self.classroom_command(&room, participant, command, now));
            }
            Command::Report { room, reply } => {
                let _ = reply.send(self.lesson_report(&room));
            }
            Command::PublishOffer { room, participant, offer, screen_mid, reply } => {
                let _ = reply.send(self.publish_offer(&room, participant, offer, screen_mid, now));
            }
            Command::SubscribeAnswer { room, participant, answer, reply } => {
                let _ = reply.send(self.subscribe_answer(&room, participant, answer, now));
            }
            Command::RemoteCandidates { room, participant, candidates, reply } => {
                let _ = reply.send(self.remote_candidates(&room, participant, candidates, now));
            }
            Command::SetMuted { room, participant, kind, muted } => self.set_muted(&room, participant, kind, muted),
            Command::Leave { room, participant, reply } => {
                let res = self.remove_member(&room, participant, now);
                if let Some(reply) = reply {
                    let _ = reply.send(res);
                }
            }
        }
        self.flush(now);
    }

    /// A datagram arrived on `destination` (one of our candidate addresses) from `source`.
    pub fn handle_datagram(&mut self, now: Instant, source: SocketAddr, destination: SocketAddr, data: &[u8]) {
        self.handle_packet(now, Protocol::Udp, source, destination, data)
    }

    /// A packet arrived over UDP, or as one RFC 4571 frame of an ICE-TCP connection.
    pub fn handle_packet(
        &mut self,
        now: Instant,
        proto: Protocol,
        source: SocketAddr,
        destination: SocketAddr,
        data: &[u8],
    ) {
        self.receive(now, proto, source, destination, data);
        self.flush(now);
    }

    /// Like [`handle_packet`](Self::handle_packet), but the subscribers it forwards to are only
    /// polled at the next [`flush_received`](Self::flush_received): a burst of a frame's packets
    /// then costs each subscriber one str0m timeout and leaves as one GSO train, not one per packet.
    pub fn receive(&mut self, now: Instant, proto: Protocol, source: SocketAddr, destination: SocketAddr, data: &[u8]) {
        let Ok(contents) = data.try_into() else {
            return; // not STUN/DTLS/RTP: stray traffic
        };
        let input = Input::Receive(now, Receive { proto, source, destination, contents });
        let cached = self.routes.get(&source).copied().filter(|k| self.peers.get(k).is_some_and(|p| p.accepts(&input)));
        let key = match cached {
            Some(k) => k,
            None => match self.peers.values().find(|p| p.accepts(&input)) {
                Some(p) => {
                    self.routes.insert(source, p.key);
                    p.key
                }
                None => return,
            },
        };
        let Some(peer) = self.peers.get_mut(&key) else { return };
        peer.handle_input(input);
        // The receiving peer is polled at once: str0m holds one incoming RTP packet at a time.
        let mut events = std::mem::take(&mut self.events);
        self.poll_peer(key, &mut events, now);
        self.events = events;
        self.dirty.push(key);
    }

    /// Polls what [`receive`](Self::receive) left dirty.
    pub fn flush_received(&mut self, now: Instant) {
        self.flush(now);
    }

    /// Takes `key`'s output and events after its input, keeps its timer current and handles the
    /// events (`events` is a reused, empty buffer).
    fn poll_peer(&mut self, key: PeerKey, events: &mut Vec<PeerEvent>, now: Instant) {
        let Some(peer) = self.peers.get_mut(&key) else { return };
        let before = peer.next_timeout;
        peer.poll(&mut self.out, events);
        if peer.next_timeout != before {
            self.timers.schedule(key, peer.next_timeout);
        }
        for ev in events.drain(..) {
            self.on_peer_event(key, ev, now);
        }
    }

    /// Time passed: drive str0m timers, deferred keyframe requests and connect deadlines.
    pub fn handle_timeout(&mut self, now: Instant) {
        let peers = &self.peers;
        self.timers.pop_due(now, |k| peers.get(&k).map(|p| p.next_timeout), &mut self.dirty);
        let mut due = Vec::new();
        for (room_id, room) in &mut self.rooms {
            for (id, track) in &mut room.tracks {
                if track.keyframe.poll(now) {
                    due.push((room_id.clone(), *id));
                }
            }
        }
        for (room_id, track) in due {
            self.keyframe_upstream(&room_id, track);
        }
        self.select_return_feeds(now);
        // An empty room keeps its lesson (attendance, chat) for a while so it can still be exported.
        self.rooms.retain(|_, r| r.empty_since.is_none_or(|t| now.saturating_duration_since(t) <= EMPTY_ROOM_KEPT));
        let stale: Vec<PeerKey> = self
            .created
            .iter()
            .filter(|(k, t)| {
                now.saturating_duration_since(**t) > CONNECT_DEADLINE
                    && self.peers.get(k).is_some_and(|p| !p.connected())
            })
            .map(|(k, _)| *k)
            .collect();
        for key in stale {
            tracing::info!(peer = key.0, "peer never connected; dropping it");
            if let Some(p) = self.peers.get_mut(&key) {
                p.rtc.disconnect();
                self.dirty.push(key);
            }
        }
        self.flush(now);
        // After the flush, so the DTLS flight that completes a new subscriber's handshake is on
        // the wire before its first media.
        if self.viewer_starts.iter().any(|s| s.0 <= now) {
            let (due, later) = std::mem::take(&mut self.viewer_starts).into_iter().partition(|s| s.0 <= now);
            self.viewer_starts = later;
            for (_, room_id, track, key) in due {
                self.start_viewer(&room_id, track, key, now);
            }
            self.flush(now);
        }
    }

    pub(super) fn new_peer(
        &mut self,
        room: &RoomId,
        participant: ParticipantId,
        direction: Direction,
        now: Instant,
    ) -> PeerKey {
        // RTP mode: packets in, packets out. str0m still does ICE, DTLS, SRTP, RTCP and NACK/RTX
        // from its send buffers, but no frame reassembly and repacketizing per subscriber.
        let rtc = Rtc::builder()
            .set_rtp_mode(true)
            .set_ice_lite(true)
            .set_extension_map(extensions(direction))
            .clear_codecs()
            .enable_opus(true, false)
            .enable_h264(true)
            .enable_vp8(true)
            .build(now);
        let key = PeerKey(self.next_peer);
        self.next_peer += 1;
        let mut peer = Peer::new(key, room.clone(), participant, direction, rtc, now);
        peer.add_local_candidates(&self.candidates);
        self.peers.insert(key, peer);
        self.timers.schedule(key, now);
        self.created.insert(key, now);
        key
    }

    fn record_join(&self, ident: &Ident) {
        if let Some(store) = &self.store {
            let _ = store.send(StoreEvent::Joined {
                participant: ident.participant,
                room: ident.room.clone(),
                subject: ident.subject.clone(),
                name: ident.name.clone(),
                role: ident.role,
                transport: ident.transport,
                at: (self.clock)(),
            });
        }
    }

    /// WHIP and WHEP: the client offers; one peer is the whole participant. `screen_mid` (WHIP
    /// only) is the m-line that carries a screen rather than a camera.
    fn add_offering_peer(
        &mut self,
        ident: Ident,
        offer: SdpOffer,
        direction: Direction,
        screen_mid: Option<String>,
        now: Instant,
    ) -> Result<SdpAnswer, SfuError> {
        let room_id = ident.room.clone();
        let pid = ident.participant;
        // The return feed is the same classroom box, already in the lesson through its WHIP session.
        if ident.transport != Transport::Return {
            self.gate(&ident, now)?;
        }
        let key = self.new_peer(&room_id, pid, direction, now);
        let peer = self.peers.get_mut(&key).expect("peer was just inserted");
        // Before the offer's tracks appear: `add_up_track` reads it when they do.
        peer.screen_mid = screen_mid.map(|m| Mid::from(m.as_str()));
        let answer = match peer.rtc.sdp_api().accept_offer(offer) {
            Ok(a) => a,
            Err(e) => {
                self.drop_peer(key);
                self.classroom_left(&room_id, pid, now);
                return Err(SfuError::BadOffer(e.to_string()));
            }
        };
        let mut member = Member::new(ident, None);
        match direction {
            Direction::Publish => member.publish = Some(key),
            Direction::Subscribe => member.subscribe = Some(key),
        }
        self.admit(member);
        self.dirty.push(key);
        Ok(answer)
    }

    /// Adds a member to its room (creating the room) and tells the others.
    pub(super) fn admit(&mut self, member: Member) {
        self.record_join(&member.ident);
        let room = self.rooms.entry(member.ident.room.clone()).or_default();
        room.empty_since = None;
        let pid = member.ident.participant;
        if !member.is_return_feed() {
            room.broadcast(pid, &ServerMsg::ParticipantJoined { participant: member.info() });
        }
        tracing::info!(room = %member.ident.room, participant = %pid, role = %member.ident.role, transport = ?member.ident.transport, "participant joined");
        room.members.insert(pid, member);
    }

    fn publish_offer(
        &mut self,
        room_id: &RoomId,
        pid: ParticipantId,
        offer: SdpOffer,
        screen_mid: Option<String>,
        now: Instant,
    ) -> Result<SdpAnswer, SfuError> {
        let member = self.member(room_id, pid)?;
        if !member.ident.role.can_publish() {
            return Err(SfuError::Conflict("this role may not publish"));
        }
        let sharer = self.rooms.get(room_id).and_then(|r| r.classroom.screen_sharer());
        if screen_mid.is_some() && sharer != Some(pid) {
            return Err(SfuError::Conflict("ask to share your screen first (requestScreenShare)"));
        }
        let key = match member.publish {
            Some(k) if self.peers.contains_key(&k) => k,
            _ => {
                let k = self.new_peer(room_id, pid, Direction::Publish, now);
                self.member_mut(room_id, pid)?.publish = Some(k);
                k
            }
        };
        let peer = self.peers.get_mut(&key).expect("publish peer exists");
        let answer = peer.rtc.sdp_api().accept_offer(offer).map_err(|e| SfuError::BadOffer(e.to_string()))?;
        peer.screen_mid = screen_mid.map(|m| Mid::from(m.as_str()));
        self.dirty.push(key);
        Ok(answer)
    }

    fn subscribe_answer(
        &mut self,
        room_id: &RoomId,
        pid: ParticipantId,
        answer: SdpAnswer,
        now: Instant,
    ) -> Result<(), SfuError> {
        let key =
            self.member(room_id, pid)?.subscribe.ok_or(SfuError::Conflict("no subscribe offer is outstanding"))?;
        let peer = self.peers.get_mut(&key).ok_or(SfuError::Conflict("no subscribe offer is outstanding"))?;
        let pending = peer.pending.take().ok_or(SfuError::Conflict("no subscribe offer is outstanding"))?;
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
        self.dirty.push(key);
        for track in opened {
            self.start_viewer(room_id, track, key, now);
        }
        self.renegotiate.push(key);
        Ok(())
    }

    fn remote_candidates(
        &mut self,
        room_id: &RoomId,
        pid: ParticipantId,
        candidates: Vec<Candidate>,
        _now: Instant,
    ) -> Result<(), SfuError> {
        let m = self.member(room_id, pid)?;
        let key = m.publish.or(m.subscribe).ok_or(SfuError::UnknownParticipant)?;
        let peer = self.peers.get_mut(&key).ok_or(SfuError::UnknownParticipant)?;
        for c in candidates {
            peer.rtc.add_remote_candidate(c);
        }
        self.dirty.push(key);
        Ok(())
    }

    pub(super) fn member(&self, room_id: &RoomId, pid: ParticipantId) -> Result<&Member, SfuError> {
        self.rooms.get(room_id).and_then(|r| r.members.get(&pid)).ok_or(SfuError::UnknownParticipant)
    }

    pub(super) fn member_mut(&mut self, room_id: &RoomId, pid: ParticipantId) -> Result<&mut Member, SfuError> {
        self.rooms.get_mut(room_id).and_then(|r| r.members.get_mut(&pid)).ok_or(SfuError::UnknownParticipant)
    }

    /// Polls every dirty peer and reacts to what they report, until nothing is left to do.
    fn flush(&mut self, now: Instant) {
        let mut events = std::mem::take(&mut self.events);
        let mut keys = std::mem::take(&mut self.dirty_scratch);
        loop {
            while !self.dirty.is_empty() {
                // A subscriber written to by many packets is polled once.
                std::mem::swap(&mut keys, &mut self.dirty);
                keys.sort_unstable();
                keys.dedup();
                for key in keys.drain(..) {
                    let Some(peer) = self.peers.get_mut(&key) else { continue };
                    // Writes queued by forwarding leave only once time is fed in.
                    peer.handle_input(Input::Timeout(now));
                    self.poll_peer(key, &mut events, now);
                }
            }
            if self.renegotiate.is_empty() {
                self.events = events;
                self.dirty_scratch = keys;
                return;
            }
            let mut keys = std::mem::take(&mut self.renegotiate);
            keys.sort_unstable();
            keys.dedup();
            for key in keys {
                self.negotiate(key);
            }
        }
    }

    fn on_peer_event(&mut self, key: PeerKey, ev: PeerEvent, now: Instant) {
        let Some(peer) = self.peers.get(&key) else { return };
        let (room_id, pid, direction) = (peer.room.clone(), peer.participant, peer.direction);
        match ev {
            PeerEvent::Connected => {
                tracing::debug!(peer = key.0, "peer connected");
                // Only peers still connecting are checked against the connect deadline.
                self.created.remove(&key);
                let sources: Vec<TrackId> = peer.downs.iter().filter_map(|d| d.source).collect();
                if let Some(p) = self.peers.get_mut(&key) {
                    p.connected_at = Some(now);
                }
                if direction == Direction::Subscribe {
                    for t in sources {
                        self.start_viewer(&room_id, t, key, now);
                    }
                }
            }
            PeerEvent::MediaAdded { mid, kind } => match direction {
                Direction::Publish => self.add_up_track(key, mid, kind, now),
                Direction::Subscribe => self.add_whep_slot(key, mid, kind, now),
            },
            PeerEvent::Rtp { mid, rid, packet } => self.forward(key, mid, rid, packet, now),
            PeerEvent::KeyframeRequest(req) => self.on_keyframe_request(key, req, now),
            PeerEvent::Closed => self.on_peer_closed(key, &room_id, pid, now),
        }
    }

    fn on_peer_closed(&mut self, key: PeerKey, room_id: &RoomId, pid: ParticipantId, now: Instant) {
        tracing::info!(peer = key.0, room = %room_id, participant = %pid, "media connection closed");
        let whole =
            self.member(room_id, pid).map(|m| !m.is_browser() || m.publish == Some(key) || m.subscribe == Some(key));
        if let Ok(m) = self.member(room_id, pid)
            && m.is_browser()
        {
            m.send(ServerMsg::Error {
                code: lectern_proto::signal::ErrorCode::Internal,
                message: "the media connection was lost; reconnecting".into(),
                fatal: true,
            });
        }
        if whole.unwrap_or(false) {
            let _ = self.remove_member(room_id, pid, now);
        } else {
            self.drop_peer(key);
        }
    }

    fn drop_peer(&mut self, key: PeerKey) {
        if let Some(mut p) = self.peers.remove(&key) {
            p.rtc.disconnect();
        }
        self.created.remove(&key);
        self.routes.retain(|_, k| *k != key);
    }

    /// Removes a participant, its peers and its tracks, and tells the room.
    pub(super) fn remove_member(&mut self, room_id: &RoomId, pid: ParticipantId, now: Instant) -> Result<(), SfuError> {
        let room = self.rooms.get_mut(room_id).ok_or(SfuError::UnknownParticipant)?;
        let Some(member) = room.members.remove(&pid) else {
            // Someone leaving the lobby is not a member yet.
            if room.waiting.remove(&pid).is_some() {
                self.classroom_left(room_id, pid, now);
                return Ok(());
            }
            return Err(SfuError::UnknownParticipant);
        };
        let gone: Vec<TrackId> = room.tracks.iter().filter(|(_, t)| t.owner == pid).map(|(id, _)| *id).collect();
        for t in &gone {
            room.tracks.remove(t);
        }
        if !member.is_return_feed() {
            room.broadcast(pid, &ServerMsg::ParticipantLeft { participant_id: pid });
        }
        room.speakers.remove_participant(pid);
        if room.members.is_empty() {
            room.empty_since = Some(now);
        }
        for key in [member.publish, member.subscribe].into_iter().flatten() {
            self.drop_peer(key);
        }
        self.unsubscribe(room_id, &gone);
        self.classroom_left(room_id, pid, now);
        if self.rooms.get(room_id).is_some_and(|r| r.members.is_empty()) {
            self.save_lesson(room_id);
        }
        if let Some(store) = &self.store {
            let _ = store.send(StoreEvent::Left { participant: pid, at: (self.clock)() });
        }
        tracing::info!(room = %room_id, participant = %pid, "participant left");
        Ok(())
    }

    #[cfg(test)]
    pub fn members(&self, room: &RoomId) -> Vec<ParticipantId> {
        self.rooms.get(room).map(|r| r.members.keys().copied().collect()).unwrap_or_default()
    }
}

impl Transport {
    pub fn is_browser(self) -> bool {
        self == Transport::Browser
    }
}

/// The RTP header extensions a peer negotiates. Publishers keep Chrome's standard set: their
/// send-side bandwidth estimate runs on the hub's transport-wide feedback. Subscribers drop
/// transport-wide sequence numbers and abs-send-time: the hub runs no bandwidth estimate towards
/// them, so that feedback (about ten RTCP packets a second per subscriber, each decrypted and
/// matched against every packet sent) would be work for nothing.
fn extensions(direction: Direction) -> ExtensionMap {
    let mut exts = ExtensionMap::empty();
    for (id, ext) in ExtensionMap::standard().iter() {
        let feedback = matches!(ext, Extension::TransportSequenceNumber | Extension::AbsoluteSendTime);
        if direction == Direction::Publish || !feedback {
            exts.set(id, ext.clone());
        }
    }
    exts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_and_stray_datagrams_are_dropped_without_output() {
        let mut core = ShardCore::new(Vec::new(), None);
        let now = Instant::now();
        let from: SocketAddr = "127.0.0.1:1".parse().expect("literal address");
        let to: SocketAddr = "127.0.0.1:2".parse().expect("literal address");
        let rtp_ish = [0x80, 0x60, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0xff];
        for d in [&[][..], &[0x80], &rtp_ish, &[0x16, 0xfe, 0xfd], &[0u8; 1500], &[0xff; 3000]] {
            core.receive(now, Protocol::Udp, from, to, d);
            core.handle_packet(now, Protocol::Tcp, from, to, d);
        }
        core.flush_received(now);
        assert_eq!(core.drain_datagrams().count(), 0);
        assert_eq!(core.peer_count(), 0);
    }
}
