//! The shard's transport: every WebRTC connection (str0m `Rtc`) of its rooms, which remote address
//! goes to which, when each next wants time, what is queued to send, and which must be polled.
//! Knows nothing of rooms; a room reaches its peers through this table by [`PeerKey`].

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use lectern_proto::{ParticipantId, RoomId};
use str0m::bwe::Bitrate;
use str0m::crypto::dtls::DtlsCert;
use str0m::net::{Protocol, Receive};
use str0m::rtp::ExtensionMap;
use str0m::{Candidate, Input, Rtc};

use super::peer::{Datagram, Direction, Peer, PeerEvent, PeerKey};
use super::timer::Timers;

/// Where the estimate towards a new subscriber starts: enough for the room camera's and the slides'
/// top layers, so a student on a good link starts on the full picture (as before there was an
/// estimate) and one on a slow link is moved down within the first second of feedback.
const INITIAL_ESTIMATE: Bitrate = Bitrate::kbps(3000);

/// How often a subscriber's send statistics (loss) are refreshed.
const STATS_INTERVAL: Duration = Duration::from_secs(1);
/// Receiver reports to publishers: their uplink adaptation reads loss from these.
const PUBLISHER_REPORT_INTERVAL: Duration = Duration::from_secs(1);

/// A peer that has not connected this long after its offer/answer is dropped.
const CONNECT_DEADLINE: Duration = Duration::from_secs(30);

pub struct PeerTable {
    /// The shard's local ICE candidates (host, and server-reflexive behind NAT).
    candidates: Vec<Candidate>,
    /// The shard's DTLS certificate, shared by all its peers: drawing a key pair per peer made
    /// every WHIP/WHEP `POST` and browser join pay for one on the shard thread. Browsers and WHIP
    /// clients check the certificate only against the fingerprint in our SDP, which each peer
    /// still sends. `None` if the crypto provider cannot draw one (str0m then draws per peer).
    dtls_cert: Option<DtlsCert>,
    peers: BTreeMap<PeerKey, Peer>,
    /// Peers still connecting, with when they were created (see [`CONNECT_DEADLINE`]).
    created: HashMap<PeerKey, Instant>,
    /// Remote address → peer, so most datagrams skip the scan over every peer.
    routes: HashMap<SocketAddr, PeerKey>,
    next_peer: u64,
    /// Datagrams ready to send, oldest first.
    out: Vec<Datagram>,
    /// Peers to poll at the next flush.
    dirty: Vec<PeerKey>,
    /// Subscribe peers whose m-lines changed; offered once per flush so that a publisher's audio
    /// and video reach a browser in one offer, not two rounds.
    renegotiate: Vec<PeerKey>,
    /// Every peer's next str0m deadline, earliest first.
    timers: Timers,
    /// Packets offered to a peer to claim, counted for tests and benches of stray traffic.
    accept_checks: u64,
    /// Each peer's local ICE ufrag → the peer, to route a STUN check from a new source.
    ufrags: HashMap<String, PeerKey>,
    /// When [`ufrags`](Self::ufrags) was last rebuilt from the peers' credentials.
    ufrags_read_at: Option<Instant>,
}

/// How often at most the ufrag index is rebuilt when a check names a ufrag it does not know.
const UFRAG_REREAD: Duration = Duration::from_millis(100);

/// The local (our) ufrag a STUN message's USERNAME names (`ours:theirs`); `None` for anything
/// that is not a well-formed STUN message with a USERNAME. Takes untrusted bytes.
pub fn stun_local_ufrag(data: &[u8]) -> Option<&str> {
    const MAGIC_COOKIE: [u8; 4] = [0x21, 0x12, 0xa4, 0x42];
    const USERNAME: u16 = 0x0006;
    let header = data.get(..20)?;
    // STUN: the top two bits are zero, the length counts the attributes, the cookie is fixed.
    if header[0] & 0xc0 != 0 || header[4..8] != MAGIC_COOKIE {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([header[2], header[3]]));
    let mut attrs = data.get(20..20 + len)?;
    while attrs.len() >= 4 {
        let kind = u16::from_be_bytes([attrs[0], attrs[1]]);
        let n = usize::from(u16::from_be_bytes([attrs[2], attrs[3]]));
        let value = attrs.get(4..4 + n)?;
        if kind == USERNAME {
            let user = std::str::from_utf8(value).ok()?;
            return user.split(':').next().filter(|u| !u.is_empty());
        }
        // Values are padded to four bytes.
        attrs = attrs.get((4 + n).next_multiple_of(4)..)?;
    }
    None
}

