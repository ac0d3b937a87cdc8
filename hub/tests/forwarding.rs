//! The shard core driven without sockets: str0m clients exchange datagrams with a `ShardCore`
//! in memory, on simulated time. One behaviour per test.

mod common;

use std::time::Duration;

use common::{HUB, Net, ident};
use lectern_hub::sfu::Command;
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
fn viewer_joining_right_after_a_keyframe_is_given_it_without_asking_the_publisher() {
    let mut net = Net::new();
    let publisher = net.connect(MediaKind::Video, Direction::SendOnly, ident("r", 1, Role::Device, Transport::Whip));
    net.run_until(Duration::from_secs(5), |n| n.connected(publisher));
    // A frame every 30 ms and a keyframe every third: whenever the viewer connects, the last
    // keyframe is recent enough to be replayed.
    let mut i = 0u64;
    let mut frame = |net: &mut Net| {
        send_vp8(net, publisher, i, i.is_multiple_of(3));
        net.run(3, Duration::from_millis(10));
        i += 1;
    };
    for _ in 0..10 {
        frame(&mut net);
    }
    let viewer = net.connect(MediaKind::Video, Direction::RecvOnly, ident("r", 2, Role::Viewer, Transport::Whep));
    for _ in 0..200 {
        if net.connected(viewer) && video_frames(&net, viewer).len() >= 10 {
            break;
        }
        frame(&mut net);
    }
    let frames = video_frames(&net, viewer);
    assert!(
        is_vp8_keyframe(&frames[0]),
        "the viewer's first frame is a keyframe: {frames:02x?}, requests {}",
        net.keyframe_requests(publisher)
    );
    assert_eq!(net.keyframe_requests(publisher), 0, "the cached keyframe served the viewer");
}

/// Writes VP8 frame `i` (payload ends with `i`) from `client`'s first m-line.
fn send_vp8(net: &mut Net, client: usize, i: u64, keyframe: bool) {
    let now = net.now;
    let c = &mut net.clients[client];
    let w = c.rtc.writer(c.mid).unwrap();
    let pt = w.payload_params().find(|p| p.spec().codec == str0m::format::Codec::Vp8).unwrap().pt();
    // The frame tag's lowest bit is 0 for a keyframe.
    let tag = if keyframe { 0x10 } else { 0x11 };
    let time = str0m::media::MediaTime::new(i * 2700, str0m::media::Frequency::NINETY_KHZ);
    w.write(pt, now, time, vec![tag, 0x02, 0x00, i as u8]).unwrap();
}

fn is_vp8_keyframe(frame: &[u8]) -> bool {
    frame.first().is_some_and(|t| t & 1 == 0)
}

fn video_frames(net: &Net, client: usize) -> Vec<Vec<u8>> {
    net.frames(client)
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

/// Datagrams that are not STUN/DTLS/RTP, or do not belong to the connection they claim.
fn send_junk(net: &mut Net, from: std::net::SocketAddr) {
    for junk in [&b""[..], b"\x00", b"\x80\x60garbage-rtp", &[0xffu8; 1500][..], b"\x16\xfe\xfd junk dtls"] {
        net.hub.handle_datagram(net.now, from, HUB.parse().unwrap(), junk);
    }
}

#[test]
fn garbage_datagrams_are_ignored() {
    let mut net = Net::new();
    let publisher = net.connect(MediaKind::Audio, Direction::SendOnly, ident("r", 1, Role::Device, Transport::Whip));
    let viewer = net.connect(MediaKind::Audio, Direction::RecvOnly, ident("r", 2, Role::Viewer, Transport::Whep));
    let (stranger, own) = ("10.9.9.9:1".parse().unwrap(), net.clients[publisher].addr);
    send_junk(&mut net, stranger);
    send_junk(&mut net, own);
    net.run_until(Duration::from_secs(5), |n| n.connected(publisher) && n.connected(viewer));
    // Once connected, junk from the publisher's own address reaches its DTLS/SRTP session.
    send_junk(&mut net, stranger);
    send_junk(&mut net, own);
    for i in 0..10u64 {
        net.send_audio(publisher, i, vec![5u8; 40]);
    }
    net.run_until(Duration::from_secs(2), |n| {
        n.clients[viewer].events.iter().any(|e| matches!(e, Event::MediaData(_)))
    });
    assert_eq!(net.hub.room_count(), 1);
    assert_eq!(net.hub.peer_count(), 2, "junk closed no connection and opened none");
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

/// The answer the hub gives an offer of one video m-line in `dir` (WHIP for send-only, else WHEP).
fn answer_to(net: &mut Net, dir: Direction, id: u64) -> (String, String) {
    let mut rtc = str0m::Rtc::builder().build(net.now);
    let mut api = rtc.sdp_api();
    api.add_media(MediaKind::Video, dir, None, None, None);
    let (offer, _pending) = api.apply().unwrap();
    let offered = offer.to_sdp_string();
    let (tx, mut rx) = tokio::sync::oneshot::channel();
    let cmd = match dir {
        Direction::SendOnly => {
            let ident = ident("r", id, Role::Device, Transport::Whip);
            Command::Whip { ident, offer, screen_mid: None, takeover: false, reply: tx }
        }
        _ => Command::Whep { ident: ident("r", id, Role::Viewer, Transport::Whep), offer, reply: tx },
    };
    net.hub.handle_command(cmd, net.now);
    let answer = rx.try_recv().expect("the core answers synchronously").expect("offer accepted");
    (offered, answer.to_sdp_string())
}

#[test]
fn subscribers_and_publishers_negotiate_transport_wide_feedback() {
    const TWCC: &str = "transport-wide-cc-extensions";
    let mut net = Net::new();
    let (offered, published) = answer_to(&mut net, Direction::SendOnly, 1);
    assert!(offered.contains(TWCC), "the client offers it: {offered}");
    assert!(published.contains(TWCC), "a publisher's bandwidth estimate needs the hub's feedback: {published}");
    let (offered, viewed) = answer_to(&mut net, Direction::RecvOnly, 2);
    assert!(offered.contains(TWCC));
    assert!(viewed.contains(TWCC), "the hub's estimate towards a viewer runs on its feedback: {viewed}");
    assert!(viewed.contains("sdes:mid"), "the rest of the standard set stays: {viewed}");
}
