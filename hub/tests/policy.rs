//! Attack tests of the teacher's and the admin's rules on simulated time (issue 19, items 5, 6, 7,
//! 13, 14, 23): each holds whatever transport a participant uses, and each fails on a hub that
//! only trusts its clients' own pages.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{Client, Net, ident};
use lectern_hub::sfu::{Access, Command, Ident, SfuError};
use lectern_hub::store::Transport;
use lectern_proto::classroom::{ClassroomCommand, ClassroomEvent, PolicyPatch};
use lectern_proto::signal::{ErrorCode, ServerMsg};
use lectern_proto::{ParticipantId, Role, RoomId};
use str0m::media::{Direction, MediaKind};
use str0m::net::Protocol;
use str0m::{Candidate, Event, Rtc};
use tokio::sync::{mpsc, oneshot};

fn room() -> RoomId {
    RoomId::parse("r").unwrap()
}

fn join_as(net: &mut Net, who: Ident) -> mpsc::Receiver<ServerMsg> {
    let (tx, rx) = mpsc::channel(lectern_hub::sfu::command::SIGNAL_BACKLOG);
    let (reply, mut r) = oneshot::channel();
    let socket = lectern_hub::sfu::Socket { id: who.participant.0, resume_key: "k".into() };
    net.hub.handle_command(Command::Join { ident: who, events: tx, socket, reply }, net.now);
    r.try_recv().unwrap().unwrap();
    rx
}

fn join(net: &mut Net, id: u64, role: Role) -> mpsc::Receiver<ServerMsg> {
    join_as(net, ident("r", id, role, Transport::Browser))
}

fn command(net: &mut Net, id: u64, command: ClassroomCommand) -> Result<(), SfuError> {
    let (reply, mut r) = oneshot::channel();
    let cmd = Command::Classroom { room: room(), participant: ParticipantId(id), command, reply };
    net.hub.handle_command(cmd, net.now);
    r.try_recv().unwrap()
}

fn drain(rx: &mut mpsc::Receiver<ServerMsg>) -> Vec<ServerMsg> {
    std::iter::from_fn(|| rx.try_recv().ok()).collect()
}

fn media_count(net: &Net, client: usize) -> usize {
    net.clients[client].events.iter().filter(|e| matches!(e, Event::MediaData(_))).count()
}

fn policy(patch: PolicyPatch) -> ClassroomCommand {
    ClassroomCommand::SetPolicy(patch)
}

/// A browser's publish offer of one video m-line, sent as a screen share when `screen`.
fn publish_video(net: &mut Net, id: u64, screen: bool) -> Result<usize, SfuError> {
    let addr: SocketAddr = format!("10.0.5.{id}:7000").parse().unwrap();
    let mut rtc = Rtc::builder().build(net.now);
    rtc.add_local_candidate(Candidate::host(addr, "udp").unwrap());
    let mut api = rtc.sdp_api();
    let mid = api.add_media(MediaKind::Video, Direction::SendOnly, None, None, None);
    let (offer, pending) = api.apply().unwrap();
    let (reply, mut rx) = oneshot::channel();
    let screen_mid = screen.then(|| mid.to_string());
    let cmd = Command::PublishOffer { room: room(), participant: ParticipantId(id), offer, screen_mid, reply };
    net.hub.handle_command(cmd, net.now);
    let answer = rx.try_recv().unwrap()?;
    rtc.sdp_api().accept_answer(pending, answer).unwrap();
    net.clients.push(Client { rtc, addr, proto: Protocol::Udp, mid, events: Vec::new(), cut: false });
    Ok(net.clients.len() - 1)
}

fn send_vp8(net: &mut Net, client: usize, i: u64) {
    let now = net.now;
    let c = &mut net.clients[client];
    let w = c.rtc.writer(c.mid).unwrap();
    let pt = w.payload_params().find(|p| p.spec().codec == str0m::format::Codec::Vp8).unwrap().pt();
    let time = str0m::media::MediaTime::new(i * 2700, str0m::media::Frequency::NINETY_KHZ);
    // Every frame a keyframe (tag bit 0 clear): a viewer may start on any of them.
    w.write(pt, now, time, vec![0x10, 0x02, 0x00, i as u8]).unwrap();
    net.run(3, Duration::from_millis(10));
}

fn viewer(net: &mut Net, id: u64, kind: MediaKind) -> usize {
    net.connect(kind, Direction::RecvOnly, ident("r", id, Role::Viewer, Transport::Whep))
}

