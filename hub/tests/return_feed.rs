//! The classroom's return feed on simulated time: the appliance's fixed slots carry the loudest
//! remote participant's audio and the active speaker's video, switched without renegotiation.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{Client, Net, ident};
use lectern_hub::sfu::Command;
use lectern_hub::store::Transport;
use lectern_proto::Role;
use str0m::change::SdpAnswer;
use str0m::media::{Direction, Frequency, MediaKind, MediaTime, Mid};
use str0m::net::Protocol;
use str0m::{Candidate, Event, Rtc};
use tokio::sync::oneshot;

struct Publisher {
    client: usize,
    audio: Mid,
    video: Mid,
    tag: u8,
}

fn publisher(net: &mut Net, id: u64, role: Role, tag: u8) -> Publisher {
    let (client, mids) =
        net.connect_many_mids(&[MediaKind::Audio, MediaKind::Video], ident("r", id, role, Transport::Whip));
    Publisher { client, audio: mids[0], video: mids[1], tag }
}

/// The appliance's receive connection: three audio slots and one video slot.
fn return_feed(net: &mut Net) -> usize {
    let addr: SocketAddr = "10.0.9.1:9000".parse().unwrap();
    let mut rtc = Rtc::builder().build(net.now);
    rtc.add_local_candidate(Candidate::host(addr, "udp").unwrap());
    let mut api = rtc.sdp_api();
    for kind in [MediaKind::Audio, MediaKind::Audio, MediaKind::Audio, MediaKind::Video] {
        api.add_media(kind, Direction::RecvOnly, None, None, None);
    }
    let (offer, pending) = api.apply().unwrap();
    let (reply, mut rx) = oneshot::channel::<Result<SdpAnswer, _>>();
    net.hub.handle_command(
        Command::Return { ident: ident("r", 99, Role::Device, Transport::Return), offer, reply },
        net.now,
    );
    rtc.sdp_api().accept_answer(pending, rx.try_recv().unwrap().unwrap()).unwrap();
    net.clients.push(Client { rtc, addr, proto: Protocol::Udp, mid: Mid::from("0"), events: Vec::new(), cut: false });
    net.clients.len() - 1
}

/// 20 ms of media from each publisher: audio at `level` dBov (0 loud, -127 silent), a video frame
/// (a keyframe every 2 s, like a real encoder's).
fn send(net: &mut Net, p: &Publisher, level: i8, i: u64) {
    let now = net.now;
    let rtc = &mut net.clients[p.client].rtc;
    let w = rtc.writer(p.audio).unwrap();
    let pt = w.payload_params().next().unwrap().pt();
    let w = w.audio_level(level, level > -60);
    w.write(pt, now, MediaTime::new(i * 960, Frequency::FORTY_EIGHT_KHZ), vec![p.tag; 60]).unwrap();
    let w = rtc.writer(p.video).unwrap();
    let pt = w.payload_params().find(|pp| pp.spec().codec == str0m::format::Codec::Vp8).unwrap().pt();
    // The VP8 frame tag's lowest bit is 0 for a keyframe.
    let tag0 = if i.is_multiple_of(100) { 0x10 } else { 0x11 };
    w.write(pt, now, MediaTime::new(i * 1800, Frequency::NINETY_KHZ), vec![tag0, 0x02, 0x00, p.tag, p.tag]).unwrap();
}

/// Payload tags the return feed delivered, per kind, since `from` events.
fn received(net: &Net, feed: usize, from: usize, kind: MediaKind) -> Vec<u8> {
    let rtc = &net.clients[feed].rtc;
    net.clients[feed].events[from..]
        .iter()
        .filter_map(|e| match e {
            Event::MediaData(d) if rtc.media(d.mid).is_some_and(|m| m.kind() == kind) => d.data.last().copied(),
            _ => None,
        })
        .collect()
}

