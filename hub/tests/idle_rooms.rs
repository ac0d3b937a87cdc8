//! A room where nobody sends costs the shard almost nothing: no padding towards silent
//! subscribers, no pacer ticks and no sender reports on silent streams (the str0m patch in
//! `vendor/str0m`, docs/str0m-idle-pacing.md), while ICE consent holds and reports come back with
//! the media. The shard core and str0m clients in memory, on simulated time.

mod common;

use std::time::{Duration, Instant};

use common::{Net, Wire, ident};
use lectern_hub::store::Transport;
use lectern_proto::Role;
use str0m::format::Codec;
use str0m::media::{Direction, Frequency, MediaKind, MediaTime, Mid};
use str0m::{Event, IceConnectionState};

/// A publisher that sends nothing and a viewer of its video, connected and past the first probes.
fn silent_room() -> (Net, usize) {
    let mut net = Net::new();
    let publisher = net.connect(MediaKind::Video, Direction::SendOnly, ident("r", 1, Role::Device, Transport::Whip));
    let viewer = net.connect(MediaKind::Video, Direction::RecvOnly, ident("r", 2, Role::Viewer, Transport::Whep));
    net.run_until(Duration::from_secs(5), |n| n.connected(publisher) && n.connected(viewer));
    // The estimator's initial probes towards the viewer come and go.
    net.run(300, Duration::from_millis(10));
    (net, viewer)
}

#[test]
fn a_subscriber_in_a_silent_room_gets_no_padding() {
    let (mut net, viewer) = silent_room();
    let addr = net.clients[viewer].addr;
    let before = net.delivered.get(&addr).copied().unwrap_or(0);
    net.run(300, Duration::from_millis(10));
    let got = net.delivered.get(&addr).copied().unwrap_or(0) - before;
    // Upstream str0m 0.25 pads at 50 kbit/s whenever a video m-line could carry media: ~450
    // datagrams in these 3 s. What is left is RTCP.
    assert!(got <= 10, "the viewer of a silent room got {got} datagrams in 3 s");
}

#[test]
fn a_silent_room_seldom_wakes_the_shard() {
    let (mut net, _) = silent_room();
    // In 10 ms steps, how many find a timer due: each is at most one wake-up of the shard.
    let mut due = 0;
    for _ in 0..300 {
        if net.hub.next_timeout(net.now) <= net.now {
            due += 1;
        }
        net.run(1, Duration::from_millis(10));
    }
    // The pacer alone used to tick every 40 ms per peer (75 of these 300 steps).
    assert!(due <= 30, "timers were due in {due} of 300 steps of a silent room");
}

/// What a datagram is (RFC 7983 demultiplexing; an RTCP compound by its first packet's type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Stun,
    Dtls,
    Rtp,
    Rtcp(u8),
    Other,
}

const SR: u8 = 200;
const RR: u8 = 201;

fn kind(w: &Wire) -> Kind {
    match w.head {
        [0..=3, _] => Kind::Stun,
        [20..=63, _] => Kind::Dtls,
        [128..=191, pt @ 192..=223] => Kind::Rtcp(pt),
        [128..=191, _] => Kind::Rtp,
        _ => Kind::Other,
    }
}

/// The datagrams on the wire since `since` that match `pick`.
fn count(net: &Net, since: Instant, pick: impl Fn(&Wire) -> bool) -> usize {
    net.wire.iter().filter(|w| w.at >= since && pick(w)).count()
}

/// A publisher of audio and video that sends nothing and a viewer of its video, connected and
/// past the first probes; (net, publisher, viewer).
fn silent_av_room() -> (Net, usize, usize) {
    let mut net = Net::new();
    let publisher =
        net.connect_many(&[MediaKind::Audio, MediaKind::Video], ident("r", 1, Role::Device, Transport::Whip));
    let viewer = net.connect(MediaKind::Video, Direction::RecvOnly, ident("r", 2, Role::Viewer, Transport::Whep));
    net.run_until(Duration::from_secs(5), |n| n.connected(publisher) && n.connected(viewer));
    net.run(300, Duration::from_millis(10));
    (net, publisher, viewer)
}

#[test]
fn silent_streams_get_no_sender_reports() {
    let (mut net, _, _) = silent_av_room();
    let since = net.now;
    net.run(500, Duration::from_millis(10));
    let srs: Vec<_> = net.wire.iter().filter(|w| w.at >= since && kind(w) == Kind::Rtcp(SR)).collect();
    // Upstream str0m 0.25 sends a sender report (with SDES) per silent stream every second: 15 here,
    // both ways (the clients run the same str0m). Receiver reports still go out (see
    // docs/str0m-idle-pacing.md, change 4).
    assert!(srs.is_empty(), "sender reports in 5 s of a silent room: {srs:?}");
}

