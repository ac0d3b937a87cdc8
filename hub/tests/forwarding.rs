//! The shard core driven without sockets: str0m clients exchange datagrams with a `ShardCore`
//! in memory, on simulated time. One behaviour per test.

mod common;

use std::time::Duration;

use common::{HUB, Net, ident};
use lectern_hub::store::Transport;
use lectern_proto::Role;
use str0m::Event;
use str0m::media::{Direction, KeyframeRequestKind, MediaKind};
use str0m::net::Protocol;

#[test]
fn whep_viewer_receives_the_audio_a_whip_publisher_sends() {
    let mut net = Net::new();
    let publisher = net.connect(MediaKind::Audio, Direction::SendOnly, ident("r", 1, Role::Device, Transport::Whip));
    let viewer = net.connect(MediaKind::Audio, Direction::RecvOnly, ident("r", 2, Role::Viewer, Transport::Whep));
    net.run_until(Duration::from_secs(5), |n| n.connected(publisher) && n.connected(viewer));

    let mut sent = 0u64;
    for i in 0..50u64 {
        net.send_audio(publisher, i, vec![(i % 250) as u8; 80]);
        sent += 1;
    }
    net.run(20, Duration::from_millis(10));
    let received: Vec<_> = net.clients[viewer]
        .events
        .iter()
        .filter_map(|e| match e {
            Event::MediaData(d) => Some(d.data.to_vec()),
            _ => None,
        })
        .collect();
    assert!(received.len() as u64 >= sent - 2, "viewer got {} of {sent} frames", received.len());
    assert_eq!(received[received.len() - 1], vec![49u8; 80], "payload arrives intact");
}

#[test]
fn viewer_joining_asks_the_publisher_for_a_keyframe() {
    let mut net = Net::new();
    let publisher = net.connect(MediaKind::Video, Direction::SendOnly, ident("r", 1, Role::Device, Transport::Whip));
    net.run_until(Duration::from_secs(5), |n| n.connected(publisher));
    net.run(50, Duration::from_millis(10));
    assert_eq!(net.keyframe_requests(publisher), 0, "nobody watches yet");

    let viewer = net.connect(MediaKind::Video, Direction::RecvOnly, ident("r", 2, Role::Viewer, Transport::Whep));
    net.run_until(Duration::from_secs(5), |n| n.connected(viewer) && n.keyframe_requests(publisher) > 0);
}

#[test]
fn pli_storm_from_a_subscriber_becomes_at_most_one_request_per_500_ms_upstream() {
    let mut net = Net::new();
    let publisher = net.connect(MediaKind::Video, Direction::SendOnly, ident("r", 1, Role::Device, Transport::Whip));
    let viewer = net.connect(MediaKind::Video, Direction::RecvOnly, ident("r", 2, Role::Viewer, Transport::Whep));
    net.run_until(Duration::from_secs(5), |n| n.connected(publisher) && n.connected(viewer));
    net.run(100, Duration::from_millis(10));
    let before = net.keyframe_requests(publisher);

    // 2 s of PLI every 20 ms from the viewer: 100 requests.
    for _ in 0..100 {
        let c = &mut net.clients[viewer];
        let mid = c.mid;
        let _ = c.rtc.writer(mid).unwrap().request_keyframe(None, KeyframeRequestKind::Pli);
        net.run(2, Duration::from_millis(10));
    }
    net.run(60, Duration::from_millis(10));
    let upstream = net.keyframe_requests(publisher) - before;
    assert!(upstream >= 2, "requests still reach the publisher: {upstream}");
    assert!(upstream <= 6, "2.6 s of storm must give at most ~6 upstream requests, got {upstream}");
}

#[test]
fn whep_viewer_waiting_in_an_empty_room_gets_the_publisher_when_it_arrives() {
    let mut net = Net::new();
    let viewer = net.connect(MediaKind::Audio, Direction::RecvOnly, ident("r", 2, Role::Viewer, Transport::Whep));
    net.run_until(Duration::from_secs(5), |n| n.connected(viewer));
    let publisher = net.connect(MediaKind::Audio, Direction::SendOnly, ident("r", 1, Role::Device, Transport::Whip));
    net.run_until(Duration::from_secs(5), |n| n.connected(publisher));
    for i in 0..10u64 {
        net.send_audio(publisher, i, vec![7u8; 40]);
    }
    net.run_until(Duration::from_secs(2), |n| {
        n.clients[viewer].events.iter().any(|e| matches!(e, Event::MediaData(_)))
    });
}

#[test]
fn rooms_are_isolated() {
    let mut net = Net::new();
    let publisher = net.connect(MediaKind::Audio, Direction::SendOnly, ident("a", 1, Role::Device, Transport::Whip));
    let other = net.connect(MediaKind::Audio, Direction::RecvOnly, ident("b", 2, Role::Viewer, Transport::Whep));
    net.run_until(Duration::from_secs(5), |n| n.connected(publisher) && n.connected(other));
    for i in 0..20u64 {
        net.send_audio(publisher, i, vec![1u8; 40]);
    }
    assert!(
        !net.clients[other].events.iter().any(|e| matches!(e, Event::MediaData(_))),
        "room b must not get room a's media"
    );
}

#[test]
fn garbage_datagrams_are_ignored() {
    let mut net = Net::new();
    let publisher = net.connect(MediaKind::Audio, Direction::SendOnly, ident("r", 1, Role::Device, Transport::Whip));
    for junk in [&b""[..], b"\x00", b"\x80\x60garbage-rtp", &[0xffu8; 1500][..], b"\x16\xfe\xfd junk dtls"] {
        net.hub.handle_datagram(net.now, "10.9.9.9:1".parse().unwrap(), HUB.parse().unwrap(), junk);
    }
    net.run_until(Duration::from_secs(5), |n| n.connected(publisher));
    assert_eq!(net.hub.room_count(), 1);
}

#[test]
fn publisher_behind_a_udp_blocking_firewall_connects_over_ice_tcp() {
    let mut net = Net::new();
    let publisher = net.connect_over(
        Protocol::Tcp,
        MediaKind::Audio,
        Direction::SendOnly,
        ident("r", 1, Role::Student, Transport::Whip),
    );
    let viewer = net.connect(MediaKind::Audio, Direction::RecvOnly, ident("r", 2, Role::Viewer, Transport::Whep));
    net.run_until(Duration::from_secs(5), |n| n.connected(publisher) && n.connected(viewer));
    for i in 0..10u64 {
        net.send_audio(publisher, i, vec![9u8; 40]);
    }
    net.run_until(Duration::from_secs(2), |n| {
        n.clients[viewer].events.iter().any(|e| matches!(e, Event::MediaData(_)))
    });
}
