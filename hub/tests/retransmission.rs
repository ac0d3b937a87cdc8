//! A video packet lost between the hub and a viewer is resent from the hub's retransmission
//! cache, which is sized per stream from its rate and the viewer's round trip (`sfu::rtx_budget`).

mod common;

use std::time::Duration;

use common::{Net, ident};
use lectern_hub::store::Transport;
use lectern_proto::Role;
use str0m::media::{Direction, MediaKind};

/// A VP8 frame every 30 ms (a keyframe every 30th), one packet each, payload ending with `i`.
fn send_vp8(net: &mut Net, client: usize, i: u64) {
    let now = net.now;
    let c = &mut net.clients[client];
    let w = c.rtc.writer(c.mid).unwrap();
    let pt = w.payload_params().find(|p| p.spec().codec == str0m::format::Codec::Vp8).unwrap().pt();
    // The frame tag's lowest bit is 0 for a keyframe.
    let tag = if i.is_multiple_of(30) { 0x10 } else { 0x11 };
    let time = str0m::media::MediaTime::new(i * 2700, str0m::media::Frequency::NINETY_KHZ);
    w.write(pt, now, time, vec![tag, 0x02, 0x00, i as u8]).unwrap();
    net.run(3, Duration::from_millis(10));
}

/// The frame numbers `client` received, in order.
fn received(net: &Net, client: usize) -> Vec<u8> {
    net.frames(client).iter().filter_map(|f| f.last().copied()).collect()
}

fn lost_packet_is_resent_after(flowing: u64) {
    let mut net = Net::new();
    let publisher = net.connect(MediaKind::Video, Direction::SendOnly, ident("r", 1, Role::Device, Transport::Whip));
    let viewer = net.connect(MediaKind::Video, Direction::RecvOnly, ident("r", 2, Role::Viewer, Transport::Whep));
    net.run_until(Duration::from_secs(5), |n| n.connected(publisher) && n.connected(viewer));
    let mut i = 0;
    while i < flowing || received(&net, viewer).is_empty() {
        send_vp8(&mut net, publisher, i);
        i += 1;
        assert!(i < 1000, "the viewer receives video");
    }

    net.lose_rtp_to(viewer, 1);
    let lost_from = i;
    for _ in 0..40 {
        send_vp8(&mut net, publisher, i);
        i += 1;
    }
    net.run(50, Duration::from_millis(10));

    assert_eq!(net.lose_rtp[&net.clients[viewer].addr], 0, "a packet was lost");
    let got = received(&net, viewer);
    for f in lost_from..i {
        assert!(got.contains(&(f as u8)), "frame {f} reached the viewer (resent): {got:?}");
    }
}

#[test]
fn a_packet_lost_towards_a_viewer_early_on_is_resent() {
    // Before the stream's rate is measured: the cache's first sizing.
    lost_packet_is_resent_after(0);
}

#[test]
fn a_packet_lost_towards_a_viewer_after_the_cache_was_resized_is_resent() {
    // Three seconds of 33 frames/s: the rate and the viewer's round trip are known and the
    // cache was resized to them (keeping what it held).
    lost_packet_is_resent_after(100);
}