/// How many packets of a WHIP student's microphone a WHEP listener gets, with the policy given.
fn whip_student_heard(students_may_unmute: bool) -> usize {
    let mut net = Net::new();
    let _teacher = join(&mut net, 1, Role::Teacher);
    let patch = PolicyPatch { students_may_unmute: Some(students_may_unmute), ..Default::default() };
    command(&mut net, 1, policy(patch)).unwrap();
    let mic = net.connect(MediaKind::Audio, Direction::SendOnly, ident("r", 2, Role::Student, Transport::Whip));
    let listener = viewer(&mut net, 9, MediaKind::Audio);
    net.run_until(Duration::from_secs(5), |n| n.connected(mic) && n.connected(listener));
    for i in 0..40 {
        net.send_audio(mic, i, vec![3u8; 40]);
    }
    media_count(&net, listener)
}

#[test]
fn a_student_publishing_by_whip_is_held_to_the_teachers_policy() {
    assert_eq!(whip_student_heard(false), 0, "a WHIP student's microphone is off while students may not unmute");
    assert!(whip_student_heard(true) > 20, "and on when they may");
}

#[test]
fn a_whip_student_is_let_on_by_a_policy_change_or_a_teachers_ask_and_off_by_a_mute() {
    let mut net = Net::new();
    let _teacher = join(&mut net, 1, Role::Teacher);
    command(&mut net, 1, policy(PolicyPatch { students_may_unmute: Some(false), ..Default::default() })).unwrap();
    let mic = net.connect(MediaKind::Audio, Direction::SendOnly, ident("r", 2, Role::Student, Transport::Whip));
    let listener = viewer(&mut net, 9, MediaKind::Audio);
    net.run_until(Duration::from_secs(5), |n| n.connected(mic) && n.connected(listener));
    let mut frame = 0;
    let mut speak = |net: &mut Net| {
        let before = media_count(net, listener);
        for _ in 0..30 {
            net.send_audio(mic, frame, vec![3u8; 40]);
            frame += 1;
        }
        media_count(net, listener) - before
    };
    assert_eq!(speak(&mut net), 0);
    command(&mut net, 1, ClassroomCommand::AskToUnmute { participant_id: ParticipantId(2) }).unwrap();
    assert!(speak(&mut net) > 20, "the teacher's ask lets the WHIP student speak");
    command(&mut net, 1, ClassroomCommand::MuteParticipant { participant_id: ParticipantId(2) }).unwrap();
    assert_eq!(speak(&mut net), 0, "a teacher's mute holds");
    command(&mut net, 1, policy(PolicyPatch { students_may_unmute: Some(true), ..Default::default() })).unwrap();
    assert!(speak(&mut net) > 20, "the policy allowing it lets them speak again");
}

#[test]
fn a_stopped_camera_cannot_come_back_as_a_screen_share() {
    let mut net = Net::new();
    let _teacher = join(&mut net, 1, Role::Teacher);
    let _student = join(&mut net, 2, Role::Student);
    command(&mut net, 2, ClassroomCommand::RequestScreenShare).unwrap();
    let screen = publish_video(&mut net, 2, true).unwrap();
    let watcher = viewer(&mut net, 9, MediaKind::Video);
    net.run_until(Duration::from_secs(5), |n| n.connected(screen) && n.connected(watcher));
    let mut i = 0;
    while media_count(&net, watcher) < 5 {
        assert!(i < 300, "the screen share reaches the viewer");
        send_vp8(&mut net, screen, i);
        i += 1;
    }

    command(&mut net, 1, ClassroomCommand::StopVideo { participant_id: ParticipantId(2) }).unwrap();
    net.run(5, Duration::from_millis(10));
    let at_stop = media_count(&net, watcher);
    for j in i..i + 40 {
        send_vp8(&mut net, screen, j);
    }
    assert_eq!(media_count(&net, watcher), at_stop, "no frame of the stopped student's 'screen' leaves the hub");
    // Publishing the camera again as a screen needs the share back first.
    let again = publish_video(&mut net, 2, true).unwrap_err();
    assert!(again.to_string().contains("requestScreenShare"), "{again}");
}

