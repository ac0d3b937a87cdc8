//! One room on its own: no shard, no sockets, no clock. Browsers join through signaling only,
//! so the peer table stays empty and every effect is read from the room's outputs.

use std::time::{Duration, Instant};

use lectern_proto::classroom::{ClassroomCommand, ClassroomEvent, DenyReason, PolicyPatch};
use lectern_proto::device::HubMsg;
use lectern_proto::signal::ServerMsg;
use lectern_proto::{ParticipantId, Role, RoomId};

use super::{Room, RoomOutput};
use crate::sfu::command::Ident;
use crate::sfu::peer_table::PeerTable;
use crate::store::{StoreEvent, Transport};
use crate::time::Now;

const TEACHER: ParticipantId = ParticipantId(1);
const STUDENT: ParticipantId = ParticipantId(2);
const GUEST: ParticipantId = ParticipantId(3);

pub(super) struct Fixture {
    pub room: Room,
    pub peers: PeerTable,
    pub now: Now,
}

pub(super) fn ident(id: ParticipantId, role: Role, guest: bool) -> Ident {
    Ident {
        room: RoomId::parse("r").expect("valid room name"),
        participant: id,
        subject: format!("s{}", id.0),
        name: format!("n{}", id.0),
        role,
        transport: Transport::Browser,
        guest,
        passcode: None,
        access: Default::default(),
    }
}

impl Fixture {
    pub fn new() -> Self {
        let now = Now { mono: Instant::now(), unix_ms: 1_700_000_000_500 };
        Self { room: Room::new(RoomId::parse("r").expect("valid room name")), peers: PeerTable::new(Vec::new()), now }
    }

    pub fn join(&mut self, id: ParticipantId, role: Role, guest: bool) -> Vec<RoomOutput> {
        self.room.join_browser(&mut self.peers, ident(id, role, guest), self.now).expect("join is answered");
        self.outputs()
    }

    pub fn command(&mut self, by: ParticipantId, cmd: ClassroomCommand) -> Vec<RoomOutput> {
        self.room.classroom_command(&mut self.peers, by, cmd, self.now).expect("command accepted");
        self.outputs()
    }

    pub fn outputs(&mut self) -> Vec<RoomOutput> {
        let mut out = Vec::new();
        self.room.drain_outputs_into(&mut out);
        out
    }
}

/// The signals `to` was given, in order.
pub(super) fn signals(out: &[RoomOutput], to: ParticipantId) -> Vec<&ServerMsg> {
    out.iter()
        .filter_map(|o| match o {
            RoomOutput::Signal(p, m) if *p == to => Some(m),
            _ => None,
        })
        .collect()
}

fn ended(out: &[RoomOutput]) -> Vec<ParticipantId> {
    out.iter().filter_map(|o| if let RoomOutput::SessionEnded(_, p) = o { Some(*p) } else { None }).collect()
}

#[test]
fn a_guest_waits_in_the_lobby_until_a_teacher_admits_them() {
    let mut f = Fixture::new();
    f.join(TEACHER, Role::Teacher, false);
    let out = f.join(GUEST, Role::Student, true);
    assert!(matches!(signals(&out, GUEST)[..], [ServerMsg::Classroom(ClassroomEvent::Waiting { position: 1 })]));
    assert!(
        signals(&out, TEACHER).iter().any(|m| matches!(m, ServerMsg::Classroom(ClassroomEvent::LobbyChanged { .. }))),
        "hosts see the lobby: {out:?}"
    );
    assert!(out.iter().any(|o| matches!(o, RoomOutput::Device(_, HubMsg::Lobby { names }) if names == &["n3"])));
    assert_eq!(f.room.participant_ids(), vec![TEACHER], "waiting is not being in the room");

    let out = f.command(TEACHER, ClassroomCommand::Admit { participant_id: GUEST });
    assert!(matches!(signals(&out, GUEST)[0], ServerMsg::Joined { participants, .. } if participants.len() == 1));
    assert!(matches!(signals(&out, GUEST)[1], ServerMsg::Classroom(ClassroomEvent::State { .. })));
    assert!(
        signals(&out, TEACHER)
            .iter()
            .any(|m| matches!(m, ServerMsg::ParticipantJoined { participant } if participant.id == GUEST))
    );
    assert!(ended(&out).is_empty(), "admitted, not ended: {out:?}");
    assert_eq!(f.room.participant_ids(), vec![TEACHER, GUEST]);
    assert!(f.room.waiting.is_empty());
}

