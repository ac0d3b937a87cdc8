//! The browser path: the hub offers the subscribe connection and re-offers as publishers come
//! and go. Driven in memory on simulated time, like `forwarding.rs`.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{Client, Net, ident};
use lectern_hub::sfu::Command;
use lectern_hub::store::Transport;
use lectern_proto::classroom::ClassroomEvent;
use lectern_proto::signal::{MediaKind as WireKind, QualityLevel, ServerMsg, TrackInfo};
use lectern_proto::{ParticipantId, Role, RoomId};
use str0m::change::SdpOffer;
use str0m::media::{Direction, MediaKind, Mid};
use str0m::net::Protocol;
use str0m::rtp::{Extension, ExtensionMap};
use str0m::{Candidate, Event, Rtc};
use tokio::sync::{mpsc, oneshot};

struct Browser {
    pid: ParticipantId,
    events: mpsc::Receiver<ServerMsg>,
    /// Index of its subscribe connection in `net.clients`, once the hub offered one.
    sub: Option<usize>,
    offers: usize,
    tracks: Vec<TrackInfo>,
    seen: Vec<ServerMsg>,
    /// Its subscribe connection negotiates transport-wide CC (so the hub runs an estimate towards it).
    twcc: bool,
}

fn join(net: &mut Net, id: u64, role: Role) -> Browser {
    let (tx, events) = mpsc::channel(lectern_hub::sfu::command::SIGNAL_BACKLOG);
    let (reply, mut rx) = oneshot::channel();
    let ident = ident("r", id, role, Transport::Browser);
    let cmd = Command::Join { ident, events: tx, socket: test_socket(), reply };
    net.hub.handle_command(cmd, net.now);
    rx.try_recv().unwrap().unwrap();
    Browser { pid: ParticipantId(id), events, sub: None, offers: 0, tracks: Vec::new(), seen: Vec::new(), twcc: true }
}

/// Answers every subscribe offer the hub sent, as the browser app does.
fn answer_offers(net: &mut Net, b: &mut Browser) {
    while let Ok(msg) = b.events.try_recv() {
        if let ServerMsg::SubscribeOffer { sdp, tracks } = &msg {
            let idx = *b.sub.get_or_insert_with(|| {
                let addr: SocketAddr = format!("10.0.2.{}:7000", b.pid.0).parse().unwrap();
                let mut exts = ExtensionMap::empty();
                for (id, ext) in ExtensionMap::standard().iter() {
                    if b.twcc || !matches!(ext, Extension::TransportSequenceNumber) {
                        exts.set(id, ext.clone());
                    }
                }
                let mut rtc = Rtc::builder().set_extension_map(exts).build(net.now);
                rtc.add_local_candidate(Candidate::host(addr, "udp").unwrap());
                net.clients.push(Client {
                    rtc,
                    addr,
                    proto: Protocol::Udp,
                    mid: Mid::from("0"),
                    events: Vec::new(),
                    cut: false,
                });
                net.clients.len() - 1
            });
            let offer = SdpOffer::from_sdp_string(sdp).unwrap();
            let answer = net.clients[idx].rtc.sdp_api().accept_offer(offer).unwrap();
            let (reply, mut rx) = oneshot::channel();
            let cmd = Command::SubscribeAnswer { room: RoomId::parse("r").unwrap(), participant: b.pid, answer, reply };
            net.hub.handle_command(cmd, net.now);
            rx.try_recv().unwrap().unwrap();
            b.offers += 1;
            b.tracks = tracks.clone();
        }
        b.seen.push(msg);
    }
}

#[test]
fn a_new_publisher_reaches_a_browser_in_one_offer_with_audio_and_video() {
    let mut net = Net::new();
    let mut student = join(&mut net, 10, Role::Student);
    answer_offers(&mut net, &mut student);
    assert!(matches!(student.seen.first(), Some(ServerMsg::Joined { .. })), "joined comes first: {:?}", student.seen);
    assert!(
        matches!(student.seen.get(1), Some(ServerMsg::Classroom(ClassroomEvent::State { .. }))),
        "then the lesson state"
    );
    assert_eq!(student.offers, 0, "nothing to offer in an empty room");

    let dev = net.connect_many(&[MediaKind::Audio, MediaKind::Video], ident("r", 1, Role::Device, Transport::Whip));
    net.run_until(Duration::from_secs(5), |n| n.connected(dev));
    answer_offers(&mut net, &mut student);
    assert_eq!(student.offers, 1, "audio and video of one publisher come in a single offer");
    let kinds: Vec<_> = student.tracks.iter().map(|t| (t.participant_id, t.kind)).collect();
    assert!(
        kinds.contains(&(ParticipantId(1), WireKind::Audio)) && kinds.contains(&(ParticipantId(1), WireKind::Video))
    );
    assert!(
        student
            .seen
            .iter()
            .any(|m| matches!(m, ServerMsg::ParticipantJoined { participant } if participant.id == ParticipantId(1)))
    );

    let sub = student.sub.unwrap();
    net.run_until(Duration::from_secs(5), |n| n.connected(sub));
}

