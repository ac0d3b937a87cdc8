//! A room where nobody sends costs the shard almost nothing: no padding towards silent
//! subscribers and no pacer ticks (the str0m patch in `vendor/str0m`, docs/str0m-idle-pacing.md).
//! The shard core and str0m clients in memory, on simulated time.

mod common;

use std::time::Duration;

use common::{Net, ident};
use lectern_hub::store::Transport;
use lectern_proto::Role;
use str0m::media::{Direction, MediaKind};

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
