//! The classroom wired to the media, on simulated time: the lobby holds and admits, and a
//! teacher's mute stops the student's packets at the hub, not just in the UI.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{Client, Net, ident};
use lectern_hub::sfu::{Command, SfuError};
use lectern_hub::store::Transport;
use lectern_proto::classroom::{ClassroomCommand, ClassroomEvent, DenyReason, PolicyPatch};
use lectern_proto::signal::ServerMsg;
use lectern_proto::{ParticipantId, Role, RoomId};
use str0m::media::{Direction, Frequency, MediaKind, MediaTime};
use str0m::net::Protocol;
use str0m::{Candidate, Event, Rtc};
use tokio::sync::{mpsc, oneshot};

fn room() -> RoomId {
    RoomId::parse("r").unwrap()
}

fn join(net: &mut Net, id: u64, role: Role, guest: bool) -> mpsc::Receiver<ServerMsg> {
    let (tx, rx) = mpsc::channel(lectern_hub::sfu::command::SIGNAL_BACKLOG);
    let (reply, mut r) = oneshot::channel();
    let mut who = ident("r", id, role, Transport::Browser);
    who.guest = guest;
    who.subject = format!("subject-{id}");
    net.hub.handle_command(Command::Join { ident: who, events: tx, socket: test_socket(), reply }, net.now);
    r.try_recv().unwrap().unwrap();
    rx
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

/// A browser's publish connection with one audio m-line.
fn publish_audio(net: &mut Net, id: u64) -> usize {
    let addr: SocketAddr = format!("10.0.4.{id}:7000").parse().unwrap();
    let mut rtc = Rtc::builder().build(net.now);
    rtc.add_local_candidate(Candidate::host(addr, "udp").unwrap());
    let mut api = rtc.sdp_api();
    let mid = api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
    let (offer, pending) = api.apply().unwrap();
    let (reply, mut rx) = oneshot::channel();
    let cmd = Command::PublishOffer { room: room(), participant: ParticipantId(id), offer, screen_mid: None, reply };
    net.hub.handle_command(cmd, net.now);
    rtc.sdp_api().accept_answer(pending, rx.try_recv().unwrap().unwrap()).unwrap();
    net.clients.push(Client { rtc, addr, proto: Protocol::Udp, mid, events: Vec::new(), cut: false });
    net.clients.len() - 1
}

fn media_count(net: &Net, client: usize) -> usize {
    net.clients[client].events.iter().filter(|e| matches!(e, Event::MediaData(_))).count()
}

#[test]
fn mute_all_stops_the_students_audio_at_the_hub() {
    let mut net = Net::new();
    let _teacher = join(&mut net, 1, Role::Teacher, false);
    let _student = join(&mut net, 2, Role::Student, false);
    let mic = publish_audio(&mut net, 2);
    let listener = net.connect(MediaKind::Audio, Direction::RecvOnly, ident("r", 9, Role::Viewer, Transport::Whep));
    net.run_until(Duration::from_secs(5), |n| n.connected(mic) && n.connected(listener));

    let speak = |net: &mut Net, from: u64, n: u64| {
        for i in from..from + n {
            let c = &mut net.clients[mic];
            let mid = c.mid;
            let w = c.rtc.writer(mid).unwrap();
            let pt = w.payload_params().next().unwrap().pt();
            w.write(pt, net.now, MediaTime::new(i * 960, Frequency::FORTY_EIGHT_KHZ), vec![3u8; 40]).unwrap();
            net.run(2, Duration::from_millis(10));
        }
    };
    speak(&mut net, 0, 30);
    let before = media_count(&net, listener);
    assert!(before > 20, "the student is heard before the mute: {before}");

    command(&mut net, 1, ClassroomCommand::MuteAllStudents).unwrap();
    net.run(5, Duration::from_millis(10));
    let at_mute = media_count(&net, listener);
    speak(&mut net, 30, 30);
    assert_eq!(media_count(&net, listener), at_mute, "no packet of a muted student leaves the hub");

    // Muting oneself again must not lift the teacher's block (a client could then send real audio).
    net.hub.handle_command(
        Command::SetMuted {
            room: room(),
            participant: ParticipantId(2),
            kind: lectern_proto::signal::MediaKind::Audio,
            muted: true,
        },
        net.now,
    );
    let at_self_mute = media_count(&net, listener);
    speak(&mut net, 60, 30);
    assert_eq!(media_count(&net, listener), at_self_mute, "still blocked after the student's own setMuted(true)");

    // A student cannot mute others: a teacher command from a student is refused.
    let err = command(&mut net, 2, ClassroomCommand::MuteAllStudents).unwrap_err().to_string();
    assert!(err.contains("teacher"), "{err}");
}

#[test]
fn everyone_waits_holds_students_until_the_teacher_admits_them() {
    let mut net = Net::new();
    let mut teacher = join(&mut net, 1, Role::Teacher, false);
    command(&mut net, 1, ClassroomCommand::SetPolicy(PolicyPatch { everyone_waits: Some(true), ..Default::default() }))
        .unwrap();
    let mut student = join(&mut net, 2, Role::Student, false);
    let got = drain(&mut student);
    assert!(matches!(got.as_slice(), [ServerMsg::Classroom(ClassroomEvent::Waiting { position: 1 })]), "{got:?}");
    let lobby = drain(&mut teacher);
    assert!(
        lobby
            .iter()
            .any(|m| matches!(m, ServerMsg::Classroom(ClassroomEvent::LobbyChanged { waiting }) if waiting.len() == 1)),
        "the teacher sees who waits: {lobby:?}"
    );
    // A waiting student cannot act in the room yet.
    assert!(command(&mut net, 2, ClassroomCommand::RaiseHand).is_err());

    command(&mut net, 1, ClassroomCommand::Admit { participant_id: ParticipantId(2) }).unwrap();
    let got = drain(&mut student);
    assert!(matches!(got.first(), Some(ServerMsg::Joined { .. })), "admitted: {got:?}");
    command(&mut net, 2, ClassroomCommand::RaiseHand).unwrap();
}

#[test]
fn a_removed_student_is_refused_when_rejoining_with_the_same_identity() {
    let mut net = Net::new();
    let _teacher = join(&mut net, 1, Role::Teacher, false);
    let mut student = join(&mut net, 2, Role::Student, false);
    drain(&mut student);
    command(&mut net, 1, ClassroomCommand::RemoveParticipant { participant_id: ParticipantId(2) }).unwrap();
    let got = drain(&mut student);
    assert!(got.iter().any(|m| matches!(m, ServerMsg::Classroom(ClassroomEvent::Removed))), "{got:?}");
    assert!(student.try_recv().is_err() && student.is_closed(), "the hub let go of the removed student's socket");

    // Same token (same subject), new connection.
    let (tx, mut rx) = mpsc::channel(lectern_hub::sfu::command::SIGNAL_BACKLOG);
    let (reply, mut r) = oneshot::channel();
    let mut again = ident("r", 3, Role::Student, Transport::Browser);
    again.subject = "subject-2".into();
    net.hub.handle_command(Command::Join { ident: again, events: tx, socket: test_socket(), reply }, net.now);
    r.try_recv().unwrap().unwrap();
    let got = drain(&mut rx);
    assert!(
        matches!(got.as_slice(), [ServerMsg::Classroom(ClassroomEvent::Denied { reason: DenyReason::Blocked })]),
        "{got:?}"
    );
}

/// A guest joining with `passcode`, as `/rtc` would hand it over from the `join` message.
fn join_guest(net: &mut Net, id: u64, passcode: Option<&str>) -> mpsc::Receiver<ServerMsg> {
    let (tx, rx) = mpsc::channel(lectern_hub::sfu::command::SIGNAL_BACKLOG);
    let (reply, mut r) = oneshot::channel();
    let mut who = ident("r", id, Role::Student, Transport::Browser);
    who.guest = true;
    who.passcode = passcode.map(str::to_owned);
    net.hub.handle_command(Command::Join { ident: who, events: tx, socket: test_socket(), reply }, net.now);
    r.try_recv().unwrap().unwrap();
    rx
}

#[test]
fn guests_need_the_teachers_passcode_to_reach_the_lobby() {
    let mut net = Net::new();
    let mut teacher = join(&mut net, 1, Role::Teacher, false);
    command(&mut net, 1, ClassroomCommand::SetPasscode { passcode: Some("maple-7".into()) }).unwrap();
    assert!(drain(&mut teacher).iter().any(|m| matches!(
        m,
        ServerMsg::Classroom(ClassroomEvent::PolicyChanged { policy }) if policy.passcode_required
    )));

    let mut wrong = join_guest(&mut net, 2, Some("maple-8"));
    let got = drain(&mut wrong);
    assert!(
        matches!(got.as_slice(), [ServerMsg::Classroom(ClassroomEvent::Denied { reason: DenyReason::WrongPasscode })]),
        "{got:?}"
    );
    assert!(wrong.is_closed(), "the hub let go of the refused guest's socket");

    let mut right = join_guest(&mut net, 3, Some("maple-7"));
    let got = drain(&mut right);
    assert!(matches!(got.as_slice(), [ServerMsg::Classroom(ClassroomEvent::Waiting { position: 1 })]), "{got:?}");
    let _student = join(&mut net, 4, Role::Student, false);
    command(&mut net, 1, ClassroomCommand::Admit { participant_id: ParticipantId(3) }).unwrap();
    assert!(drain(&mut right).iter().any(|m| matches!(m, ServerMsg::Joined { .. })));
}

#[test]
fn raised_hands_reach_the_classroom_box_in_order() {
    let (mut net, mut boxes) = Net::with_devices();
    let _teacher = join(&mut net, 1, Role::Teacher, false);
    let _ada = join(&mut net, 2, Role::Student, false);
    let _bob = join(&mut net, 3, Role::Student, false);
    command(&mut net, 3, ClassroomCommand::RaiseHand).unwrap();
    command(&mut net, 2, ClassroomCommand::RaiseHand).unwrap();
    let last = std::iter::from_fn(|| boxes.try_recv().ok()).last().expect("the box hears about hands");
    assert_eq!(last.0, room());
    let lectern_proto::device::HubMsg::Hands { names } = last.1 else { panic!("{:?}", last.1) };
    assert_eq!(names, vec!["n3".to_owned(), "n2".to_owned()], "in the order raised");
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
