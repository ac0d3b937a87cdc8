//! A small room on simulated time for the feature tests, and the tests that cut across features:
//! the lobby, who may send what, and what a (re)joining browser is told.

use lectern_proto::classroom::{
    ChatMessageId, ClassroomCommand as C, ClassroomEvent, DenyReason, PolicyPatch, PollId, Reaction,
};
use lectern_proto::{ParticipantId, Role};

use super::*;

pub const T0: u64 = 1_700_000_000_000;

/// A lesson in progress: a teacher, two personal-token students (Sam, Kim), the room device and a viewer.
pub struct Room {
    pub room: Classroom,
    pub now: u64,
    pub teacher: Actor,
    pub s1: Actor,
    pub s2: Actor,
    pub device: Actor,
    pub viewer: Actor,
}

pub fn actor(id: u64, role: Role, personal: bool) -> Actor {
    let name = match id {
        2 => "Sam".to_owned(),
        3 => "Kim".to_owned(),
        _ => format!("{role} {id}"),
    };
    Actor {
        id: ParticipantId(id),
        role,
        name,
        subject: format!("sub-{id}"),
        personal,
        passcode: None,
        marks: Vec::new(),
        box_link: false,
    }
}

impl Room {
    pub fn new() -> Self {
        let mut r = Self {
            room: Classroom::default(),
            now: T0,
            teacher: actor(1, Role::Teacher, true),
            s1: actor(2, Role::Student, true),
            s2: actor(3, Role::Student, true),
            // The box itself (WHIP), not a browser holding its credential.
            device: Actor { box_link: true, ..actor(4, Role::Device, true) },
            viewer: actor(5, Role::Viewer, true),
        };
        for a in [&r.teacher, &r.s1, &r.s2, &r.device, &r.viewer] {
            assert_eq!(r.room.on_join_request(r.now, a).decision, JoinDecision::Admit);
        }
        r
    }

    /// Asks to join with a fresh actor; it may be admitted, waiting or denied.
    pub fn join(&mut self, id: u64, role: Role, personal: bool) -> Actor {
        let a = actor(id, role, personal);
        self.room.on_join_request(self.now, &a);
        a
    }

    /// The same identity on a new connection, after the old one closed.
    pub fn rejoin(&mut self, old: &Actor) -> Actor {
        self.room.on_left(self.now, old.id);
        let new = Actor { id: ParticipantId(old.id.0 + 100), ..old.clone() };
        assert_eq!(self.room.on_join_request(self.now, &new).decision, JoinDecision::Admit);
        new
    }

    pub fn ok(&mut self, a: Actor, cmd: C) -> Vec<Outbound> {
        self.room.handle(self.now, &a, cmd.clone()).unwrap_or_else(|e| panic!("{cmd:?} from {:?}: {e}", a.role))
    }

    /// Every refusal is also checked to have changed nothing.
    pub fn refused(&mut self, a: Actor, cmd: C) -> ClassroomError {
        let before = self.room.clone();
        let err = self.room.handle(self.now, &a, cmd.clone()).expect_err(&format!("{cmd:?} should be refused"));
        assert_eq!(self.room, before, "refused {cmd:?} changed state");
        err
    }
}

/// The events `id` receives from `out`, in order.
pub fn events_to(r: &Room, out: &[Outbound], id: ParticipantId) -> Vec<ClassroomEvent> {
    out.iter()
        .filter_map(|o| match o {
            Outbound::Event { to, event } if r.room.recipients(to).contains(&id) => Some(event.clone()),
            _ => None,
        })
        .collect()
}

fn set(patch: PolicyPatch) -> C {
    C::SetPolicy(patch)
}

#[test]
fn students_and_viewers_sending_teacher_commands_are_refused_and_change_nothing() {
    let mut r = Room::new();
    r.ok(r.s2.clone(), C::RaiseHand);
    r.ok(r.s2.clone(), C::SendChat { text: "hi".into(), to: None });
    let s2 = r.s2.id;
    let teacher_only = [
        C::LowerHand { participant_id: Some(s2) },
        C::LowerAllHands,
        C::DeleteChat { message_id: ChatMessageId(1) },
        C::CreatePoll {
            question: "Q".into(),
            options: vec!["a".into(), "b".into()],
            multiple: false,
            anonymous: false,
            correct: None,
        },
        C::ClosePoll { poll_id: PollId(1), share_results: true },
        C::SharePollResults { poll_id: PollId(1) },
        C::Admit { participant_id: ParticipantId(60) },
        C::AdmitAll,
        C::Deny { participant_id: ParticipantId(60) },
        C::DenyAll,
        set(PolicyPatch { locked: Some(true), ..Default::default() }),
        C::MuteParticipant { participant_id: s2 },
        C::MuteAllStudents,
        C::AskToUnmute { participant_id: s2 },
        C::StopVideo { participant_id: s2 },
        C::RemoveParticipant { participant_id: s2 },
        C::Spotlight { participant_id: Some(s2) },
        C::StopScreenShare { participant_id: Some(s2) },
        C::EndLesson,
    ];
    r.join(60, Role::Student, false);
    for cmd in teacher_only {
        for who in [r.s1.clone(), r.viewer.clone()] {
            let err = r.refused(who, cmd.clone());
            assert!(matches!(err, ClassroomError::NotAllowed(_)), "{cmd:?}: {err:?}");
            assert_eq!(err.code(), lectern_proto::signal::ErrorCode::Forbidden);
        }
    }
}

