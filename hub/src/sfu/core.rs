//! The sans-IO heart of a shard: its transport ([`PeerTable`]) and its rooms. It feeds packets
//! and time to the peers and hands each peer's events to the peer's [`Room`]; it reads no clock
//! and sends to no channel. The shard's IO shell ([`crate::media_io::shard`]) feeds it and delivers what
//! it queues (datagrams, [`RoomOutput`]s); tests feed it directly with str0m clients on simulated
//! time.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use lectern_proto::classroom::ClassroomCommand;
use lectern_proto::signal::MediaKind as WireKind;
use lectern_proto::{ParticipantId, RoomId};
use str0m::Candidate;
use str0m::change::{SdpAnswer, SdpOffer};
use str0m::net::Protocol;

use super::command::{Ident, LessonReport, SfuError};
use super::peer::{Datagram, Direction, PeerEvent, PeerKey};
use super::peer_table::PeerTable;
use super::room::{Room, RoomOutput};
use crate::time::Now;

pub struct ShardCore {
    peers: PeerTable,
    rooms: HashMap<RoomId, Room>,
    /// What rooms want done outside the media path, oldest first.
    outputs: Vec<RoomOutput>,
    /// Reused buffers of [`flush`](Self::flush), so polling allocates nothing per packet.
    dirty_scratch: Vec<PeerKey>,
    events: Vec<PeerEvent>,
}

/// How a WHIP/WHEP client connects: what it sends or receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Offering {
    /// Publishes; `screen_mid` is the m-line carrying a classroom box's laptop. With `takeover`
    /// the session replaces the WHIP session of the box participant `ident` names (see
    /// `Room::begin_takeover`).
    Whip { screen_mid: Option<String>, takeover: bool },
    /// Receives the room's published feed.
    Whep,
    /// The classroom's return feed: slots the hub fills with the remote participants.
    Return,
}

impl ShardCore {
    /// `candidates` are the shard's local ICE candidates (host, and server-reflexive behind NAT).
    pub fn new(candidates: Vec<Candidate>) -> Self {
        Self {
            peers: PeerTable::new(candidates),
            rooms: HashMap::new(),
            outputs: Vec::new(),
            dirty_scratch: Vec::new(),
            events: Vec::new(),
        }
    }

