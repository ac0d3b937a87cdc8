//! Test harness: a `ShardCore` and str0m clients exchanging packets in memory on simulated time.
#![allow(dead_code)] // each test file uses part of it

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use lectern_hub::media_io::Outlets;
use lectern_hub::media_io::shard::Shard;
use lectern_hub::sfu::core::ShardCore;
use lectern_hub::sfu::peer::Datagram;
use lectern_hub::sfu::{Command, Ident};
use lectern_hub::store::Transport;
use lectern_hub::time::Now;
use lectern_proto::{ParticipantId, Role, RoomId};
use str0m::change::SdpAnswer;
use str0m::media::{Direction, MediaKind, Mid};
use str0m::net::{Protocol, Receive, TcpType};
use str0m::{Candidate, Event, Input, Output, Rtc};
use tokio::sync::oneshot;

pub const HUB: &str = "10.0.0.1:5000";

pub struct Client {
    pub rtc: Rtc,
    pub addr: SocketAddr,
    pub proto: Protocol,
    pub mid: Mid,
    pub events: Vec<Event>,
    /// Its path to the hub is gone: it neither sends nor receives (see [`Net::cut`]).
    pub cut: bool,
}

pub struct Net {
    pub now: Instant,
    pub hub: Hub,
    pub clients: Vec<Client>,
    /// Datagrams the hub sent to each client address so far.
    pub delivered: std::collections::HashMap<SocketAddr, usize>,
    /// How many more RTP datagrams from the hub to each client address are lost on the way.
    pub lose_rtp: std::collections::HashMap<SocketAddr, usize>,
    /// Every datagram delivered either way, in order.
    pub wire: Vec<Wire>,
}

/// A datagram between a client and the hub: its first two bytes tell STUN, DTLS, RTP and RTCP
/// apart (RFC 7983), and an RTCP compound's first packet type (SRTCP leaves it in the clear).
#[derive(Clone, Copy, Debug)]
pub struct Wire {
    pub at: Instant,
    pub client: SocketAddr,
    pub to_hub: bool,
    pub head: [u8; 2],
}

impl Wire {
    fn new(at: Instant, client: SocketAddr, to_hub: bool, data: &[u8]) -> Self {
        let head = [data.first().copied().unwrap_or(0), data.get(1).copied().unwrap_or(0)];
        Self { at, client, to_hub, head }
    }
}

/// The shard (core and shell) on simulated time: both clocks move with the `Instant`s given.
pub struct Hub {
    shard: Shard,
    start: Now,
}

impl Hub {
    fn new(candidates: Vec<Candidate>, outlets: Outlets) -> Self {
        Self { shard: Shard::new(ShardCore::new(candidates), outlets), start: Now::read() }
    }

    fn at(&self, t: Instant) -> Now {
        self.start.after(t.saturating_duration_since(self.start.mono))
    }

    pub fn handle_command(&mut self, cmd: Command, t: Instant) {
        let now = self.at(t);
        self.shard.handle_command(cmd, now);
    }

    pub fn handle_datagram(&mut self, t: Instant, source: SocketAddr, destination: SocketAddr, data: &[u8]) {
        let now = self.at(t);
        self.shard.core_mut().handle_datagram(now, source, destination, data);
        self.shard.deliver();
    }

    pub fn handle_packet(
        &mut self,
        t: Instant,
        proto: Protocol,
        source: SocketAddr,
        destination: SocketAddr,
        data: &[u8],
    ) {
        let now = self.at(t);
        self.shard.core_mut().handle_packet(now, proto, source, destination, data);
        self.shard.deliver();
    }

    pub fn handle_timeout(&mut self, t: Instant) {
        let now = self.at(t);
        self.shard.core_mut().handle_timeout(now);
        self.shard.deliver();
    }

    pub fn drain_datagrams(&mut self) -> Vec<Datagram> {
        self.shard.core_mut().drain_datagrams().collect()
    }

    /// When the shard's IO shell would next wake for timers.
    pub fn next_timeout(&mut self, t: Instant) -> Instant {
        let now = self.at(t);
        self.shard.core_mut().next_timeout(now.mono)
    }

    pub fn room_count(&self) -> usize {
        self.shard.core().room_count()
    }

    pub fn peer_count(&self) -> usize {
        self.shard.core().peer_count()
    }
}

pub fn ident(room: &str, id: u64, role: Role, transport: Transport) -> Ident {
    Ident {
        room: RoomId::parse(room).unwrap(),
        participant: ParticipantId(id),
        subject: format!("s{id}"),
        name: format!("n{id}"),
        role,
        transport,
        guest: false,
        passcode: None,
        access: Default::default(),
    }
}

impl Net {
    pub fn new() -> Self {
        Self::with_outlets(Outlets::default())
    }

