//! A classroom box's make-before-break: its new WHIP session takes over the participant of the old
//! one (which lost its path), so viewers keep their m-line and hear the new stream, and nobody sees
//! the box leave. The shard core on simulated time, as in `forwarding.rs`.

mod common;

use std::time::Duration;

use common::{Net, ident};
use lectern_hub::sfu::SfuError;
use lectern_hub::store::{StoreEvent, Transport};
use lectern_proto::{ParticipantId, Role};
use str0m::Event;
use str0m::media::{Direction, MediaKind};

const BOX: u64 = 1;

/// The RTP time (48 kHz ticks) of each audio frame `idx` received.
fn audio_times(net: &Net, idx: usize) -> Vec<u64> {
    net.clients[idx]
        .events
        .iter()
        .filter_map(|e| match e {
            Event::MediaData(d) => Some(d.time.numer()),
            _ => None,
        })
        .collect()
}

fn audio_frames(net: &Net, idx: usize) -> Vec<Vec<u8>> {
    net.frames(idx)
}

/// The m-lines `idx` received media on.
fn media_mids(net: &Net, idx: usize) -> Vec<str0m::media::Mid> {
    let mut mids: Vec<_> = net.clients[idx]
        .events
        .iter()
        .filter_map(|e| if let Event::MediaData(d) = e { Some(d.mid) } else { None })
        .collect();
    mids.dedup();
    mids
}

/// A box publishing audio and a WHEP viewer of it, both connected and the audio flowing.
fn room_with_box() -> (Net, tokio::sync::mpsc::Receiver<StoreEvent>, usize, usize) {
    let (mut net, store) = Net::with_store();
    let old = net.connect(MediaKind::Audio, Direction::SendOnly, ident("r", BOX, Role::Device, Transport::Whip));
    let viewer = net.connect(MediaKind::Audio, Direction::RecvOnly, ident("r", 2, Role::Viewer, Transport::Whep));
    net.run_until(Duration::from_secs(5), |n| n.connected(old) && n.connected(viewer));
    for i in 0..20u64 {
        net.send_audio(old, i, vec![1; 80]);
    }
    net.run(10, Duration::from_millis(10));
    assert!(audio_frames(&net, viewer).len() >= 15, "the viewer hears the box before the cut");
    (net, store, old, viewer)
}

fn left(store: &mut tokio::sync::mpsc::Receiver<StoreEvent>) -> Vec<ParticipantId> {
    let mut out = Vec::new();
    while let Ok(ev) = store.try_recv() {
        if let StoreEvent::Left { participant, .. } = ev {
            out.push(participant);
        }
    }
    out
}

#[test]
fn a_box_publishing_again_takes_over_its_participant_and_viewers_hear_the_new_stream_on_the_same_m_line() {
    let (mut net, mut store, old, viewer) = room_with_box();
    net.cut(old);
    net.run(300, Duration::from_millis(10)); // 3 s without the old path: the box notices, the hub holds on
    let new = net
        .connect_takeover(&[MediaKind::Audio], ident("r", BOX, Role::Device, Transport::Whip))
        .expect("the box's participant is still there to take over");
    net.run_until(Duration::from_secs(5), |n| n.connected(new));
    let before = audio_frames(&net, viewer).len();
    for i in 0..30u64 {
        net.send_audio(new, 1000 + i, vec![2; 80]);
    }
    net.run(10, Duration::from_millis(10));
    let frames = audio_frames(&net, viewer);
    let fresh = frames[before..].iter().filter(|f| f[0] == 2).count();
    assert!(fresh >= 25, "the viewer hears the new session: {fresh} of 30 frames");
    assert_eq!(media_mids(&net, viewer), vec![net.clients[viewer].mid], "both streams came on the viewer's one m-line");
    // The new stream's own RTP time starts at 1000 frames; the viewer's continues from the old one's.
    let times = audio_times(&net, viewer);
    let (last_old, first_new) = (times[before - 1], times[before]);
    assert!(first_new > last_old && first_new - last_old <= 960 * 2, "RTP time continues: {last_old} then {first_new}");
    assert_eq!(net.hub.peer_count(), 2, "the old connection is gone: the new one and the viewer are left");
    assert_eq!(left(&mut store), Vec::<ParticipantId>::new(), "nobody saw the box leave");
}

#[test]
fn a_takeover_for_a_box_that_is_gone_is_refused_so_the_caller_admits_it_afresh() {
    let mut net = Net::new();
    let res = net.connect_takeover(&[MediaKind::Audio], ident("r", BOX, Role::Device, Transport::Whip));
    assert!(matches!(res, Err(SfuError::UnknownParticipant)), "{:?}", res.err());
    // A browser student is not a box: its participant cannot be taken over by WHIP.
    let student = net.connect(MediaKind::Audio, Direction::SendOnly, ident("r", 5, Role::Student, Transport::Whip));
    net.run_until(Duration::from_secs(5), |n| n.connected(student));
    let res = net.connect_takeover(&[MediaKind::Audio], ident("r", 5, Role::Student, Transport::Whip));
    assert!(matches!(res, Err(SfuError::UnknownParticipant)), "{:?}", res.err());
}

#[test]
fn a_replacement_that_never_connects_leaves_the_box_as_it_was() {
    let (mut net, mut store, old, viewer) = room_with_box();
    let new = net
        .connect_takeover(&[MediaKind::Audio], ident("r", BOX, Role::Device, Transport::Whip))
        .expect("takeover accepted");
    net.cut(new); // its path never works: the hub drops it after its connect deadline (30 s)
    net.run_until(Duration::from_secs(60), |n| n.hub.peer_count() == 2);
    assert!(!net.connected(new));
    let before = audio_frames(&net, viewer).len();
    for i in 0..20u64 {
        net.send_audio(old, 100 + i, vec![3; 80]);
    }
    net.run(10, Duration::from_millis(10));
    let after = audio_frames(&net, viewer).len();
    assert!(after - before >= 15, "the old session still reaches the viewer: {} frames", after - before);
    assert_eq!(left(&mut store), Vec::<ParticipantId>::new(), "the box stayed");
}

#[test]
fn a_box_whose_old_and_new_sessions_both_fail_leaves() {
    let (mut net, mut store, old, _viewer) = room_with_box();
    let new = net
        .connect_takeover(&[MediaKind::Audio], ident("r", BOX, Role::Device, Transport::Whip))
        .expect("takeover accepted");
    net.cut(old);
    net.cut(new);
    net.run_until(Duration::from_secs(60), |n| n.hub.peer_count() == 1);
    assert_eq!(left(&mut store), vec![ParticipantId(BOX)], "the box left once neither session could work");
}