#[test]
fn ice_consent_holds_in_a_silent_room() {
    let (mut net, publisher, viewer) = silent_av_room();
    // RFC 7675: consent expires 30 s after the last response to a check. Well past that…
    net.run(800, Duration::from_millis(50));
    let since = net.now;
    net.run(200, Duration::from_millis(50));
    for c in [publisher, viewer] {
        let addr = net.clients[c].addr;
        let disconnected = net.clients[c]
            .events
            .iter()
            .any(|e| matches!(e, Event::IceConnectionStateChange(IceConnectionState::Disconnected) | Event::Closed));
        assert!(!disconnected, "client {c} lost its connection in a silent room");
        // …the clients' checks are still answered.
        let answers = count(&net, since, |w| w.client == addr && !w.to_hub && kind(w) == Kind::Stun);
        assert!(answers > 0, "no STUN answers to client {c} in 10 s, 45 s into silence");
    }
    assert_eq!(net.hub.peer_count(), 2, "the hub kept both connections");
}

/// Writes VP8 frame `i` (a keyframe every 30) from `client`'s video m-line, then lets 33 ms pass.
fn send_vp8(net: &mut Net, client: usize, mid: Mid, i: u64) {
    let now = net.now;
    let w = net.clients[client].rtc.writer(mid).unwrap();
    let pt = w.payload_params().find(|p| p.spec().codec == Codec::Vp8).unwrap().pt();
    // The frame tag's lowest bit is 0 for a keyframe.
    let tag = if i.is_multiple_of(30) { 0x10 } else { 0x11 };
    let time = MediaTime::new(i * 3000, Frequency::NINETY_KHZ);
    w.write(pt, now, time, vec![tag, 0x02, 0x00, i as u8]).unwrap();
    net.run(3, Duration::from_millis(11));
}

#[test]
fn media_resuming_after_silence_is_reported_within_one_interval() {
    let mut net = Net::new();
    let (publisher, mids) =
        net.connect_many_mids(&[MediaKind::Audio, MediaKind::Video], ident("r", 1, Role::Device, Transport::Whip));
    let viewer = net.connect(MediaKind::Video, Direction::RecvOnly, ident("r", 2, Role::Viewer, Transport::Whep));
    net.run_until(Duration::from_secs(5), |n| n.connected(publisher) && n.connected(viewer));
    net.run(500, Duration::from_millis(10));
    let resumed = net.now;
    for i in 0..90 {
        send_vp8(&mut net, publisher, mids[1], i);
    }
    let [pub_addr, viewer_addr] = [publisher, viewer].map(|c| net.clients[c].addr);
    let first = |pick: &dyn Fn(&Wire) -> bool| net.wire.iter().find(|w| w.at >= resumed && pick(w)).map(|w| w.at);
    // Video is reported every second (the viewer's lip-sync needs the hub's sender report; the
    // publisher's estimate needs the hub's receiver report); the hub's grid may add 20 ms.
    let within = Duration::from_millis(1000 + 20);
    let media_in = first(&|w| w.client == pub_addr && w.to_hub && kind(w) == Kind::Rtp).expect("publisher sent");
    let rr =
        first(&|w| w.client == pub_addr && !w.to_hub && kind(w) == Kind::Rtcp(RR)).expect("an RR to the publisher");
    assert!(rr - media_in <= within, "first RR {:?} after the publisher resumed", rr - media_in);
    let media_out = first(&|w| w.client == viewer_addr && !w.to_hub && kind(w) == Kind::Rtp).expect("viewer got video");
    let sr =
        first(&|w| w.client == viewer_addr && !w.to_hub && kind(w) == Kind::Rtcp(SR)).expect("an SR to the viewer");
    assert!(sr >= media_out && sr - media_out <= within, "first SR {:?} after media resumed", sr - media_out);
}

#[test]
fn silent_subscribers_take_their_stats_together() {
    let mut net = Net::new();
    let publisher =
        net.connect_many(&[MediaKind::Audio, MediaKind::Video], ident("r", 1, Role::Device, Transport::Whip));
    // Viewers join at their own phases, as they do.
    let mut viewers = Vec::new();
    for id in 2..8 {
        viewers.push(net.connect(MediaKind::Video, Direction::RecvOnly, ident("r", id, Role::Viewer, Transport::Whep)));
        net.run(13, Duration::from_millis(10));
    }
    net.run_until(Duration::from_secs(5), |n| n.connected(publisher) && viewers.iter().all(|v| n.connected(*v)));
    net.run(300, Duration::from_millis(10));
    let mut due = 0;
    for _ in 0..500 {
        if net.hub.next_timeout(net.now) <= net.now {
            due += 1;
        }
        net.run(1, Duration::from_millis(10));
    }
    // Each subscriber connection takes a stats snapshot a second (the hub reads their loss): at
    // their own phases, timers were due in 36 of these 500 steps; on str0m's shared stats clock, 16.
    assert!(due <= 20, "timers were due in {due} of 500 steps of a silent room with 6 viewers");
}