impl PeerTable {
    pub fn new(candidates: Vec<Candidate>) -> Self {
        let dtls_cert = match str0m::crypto::CryptoProvider::get_default() {
            Some(p) => p.dtls_provider.generate_certificate(),
            None => str0m::crypto::from_feature_flags().dtls_provider.generate_certificate(),
        };
        Self {
            candidates,
            dtls_cert,
            peers: BTreeMap::new(),
            created: HashMap::new(),
            routes: HashMap::new(),
            next_peer: 1,
            out: Vec::new(),
            dirty: Vec::new(),
            renegotiate: Vec::new(),
            timers: Timers::default(),
            accept_checks: 0,
            ufrags: HashMap::new(),
            ufrags_read_at: None,
        }
    }

    /// How many times a received packet was offered to a peer to claim: about one per packet
    /// from a known source; junk from unknown sources should add nothing.
    pub fn accept_checks(&self) -> u64 {
        self.accept_checks
    }

    pub fn len(&self) -> usize {
        self.peers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }

    pub fn get(&self, key: PeerKey) -> Option<&Peer> {
        self.peers.get(&key)
    }

    pub fn get_mut(&mut self, key: PeerKey) -> Option<&mut Peer> {
        self.peers.get_mut(&key)
    }

    pub fn contains(&self, key: PeerKey) -> bool {
        self.peers.contains_key(&key)
    }

    /// A new connection of `participant` in `room`, in str0m's RTP mode.
    pub fn create(&mut self, room: &RoomId, participant: ParticipantId, direction: Direction, now: Instant) -> PeerKey {
        // RTP mode: packets in, packets out. str0m still does ICE, DTLS, SRTP, RTCP and NACK/RTX
        // from its send buffers, but no frame reassembly and repacketizing per subscriber.
        // Towards subscribers the hub runs str0m's send-side estimator (transport-wide CC, with
        // probing) so the allocator can choose layers that fit each subscriber's link.
        let bwe = (direction == Direction::Subscribe).then_some(INITIAL_ESTIMATE);
        // Subscribers' loss (from their receiver reports) is read for the room's stats.
        let stats = (direction == Direction::Subscribe).then_some(STATS_INTERVAL);
        // str0m reports on a stream without retransmission (all of the classroom box's) every 5 s,
        // as for audio. The box cuts its bitrate from these reports' loss: once a second lets it
        // react to a congested uplink in about 2 s instead of 2-7 (docs/uplink.md).
        let report_every = match direction {
            Direction::Publish => PUBLISHER_REPORT_INTERVAL,
            Direction::Subscribe => Duration::from_secs(5),
        };
        let mut config = Rtc::builder();
        if let Some(cert) = &self.dtls_cert {
            config = config.set_dtls_cert(cert.clone());
        }
        let rtc = config
            .set_rtcp_report_interval_audio(report_every)
            .enable_bwe(bwe)
            .set_stats_interval(stats)
            .set_rtp_mode(true)
            .set_ice_lite(true)
            // Chrome's standard set, transport-wide sequence numbers included: publishers' estimate
            // runs on the hub's feedback, the hub's estimate towards subscribers on theirs.
            .set_extension_map(ExtensionMap::standard())
            .clear_codecs()
            .enable_opus(true, false)
            .enable_h264(true)
            .enable_vp8(true)
            .build(now);
        let key = PeerKey(self.next_peer);
        self.next_peer += 1;
        let mut peer = Peer::new(key, room.clone(), participant, direction, rtc, now);
        peer.add_local_candidates(&self.candidates);
        self.ufrags.insert(peer.rtc.direct_api().local_ice_credentials().ufrag, key);
        self.peers.insert(key, peer);
        self.timers.schedule(key, now);
        self.created.insert(key, now);
        key
    }

    /// Closes and forgets a peer.
    pub fn remove(&mut self, key: PeerKey) {
        if let Some(mut p) = self.peers.remove(&key) {
            p.rtc.disconnect();
        }
        self.created.remove(&key);
        self.routes.retain(|_, k| *k != key);
        self.ufrags.retain(|_, k| *k != key);
    }

    /// `key` has something to send or to report: poll it at the next flush.
    pub fn mark_dirty(&mut self, key: PeerKey) {
        self.dirty.push(key);
    }

    /// `key`'s m-lines changed: offer them at the end of the next flush.
    pub fn renegotiate(&mut self, key: PeerKey) {
        self.renegotiate.push(key);
    }