#[test]
fn return_feed_follows_the_loudest_student_and_never_plays_the_room_back() {
    let mut net = Net::new();
    let room = publisher(&mut net, 1, Role::Device, 0xD0);
    let ada = publisher(&mut net, 2, Role::Student, 0xA0);
    let bob = publisher(&mut net, 3, Role::Student, 0xB0);
    let feed = return_feed(&mut net);
    net.run_until(Duration::from_secs(5), |n| (0..n.clients.len()).all(|c| n.connected(c)));

    // Ada talks, Bob is quiet, the room's own mic is loudest of all.
    let mut i = 0;
    for _ in 0..150 {
        send(&mut net, &room, 0, i);
        send(&mut net, &ada, -20, i);
        send(&mut net, &bob, -127, i);
        net.run(2, Duration::from_millis(10));
        i += 1;
    }
    let audio = received(&net, feed, 0, MediaKind::Audio);
    assert!(audio.contains(&0xA0), "Ada is heard in the classroom");
    assert!(!audio.contains(&0xD0), "the room never hears itself");
    assert!(!audio.contains(&0xB0), "silence is not mixed in");
    let video = received(&net, feed, 0, MediaKind::Video);
    assert!(
        video.iter().rev().take(10).all(|t| *t == 0xA0),
        "the room sees Ada: {:?}",
        &video[video.len().saturating_sub(10)..]
    );

    // Bob takes over: after the hold time the video switches to him, without a new offer.
    let mark = net.clients[feed].events.len();
    let bob_kf_before =
        net.clients[bob.client].events.iter().filter(|e| matches!(e, Event::KeyframeRequest(_))).count();
    for _ in 0..200 {
        send(&mut net, &room, 0, i);
        send(&mut net, &ada, -127, i);
        send(&mut net, &bob, -15, i);
        net.run(2, Duration::from_millis(10));
        i += 1;
    }
    let video = received(&net, feed, mark, MediaKind::Video);
    assert!(video.iter().rev().take(10).all(|t| *t == 0xB0), "the room now sees Bob");
    let bob_kf = net.clients[bob.client].events.iter().filter(|e| matches!(e, Event::KeyframeRequest(_))).count();
    assert!(bob_kf > bob_kf_before, "switching to Bob asked him for a keyframe");
    assert!(received(&net, feed, mark, MediaKind::Audio).contains(&0xB0), "and hears him");
}

/// A classroom box with its camera, microphone and the teacher's laptop (`a=content:slides`).
struct Box3 {
    publisher: Publisher,
    laptop: Mid,
}

fn room_with_laptop(net: &mut Net, id: u64) -> Box3 {
    let addr: SocketAddr = "10.0.8.1:8000".parse().unwrap();
    let mut rtc = Rtc::builder().build(net.now);
    rtc.add_local_candidate(Candidate::host(addr, "udp").unwrap());
    let mut api = rtc.sdp_api();
    let mids: Vec<Mid> = [MediaKind::Audio, MediaKind::Video, MediaKind::Video]
        .into_iter()
        .map(|k| api.add_media(k, Direction::SendOnly, None, None, None))
        .collect();
    let (offer, pending) = api.apply().unwrap();
    let (reply, mut rx) = oneshot::channel::<Result<SdpAnswer, _>>();
    let ident = ident("r", id, Role::Device, Transport::Whip);
    let screen_mid = Some(mids[2].to_string());
    net.hub.handle_command(Command::Whip { ident, offer, screen_mid, takeover: false, reply }, net.now);
    rtc.sdp_api().accept_answer(pending, rx.try_recv().unwrap().unwrap()).unwrap();
    net.clients.push(Client { rtc, addr, proto: Protocol::Udp, mid: mids[0], events: Vec::new(), cut: false });
    let publisher = Publisher { client: net.clients.len() - 1, audio: mids[0], video: mids[1], tag: 0xD0 };
    Box3 { publisher, laptop: mids[2] }
}

fn send_laptop(net: &mut Net, b: &Box3, i: u64) {
    let now = net.now;
    let w = net.clients[b.publisher.client].rtc.writer(b.laptop).unwrap();
    let pt = w.payload_params().find(|pp| pp.spec().codec == str0m::format::Codec::Vp8).unwrap().pt();
    w.write(pt, now, MediaTime::new(i * 18000, Frequency::NINETY_KHZ), vec![0x10, 0x02, 0x00, 0xC0, 0xC0]).unwrap();
}

#[test]
fn the_room_never_gets_its_own_laptop_back_and_a_student_still_shows() {
    let mut net = Net::new();
    let room = room_with_laptop(&mut net, 1);
    let feed = return_feed(&mut net);
    net.run_until(Duration::from_secs(5), |n| (0..n.clients.len()).all(|c| n.connected(c)));

    // Only the room publishes: its laptop is a screen share, and still nothing comes back.
    let mut i = 0;
    for _ in 0..50 {
        send(&mut net, &room.publisher, 0, i);
        send_laptop(&mut net, &room, i);
        net.run(2, Duration::from_millis(10));
        i += 1;
    }
    assert_eq!(received(&net, feed, 0, MediaKind::Video), Vec::<u8>::new(), "no remote video yet");

    let ada = publisher(&mut net, 2, Role::Student, 0xA0);
    net.run_until(Duration::from_secs(5), |n| (0..n.clients.len()).all(|c| n.connected(c)));
    let mark = net.clients[feed].events.len();
    for _ in 0..150 {
        send(&mut net, &room.publisher, 0, i);
        send_laptop(&mut net, &room, i);
        send(&mut net, &ada, -20, i);
        net.run(2, Duration::from_millis(10));
        i += 1;
    }
    let video = received(&net, feed, mark, MediaKind::Video);
    assert!(!video.is_empty() && video.iter().all(|t| *t == 0xA0), "the room sees Ada, never its laptop: {video:?}");
}