    fn with_outlets(outlets: Outlets) -> Self {
        let _ = std::panic::catch_unwind(|| str0m::crypto::from_feature_flags().install_process_default());
        let hub_addr: SocketAddr = HUB.parse().unwrap();
        let tcp = Candidate::builder().tcp().host(hub_addr).tcptype(TcpType::Passive).build().unwrap();
        let hub = Hub::new(vec![Candidate::host(hub_addr, "udp").unwrap(), tcp], outlets);
        Self {
            now: hub.start.mono,
            hub,
            clients: Vec::new(),
            delivered: Default::default(),
            lose_rtp: Default::default(),
            wire: Vec::new(),
        }
    }

    /// A net whose hub also reports messages for classroom boxes.
    pub fn with_devices() -> (Self, tokio::sync::mpsc::Receiver<(RoomId, lectern_proto::device::HubMsg)>) {
        let (tx, rx) = tokio::sync::mpsc::channel(lectern_hub::media_io::shard::OUTLET_QUEUE);
        (Self::with_outlets(Outlets { devices: Some(tx), ..Outlets::default() }), rx)
    }

    /// A net whose hub also reports what it would persist (joins, leaves…).
    pub fn with_store() -> (Self, tokio::sync::mpsc::Receiver<lectern_hub::store::StoreEvent>) {
        let (tx, rx) = tokio::sync::mpsc::channel(4096);
        (Self::with_outlets(Outlets { store: Some(tx), ..Outlets::default() }), rx)
    }

    /// Adds a client offering one m-line of `kind` in `dir` and signals it as WHIP or WHEP.
    pub fn connect(&mut self, kind: MediaKind, dir: Direction, ident: Ident) -> usize {
        self.connect_over(Protocol::Udp, kind, dir, ident)
    }

    pub fn connect_over(&mut self, proto: Protocol, kind: MediaKind, dir: Direction, ident: Ident) -> usize {
        let idx = self.clients.len();
        let addr: SocketAddr = format!("10.0.1.{}:6000", idx + 1).parse().unwrap();
        let mut rtc = Rtc::builder().build(self.now);
        let candidate = match proto {
            Protocol::Tcp => Candidate::builder().tcp().host(addr).tcptype(TcpType::Active).build().unwrap(),
            _ => Candidate::host(addr, "udp").unwrap(),
        };
        rtc.add_local_candidate(candidate);
        let mut api = rtc.sdp_api();
        let mid = api.add_media(kind, dir, None, None, None);
        let (offer, pending) = api.apply().unwrap();
        let (tx, mut rx) = oneshot::channel::<Result<SdpAnswer, _>>();
        let cmd = match dir {
            Direction::SendOnly => Command::Whip { ident, offer, screen_mid: None, takeover: false, reply: tx },
            _ => Command::Whep { ident, offer, reply: tx },
        };
        self.hub.handle_command(cmd, self.now);
        let answer = rx.try_recv().expect("the core answers synchronously").expect("offer accepted");
        rtc.sdp_api().accept_answer(pending, answer).unwrap();
        self.clients.push(Client { rtc, addr, proto, mid, events: Vec::new(), cut: false });
        idx
    }

    /// A WHIP publisher with several m-lines (e.g. audio and video, like the appliance).
    pub fn connect_many(&mut self, kinds: &[MediaKind], ident: Ident) -> usize {
        self.connect_many_mids(kinds, ident).0
    }

    /// Like [`connect_many`](Self::connect_many), also returning the mids in `kinds` order.
    pub fn connect_many_mids(&mut self, kinds: &[MediaKind], ident: Ident) -> (usize, Vec<Mid>) {
        self.publish_whip(kinds, ident, false).expect("offer accepted")
    }

    /// Like [`connect_many_mids`](Self::connect_many_mids), as a classroom box's new WHIP session
    /// taking over participant `ident` (make-before-break); the hub's answer, or its refusal.
    pub fn connect_takeover(&mut self, kinds: &[MediaKind], ident: Ident) -> Result<usize, lectern_hub::sfu::SfuError> {
        self.publish_whip(kinds, ident, true).map(|(idx, _)| idx)
    }

    fn publish_whip(
        &mut self,
        kinds: &[MediaKind],
        ident: Ident,
        takeover: bool,
    ) -> Result<(usize, Vec<Mid>), lectern_hub::sfu::SfuError> {
        let idx = self.clients.len();
        let addr: SocketAddr = format!("10.0.1.{}:6000", idx + 1).parse().unwrap();
        let mut rtc = Rtc::builder().build(self.now);
        rtc.add_local_candidate(Candidate::host(addr, "udp").unwrap());
        let mut api = rtc.sdp_api();
        let mids: Vec<Mid> = kinds.iter().map(|k| api.add_media(*k, Direction::SendOnly, None, None, None)).collect();
        let (offer, pending) = api.apply().unwrap();
        let (tx, mut rx) = oneshot::channel::<Result<SdpAnswer, _>>();
        self.hub.handle_command(Command::Whip { ident, offer, screen_mid: None, takeover, reply: tx }, self.now);
        let answer = rx.try_recv().expect("the core answers synchronously")?;
        rtc.sdp_api().accept_answer(pending, answer).unwrap();
        self.clients.push(Client { rtc, addr, proto: Protocol::Udp, mid: mids[0], events: Vec::new(), cut: false });
        Ok((idx, mids))
    }