    /// Feeds a received packet to the peer it belongs to; `None` for stray traffic.
    ///
    /// A packet from a source one of our peers talks to goes to that peer. From any other source,
    /// only a STUN binding request naming one of our ICE ufrags (its USERNAME) may open a route,
    /// and only to that ufrag's peer: everything else is dropped here, so junk from strangers
    /// costs a hash lookup, not a pass over every peer.
    pub fn receive(
        &mut self,
        now: Instant,
        proto: Protocol,
        source: SocketAddr,
        destination: SocketAddr,
        data: &[u8],
    ) -> Option<PeerKey> {
        let Ok(contents) = data.try_into() else {
            return None; // not STUN/DTLS/RTP: stray traffic
        };
        let input = Input::Receive(now, Receive { proto, source, destination, contents });
        let routed = self.routes.get(&source).copied();
        let key = match routed {
            Some(k) if self.claims(k, &input) => k,
            _ => {
                let ufrag = stun_local_ufrag(data)?;
                let indexed = self.ufrags.get(ufrag).copied();
                let k = match indexed {
                    Some(k) if self.claims(k, &input) => k,
                    // A ufrag we do not know, or no longer its peer's: credentials change with
                    // ICE restarts, so read them again (not more often than UFRAG_REREAD).
                    _ => {
                        self.reread_ufrags(now);
                        let k = self.ufrags.get(ufrag).copied()?;
                        if Some(k) == indexed || !self.claims(k, &input) {
                            return None;
                        }
                        k
                    }
                };
                self.routes.insert(source, k);
                k
            }
        };
        self.peers.get_mut(&key)?.handle_input(input);
        self.dirty.push(key);
        Some(key)
    }

    /// Whether peer `key` takes `input` (counted in [`accept_checks`](Self::accept_checks)).
    fn claims(&mut self, key: PeerKey, input: &Input) -> bool {
        self.accept_checks += 1;
        self.peers.get(&key).is_some_and(|p| p.accepts(input))
    }

    /// Rebuilds the ufrag index from the peers' current ICE credentials, unless it was rebuilt
    /// less than [`UFRAG_REREAD`] ago (a client's check is retransmitted, so a restarted peer is
    /// found at the next one).
    fn reread_ufrags(&mut self, now: Instant) {
        if self.ufrags_read_at.is_some_and(|t| now.saturating_duration_since(t) < UFRAG_REREAD) {
            return;
        }
        self.ufrags_read_at = Some(now);
        self.ufrags.clear();
        for p in self.peers.values_mut() {
            self.ufrags.insert(p.rtc.direct_api().local_ice_credentials().ufrag, p.key);
        }
    }

    /// Takes `key`'s output after its input into `events` and keeps its timer current.
    pub fn poll(&mut self, key: PeerKey, events: &mut Vec<PeerEvent>) {
        let Some(peer) = self.peers.get_mut(&key) else { return };
        let before = peer.next_timeout;
        peer.poll(&mut self.out, events);
        // Lax work (reports, stats, keep-alives) of all peers shares grid points: one wake-up.
        peer.next_timeout = self.timers.align(peer.next_timeout, peer.rtc.last_timeout_reason());
        if peer.next_timeout != before {
            self.timers.schedule(key, peer.next_timeout);
        }
    }

    /// Feeds time to `key` (writes queued by forwarding leave only then). False if it is gone.
    pub fn tick(&mut self, key: PeerKey, now: Instant) -> bool {
        let Some(peer) = self.peers.get_mut(&key) else { return false };
        peer.handle_input(Input::Timeout(now));
        true
    }

    /// The connection of `key` came up.
    pub fn mark_connected(&mut self, key: PeerKey, now: Instant) {
        // Only peers still connecting are checked against the connect deadline.
        self.created.remove(&key);
        if let Some(p) = self.peers.get_mut(&key) {
            p.connected_at = Some(now);
        }
    }

    /// Moves the dirty peers into `into` (sorted, each once); false if there were none.
    pub fn take_dirty(&mut self, into: &mut Vec<PeerKey>) -> bool {
        if self.dirty.is_empty() {
            return false;
        }
        // A subscriber written to by many packets is polled once.
        std::mem::swap(into, &mut self.dirty);
        into.sort_unstable();
        into.dedup();
        true
    }

    /// The subscribe peers to offer to, each once.
    pub fn take_renegotiate(&mut self) -> Vec<PeerKey> {
        let mut keys = std::mem::take(&mut self.renegotiate);
        keys.sort_unstable();
        keys.dedup();
        keys
    }

    /// Time passed: peers whose str0m deadline is due, and peers past the connect deadline
    /// (disconnected, so they report `Closed`), become dirty.
    pub fn on_timeout(&mut self, now: Instant) {
        let peers = &self.peers;
        self.timers.pop_due(now, |k| peers.get(&k).map(|p| p.next_timeout), &mut self.dirty);
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
    }