#[test]
fn a_refused_browser_is_told_why_and_its_session_ends() {
    let mut f = Fixture::new();
    let out = f.join(ParticipantId(9), Role::Admin, false);
    assert!(matches!(
        signals(&out, ParticipantId(9))[..],
        [ServerMsg::Classroom(ClassroomEvent::Denied { reason: DenyReason::NotAParticipant })]
    ));
    assert_eq!(ended(&out), vec![ParticipantId(9)]);
    // The denial comes before the end, so the last message reaches the browser.
    assert!(matches!(out.last(), Some(RoomOutput::SessionEnded(..))));
}

#[test]
fn leaving_the_lobby_ends_the_session_and_updates_the_hosts() {
    let mut f = Fixture::new();
    f.join(TEACHER, Role::Teacher, false);
    f.join(GUEST, Role::Student, true);
    f.room.remove_participant(&mut f.peers, GUEST, f.now).expect("a waiter may leave");
    let out = f.outputs();
    assert_eq!(ended(&out), vec![GUEST]);
    assert!(
        signals(&out, TEACHER)
            .iter()
            .any(|m| matches!(m, ServerMsg::Classroom(ClassroomEvent::LobbyChanged { waiting }) if waiting.is_empty()))
    );
    assert!(f.room.waiting.is_empty());
    assert_eq!(f.room.remove_participant(&mut f.peers, GUEST, f.now), Err(crate::sfu::SfuError::UnknownParticipant));
}

#[test]
fn a_teacher_turning_a_waiter_away_ends_their_session_after_telling_them() {
    let mut f = Fixture::new();
    f.join(TEACHER, Role::Teacher, false);
    f.join(GUEST, Role::Student, true);
    let out = f.command(TEACHER, ClassroomCommand::Deny { participant_id: GUEST });
    assert!(matches!(
        signals(&out, GUEST)[..],
        [ServerMsg::Classroom(ClassroomEvent::Denied { reason: DenyReason::DeniedByTeacher })]
    ));
    assert_eq!(ended(&out), vec![GUEST]);
    assert!(f.room.waiting.is_empty());
}

#[test]
fn ending_the_lesson_ends_every_session_lobby_included_and_saves_the_lesson() {
    let mut f = Fixture::new();
    f.join(TEACHER, Role::Teacher, false);
    f.join(STUDENT, Role::Student, false);
    f.join(GUEST, Role::Student, true);
    let out = f.command(TEACHER, ClassroomCommand::EndLesson);
    let mut gone = ended(&out);
    gone.sort();
    assert_eq!(gone, vec![TEACHER, STUDENT, GUEST]);
    assert!(out.iter().any(|o| matches!(o, RoomOutput::Store(StoreEvent::LessonSaved { .. }))));
    assert!(f.room.participant_ids().is_empty() && f.room.waiting.is_empty());
}

#[test]
fn what_is_recorded_is_stamped_with_the_time_given_not_the_clock() {
    let mut f = Fixture::new();
    let out = f.join(TEACHER, Role::Teacher, false);
    let joined_at = out.iter().find_map(|o| match o {
        RoomOutput::Store(StoreEvent::Joined { at, .. }) => Some(*at),
        _ => None,
    });
    assert_eq!(joined_at, Some(1_700_000_000));
    f.now = f.now.after(Duration::from_secs(90));
    f.room.remove_participant(&mut f.peers, TEACHER, f.now).expect("teacher is in the room");
    let out = f.outputs();
    assert!(out.iter().any(|o| matches!(o, RoomOutput::Store(StoreEvent::Left { at: 1_700_000_090, .. }))));
    let report = f.room.lesson_report(f.now);
    assert_eq!(report.attendance.people.len(), 1, "{report:?}");
    assert_eq!(report.attendance.generated_at, f.now.unix_ms);
}