#[test]
fn a_screen_track_of_someone_who_is_not_the_sharer_goes_nowhere() {
    let mut net = Net::new();
    let _teacher = join(&mut net, 1, Role::Teacher);
    let _student = join(&mut net, 2, Role::Student);
    command(&mut net, 2, ClassroomCommand::RequestScreenShare).unwrap();
    let screen = publish_video(&mut net, 2, true).unwrap();
    let watcher = viewer(&mut net, 9, MediaKind::Video);
    net.run_until(Duration::from_secs(5), |n| n.connected(screen) && n.connected(watcher));
    // The student ends the share in the classroom but keeps sending on the m-line.
    command(&mut net, 2, ClassroomCommand::StopScreenShare { participant_id: None }).unwrap();
    for i in 0..40 {
        send_vp8(&mut net, screen, i);
    }
    assert_eq!(media_count(&net, watcher), 0);
}

/// A browser participant holding token `jti`, valid until `ends_at` (Unix seconds).
fn with_access(mut who: Ident, jti: &str, ends_at: Option<u64>) -> Ident {
    who.access = Access { jti: jti.into(), ends_at, ..Access::default() };
    who
}

fn ended_with(msgs: &[ServerMsg], code: ErrorCode, words: &str) -> bool {
    msgs.iter().any(
        |m| matches!(m, ServerMsg::Error { code: c, message, fatal: true } if *c == code && message.contains(words)),
    )
}

#[test]
fn revoking_a_token_ends_every_session_opened_with_it_in_every_transport() {
    let mut net = Net::new();
    let mut teacher = join(&mut net, 1, Role::Teacher);
    let console = ident("r", 2, Role::Device, Transport::Browser);
    let mut console = join_as(&mut net, with_access(console, "box-1", None));
    let whip = with_access(ident("r", 3, Role::Device, Transport::Whip), "box-1", None);
    let camera = net.connect(MediaKind::Video, Direction::SendOnly, whip);
    net.run_until(Duration::from_secs(5), |n| n.connected(camera));
    drain(&mut console);
    drain(&mut teacher);
    assert_eq!(net.hub.peer_count(), 3, "the box's camera, the teacher's and the console's subscriptions");

    net.hub.handle_command(Command::Revoked { jti: "box-1".into() }, net.now);
    let told = drain(&mut console);
    assert!(ended_with(&told, ErrorCode::Unauthorized, "revoked"), "{told:?}");
    assert!(console.is_closed(), "the revoked console's socket is let go of");
    assert_eq!(net.hub.peer_count(), 1, "the box's WHIP connection and the console's are gone, the teacher's stays");
    let left = drain(&mut teacher);
    let gone: Vec<_> = left
        .iter()
        .filter_map(
            |m| if let ServerMsg::ParticipantLeft { participant_id } = m { Some(participant_id.0) } else { None },
        )
        .collect();
    assert_eq!(gone, [2, 3], "the teacher sees both sessions leave: {left:?}");
    assert!(!teacher.is_closed(), "the teacher's token was not revoked");
}

#[test]
fn a_session_ends_when_its_token_and_the_grace_run_out_not_before() {
    let mut net = Net::new();
    let unix = lectern_common::time::unix_secs();
    let _teacher = join(&mut net, 1, Role::Teacher);
    let student = with_access(ident("r", 2, Role::Student, Transport::Browser), "link", Some(unix + 60));
    let mut student = join_as(&mut net, student);
    drain(&mut student);
    net.now += Duration::from_secs(50);
    net.hub.handle_timeout(net.now);
    assert!(drain(&mut student).is_empty() && !student.is_closed(), "the lesson runs on before the end");
    net.now += Duration::from_secs(15);
    net.hub.handle_timeout(net.now);
    let told = drain(&mut student);
    assert!(ended_with(&told, ErrorCode::Unauthorized, "expired"), "{told:?}");
    assert!(student.is_closed());
}

#[test]
fn a_room_made_by_a_refused_join_goes_and_a_guest_waiting_alone_is_dropped_after_an_hour() {
    let mut net = Net::new();
    // An admin token is never a participant: the join is refused, yet it made the room.
    let mut refused = join(&mut net, 1, Role::Admin);
    assert!(drain(&mut refused).iter().any(|m| matches!(m, ServerMsg::Classroom(ClassroomEvent::Denied { .. }))));
    let mut other = join_as(&mut net, Ident { room: RoomId::parse("s").unwrap(), ..guest(2) });
    assert_eq!(net.hub.room_count(), 2);
    net.hub.handle_timeout(net.now);
    let waited = drain(&mut other);
    assert!(waited.iter().any(|m| matches!(m, ServerMsg::Classroom(ClassroomEvent::Waiting { .. }))), "{waited:?}");
    net.now += Duration::from_secs(30 * 60);
    net.hub.handle_timeout(net.now);
    assert!(drain(&mut other).is_empty() && !other.is_closed(), "half an hour in, the guest still waits");
    net.now += Duration::from_secs(31 * 60);
    net.hub.handle_timeout(net.now);
    let told = drain(&mut other);
    assert!(ended_with(&told, ErrorCode::Conflict, "nobody has started"), "{told:?}");
    assert!(other.is_closed(), "the waiting guest's socket is let go of");
    assert_eq!(net.hub.room_count(), 0, "both rooms are gone");
}