#[test]
fn a_publisher_leaving_stops_its_mlines_and_tells_the_room() {
    let mut net = Net::new();
    let mut student = join(&mut net, 10, Role::Student);
    let dev = net.connect_many(&[MediaKind::Audio, MediaKind::Video], ident("r", 1, Role::Device, Transport::Whip));
    net.run_until(Duration::from_secs(5), |n| n.connected(dev));
    answer_offers(&mut net, &mut student);
    let sub = student.sub.unwrap();
    net.run_until(Duration::from_secs(5), |n| n.connected(sub));

    let (reply, mut rx) = oneshot::channel();
    let room = RoomId::parse("r").unwrap();
    net.hub.handle_command(Command::Leave { room, participant: ParticipantId(1), reply: Some(reply) }, net.now);
    rx.try_recv().unwrap().unwrap();
    answer_offers(&mut net, &mut student);
    assert!(
        student
            .seen
            .iter()
            .any(|m| matches!(m, ServerMsg::ParticipantLeft { participant_id } if *participant_id == ParticipantId(1)))
    );
    assert_eq!(student.offers, 2, "a re-offer stops the departed publisher's m-lines");
    assert!(student.tracks.is_empty(), "no track maps to the departed publisher: {:?}", student.tracks);
}

#[test]
fn a_viewer_never_gets_an_answer_path_to_publish_and_students_see_each_other() {
    let mut net = Net::new();
    let mut a = join(&mut net, 10, Role::Student);
    let mut b = join(&mut net, 11, Role::Student);
    // Student a publishes from the browser: a PublishOffer with audio + video.
    let addr: SocketAddr = "10.0.3.1:7000".parse().unwrap();
    let mut rtc = Rtc::builder().build(net.now);
    rtc.add_local_candidate(Candidate::host(addr, "udp").unwrap());
    let mut api = rtc.sdp_api();
    let mid = api.add_media(MediaKind::Video, Direction::SendOnly, None, None, None);
    let (offer, pending) = api.apply().unwrap();
    let (reply, mut rx) = oneshot::channel();
    let room = RoomId::parse("r").unwrap();
    net.hub.handle_command(Command::PublishOffer { room, participant: a.pid, offer, screen_mid: None, reply }, net.now);
    rtc.sdp_api().accept_answer(pending, rx.try_recv().unwrap().unwrap()).unwrap();
    net.clients.push(Client { rtc, addr, proto: Protocol::Udp, mid, events: Vec::new(), cut: false });
    let publisher = net.clients.len() - 1;
    net.run_until(Duration::from_secs(5), |n| n.connected(publisher));

    answer_offers(&mut net, &mut a);
    answer_offers(&mut net, &mut b);
    assert_eq!(a.offers, 0, "nobody else publishes: a gets no offer of its own video");
    assert_eq!(b.tracks.len(), 1);
    assert_eq!(b.tracks[0].participant_id, a.pid);
    let sub = b.sub.unwrap();
    net.run_until(Duration::from_secs(5), |n| n.connected(sub));
    // The viewer-side connection asks for a keyframe when it connects: the publisher hears of it.
    net.run_until(Duration::from_secs(3), |n| {
        n.clients[publisher].events.iter().any(|e| matches!(e, Event::KeyframeRequest(_)))
    });
}

