//! Simulcast through the shard core on simulated time: a str0m publisher sends two layers of one
//! video m-line (RIDs `f` and `h`, as the classroom box does), a WHEP viewer receives one of them.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{Client, Net, ident};
use lectern_hub::sfu::Command;
use lectern_hub::store::Transport;
use lectern_proto::{ParticipantId, Role};
use str0m::change::SdpAnswer;
use str0m::format::Codec;
use str0m::media::{Direction, Frequency, MediaKind, MediaTime, Mid, Rid, Simulcast, SimulcastLayer};
use str0m::net::Protocol;
use str0m::rtp::{Extension, ExtensionMap};
use str0m::{Candidate, Event, Rtc};
use tokio::sync::oneshot;

/// Each layer's frames are filled with its own byte, so the viewer's frames tell which it got.
const TOP: (&str, usize, u8) = ("f", 1000, 0xf0);
const LOW: (&str, usize, u8) = ("h", 200, 0x11);
/// The publisher's periodic keyframe, in frames (as `keyframe_interval_s`, but shorter).
const GOP: u64 = 30;

/// A WHIP publisher offering one video m-line with a send layer per RID.
fn connect_simulcast(net: &mut Net, rids: &[&str]) -> (usize, Mid) {
    let idx = net.clients.len();
    let addr: SocketAddr = format!("10.0.1.{}:6000", idx + 1).parse().unwrap();
    let mut rtc = Rtc::builder().build(net.now);
    rtc.add_local_candidate(Candidate::host(addr, "udp").unwrap());
    let mut simulcast = Simulcast::new();
    for rid in rids {
        simulcast.add_send_layer(SimulcastLayer::new(rid));
    }
    let mut api = rtc.sdp_api();
    let mid = api.add_media(MediaKind::Video, Direction::SendOnly, None, None, Some(simulcast));
    let (offer, pending) = api.apply().unwrap();
    let (tx, mut rx) = oneshot::channel::<Result<SdpAnswer, _>>();
    let ident = ident("r", 1, Role::Device, Transport::Whip);
    net.hub.handle_command(Command::Whip { ident, offer, screen_mid: None, takeover: false, reply: tx }, net.now);
    let answer = rx.try_recv().expect("the core answers synchronously").expect("simulcast offer accepted");
    rtc.sdp_api().accept_answer(pending, answer).unwrap();
    net.clients.push(Client { rtc, addr, proto: Protocol::Udp, mid, events: Vec::new(), cut: false });
    (idx, mid)
}

/// A simulated encoder per layer: a keyframe every `GOP` frames and when the hub asks for one.
struct Publisher {
    idx: usize,
    mid: Mid,
    frame: u64,
    /// Frames from one periodic keyframe to the next.
    gop: u64,
    /// Keyframe requests already answered (an index into the client's events).
    seen_events: usize,
    key_due: Vec<Rid>,
}

impl Publisher {
    /// Starts mid-GOP, as a viewer joining a running lesson finds it: its first picture has to
    /// come from a keyframe request.
    fn new(idx: usize, mid: Mid) -> Self {
        Self { idx, mid, frame: 1, gop: GOP, seen_events: 0, key_due: Vec::new() }
    }

    /// Sends one frame (33 ms) of each of `layers` and lets the time pass.
    fn frame(&mut self, net: &mut Net, layers: &[(&str, usize, u8)]) {
        let events = &net.clients[self.idx].events;
        for e in &events[self.seen_events..] {
            if let Event::KeyframeRequest(r) = e {
                self.key_due.extend(r.rid);
            }
        }
        self.seen_events = events.len();
        let now = net.now;
        let c = &mut net.clients[self.idx];
        for &(rid, size, fill) in layers {
            let rid = Rid::from(rid);
            let key = self.frame.is_multiple_of(self.gop) || self.key_due.contains(&rid);
            self.key_due.retain(|r| *r != rid);
            // Annex B: start code, then an IDR (5) or non-IDR (1) slice NAL header.
            let mut data = vec![0, 0, 0, 1, if key { 0x65 } else { 0x41 }];
            data.resize(size, fill);
            let w = c.rtc.writer(self.mid).unwrap();
            let pt = w.payload_params().find(|p| p.spec().codec == Codec::H264).unwrap().pt();
            let time = MediaTime::new(self.frame * 3000, Frequency::NINETY_KHZ);
            w.rid(rid).write(pt, now, time, data).unwrap();
        }
        self.frame += 1;
        net.run(3, Duration::from_millis(11));
    }
}

