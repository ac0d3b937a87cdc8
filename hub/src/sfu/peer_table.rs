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
        }
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
        let cached = self.routes.get(&source).copied().filter(|k| self.peers.get(k).is_some_and(|p| p.accepts(&input)));
        let key = match cached {
            Some(k) => k,
            None => {
                let k = self.peers.values().find(|p| p.accepts(&input))?.key;
                self.routes.insert(source, k);
                k
            }
        };
        self.peers.get_mut(&key)?.handle_input(input);
        self.dirty.push(key);
        Some(key)
    }

    /// Takes `key`'s output after its input into `events` and keeps its timer current.
    pub fn poll(&mut self, key: PeerKey, events: &mut Vec<PeerEvent>) {
        let Some(peer) = self.peers.get_mut(&key) else { return };
        let before = peer.next_timeout;
        peer.poll(&mut self.out, events);
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