#[test]
fn errors_read_as_sentences() {
    let mut r = Room::new();
    let err = r.refused(r.s1.clone(), C::EndLesson);
    assert_eq!(err.to_string(), "only a teacher can end the lesson");
    let err = r.refused(r.teacher.clone(), C::MuteParticipant { participant_id: ParticipantId(99) });
    assert_eq!(err.to_string(), "participant p99 is not in this room");
}

#[test]
fn guests_wait_with_their_name_shown_to_teachers_and_device() {
    let mut r = Room::new();
    let guest = actor(60, Role::Student, false);
    let outcome = r.room.on_join_request(r.now, &guest);
    assert_eq!(outcome.decision, JoinDecision::Wait(1));
    let seen = events_to(&r, &outcome.outbound, r.device.id);
    let [ClassroomEvent::LobbyChanged { waiting }] = seen.as_slice() else { panic!("{seen:?}") };
    assert_eq!((waiting[0].name.as_str(), waiting[0].guest), ("student 60", true));
    assert!(events_to(&r, &outcome.outbound, r.teacher.id).len() == 1);
    assert!(events_to(&r, &outcome.outbound, r.s1.id).is_empty());
    assert_eq!(r.refused(guest, C::RaiseHand), ClassroomError::NotInRoom);
}

#[test]
fn teacher_or_room_display_admits_and_positions_move_up() {
    let mut r = Room::new();
    let (g1, g2) = (r.join(60, Role::Student, false), r.join(61, Role::Viewer, false));
    assert_eq!(r.room.on_join_request(r.now, &g2).decision, JoinDecision::Wait(2), "asking again is idempotent");
    let out = r.ok(r.device.clone(), C::Admit { participant_id: g1.id });
    assert_eq!(out[0], Outbound::Effect(Effect::Admit(g1.id)));
    assert_eq!(events_to(&r, &out, g2.id), [ClassroomEvent::Waiting { position: 1 }]);
    r.ok(g1, C::RaiseHand);
    let out = r.ok(r.teacher.clone(), C::AdmitAll);
    assert_eq!(out[0], Outbound::Effect(Effect::Admit(g2.id)));
    assert!(r.ok(r.teacher.clone(), C::AdmitAll).is_empty());
}

#[test]
fn admitting_an_unknown_or_already_admitted_id_is_refused() {
    let mut r = Room::new();
    let err = r.refused(r.teacher.clone(), C::Admit { participant_id: ParticipantId(404) });
    assert_eq!(err, ClassroomError::UnknownParticipant(ParticipantId(404)));
    let err = r.refused(r.teacher.clone(), C::Admit { participant_id: r.s1.id });
    assert_eq!(err, ClassroomError::UnknownParticipant(r.s1.id));
}

#[test]
fn denied_guest_is_told_kicked_and_blocked_from_rejoining() {
    let mut r = Room::new();
    let g = r.join(60, Role::Student, false);
    let out = r.ok(r.teacher.clone(), C::Deny { participant_id: g.id });
    assert_eq!(events_to(&r, &out, g.id), [ClassroomEvent::Denied { reason: DenyReason::DeniedByTeacher }]);
    assert!(out.contains(&Outbound::Effect(Effect::Kick(g.id))));
    let again = Actor { id: ParticipantId(61), ..g };
    assert_eq!(r.room.on_join_request(r.now, &again).decision, JoinDecision::Deny(DenyReason::Blocked));
}