    /// Datagrams ready to send, oldest first.
    pub fn drain_datagrams(&mut self) -> std::vec::Drain<'_, Datagram> {
        self.peers.drain_datagrams()
    }

    /// Swaps the queued datagrams into `into` (which must be empty), keeping both allocations.
    pub fn swap_datagrams(&mut self, into: &mut Vec<Datagram>) {
        self.peers.swap_datagrams(into);
    }

    /// What the rooms want done outside the media path, oldest first.
    pub fn drain_outputs(&mut self) -> std::vec::Drain<'_, RoomOutput> {
        self.outputs.drain(..)
    }

    pub fn room_count(&self) -> usize {
        self.rooms.len()
    }

    pub fn peer_count(&self) -> usize {
        self.peers.len()
    }

    /// How many times a received packet was offered to a peer to claim (see
    /// [`PeerTable::accept_checks`]).
    pub fn accept_checks(&self) -> u64 {
        self.peers.accept_checks()
    }

    /// The admitted participants of `room`.
    pub fn participants(&self, room: &RoomId) -> Vec<ParticipantId> {
        self.rooms.get(room).map(Room::participant_ids).unwrap_or_default()
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be called.
    pub fn next_timeout(&mut self, now: Instant) -> Instant {
        let peers = self.peers.next_timeout();
        let rooms = self.rooms.values().filter_map(Room::next_deadline);
        peers.into_iter().chain(rooms).min().unwrap_or(now + Duration::from_secs(1)).max(now)
    }

    /// WHIP and WHEP: the client offers; one peer is the whole participant.
    pub fn offer(&mut self, ident: Ident, offer: SdpOffer, how: Offering, now: Now) -> Result<SdpAnswer, SfuError> {
        let (direction, screen_mid, takeover) = match how {
            Offering::Whip { screen_mid, takeover } => (Direction::Publish, screen_mid, takeover),
            Offering::Whep | Offering::Return => (Direction::Subscribe, None, false),
        };
        let room = self.rooms.entry(ident.room.clone()).or_insert_with(|| Room::new(ident.room.clone()));
        let res = if takeover {
            room.begin_takeover(&mut self.peers, ident.participant, offer, screen_mid, now)
        } else {
            room.add_offering_peer(&mut self.peers, ident, offer, direction, screen_mid, now)
        };
        room.drain_outputs_into(&mut self.outputs);
        self.flush(now);
        res
    }

    /// A browser joined over `/rtc`: the room answers with signals (`joined`, `waiting` or `denied`).
    pub fn join(&mut self, ident: Ident, now: Now) -> Result<(), SfuError> {
        let room = self.rooms.entry(ident.room.clone()).or_insert_with(|| Room::new(ident.room.clone()));
        let res = room.join_browser(&mut self.peers, ident, now);
        room.drain_outputs_into(&mut self.outputs);
        self.flush(now);
        res
    }

    /// A classroom command from a browser (hand, chat, poll, moderation...).
    pub fn classroom(
        &mut self,
        room: &RoomId,
        participant: ParticipantId,
        cmd: ClassroomCommand,
        now: Now,
    ) -> Result<(), SfuError> {
        self.in_room(room, now, |r, peers| r.classroom_command(peers, participant, cmd, now))
    }

    /// Everything a teacher can export about the room's lesson.
    pub fn report(&self, room: &RoomId, now: Now) -> Result<LessonReport, SfuError> {
        self.rooms.get(room).map(|r| r.lesson_report(now)).ok_or(SfuError::UnknownParticipant)
    }

    /// Whether `room`'s lesson is being recorded now.
    pub fn is_recording(&self, room: &RoomId) -> bool {
        self.rooms.get(room).is_some_and(Room::is_recording)
    }

    /// The hub recorder lost packets of `track` (or starts its file): a keyframe is asked for.
    pub fn recorder_keyframe(&mut self, room: &RoomId, track: lectern_proto::TrackId) {
        if let Some(r) = self.rooms.get_mut(room) {
            r.recorder_keyframe(&mut self.peers, track);
        }
    }

    /// Ends `room`'s lesson (see [`Room::end_lesson`]); false if the hub holds no lesson there.
    pub fn end_lesson(&mut self, room: &RoomId, reason: crate::recording::EndReason, now: Now) -> bool {
        let Some(r) = self.rooms.get_mut(room) else { return false };
        let ended = r.end_lesson(&mut self.peers, reason, now);
        r.drain_outputs_into(&mut self.outputs);
        self.flush(now);
        ended
    }

    /// Per participant of `room`: link estimate, layers received, pauses, loss.
    pub fn stats(&self, room: &RoomId) -> Result<lectern_proto::stats::RoomStats, SfuError> {
        self.rooms.get(room).map(|r| r.stats(&self.peers)).ok_or(SfuError::UnknownParticipant)
    }

    /// A browser's (re)offer for its publish connection.
    pub fn publish_offer(
        &mut self,
        room: &RoomId,
        participant: ParticipantId,
        offer: SdpOffer,
        screen_mid: Option<String>,
        now: Now,
    ) -> Result<SdpAnswer, SfuError> {
        self.in_room(room, now, |r, peers| r.publish_offer(peers, participant, offer, screen_mid, now.mono))
    }

    pub fn subscribe_answer(
        &mut self,
        room: &RoomId,
        participant: ParticipantId,
        answer: SdpAnswer,
        now: Now,
    ) -> Result<(), SfuError> {
        self.in_room(room, now, |r, peers| r.subscribe_answer(peers, participant, answer, now.mono))
    }

    pub fn remote_candidates(
        &mut self,
        room: &RoomId,
        participant: ParticipantId,
        candidates: Vec<Candidate>,
        now: Now,
    ) -> Result<(), SfuError> {
        self.in_room(room, now, |r, peers| r.remote_candidates(peers, participant, candidates))
    }

    /// A browser's ICE restart of its subscribe connection: a new offer with new ICE credentials.
    pub fn restart_ice(&mut self, room: &RoomId, participant: ParticipantId, now: Now) -> Result<(), SfuError> {
        self.in_room(room, now, |r, peers| r.restart_subscribe_ice(peers, participant))
    }

    pub fn set_muted(&mut self, room: &RoomId, participant: ParticipantId, kind: WireKind, muted: bool, now: Now) {
        let _ = self.in_room(room, now, |r, _| {
            r.set_muted(participant, kind, muted);
            Ok(())
        });
    }

    /// The participant's "audio only" toggle: no video towards it until switched off.
    pub fn set_audio_only(&mut self, room: &RoomId, participant: ParticipantId, on: bool, now: Now) {
        let _ = self.in_room(room, now, |r, peers| {
            r.set_audio_only(peers, participant, on, now.mono);
            Ok(())
        });
    }

    /// A browser participant is back on a new socket: same place in the lesson, same media.
    pub fn reattach(&mut self, room: &RoomId, participant: ParticipantId, now: Now) -> Result<(), SfuError> {
        self.in_room(room, now, |r, peers| r.reattach_browser(peers, participant, now))
    }

    /// The token `jti` was revoked: its sessions end in every room.
    pub fn end_access(&mut self, jti: &str, now: Now) {
        for room in self.rooms.values_mut() {
            room.end_access(&mut self.peers, jti, now);
            room.drain_outputs_into(&mut self.outputs);
        }
        self.flush(now);
    }

    pub fn leave(&mut self, room: &RoomId, participant: ParticipantId, now: Now) -> Result<(), SfuError> {
        self.in_room(room, now, |r, peers| r.remove_participant(peers, participant, now))
    }

    /// Runs `f` on an existing room, collects what it wants done and flushes the peers.
    fn in_room<T>(
        &mut self,
        id: &RoomId,
        now: Now,
        f: impl FnOnce(&mut Room, &mut PeerTable) -> Result<T, SfuError>,
    ) -> Result<T, SfuError> {
        let res = match self.rooms.get_mut(id) {
            Some(room) => {
                let res = f(room, &mut self.peers);
                room.drain_outputs_into(&mut self.outputs);
                res
            }
            None => Err(SfuError::UnknownParticipant),
        };
        self.flush(now);
        res
    }

    /// A datagram arrived on `destination` (one of our candidate addresses) from `source`.
    pub fn handle_datagram(&mut self, now: Now, source: SocketAddr, destination: SocketAddr, data: &[u8]) {
        self.handle_packet(now, Protocol::Udp, source, destination, data)
    }

    /// A packet arrived over UDP, or as one RFC 4571 frame of an ICE-TCP connection.
    pub fn handle_packet(
        &mut self,
        now: Now,
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
    pub fn receive(&mut self, now: Now, proto: Protocol, source: SocketAddr, destination: SocketAddr, data: &[u8]) {
        let Some(key) = self.peers.receive(now.mono, proto, source, destination, data) else { return };
        // The receiving peer is polled at once: str0m holds one incoming RTP packet at a time.
        let mut events = std::mem::take(&mut self.events);
        self.poll_peer(key, &mut events, now);
        self.events = events;
    }

    /// Polls what [`receive`](Self::receive) left dirty.
    pub fn flush_received(&mut self, now: Now) {
        self.flush(now);
    }

    /// Time passed: drive str0m timers, deferred keyframe requests, return feeds and connect
    /// deadlines; drop rooms empty for long enough.
    pub fn handle_timeout(&mut self, now: Now) {
        self.peers.on_timeout(now.mono);
        for room in self.rooms.values_mut() {
            room.on_timeout(&mut self.peers, now);
            room.drain_outputs_into(&mut self.outputs);
        }
        // An empty room keeps its lesson (attendance, chat) for a while so it can still be exported.
        self.rooms.retain(|_, r| !r.is_expired(now.mono));
        self.flush(now);
        let mut started = false;
        for room in self.rooms.values_mut() {
            started |= room.start_due_viewers(&mut self.peers, now);
            room.drain_outputs_into(&mut self.outputs);
        }
        if started {
            self.flush(now);
        }
    }

    /// Takes `key`'s output and events after its input and hands the events to its room
    /// (`events` is a reused, empty buffer).
    fn poll_peer(&mut self, key: PeerKey, events: &mut Vec<PeerEvent>, now: Now) {
        self.peers.poll(key, events);
        for ev in events.drain(..) {
            self.on_peer_event(key, ev, now);
        }
    }

    fn on_peer_event(&mut self, key: PeerKey, ev: PeerEvent, now: Now) {
        if matches!(ev, PeerEvent::Connected) {
            self.peers.mark_connected(key, now.mono);
        }
        let Some(peer) = self.peers.get(key) else { return };
        let Some(room) = self.rooms.get_mut(&peer.room) else {
            if matches!(ev, PeerEvent::Closed) {
                self.peers.remove(key);
            }
            return;
        };
        room.on_peer_event(&mut self.peers, key, ev, now);
        room.drain_outputs_into(&mut self.outputs);
    }

    /// Polls every dirty peer and reacts to what they report, until nothing is left to do.
    fn flush(&mut self, now: Now) {
        let mut events = std::mem::take(&mut self.events);
        let mut keys = std::mem::take(&mut self.dirty_scratch);
        loop {
            while self.peers.take_dirty(&mut keys) {
                for key in keys.drain(..) {
                    // Writes queued by forwarding leave only once time is fed in.
                    if self.peers.tick(key, now.mono) {
                        self.poll_peer(key, &mut events, now);
                    }
                }
            }
            let offers = self.peers.take_renegotiate();
            if offers.is_empty() {
                self.events = events;
                self.dirty_scratch = keys;
                return;
            }
            for key in offers {
                let Some(room) = self.peers.get(key).and_then(|p| self.rooms.get_mut(&p.room)) else { continue };
                room.negotiate(&mut self.peers, key);
                room.drain_outputs_into(&mut self.outputs);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use lectern_proto::Role;
    use str0m::media::{Direction as SdpDirection, MediaKind};

    use super::*;
    use crate::store::Transport;

    const HUB: &str = "10.0.0.1:5000";
    const CLIENT: &str = "10.0.1.1:6000";

    /// A WHIP client's offer (audio and video) from `client`.
    fn whip_offer(client: SocketAddr, now: Now) -> SdpOffer {
        let mut rtc = str0m::Rtc::builder().build(now.mono);
        rtc.add_local_candidate(Candidate::host(client, "udp").expect("host candidate"));
        let mut api = rtc.sdp_api();
        api.add_media(MediaKind::Audio, SdpDirection::SendOnly, None, None, None);
        api.add_media(MediaKind::Video, SdpDirection::SendOnly, None, None, None);
        let (offer, _pending) = api.apply().expect("m-lines added");
        offer
    }

    fn ident(id: u64) -> Ident {
        Ident {
            room: RoomId::parse("r").expect("valid room name"),
            participant: ParticipantId(id),
            subject: format!("s{id}"),
            name: "n".into(),
            role: Role::Device,
            transport: Transport::Whip,
            guest: false,
            passcode: None,
            access: Default::default(),
        }
    }

    fn hub_core() -> ShardCore {
        let hub: SocketAddr = HUB.parse().expect("literal address");
        ShardCore::new(vec![Candidate::host(hub, "udp").expect("host candidate")])
    }

    /// A shard with one WHIP publisher that offered from [`CLIENT`] (not connected yet).
    fn shard_with_a_publisher(now: Now) -> ShardCore {
        let mut core = hub_core();
        let offer = whip_offer(CLIENT.parse().expect("literal address"), now);
        core.offer(ident(1), offer, Offering::Whip { screen_mid: None, takeover: false }, now).expect("offer accepted");
        core
    }

    fn fingerprint(answer: &SdpAnswer) -> String {
        let sdp = answer.to_sdp_string();
        sdp.lines().find(|l| l.starts_with("a=fingerprint:")).expect("a DTLS fingerprint").to_owned()
    }

    #[test]
    fn the_peers_of_a_shard_share_its_dtls_certificate() {
        let now = Now::read();
        let mut core = hub_core();
        let answers: Vec<_> = (1..=3)
            .map(|i| {
                let offer = whip_offer(format!("10.0.1.{i}:6000").parse().expect("literal address"), now);
                core.offer(ident(i), offer, Offering::Whip { screen_mid: None, takeover: false }, now)
                    .expect("offer accepted")
            })
            .collect();
        let first = fingerprint(&answers[0]);
        assert!(answers.iter().all(|a| fingerprint(a) == first), "one certificate per shard, not per peer");
        let other = hub_core().offer(ident(9), whip_offer(CLIENT.parse().expect("literal"), now), Offering::Whep, now);
        assert_ne!(fingerprint(&other.expect("offer accepted")), first, "each shard draws its own");
    }

    /// The shard's share of a WHIP `POST`: `cargo test -p lectern-hub --lib
    /// bench_whip_offer -- --ignored --nocapture` (docs/performance.md).
    #[test]
    #[ignore = "a measurement, not a check"]
    fn bench_whip_offer() {
        let now = Now::read();
        let mut core = hub_core();
        let n = 200;
        let offers: Vec<_> = (0..n)
            .map(|i| whip_offer(format!("10.0.{}.{}:6000", 1 + i / 200, 1 + i % 200).parse().expect("literal"), now))
            .collect();
        let started = std::time::Instant::now();
        for (i, offer) in offers.into_iter().enumerate() {
            core.offer(ident(i as u64 + 1), offer, Offering::Whip { screen_mid: None, takeover: false }, now)
                .expect("offer accepted");
        }
        let each = started.elapsed() / n as u32;
        println!("bench_whip_offer: {n} offers, {each:?} each on the shard thread");
        let provider = str0m::crypto::from_feature_flags();
        let started = std::time::Instant::now();
        for _ in 0..n {
            assert!(provider.dtls_provider.generate_certificate().is_some());
        }
        let each = started.elapsed() / n as u32;
        println!("bench_whip_offer: a DTLS certificate (what each offer drew before) costs {each:?}");
    }

    /// A shard with `n` WHIP publishers (offered, not connected).
    fn shard_with_publishers(n: u64, now: Now) -> ShardCore {
        let mut core = hub_core();
        for i in 0..n {
            let client = format!("10.1.{}.{}:6000", i / 200, 1 + i % 200).parse().expect("literal address");
            core.offer(
                ident(i + 1),
                whip_offer(client, now),
                Offering::Whip { screen_mid: None, takeover: false },
                now,
            )
            .expect("offer accepted");
        }
        core
    }

    /// Junk from strangers: RTP-, RTCP- and DTLS-looking packets, and STUN naming nobody's ufrag.
    fn junk() -> Vec<Vec<u8>> {
        vec![
            vec![0x80, 0x60, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0xff, 0xee],
            vec![0x81, 0xc9, 0, 7, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            vec![0x16, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 1, 2, 3],
            crate::sfu::peer_table::tests::stun("nobodys:remote"),
        ]
    }

    #[test]
    fn junk_from_unknown_sources_is_dropped_without_asking_every_peer() {
        let now = Now::read();
        let mut core = shard_with_publishers(50, now);
        core.drain_datagrams().count();
        let to: SocketAddr = HUB.parse().expect("literal address");
        let before = core.accept_checks();
        for (i, packet) in junk().iter().cycle().take(400).enumerate() {
            let from = SocketAddr::from(([10, 9, (i / 250) as u8, (i % 250) as u8], 4000));
            core.receive(now, Protocol::Udp, from, to, packet);
        }
        core.flush_received(now);
        let checks = core.accept_checks() - before;
        assert_eq!(checks, 0, "400 junk packets cost {checks} peer checks among 50 peers");
        assert_eq!(core.drain_datagrams().count(), 0, "junk is never answered");
    }

    /// Junk handled per second with 500 peers on the shard: `cargo test -p lectern-hub --lib
    /// bench_junk -- --ignored --nocapture` (docs/performance.md).
    #[test]
    #[ignore = "a measurement, not a check"]
    fn bench_junk() {
        let now = Now::read();
        let mut core = shard_with_publishers(500, now);
        core.drain_datagrams().count();
        let to: SocketAddr = HUB.parse().expect("literal address");
        let junk = junk();
        let n = 100_000;
        let started = std::time::Instant::now();
        for i in 0..n {
            let from = SocketAddr::from(([10, 9, (i / 250 % 250) as u8, (i % 250) as u8], 4000));
            core.receive(now, Protocol::Udp, from, to, &junk[i % junk.len()]);
        }
        core.flush_received(now);
        let rate = n as f64 / started.elapsed().as_secs_f64();
        println!("bench_junk: {rate:.0} junk packets/s with {} peers", core.peer_count());
    }

    #[test]
    fn malformed_and_stray_datagrams_are_dropped_without_output() {
        let now = Now::read();
        let mut core = shard_with_a_publisher(now);
        let queued = core.drain_datagrams().count();
        assert_eq!(core.peer_count(), 1);
        let to: SocketAddr = HUB.parse().expect("literal address");
        let rtp_ish = [0x80, 0x60, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0xff];
        let stun_ish = [0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
        let junk = [&[][..], &[0x80], &rtp_ish, &stun_ish, &[0x16, 0xfe, 0xfd], &[0u8; 1500], &[0xff; 3000]];
        // From the publisher's own address, and from strangers.
        for from in [CLIENT, "10.9.9.9:1", "127.0.0.1:1"] {
            let from: SocketAddr = from.parse().expect("literal address");
            for d in junk {
                core.receive(now, Protocol::Udp, from, to, d);
                core.handle_packet(now, Protocol::Tcp, from, to, d);
                core.handle_datagram(now, from, to, d);
            }
        }
        core.flush_received(now);
        assert_eq!(core.drain_datagrams().count(), 0, "junk is never answered ({queued} were queued before it)");
        assert_eq!(core.peer_count(), 1, "junk neither closes the publisher's connection nor opens one");
        let room = RoomId::parse("r").expect("valid room name");
        assert_eq!(core.participants(&room), vec![ParticipantId(1)]);
        assert_eq!(core.drain_outputs().filter(|o| matches!(o, RoomOutput::SessionEnded(..))).count(), 0);
    }
}