fn guest(id: u64) -> Ident {
    let mut who = ident("r", id, Role::Student, Transport::Browser);
    who.guest = true;
    who.subject = format!("link:{id}");
    who
}

fn denied_for(msgs: &[ServerMsg]) -> Option<lectern_proto::classroom::DenyReason> {
    msgs.iter().find_map(|m| match m {
        ServerMsg::Classroom(ClassroomEvent::Denied { reason }) => Some(*reason),
        _ => None,
    })
}

/// A join carrying the web admin's settings of the room, as `/rtc` and WHIP hand them over.
fn with_room(mut who: Ident, capacity: u32, everyone_waits: bool) -> Ident {
    who.access.room = Some(lectern_hub::sfu::RoomSettings { capacity, everyone_waits });
    who
}

#[test]
fn the_admins_capacity_refuses_the_one_over_it_on_every_transport() {
    use lectern_proto::classroom::DenyReason;
    let mut net = Net::new();
    let _teacher = join_as(&mut net, with_room(ident("r", 1, Role::Teacher, Transport::Browser), 2, false));
    let mut a = join_as(&mut net, with_room(ident("r", 2, Role::Student, Transport::Browser), 2, false));
    let mut b = join_as(&mut net, with_room(ident("r", 3, Role::Student, Transport::Browser), 2, false));
    assert!(drain(&mut a).iter().any(|m| matches!(m, ServerMsg::Joined { .. })));
    assert!(drain(&mut b).iter().any(|m| matches!(m, ServerMsg::Joined { .. })));
    let mut c = join_as(&mut net, with_room(ident("r", 4, Role::Student, Transport::Browser), 2, false));
    assert_eq!(denied_for(&drain(&mut c)), Some(DenyReason::RoomFull));
    assert!(c.is_closed(), "the one over capacity is let go of");
    // A WHEP viewer is one more person too.
    let (tx, mut rx) = oneshot::channel();
    let mut rtc = Rtc::builder().build(net.now);
    let mut api = rtc.sdp_api();
    api.add_media(MediaKind::Audio, Direction::RecvOnly, None, None, None);
    let (offer, _) = api.apply().unwrap();
    let viewer = with_room(ident("r", 5, Role::Viewer, Transport::Whep), 2, false);
    net.hub.handle_command(Command::Whep { ident: viewer, offer, reply: tx }, net.now);
    assert_eq!(rx.try_recv().unwrap().unwrap_err(), SfuError::Denied(DenyReason::RoomFull));
    // The admin raises the capacity: the next join brings it.
    let mut d = join_as(&mut net, with_room(ident("r", 6, Role::Student, Transport::Browser), 3, false));
    assert!(drain(&mut d).iter().any(|m| matches!(m, ServerMsg::Joined { .. })));
}

#[test]
fn the_admins_everyone_waits_sends_all_but_teachers_to_the_lobby() {
    let mut net = Net::new();
    let mut teacher = join_as(&mut net, with_room(ident("r", 1, Role::Teacher, Transport::Browser), 30, true));
    assert!(drain(&mut teacher).iter().any(|m| matches!(m, ServerMsg::Joined { .. })));
    let mut student = join_as(&mut net, with_room(ident("r", 2, Role::Student, Transport::Browser), 30, true));
    let got = drain(&mut student);
    assert!(matches!(got.as_slice(), [ServerMsg::Classroom(ClassroomEvent::Waiting { position: 1 })]), "{got:?}");
    let console = with_room(ident("r", 3, Role::Device, Transport::Browser), 30, true);
    let mut console = join_as(&mut net, console);
    let got = drain(&mut console);
    assert!(matches!(got.as_slice(), [ServerMsg::Classroom(ClassroomEvent::Waiting { position: 2 })]), "{got:?}");
    // The box's own camera is the room: it is not held.
    let camera = with_room(ident("r", 4, Role::Device, Transport::Whip), 30, true);
    net.connect(MediaKind::Video, Direction::SendOnly, camera);
}