#[test]
fn everyone_waits_mode_holds_personal_students_and_releases_them_when_turned_off() {
    let mut r = Room::new();
    r.ok(r.teacher.clone(), set(PolicyPatch { everyone_waits: Some(true), ..Default::default() }));
    let student = actor(60, Role::Student, true);
    assert_eq!(r.room.on_join_request(r.now, &student).decision, JoinDecision::Wait(1));
    let guest = r.join(61, Role::Student, false);
    let t2 = actor(62, Role::Teacher, true);
    assert_eq!(r.room.on_join_request(r.now, &t2).decision, JoinDecision::Admit, "teachers never wait");
    let out = r.ok(r.teacher.clone(), set(PolicyPatch { everyone_waits: Some(false), ..Default::default() }));
    assert!(out.contains(&Outbound::Effect(Effect::Admit(student.id))));
    assert!(!out.contains(&Outbound::Effect(Effect::Admit(guest.id))), "guests keep waiting");
    assert_eq!(events_to(&r, &out, guest.id).last(), Some(&ClassroomEvent::Waiting { position: 1 }));
}

#[test]
fn locked_room_turns_newcomers_away_but_not_teachers_or_the_device() {
    let mut r = Room::new();
    r.ok(r.teacher.clone(), set(PolicyPatch { locked: Some(true), ..Default::default() }));
    for (id, personal) in [(60, true), (61, false)] {
        let a = actor(id, Role::Student, personal);
        assert_eq!(r.room.on_join_request(r.now, &a).decision, JoinDecision::Deny(DenyReason::RoomLocked));
    }
    assert_eq!(r.room.on_join_request(r.now, &actor(62, Role::Teacher, true)).decision, JoinDecision::Admit);
    r.room.on_left(r.now, r.device.id);
    assert_eq!(r.room.on_join_request(r.now, &r.device.clone()).decision, JoinDecision::Admit);
    let admin = actor(63, Role::Admin, true);
    assert_eq!(r.room.on_join_request(r.now, &admin).decision, JoinDecision::Deny(DenyReason::NotAParticipant));
}

#[test]
fn a_waiting_guest_who_leaves_drops_off_the_lobby() {
    let mut r = Room::new();
    let (g1, g2) = (r.join(60, Role::Student, false), r.join(61, Role::Student, false));
    let out = r.room.on_left(r.now, g1.id);
    assert_eq!(events_to(&r, &out, g2.id), [ClassroomEvent::Waiting { position: 1 }]);
    assert!(r.room.on_left(r.now, g1.id).is_empty(), "leaving twice is harmless");
}

#[test]
fn reconnecting_teacher_keeps_teacher_rights() {
    let mut r = Room::new();
    let again = r.rejoin(&r.teacher.clone());
    r.ok(again.clone(), set(PolicyPatch { locked: Some(true), ..Default::default() }));
    r.ok(again, C::MuteAllStudents);
}

#[test]
fn snapshot_shows_students_only_what_they_may_see() {
    let mut r = Room::new();
    r.join(60, Role::Student, false);
    r.ok(r.s1.clone(), C::RaiseHand);
    r.ok(r.s1.clone(), C::React { reaction: Reaction::Heart });
    let ClassroomEvent::State { hands, lobby, hand_raised, .. } = r.room.snapshot_for(&r.s1) else { panic!() };
    assert_eq!((hands, lobby, hand_raised), (None, None, true));
    let ClassroomEvent::State { hands, lobby, .. } = r.room.snapshot_for(&r.teacher) else { panic!() };
    assert_eq!(hands.map(|h| h.len()), Some(1));
    assert_eq!(lobby.map(|l| l.len()), Some(1));
}

#[test]
fn snapshot_serializes_for_the_browser() {
    let r = Room::new();
    let json = serde_json::to_value(r.room.snapshot_for(&r.s1)).unwrap();
    assert_eq!(json["type"], "state");
    assert_eq!(json["policy"]["studentsMayChat"], true);
    assert_eq!(json["hands"], serde_json::Value::Null);
    assert_eq!(json["chat"], serde_json::json!([]));
}

#[test]
fn leaving_lowers_the_hand_and_rejoin_adds_an_attendance_interval() {
    let mut r = Room::new();
    r.ok(r.s1.clone(), C::RaiseHand);
    r.now += 60_000;
    let out = r.room.on_left(r.now, r.s1.id);
    assert_eq!(events_to(&r, &out, r.teacher.id), [ClassroomEvent::HandsChanged { hands: vec![] }]);
    r.now += 60_000;
    let s1 = actor(2, Role::Student, true);
    let back = Actor { id: ParticipantId(200), ..s1 };
    assert_eq!(r.room.on_join_request(r.now, &back).decision, JoinDecision::Admit);
    let report = r.room.attendance_report(r.now + 30_000);
    let sam = &report.people[1];
    assert_eq!((sam.name.as_str(), sam.intervals.len(), sam.total_ms), ("Sam", 2, 90_000));
    assert!(report.to_csv().lines().nth(2).unwrap().starts_with("Sam,student,"));
}