/// Writes 20 ms of the box's audio and a video frame (a keyframe every 30th), then lets 20 ms pass.
fn box_media(net: &mut Net, dev: usize, mids: &[Mid], i: u64) {
    use str0m::format::Codec;
    use str0m::media::{Frequency, MediaTime};
    let now = net.now;
    let c = &mut net.clients[dev];
    let w = c.rtc.writer(mids[0]).unwrap();
    let pt = w.payload_params().next().unwrap().pt();
    w.write(pt, now, MediaTime::new(i * 960, Frequency::FORTY_EIGHT_KHZ), vec![1; 80]).unwrap();
    let w = c.rtc.writer(mids[1]).unwrap();
    let pt = w.payload_params().find(|p| p.spec().codec == Codec::H264).unwrap().pt();
    let mut frame = vec![0, 0, 0, 1, if i.is_multiple_of(30) { 0x65 } else { 0x41 }];
    frame.resize(600, 0x22);
    w.write(pt, now, MediaTime::new(i * 1800, Frequency::NINETY_KHZ), frame).unwrap();
    net.run(2, Duration::from_millis(10));
}

/// Media frames the browser's subscribe connection received on m-lines of `kind`.
fn frames_of(net: &Net, b: &Browser, kind: WireKind) -> usize {
    let mids: Vec<Mid> = b.tracks.iter().filter(|t| t.kind == kind).map(|t| Mid::from(t.mid.as_str())).collect();
    let sub = b.sub.expect("a subscribe connection");
    net.clients[sub].events.iter().filter(|e| matches!(e, Event::MediaData(d) if mids.contains(&d.mid))).count()
}

fn set_audio_only(net: &mut Net, b: &Browser, on: bool) {
    let room = RoomId::parse("r").unwrap();
    net.hub.handle_command(Command::SetAudioOnly { room, participant: b.pid, audio_only: on }, net.now);
}

#[test]
fn the_audio_only_toggle_pauses_video_keeps_audio_and_tells_the_browser() {
    let mut net = Net::new();
    let mut student = join(&mut net, 10, Role::Student);
    // No estimate towards it (the in-memory net has no link to measure): only the toggle decides.
    student.twcc = false;
    let (dev, mids) =
        net.connect_many_mids(&[MediaKind::Audio, MediaKind::Video], ident("r", 1, Role::Device, Transport::Whip));
    net.run_until(Duration::from_secs(5), |n| n.connected(dev));
    answer_offers(&mut net, &mut student);
    let sub = student.sub.unwrap();
    net.run_until(Duration::from_secs(5), |n| n.connected(sub));
    let mut i = 0;
    for _ in 0..100 {
        box_media(&mut net, dev, &mids, i);
        i += 1;
    }
    assert!(frames_of(&net, &student, WireKind::Video) > 20, "video flows before the toggle");

    set_audio_only(&mut net, &student, true);
    answer_offers(&mut net, &mut student);
    let video_mid = student.tracks.iter().find(|t| t.kind == WireKind::Video).unwrap().mid.clone();
    let told = student.seen.iter().any(|m| {
        matches!(m, ServerMsg::Quality { level: QualityLevel::AudioOnly, paused, .. } if *paused == [video_mid.clone()])
    });
    assert!(told, "the browser is told its video is paused: {:?}", student.seen.last());
    let (video, audio) = (frames_of(&net, &student, WireKind::Video), frames_of(&net, &student, WireKind::Audio));
    for _ in 0..100 {
        box_media(&mut net, dev, &mids, i);
        i += 1;
    }
    answer_offers(&mut net, &mut student);
    assert!(frames_of(&net, &student, WireKind::Video) <= video + 1, "no video while audio only");
    assert!(frames_of(&net, &student, WireKind::Audio) >= audio + 90, "audio continues");

    // Switched off: the video resumes (from a keyframe, after the allocator's hold) and the
    // browser hears its quality is no longer audio only.
    set_audio_only(&mut net, &student, false);
    let video = frames_of(&net, &student, WireKind::Video);
    for _ in 0..300 {
        box_media(&mut net, dev, &mids, i);
        i += 1;
    }
    answer_offers(&mut net, &mut student);
    assert!(
        frames_of(&net, &student, WireKind::Video) > video + 50,
        "video resumed: {:?}",
        student.seen.iter().filter(|m| matches!(m, ServerMsg::Quality { .. })).collect::<Vec<_>>()
    );
    let last = student.seen.iter().rev().find_map(|m| match m {
        ServerMsg::Quality { level, paused, .. } => Some((*level, paused.clone())),
        _ => None,
    });
    assert_eq!(last, Some((QualityLevel::Good, Vec::new())), "{:?}", student.seen);
}

/// A browser's socket as the `/rtc` task would name it.
fn test_socket() -> lectern_hub::sfu::Socket {
    lectern_hub::sfu::Socket { id: rand_id(), resume_key: "test-key".to_owned() }
}

fn rand_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