#[test]
fn the_boxs_credential_in_a_browser_meets_the_lock_and_the_teacher_can_remove_it() {
    use lectern_proto::classroom::DenyReason;
    let mut net = Net::new();
    let _teacher = join(&mut net, 1, Role::Teacher);
    let camera = net.connect(MediaKind::Video, Direction::SendOnly, ident("r", 2, Role::Device, Transport::Whip));
    let mut console =
        join_as(&mut net, Ident { subject: "s2".into(), ..ident("r", 3, Role::Device, Transport::Browser) });
    assert!(drain(&mut console).iter().any(|m| matches!(m, ServerMsg::Joined { .. })));
    command(&mut net, 1, ClassroomCommand::RemoveParticipant { participant_id: ParticipantId(3) }).unwrap();
    assert!(drain(&mut console).iter().any(|m| matches!(m, ServerMsg::Classroom(ClassroomEvent::Removed))));
    assert!(console.is_closed());
    net.run_until(Duration::from_secs(5), |n| n.connected(camera));
    assert_eq!(net.hub.peer_count(), 2, "the box's camera stays (and the teacher's subscription)");

    command(&mut net, 1, policy(PolicyPatch { locked: Some(true), ..Default::default() })).unwrap();
    let mut other = join(&mut net, 5, Role::Device);
    assert_eq!(denied_for(&drain(&mut other)), Some(DenyReason::RoomLocked), "a locked room holds for the console");
    // Watching by WHEP with the box's credential is not the box either (its return feed is).
    let (tx, mut rx) = oneshot::channel();
    let mut rtc = Rtc::builder().build(net.now);
    let mut api = rtc.sdp_api();
    api.add_media(MediaKind::Video, Direction::RecvOnly, None, None, None);
    let (offer, _) = api.apply().unwrap();
    let watcher = ident("r", 6, Role::Device, Transport::Whep);
    net.hub.handle_command(Command::Whep { ident: watcher, offer, reply: tx }, net.now);
    assert_eq!(rx.try_recv().unwrap().unwrap_err(), SfuError::Denied(DenyReason::RoomLocked));
}

/// A guest on the shared link from `browser` at `address`.
fn guest_at(id: u64, browser: &str, address: &str) -> Ident {
    let mut who = guest(id);
    who.access.marks = vec![format!("browser:{browser}"), format!("address:{address}")];
    who
}

#[test]
fn a_removed_guest_coming_back_with_the_same_link_is_refused_for_the_lesson() {
    use lectern_proto::classroom::DenyReason;
    let mut net = Net::new();
    let _teacher = join(&mut net, 1, Role::Teacher);
    let mut g = join_as(&mut net, guest_at(2, "b1", "192.0.2.1"));
    command(&mut net, 1, ClassroomCommand::Admit { participant_id: ParticipantId(2) }).unwrap();
    assert!(drain(&mut g).iter().any(|m| matches!(m, ServerMsg::Joined { .. })));
    command(&mut net, 1, ClassroomCommand::RemoveParticipant { participant_id: ParticipantId(2) }).unwrap();
    assert!(g.is_closed());
    // The same link again: a new `sub` each time, but the same browser, or the same address.
    let mut again = join_as(&mut net, guest_at(3, "b1", "198.51.100.1"));
    assert_eq!(denied_for(&drain(&mut again)), Some(DenyReason::Blocked));
    let mut private = join_as(&mut net, guest_at(4, "fresh", "192.0.2.1"));
    assert_eq!(denied_for(&drain(&mut private)), Some(DenyReason::Blocked));
    let mut stranger = join_as(&mut net, guest_at(5, "b5", "203.0.113.5"));
    assert!(drain(&mut stranger).iter().any(|m| matches!(m, ServerMsg::Classroom(ClassroomEvent::Waiting { .. }))));
}

#[test]
fn a_token_that_never_ends_is_no_trouble() {
    let mut net = Net::new();
    let who = with_access(ident("r", 1, Role::Teacher, Transport::Browser), "forever", Some(u64::MAX));
    let mut teacher = join_as(&mut net, who);
    for _ in 0..3 {
        net.now += Duration::from_secs(8 * 24 * 3600);
        net.hub.handle_timeout(net.now);
    }
    assert!(drain(&mut teacher).iter().all(|m| !matches!(m, ServerMsg::Error { .. })) && !teacher.is_closed());
}