#[test]
fn an_empty_room_keeps_its_lesson_for_an_hour() {
    let mut f = Fixture::new();
    f.join(STUDENT, Role::Student, false);
    assert!(!f.room.is_expired(f.now.mono + Duration::from_secs(7200)), "someone is here");
    f.room.remove_participant(&mut f.peers, STUDENT, f.now).expect("student is in the room");
    assert!(!f.room.is_expired(f.now.mono + Duration::from_secs(3600)));
    assert!(f.room.is_expired(f.now.mono + Duration::from_secs(3601)));
}

#[test]
fn a_muted_student_may_not_unmute_where_the_policy_forbids_it_until_asked() {
    let mut f = Fixture::new();
    f.join(TEACHER, Role::Teacher, false);
    f.join(STUDENT, Role::Student, false);
    let forbid = PolicyPatch { students_may_unmute: Some(false), ..Default::default() };
    f.command(TEACHER, ClassroomCommand::SetPolicy(forbid));
    let out = f.command(TEACHER, ClassroomCommand::MuteParticipant { participant_id: STUDENT });
    assert!(signals(&out, TEACHER).iter().any(|m| matches!(m, ServerMsg::TrackMuted { muted: true, .. })));
    f.room.set_muted(STUDENT, lectern_proto::signal::MediaKind::Audio, false);
    let out = f.outputs();
    assert!(matches!(signals(&out, STUDENT)[..], [ServerMsg::Error { fatal: false, .. }]), "{out:?}");
    assert!(signals(&out, TEACHER).is_empty(), "nothing changed for the others");
    f.command(TEACHER, ClassroomCommand::AskToUnmute { participant_id: STUDENT });
    f.room.set_muted(STUDENT, lectern_proto::signal::MediaKind::Audio, false);
    let out = f.outputs();
    assert!(signals(&out, TEACHER).iter().any(|m| matches!(m, ServerMsg::TrackMuted { muted: false, .. })));
}