/// The fill byte of each frame the viewer received, oldest first.
fn received(net: &Net, viewer: usize) -> Vec<Option<u8>> {
    net.clients[viewer]
        .events
        .iter()
        .filter_map(|e| match e {
            Event::MediaData(d) => Some(d.data.last().copied()),
            _ => None,
        })
        .collect()
}

fn last_received(net: &Net, viewer: usize) -> Option<u8> {
    received(net, viewer).last().copied().flatten()
}

#[test]
fn viewer_gets_the_top_layer_falls_back_when_it_stops_and_returns_to_it() {
    let mut net = Net::new();
    let (idx, mid) = connect_simulcast(&mut net, &["f", "h"]);
    let viewer = net.connect(MediaKind::Video, Direction::RecvOnly, ident("r", 2, Role::Viewer, Transport::Whep));
    net.run_until(Duration::from_secs(5), |n| n.connected(idx) && n.connected(viewer));
    let mut publisher = Publisher::new(idx, mid);

    for _ in 0..60 {
        publisher.frame(&mut net, &[TOP, LOW]);
    }
    assert_eq!(last_received(&net, viewer), Some(TOP.2), "both layers flow: the viewer gets the top one");
    let asked_top =
        net.clients[idx].events.iter().any(|e| matches!(e, Event::KeyframeRequest(r) if r.rid == Some(Rid::from("f"))));
    assert!(asked_top, "the viewer's keyframe request reached the layer it receives");

    // The top layer stops (a congested uplink, a stalled encoder): after about a second the
    // viewer is moved to the small one, without renegotiation.
    let before = received(&net, viewer).len();
    for _ in 0..60 {
        publisher.frame(&mut net, &[LOW]);
    }
    let after = received(&net, viewer).len();
    assert_eq!(last_received(&net, viewer), Some(LOW.2), "fell back to the layer still flowing");
    assert!(after - before >= 20, "frames kept coming after the fall-back: {}", after - before);

    // And back up once the top layer returns.
    for _ in 0..60 {
        publisher.frame(&mut net, &[TOP, LOW]);
    }
    assert_eq!(last_received(&net, viewer), Some(TOP.2), "back on the top layer");
}

#[test]
fn viewer_receives_one_layer_not_both() {
    let mut net = Net::new();
    let (idx, mid) = connect_simulcast(&mut net, &["f", "h"]);
    let viewer = net.connect(MediaKind::Video, Direction::RecvOnly, ident("r", 2, Role::Viewer, Transport::Whep));
    net.run_until(Duration::from_secs(5), |n| n.connected(idx) && n.connected(viewer));
    let mut publisher = Publisher::new(idx, mid);
    for _ in 0..30 {
        publisher.frame(&mut net, &[TOP, LOW]);
    }
    let before = received(&net, viewer).len();
    for _ in 0..30 {
        publisher.frame(&mut net, &[TOP, LOW]);
    }
    let frames = &received(&net, viewer)[before..];
    // 30 frames sent per layer: one layer's worth arrives (give or take the frame in flight), and
    // nothing of the other one.
    assert!((28..=31).contains(&frames.len()), "got {} frames for 30 sent per layer", frames.len());
    assert!(frames.iter().all(|f| *f == Some(TOP.2)), "only the top layer: {frames:?}");
}

/// Keyframe requests that reached the publisher for layer `rid`.
fn requests_for(net: &Net, publisher: usize, rid: &str) -> usize {
    let rid = Rid::from(rid);
    net.clients[publisher]
        .events
        .iter()
        .filter(|e| matches!(e, Event::KeyframeRequest(r) if r.rid == Some(rid)))
        .count()
}