    /// The payload of every frame `idx` received, in order.
    pub fn frames(&self, idx: usize) -> Vec<Vec<u8>> {
        self.clients[idx]
            .events
            .iter()
            .filter_map(|e| match e {
                Event::MediaData(d) => Some(d.data.to_vec()),
                _ => None,
            })
            .collect()
    }

    /// `idx` loses its path to the hub: from now on nothing it sends arrives, nothing reaches it.
    pub fn cut(&mut self, idx: usize) {
        self.clients[idx].cut = true;
    }

    /// Moves datagrams both ways and advances simulated time by `step`, `n` times.
    pub fn run(&mut self, n: usize, step: Duration) {
        let hub_addr: SocketAddr = HUB.parse().unwrap();
        for _ in 0..n {
            for c in self.clients.iter_mut().filter(|c| !c.cut) {
                c.rtc.handle_input(Input::Timeout(self.now)).unwrap();
                loop {
                    match c.rtc.poll_output().unwrap() {
                        Output::Timeout(_) => break,
                        Output::Transmit(t) => {
                            assert_eq!(t.proto, c.proto, "client sends over its own transport");
                            self.wire.push(Wire::new(self.now, c.addr, true, &t.contents));
                            self.hub.handle_packet(self.now, t.proto, c.addr, hub_addr, &t.contents)
                        }
                        Output::Event(e) => c.events.push(e),
                    }
                }
            }
            self.hub.handle_timeout(self.now);
            let out = self.hub.drain_datagrams();
            for d in out {
                if let Some(c) = self.clients.iter_mut().find(|c| c.addr == d.destination && !c.cut) {
                    assert_eq!(d.proto, c.proto, "hub answers over the transport the client used");
                    if let Some(n) = self.lose_rtp.get_mut(&c.addr).filter(|n| **n > 0 && is_rtp(&d.contents)) {
                        *n -= 1;
                        continue;
                    }
                    self.wire.push(Wire::new(self.now, c.addr, false, &d.contents));
                    let contents = d.contents.as_slice().try_into().unwrap();
                    let input = Input::Receive(
                        self.now,
                        Receive { proto: d.proto, source: d.source, destination: d.destination, contents },
                    );
                    c.rtc.handle_input(input).unwrap();
                    *self.delivered.entry(c.addr).or_default() += 1;
                }
            }
            self.now += step;
        }
    }

    /// The next `n` RTP packets the hub sends `idx` are lost.
    pub fn lose_rtp_to(&mut self, idx: usize, n: usize) {
        self.lose_rtp.insert(self.clients[idx].addr, n);
    }

    pub fn connected(&self, idx: usize) -> bool {
        self.clients[idx].events.iter().any(|e| matches!(e, Event::Connected))
    }

    pub fn keyframe_requests(&self, idx: usize) -> usize {
        self.clients[idx].events.iter().filter(|e| matches!(e, Event::KeyframeRequest(_))).count()
    }

    /// Writes 20 ms of Opus (frame `i`) from `client`'s first m-line, then lets 20 ms pass.
    pub fn send_audio(&mut self, client: usize, i: u64, payload: Vec<u8>) {
        let now = self.now;
        let c = &mut self.clients[client];
        let mid = c.mid;
        let w = c.rtc.writer(mid).unwrap();
        let pt = w.payload_params().next().unwrap().pt();
        let time = str0m::media::MediaTime::new(i * 960, str0m::media::Frequency::FORTY_EIGHT_KHZ);
        w.write(pt, now, time, payload).unwrap();
        self.run(2, Duration::from_millis(10));
    }

    /// Runs in 10 ms steps until `cond` holds, failing after `max` of simulated time.
    pub fn run_until(&mut self, max: Duration, cond: impl Fn(&Net) -> bool) {
        let deadline = self.now + max;
        while !cond(self) {
            assert!(self.now < deadline, "condition not met within {max:?} of simulated time");
            self.run(1, Duration::from_millis(10));
        }
    }
}

/// RTP, not RTCP (RFC 5761: version 2, and RTCP's packet types 192–223 in the second byte), STUN or DTLS.
fn is_rtp(datagram: &[u8]) -> bool {
    matches!(datagram, [b0, b1, ..] if b0 >> 6 == 2 && !(64..96).contains(&(b1 & 0x7f)))
}