/// The lesson changes the room handed to the store, in order.
fn lesson_changes(out: &[RoomOutput]) -> Vec<crate::recording::LessonChange> {
    out.iter()
        .filter_map(|o| match o {
            RoomOutput::Store(StoreEvent::Lesson(c)) => Some(c.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn the_first_admission_opens_a_lesson_and_ten_empty_minutes_close_it() {
    use crate::recording::{EndReason, LessonChange};
    let mut f = Fixture::new();
    let t0 = f.now;
    let out = f.join(STUDENT, Role::Student, false);
    let first = lectern_proto::LessonId::new(f.room.id(), t0.unix_ms);
    assert_eq!(
        lesson_changes(&out),
        [LessonChange::Started { lesson: first.clone(), room: f.room.id().clone(), at: t0.unix_ms }]
    );
    assert_eq!(lesson_changes(&f.join(TEACHER, Role::Teacher, false)), [], "one lesson for everyone");
    assert_eq!(f.room.lesson_id(), Some(&first));
    f.now = t0.after(Duration::from_secs(60));
    f.room.remove_participant(&mut f.peers, STUDENT, f.now).expect("in the room");
    f.room.remove_participant(&mut f.peers, TEACHER, f.now).expect("in the room");
    let emptied = f.now;
    assert_eq!(f.room.next_deadline(), Some(emptied.mono + Duration::from_secs(600)));
    // A moment before the ten minutes: still on.
    f.now = emptied.after(Duration::from_secs(599));
    f.room.on_timeout(&mut f.peers, f.now);
    assert_eq!(lesson_changes(&f.outputs()), []);
    f.now = emptied.after(Duration::from_secs(600));
    f.room.on_timeout(&mut f.peers, f.now);
    let closed = LessonChange::Ended { lesson: first.clone(), at: f.now.unix_ms, reason: EndReason::Empty };
    assert_eq!(lesson_changes(&f.outputs()), [closed]);
    assert_eq!(f.room.next_deadline(), None, "nothing more to time");
    f.room.on_timeout(&mut f.peers, f.now.after(Duration::from_secs(60)));
    assert_eq!(lesson_changes(&f.outputs()), [], "closed once");
    // Whoever comes next (a student, too) starts a fresh lesson: no old chat, a new id.
    f.now = f.now.after(Duration::from_secs(300));
    let out = f.join(STUDENT, Role::Student, false);
    let second = lectern_proto::LessonId::new(f.room.id(), f.now.unix_ms);
    assert!(matches!(&lesson_changes(&out)[..], [LessonChange::Started { lesson, .. }] if *lesson == second));
    assert_ne!(first, second);
}

#[test]
fn someone_back_within_ten_minutes_keeps_the_lesson_open() {
    let mut f = Fixture::new();
    f.join(TEACHER, Role::Teacher, false);
    let lesson = f.room.lesson_id().cloned();
    f.room.remove_participant(&mut f.peers, TEACHER, f.now).expect("in the room");
    f.now = f.now.after(Duration::from_secs(540));
    assert_eq!(lesson_changes(&f.join(TEACHER, Role::Teacher, false)), []);
    f.now = f.now.after(Duration::from_secs(120));
    f.room.on_timeout(&mut f.peers, f.now);
    assert_eq!(lesson_changes(&f.outputs()), []);
    assert_eq!(f.room.lesson_id().cloned(), lesson);
    assert_eq!(f.room.next_deadline(), None);
}

#[test]
fn a_teacher_ending_the_lesson_closes_its_row_and_the_api_end_tells_everyone() {
    use crate::recording::{EndReason, LessonChange};
    let mut f = Fixture::new();
    f.join(TEACHER, Role::Teacher, false);
    let out = f.command(TEACHER, ClassroomCommand::EndLesson);
    assert!(matches!(&lesson_changes(&out)[..], [LessonChange::Ended { reason: EndReason::Teacher, .. }]));
    // The API ends the next lesson: everyone hears it ends, sessions close, the row says why.
    f.now = f.now.after(Duration::from_secs(5));
    f.join(TEACHER, Role::Teacher, false);
    f.join(STUDENT, Role::Student, false);
    assert!(f.room.end_lesson(&mut f.peers, EndReason::Api, f.now));
    let out = f.outputs();
    assert!(matches!(&lesson_changes(&out)[..], [LessonChange::Ended { reason: EndReason::Api, .. }]));
    assert!(signals(&out, STUDENT).iter().any(|m| matches!(m, ServerMsg::Classroom(ClassroomEvent::LessonEnded))));
    let mut gone = ended(&out);
    gone.sort();
    assert_eq!(gone, vec![TEACHER, STUDENT]);
    assert!(!f.room.end_lesson(&mut f.peers, EndReason::Timetable, f.now), "nothing left to end");
    assert_eq!(lesson_changes(&f.outputs()), []);
}

#[test]
fn the_box_going_live_after_an_ended_lesson_starts_the_next_one() {
    use crate::recording::{EndReason, LessonChange};
    let mut f = Fixture::new();
    let whip = Ident { transport: Transport::Whip, ..ident(ParticipantId(7), Role::Device, false) };
    f.room.gate(&mut f.peers, &whip, f.now).expect("the box is admitted");
    f.room.admit(super::participant::Participant::new(whip.clone()), f.now);
    f.room.lesson_admitted(&mut f.peers, ParticipantId(7), f.now);
    f.join(STUDENT, Role::Student, false);
    let first = f.room.lesson_id().cloned().expect("the lesson started");
    assert!(f.room.end_lesson(&mut f.peers, EndReason::Timetable, f.now));
    f.outputs();
    // A student coming back to the ended lesson is still turned away…
    let out = f.join(STUDENT, Role::Student, false);
    assert!(matches!(
        signals(&out, STUDENT)[..],
        [ServerMsg::Classroom(ClassroomEvent::Denied { reason: DenyReason::LessonEnded })]
    ));
    // …but the box publishing again (the next timetable slot) opens the next lesson.
    f.now = f.now.after(Duration::from_secs(60));
    f.room.gate(&mut f.peers, &whip, f.now).expect("the box starts the next lesson");
    f.room.admit(super::participant::Participant::new(whip), f.now);
    f.room.lesson_admitted(&mut f.peers, ParticipantId(7), f.now);
    let out = f.outputs();
    assert!(matches!(&lesson_changes(&out)[..], [LessonChange::Started { .. }]), "{out:?}");
    assert_ne!(f.room.lesson_id(), Some(&first));
    let out = f.join(STUDENT, Role::Student, false);
    assert!(matches!(signals(&out, STUDENT)[0], ServerMsg::Joined { .. }), "{out:?}");
}

#[test]
fn the_lessons_notes_are_kept_as_they_change_and_when_the_lesson_ends() {
    use base64::Engine as _;
    use lectern_proto::board::{BoardCommand, DocKind};
    use yrs::{Text, Transact};
    let mut f = Fixture::new();
    f.join(TEACHER, Role::Teacher, false);
    let notes = yrs::Doc::with_client_id(9);
    let type_text = |at: u32, text: &str| {
        let t = notes.get_or_insert_text("notes");
        let mut txn = notes.transact_mut();
        t.insert(&mut txn, at, text);
        let update = base64::engine::general_purpose::STANDARD.encode(txn.encode_update_v1());
        ClassroomCommand::Board(BoardCommand::BoardUpdate { doc: DocKind::Notes, update })
    };
    let saved = |out: &[RoomOutput]| -> Vec<Option<String>> {
        out.iter()
            .filter_map(|o| match o {
                RoomOutput::Store(StoreEvent::BoardSaved(s)) if s.doc == DocKind::Notes => Some(s.text.clone()),
                _ => None,
            })
            .collect()
    };
    assert_eq!(saved(&f.command(TEACHER, type_text(0, "# Fractions"))), [Some("# Fractions".to_owned())]);
    assert!(saved(&f.command(TEACHER, type_text(11, "\n- halves"))).is_empty(), "not again within 30 s");
    let out = f.command(TEACHER, ClassroomCommand::EndLesson);
    assert_eq!(saved(&out), [Some("# Fractions\n- halves".to_owned())], "the end of the lesson keeps the last state");
}

/// What the room told its box about recording, in order.
fn record_msgs(out: &[RoomOutput]) -> Vec<bool> {
    out.iter()
        .filter_map(|o| match o {
            RoomOutput::Device(_, HubMsg::Record { on, .. }) => Some(*on),
            _ => None,
        })
        .collect()
}

/// The audit trail's recording switches (on, by whom), in order.
fn switches(out: &[RoomOutput]) -> Vec<(bool, Option<String>)> {
    out.iter()
        .filter_map(|o| match o {
            RoomOutput::Store(StoreEvent::Recording { on, by, .. }) => Some((*on, by.clone())),
            _ => None,
        })
        .collect()
}

impl Fixture {
    fn join_under(&mut self, id: ParticipantId, role: Role, guest: bool, policy: RecordingPolicy) -> Vec<RoomOutput> {
        let mut who = ident(id, role, guest);
        who.access.recording = policy;
        self.room.join_browser(&mut self.peers, who, self.now).expect("join is answered");
        self.outputs()
    }

    fn refused(&mut self, by: ParticipantId, cmd: ClassroomCommand) -> crate::sfu::command::SfuError {
        self.room.classroom_command(&mut self.peers, by, cmd, self.now).expect_err("refused")
    }
}

use lectern_proto::lesson::RecordingPolicy;

fn recording_changed(m: &&ServerMsg) -> Option<bool> {
    match m {
        ServerMsg::Classroom(ClassroomEvent::RecordingChanged { recording }) => Some(*recording),
        _ => None,
    }
}

#[test]
fn under_always_recording_starts_with_the_lesson_and_stops_with_its_end() {
    let mut f = Fixture::new();
    let out = f.join_under(TEACHER, Role::Teacher, false, RecordingPolicy::Always);
    assert_eq!(record_msgs(&out), [true], "the box is told");
    assert_eq!(switches(&out), [(true, None)], "audited as the policy's");
    assert_eq!(signals(&out, TEACHER).iter().filter_map(recording_changed).collect::<Vec<_>>(), [true]);
    // A student arriving later sees it in the snapshot.
    let out = f.join_under(STUDENT, Role::Student, false, RecordingPolicy::Always);
    assert!(
        signals(&out, STUDENT)
            .iter()
            .any(|m| matches!(m, ServerMsg::Classroom(ClassroomEvent::State { recording: true, .. })))
    );
    assert_eq!(record_msgs(&out), [false; 0], "no second start");
    let out = f.command(TEACHER, ClassroomCommand::EndLesson);
    assert_eq!(record_msgs(&out), [false]);
    assert_eq!(switches(&out), [(false, None)]);
}

#[test]
fn a_teacher_starts_and_stops_recording_on_request_and_students_cannot() {
    let mut f = Fixture::new();
    let out = f.join_under(TEACHER, Role::Teacher, false, RecordingPolicy::OnRequest);
    assert_eq!(record_msgs(&out), [false; 0], "not by itself");
    f.join_under(STUDENT, Role::Student, false, RecordingPolicy::OnRequest);
    // A guest waiting in the lobby is told too: they see it before they enter.
    f.room
        .join_browser(
            &mut f.peers,
            {
                let mut g = ident(GUEST, Role::Student, true);
                g.access.recording = RecordingPolicy::OnRequest;
                g
            },
            f.now,
        )
        .expect("answered");
    f.outputs();
    assert!(matches!(
        f.refused(STUDENT, ClassroomCommand::SetRecording { on: true }),
        crate::sfu::command::SfuError::Classroom(crate::classroom::ClassroomError::NotAllowed(_))
    ));
    let out = f.command(TEACHER, ClassroomCommand::SetRecording { on: true });
    assert_eq!(record_msgs(&out), [true]);
    assert_eq!(switches(&out), [(true, Some("n1".to_owned()))], "audited with the teacher's name");
    for who in [TEACHER, STUDENT, GUEST] {
        assert_eq!(signals(&out, who).iter().filter_map(recording_changed).collect::<Vec<_>>(), [true], "{who}");
    }
    assert_eq!(record_msgs(&f.command(TEACHER, ClassroomCommand::SetRecording { on: true })), [false; 0], "idempotent");
    let out = f.command(TEACHER, ClassroomCommand::SetRecording { on: false });
    assert_eq!((record_msgs(&out), switches(&out)), (vec![false], vec![(false, Some("n1".to_owned()))]));
}

#[test]
fn where_recording_is_off_a_teacher_is_refused_and_a_switch_to_off_stops_it() {
    let mut f = Fixture::new();
    f.join_under(TEACHER, Role::Teacher, false, RecordingPolicy::Off);
    assert!(matches!(
        f.refused(TEACHER, ClassroomCommand::SetRecording { on: true }),
        crate::sfu::command::SfuError::Classroom(crate::classroom::ClassroomError::Conflict(_))
    ));
    assert_eq!(record_msgs(&f.outputs()), [false; 0]);
    // The admin allows it, a teacher starts it, then the admin switches the room off: it stops.
    f.join_under(STUDENT, Role::Student, false, RecordingPolicy::OnRequest);
    f.command(TEACHER, ClassroomCommand::SetRecording { on: true });
    let out = f.join_under(GUEST, Role::Student, false, RecordingPolicy::Off);
    assert_eq!(record_msgs(&out), [false]);
    assert_eq!(signals(&out, TEACHER).iter().filter_map(recording_changed).collect::<Vec<_>>(), [false]);
}

#[test]
fn an_empty_rooms_lesson_closing_stops_its_recording() {
    let mut f = Fixture::new();
    f.join_under(TEACHER, Role::Teacher, false, RecordingPolicy::Always);
    f.room.remove_participant(&mut f.peers, TEACHER, f.now).expect("in the room");
    f.outputs();
    f.now = f.now.after(Duration::from_secs(600));
    f.room.on_timeout(&mut f.peers, f.now);
    assert_eq!(record_msgs(&f.outputs()), [false]);
}