#[test]
fn viewer_joining_right_after_a_top_layer_keyframe_starts_from_it_without_asking_the_publisher() {
    let mut net = Net::new();
    let (idx, mid) = connect_simulcast(&mut net, &["f", "h"]);
    net.run_until(Duration::from_secs(5), |n| n.connected(idx));
    let mut publisher = Publisher::new(idx, mid);
    // A keyframe every third frame (100 ms): whenever the viewer connects, the top layer's last
    // keyframe is recent enough to be replayed.
    publisher.gop = 3;
    for _ in 0..30 {
        publisher.frame(&mut net, &[TOP, LOW]);
    }
    let asked_before = (requests_for(&net, idx, "f"), requests_for(&net, idx, "h"));
    let viewer = net.connect(MediaKind::Video, Direction::RecvOnly, ident("r", 2, Role::Viewer, Transport::Whep));
    for _ in 0..100 {
        if net.connected(viewer) && received(&net, viewer).len() >= 10 {
            break;
        }
        publisher.frame(&mut net, &[TOP, LOW]);
    }
    let first = net.clients[viewer].events.iter().find_map(|e| match e {
        Event::MediaData(d) => Some(d.data.to_vec()),
        _ => None,
    });
    let first = first.expect("the viewer received frames");
    assert_eq!(first[4], 0x65, "its first frame is an IDR: {:02x?}", &first[..8]);
    assert_eq!(first.last(), Some(&TOP.2), "of the top layer");
    let frames = received(&net, viewer);
    assert!(frames.len() >= 10 && frames.iter().all(|f| *f == Some(TOP.2)), "then the top layer flows on: {frames:?}");
    assert_eq!(
        (requests_for(&net, idx, "f"), requests_for(&net, idx, "h")),
        asked_before,
        "the cached keyframe served the viewer: no request went up"
    );
}

/// Layers small enough that the hub's own estimate on the simulated net (a few hundred kbit/s)
/// carries the top one: about 160 and 50 kbit/s.
const SMALL_TOP: (&str, usize, u8) = ("f", 600, 0xf0);
const SMALL_LOW: (&str, usize, u8) = ("h", 150, 0x11);

/// A WHEP viewer that negotiates no transport-wide sequence numbers (as aiortc): the hub cannot
/// estimate towards it and goes by the REMB it sends.
fn connect_remb_viewer(net: &mut Net, id: u64) -> usize {
    let idx = net.clients.len();
    let addr: SocketAddr = format!("10.0.1.{}:6000", idx + 1).parse().unwrap();
    let mut exts = ExtensionMap::empty();
    for (id, ext) in ExtensionMap::standard().iter() {
        if !matches!(ext, Extension::TransportSequenceNumber) {
            exts.set(id, ext.clone());
        }
    }
    let mut rtc = Rtc::builder().set_extension_map(exts).build(net.now);
    rtc.add_local_candidate(Candidate::host(addr, "udp").unwrap());
    let mut api = rtc.sdp_api();
    let mid = api.add_media(MediaKind::Video, Direction::RecvOnly, None, None, None);
    let (offer, pending) = api.apply().unwrap();
    let (tx, mut rx) = oneshot::channel::<Result<SdpAnswer, _>>();
    let ident = ident("r", id, Role::Viewer, Transport::Whep);
    net.hub.handle_command(Command::Whep { ident, offer, reply: tx }, net.now);
    let answer = rx.try_recv().expect("the core answers synchronously").expect("offer accepted");
    rtc.sdp_api().accept_answer(pending, answer).unwrap();
    net.clients.push(Client { rtc, addr, proto: Protocol::Udp, mid, events: Vec::new(), cut: false });
    idx
}

fn room_stats(net: &mut Net) -> lectern_proto::stats::RoomStats {
    let (tx, mut rx) = oneshot::channel();
    let room = lectern_proto::RoomId::parse("r").unwrap();
    net.hub.handle_command(Command::Stats { room, reply: tx }, net.now);
    rx.try_recv().expect("the core answers synchronously").expect("the room is live")
}

/// The viewer reports `bps` as its receive estimate (REMB).
fn send_remb(net: &mut Net, viewer: usize, bps: u64) {
    let c = &mut net.clients[viewer];
    let mid = c.mid;
    let mut api = c.rtc.direct_api();
    let rx = api.stream_rx_by_mid(mid, None).expect("the viewer receives a stream");
    rx.request_remb(str0m::bwe::Bitrate::bps(bps));
}

/// Sends frames of both small layers until the viewer's last frame is of `layer`; returns how many
/// frames that took, failing after `max`.
fn frames_until(net: &mut Net, publisher: &mut Publisher, viewer: usize, layer: u8, max: usize) -> usize {
    for n in 0..max {
        if last_received(net, viewer) == Some(layer) {
            return n;
        }
        publisher.frame(net, &[SMALL_TOP, SMALL_LOW]);
    }
    panic!("the viewer did not get layer {layer:#x} within {max} frames: {:?}", last_received(net, viewer));
}