    /// The earliest str0m deadline of any peer.
    pub fn next_timeout(&mut self) -> Option<Instant> {
        let peers = &self.peers;
        self.timers.next(|k| peers.get(&k).map(|p| p.next_timeout))
    }

    pub fn drain_datagrams(&mut self) -> std::vec::Drain<'_, Datagram> {
        self.out.drain(..)
    }

    /// Swaps the queued datagrams into `into` (which must be empty), keeping both allocations.
    pub fn swap_datagrams(&mut self, into: &mut Vec<Datagram>) {
        std::mem::swap(&mut self.out, into);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use str0m::IceCreds;

    use super::*;

    /// A STUN binding request whose USERNAME is `user`, with a MESSAGE-INTEGRITY no password
    /// matches: no peer takes it, but the table must find which peer to ask.
    pub(crate) fn stun(user: &str) -> Vec<u8> {
        let padded = user.len().next_multiple_of(4);
        let mut m = vec![0x00, 0x01];
        m.extend_from_slice(&u16::try_from(4 + padded + 8 + 24).expect("short").to_be_bytes());
        m.extend_from_slice(&[0x21, 0x12, 0xa4, 0x42]);
        m.extend_from_slice(&[7; 12]);
        m.extend_from_slice(&[0x00, 0x06]);
        m.extend_from_slice(&u16::try_from(user.len()).expect("short").to_be_bytes());
        m.extend_from_slice(user.as_bytes());
        m.resize(24 + padded, 0);
        // PRIORITY, then MESSAGE-INTEGRITY: what str0m requires of a binding request.
        m.extend_from_slice(&[0x00, 0x24, 0x00, 0x04, 0x6e, 0x00, 0x1e, 0xff]);
        m.extend_from_slice(&[0x00, 0x08, 0x00, 20]);
        m.extend_from_slice(&[0xab; 20]);
        m
    }

    #[test]
    fn the_local_ufrag_is_read_from_a_stun_username_and_nothing_else() {
        assert_eq!(stun_local_ufrag(&stun("ours:theirs")), Some("ours"));
        assert_eq!(stun_local_ufrag(&stun("lonely")), Some("lonely"));
        assert_eq!(stun_local_ufrag(&stun(":theirs")), None);
        let mut no_cookie = stun("ours:theirs");
        no_cookie[4] = 0;
        assert_eq!(stun_local_ufrag(&no_cookie), None);
        let mut rtp = stun("ours:theirs");
        rtp[0] = 0x80;
        assert_eq!(stun_local_ufrag(&rtp), None);
        let whole = stun("ours:theirs");
        for cut in 0..whole.len() {
            assert_eq!(stun_local_ufrag(&whole[..cut]), None, "cut at {cut}");
        }
    }

    #[test]
    fn a_check_naming_a_restarted_peers_new_ufrag_reaches_it_after_a_reread() {
        let t0 = Instant::now();
        let hub: SocketAddr = "10.0.0.1:5000".parse().expect("literal address");
        let mut table = PeerTable::new(vec![Candidate::host(hub, "udp").expect("host candidate")]);
        let room = RoomId::parse("r").expect("valid room name");
        let key = table.create(&room, ParticipantId(1), Direction::Subscribe, t0);
        let from: SocketAddr = "10.9.0.1:4000".parse().expect("literal address");
        let old = table.get_mut(key).expect("created").rtc.direct_api().local_ice_credentials().ufrag;
        table.receive(t0, Protocol::Udp, from, hub, &stun(&format!("{old}:x")));
        assert_eq!(table.accept_checks(), 1, "its first ufrag is indexed at creation: one peer asked");
        // An ICE restart gives the peer new credentials.
        let fresh = IceCreds::new();
        table.get_mut(key).expect("created").rtc.direct_api().set_local_ice_credentials(fresh.clone());
        let check = stun(&format!("{}:x", fresh.ufrag));
        table.receive(t0 + Duration::from_millis(10), Protocol::Udp, from, hub, &check);
        assert_eq!(table.accept_checks(), 1, "no reread within {UFRAG_REREAD:?} of the last: junk cannot force one");
        table.receive(t0 + Duration::from_millis(200), Protocol::Udp, from, hub, &check);
        assert_eq!(table.accept_checks(), 2, "the client's retransmitted check finds the peer after a reread");
        table.receive(t0 + Duration::from_millis(210), Protocol::Udp, from, hub, &stun("nobody:x"));
        assert_eq!(table.accept_checks(), 2, "a ufrag nobody has asks nobody");
        table.receive(t0 + Duration::from_millis(220), Protocol::Udp, from, hub, &check);
        assert_eq!(table.accept_checks(), 3, "the new ufrag is indexed now");
    }
}