#[test]
fn a_viewer_reporting_a_slow_link_gets_the_low_layer_and_the_top_one_once_it_recovers() {
    let mut net = Net::new();
    let (idx, mid) = connect_simulcast(&mut net, &["f", "h"]);
    let viewer = connect_remb_viewer(&mut net, 2);
    net.run_until(Duration::from_secs(5), |n| n.connected(idx) && n.connected(viewer));
    let mut publisher = Publisher::new(idx, mid);
    frames_until(&mut net, &mut publisher, viewer, SMALL_TOP.2, 90);
    for _ in 0..30 {
        publisher.frame(&mut net, &[SMALL_TOP, SMALL_LOW]);
    }
    assert_eq!(last_received(&net, viewer), Some(SMALL_TOP.2), "a fast link keeps the top layer");

    // 120 kbit/s carries the low layer (and an audio reserve) but not the top one: down at the
    // next allocation and the low layer's next keyframe, asked for at once.
    send_remb(&mut net, viewer, 120_000);
    let down = frames_until(&mut net, &mut publisher, viewer, SMALL_LOW.2, 60);
    assert!(down <= 45, "down within 1.5 s: took {down} frames");
    for _ in 0..30 {
        publisher.frame(&mut net, &[SMALL_TOP, SMALL_LOW]);
    }
    assert_eq!(last_received(&net, viewer), Some(SMALL_LOW.2), "stays down while the link is slow");
    let stats = room_stats(&mut net);
    let v = stats.participants.iter().find(|p| p.participant_id == ParticipantId(2)).expect("the viewer");
    assert_eq!(v.estimate_kbps, Some(120), "{stats:?}");
    assert_eq!((v.tracks.len(), v.paused, v.audio_only), (1, 0, false), "{stats:?}");
    assert_eq!(v.level, Some(lectern_proto::signal::QualityLevel::Reduced), "{stats:?}");
    let t = &v.tracks[0];
    assert_eq!((t.rid.as_deref(), t.target_rid.as_deref(), t.paused), (Some("h"), Some("h"), false), "{stats:?}");
    assert_eq!(t.from, ParticipantId(1));

    // The link recovers: up again, but only after the estimate held for 3 s.
    send_remb(&mut net, viewer, 5_000_000);
    let up = frames_until(&mut net, &mut publisher, viewer, SMALL_TOP.2, 300);
    assert!(up >= 85, "no upgrade before 3 s with headroom: took {up} frames");
}

#[test]
fn absurd_remb_from_one_viewer_leaves_the_other_viewer_alone() {
    let mut net = Net::new();
    let (idx, mid) = connect_simulcast(&mut net, &["f", "h"]);
    let forger = connect_remb_viewer(&mut net, 2);
    let other = net.connect(MediaKind::Video, Direction::RecvOnly, ident("r", 3, Role::Viewer, Transport::Whep));
    net.run_until(Duration::from_secs(5), |n| n.connected(idx) && n.connected(forger) && n.connected(other));
    let mut publisher = Publisher::new(idx, mid);
    frames_until(&mut net, &mut publisher, forger, SMALL_TOP.2, 90);
    // (str0m decodes a REMB mantissa of 0 as 2^23 bit/s, so "zero" is sent as 1 kbit/s.)
    send_remb(&mut net, forger, 1000);
    // The lowest layer for the pause hold (4 s), then nothing.
    for _ in 0..150 {
        publisher.frame(&mut net, &[SMALL_TOP, SMALL_LOW]);
    }
    let before = received(&net, forger).len();
    for _ in 0..60 {
        publisher.frame(&mut net, &[SMALL_TOP, SMALL_LOW]);
    }
    assert_eq!(received(&net, forger).len(), before, "a REMB of (almost) 0 pauses the forger's own video");
    assert_eq!(last_received(&net, other), Some(SMALL_TOP.2), "the other viewer keeps the top layer");
    // 10 Gbit/s is clamped: the forger's video resumes, nothing breaks.
    send_remb(&mut net, forger, 10_000_000_000);
    let after = received(&net, forger).len();
    for _ in 0..150 {
        publisher.frame(&mut net, &[SMALL_TOP, SMALL_LOW]);
    }
    assert!(received(&net, forger).len() > after + 30, "resumed");
    assert_eq!(last_received(&net, other), Some(SMALL_TOP.2));
}
