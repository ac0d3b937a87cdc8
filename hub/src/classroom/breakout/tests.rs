//! Breakout groups in a lesson on simulated time: who may run them, who is where, what reaches whom,
//! the timer and the recall, and what is kept.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use lectern_proto::board::{BoardCommand, BoardEvent, BoardMode, DocKind};
use lectern_proto::breakout::{Assignment, BreakoutCommand as B, BreakoutEvent, BreakoutPhase, GroupId};
use lectern_proto::classroom::{ClassroomCommand as C, ClassroomEvent};
use lectern_proto::{ParticipantId, Role};
use yrs::{Text, Transact};

use crate::classroom::tests::{Room, actor, events_to};
use crate::classroom::{Actor, ClassroomError, Effect, Outbound};

const SEC: u64 = 1000;

fn create(groups: u32, assignment: Assignment, duration_secs: Option<u32>) -> C {
    C::Breakout(B::CreateBreakouts { groups, names: None, assignment, duration_secs, recall_secs: Some(10) })
}

fn assign(who: &Actor, group: u32) -> C {
    C::Breakout(B::AssignBreakout { participant_id: who.id, group: Some(GroupId(group)) })
}

fn say(text: &str) -> C {
    C::SendChat { text: text.into(), to: None }
}

/// The lesson's room with four more students (ids 6–9): six in all.
fn class() -> (Room, Vec<Actor>) {
    let mut r = Room::new();
    let mut students = vec![r.s1.clone(), r.s2.clone()];
    for id in 6..=9 {
        students.push(r.join(id, Role::Student, true));
    }
    (r, students)
}

fn location(r: &Room, a: &Actor) -> Option<GroupId> {
    r.room.location_of(a.id)
}

fn chats_to(r: &Room, out: &[Outbound], id: ParticipantId) -> Vec<String> {
    events_to(r, out, id)
        .into_iter()
        .filter_map(|e| match e {
            ClassroomEvent::Chat { message } => Some(message.text),
            _ => None,
        })
        .collect()
}

fn regrouped(out: &[Outbound]) -> bool {
    out.contains(&Outbound::Effect(Effect::Regroup))
}

#[test]
fn students_cannot_create_run_or_move_breakouts_and_a_refusal_changes_nothing() {
    let (mut r, students) = class();
    let teacher_only = [
        create(2, Assignment::Manual, None),
        assign(&students[1], 1),
        C::Breakout(B::StartBreakouts),
        C::Breakout(B::VisitBreakout { group: Some(GroupId(1)) }),
        C::Breakout(B::MoveClassroom { group: Some(GroupId(1)) }),
        C::Breakout(B::BroadcastBreakouts { text: "hi".into() }),
        C::Breakout(B::RecallBreakouts { recall_secs: None }),
    ];
    for cmd in &teacher_only {
        let err = r.refused(r.s1.clone(), cmd.clone());
        assert!(matches!(err, ClassroomError::NotAllowed(_)), "{cmd:?}: {err:?}");
        assert_eq!(err.code(), lectern_proto::signal::ErrorCode::Forbidden);
    }
    // Also once a round is on: a student cannot move anyone, not even themselves, by hand.
    r.ok(r.teacher.clone(), create(2, Assignment::Manual, None));
    for cmd in &teacher_only[1..] {
        assert!(matches!(r.refused(r.s1.clone(), cmd.clone()), ClassroomError::NotAllowed(_)), "{cmd:?}");
    }
    let choose = C::Breakout(B::ChooseBreakout { group: Some(GroupId(1)) });
    assert!(matches!(r.refused(r.s1.clone(), choose.clone()), ClassroomError::NotAllowed(_)), "a manual round");
    assert!(matches!(r.refused(r.viewer.clone(), choose), ClassroomError::NotAllowed(_)), "viewers never choose");
}

#[test]
fn bad_commands_are_refused_with_a_reason_and_change_nothing() {
    let (mut r, students) = class();
    let t = r.teacher.clone();
    assert!(matches!(r.refused(t.clone(), C::Breakout(B::StartBreakouts)), ClassroomError::Conflict(_)));
    assert!(matches!(r.refused(t.clone(), create(0, Assignment::Manual, None)), ClassroomError::InvalidInput(_)));
    r.ok(t.clone(), create(2, Assignment::Manual, None));
    assert!(matches!(r.refused(t.clone(), create(2, Assignment::Manual, None)), ClassroomError::Conflict(_)));
    assert!(matches!(r.refused(t.clone(), assign(&students[0], 3)), ClassroomError::InvalidInput(_)));
    assert!(matches!(r.refused(t.clone(), assign(&r.teacher.clone(), 1)), ClassroomError::InvalidInput(_)));
    let ghost = C::Breakout(B::AssignBreakout { participant_id: ParticipantId(99), group: Some(GroupId(1)) });
    assert!(matches!(r.refused(t.clone(), ghost), ClassroomError::UnknownParticipant(_)));
    let visit = C::Breakout(B::VisitBreakout { group: Some(GroupId(1)) });
    assert!(matches!(r.refused(t.clone(), visit), ClassroomError::Conflict(_)), "not started");
    let empty = C::Breakout(B::BroadcastBreakouts { text: " ".into() });
    assert!(matches!(r.refused(t.clone(), empty), ClassroomError::InvalidInput(_)));
    // Discarded before the start: nothing to keep, and a new round may be created.
    r.ok(t.clone(), C::Breakout(B::RecallBreakouts { recall_secs: None }));
    assert!(r.room.breakouts_to_keep(false).is_empty());
    r.ok(t, create(3, Assignment::Manual, None));
}

#[test]
fn six_students_dealt_into_three_groups_meet_apart_and_each_chat_stays_in_its_group() {
    let (mut r, students) = class();
    let t = r.teacher.clone();
    let out = r.ok(t.clone(), create(3, Assignment::Random, Some(600)));
    assert!(!regrouped(&out), "planning moves nobody");
    assert!(students.iter().all(|s| location(&r, s).is_none()));
    // Everyone learns the plan, each with their own assignment.
    for s in &students {
        let got = events_to(&r, &out, s.id);
        let view = got.iter().find_map(|e| match e {
            ClassroomEvent::Breakout(BreakoutEvent::BreakoutsChanged { breakouts: Some(v) }) => Some(v.clone()),
            _ => None,
        });
        let view = view.expect("told the plan");
        assert_eq!(view.phase, BreakoutPhase::Planning);
        assert!(view.assigned.is_some() && view.location.is_none(), "{view:?}");
        assert_eq!(view.groups.iter().map(|g| g.members.len()).sum::<usize>(), 6);
        assert!(view.groups.iter().all(|g| g.members.len() == 2), "balanced: {view:?}");
    }

    let out = r.ok(t.clone(), C::Breakout(B::StartBreakouts));
    assert!(regrouped(&out));
    let groups: Vec<GroupId> = students.iter().map(|s| location(&r, s).expect("in a group")).collect();
    // Each mover is given their group's space: its name, its (empty) chat, its board reset.
    let got = events_to(&r, &out, students[0].id);
    assert!(got.iter().any(|e| matches!(e,
        ClassroomEvent::Breakout(BreakoutEvent::BreakoutSpace { group, chat, .. }) if *group == Some(groups[0]) && chat.is_empty())));
    assert!(got.iter().any(|e| matches!(e, ClassroomEvent::Board(BoardEvent::BoardSync { reset: true, .. }))));
    // The classroom box, the viewer and the teacher stay in the main room.
    assert_eq!((location(&r, &r.device), location(&r, &r.viewer), location(&r, &r.teacher)), (None, None, None));

    let out = r.ok(students[0].clone(), say("hello group"));
    for (s, g) in students.iter().zip(&groups) {
        let expected: &[&str] = if *g == groups[0] { &["hello group"] } else { &[] };
        assert_eq!(chats_to(&r, &out, s.id), expected, "student {}", s.id);
    }
    assert!(chats_to(&r, &out, t.id).is_empty(), "the teacher is in the main room");
    let out = r.ok(t.clone(), say("main room only"));
    assert!(students.iter().all(|s| chats_to(&r, &out, s.id).is_empty()), "the main room's chat stays there");
    assert_eq!(chats_to(&r, &out, r.viewer.id), ["main room only"]);
    // A (re)joining group member is given the group's chat, not the main room's.
    let back = r.rejoin(&students[0]);
    assert_eq!(location(&r, &back), Some(groups[0]), "back in the group they were given");
    let ClassroomEvent::State { chat, .. } = r.room.snapshot_for(&back) else { panic!("a state") };
    assert_eq!(chat.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(), ["hello group"]);
    // A newcomer nobody assigned lands in the main room.
    let late = r.join(20, Role::Student, true);
    assert_eq!(location(&r, &late), None);
}

#[test]
fn a_groups_board_is_its_own_and_everyone_in_it_may_draw() {
    let (mut r, students) = class();
    let t = r.teacher.clone();
    r.ok(t.clone(), create(2, Assignment::Manual, None));
    r.ok(t.clone(), assign(&students[0], 1));
    r.ok(t.clone(), assign(&students[1], 1));
    r.ok(t.clone(), assign(&students[2], 2));
    r.ok(t.clone(), C::Breakout(B::StartBreakouts));
    let doc = yrs::Doc::with_client_id(77);
    let notes = doc.get_or_insert_text("notes");
    let update = {
        let mut txn = doc.transact_mut();
        notes.insert(&mut txn, 0, "our plan");
        txn.encode_update_v1()
    };
    let cmd = C::Board(BoardCommand::BoardUpdate { doc: DocKind::Notes, update: B64.encode(&update) });
    let out = r.ok(students[0].clone(), cmd);
    let reached =
        |id| events_to(&r, &out, id).iter().any(|e| matches!(e, ClassroomEvent::Board(BoardEvent::BoardUpdate { .. })));
    assert!(reached(students[1].id), "a group mate gets the change");
    assert!(!reached(students[2].id) && !reached(t.id), "nobody outside the group does");
    assert_eq!(r.room.board().doc(DocKind::Notes).text("notes"), "", "the lesson's notes are untouched");
    // The teacher gives group 1's pen to Ada (in the group's space: the teacher visits it); when she
    // leaves, the group's board is everyone's again, and only group 1 is told.
    r.ok(t.clone(), C::Breakout(B::VisitBreakout { group: Some(GroupId(1)) }));
    let pen = BoardCommand::SetBoardMode { mode: BoardMode::Pen, participant_id: Some(students[0].id) };
    r.ok(t.clone(), C::Board(pen));
    let out = r.room.on_left(r.now, students[0].id);
    let policy = |id| {
        events_to(&r, &out, id).into_iter().find_map(|e| match e {
            ClassroomEvent::Board(BoardEvent::BoardPolicy { mode, pen, .. }) => Some((mode, pen)),
            _ => None,
        })
    };
    assert_eq!(policy(students[1].id), Some((BoardMode::Everyone, None)));
    assert_eq!(policy(students[2].id), None, "group 2 is not concerned");
    // Recalled at once: the group's space is kept, with its notes.
    r.ok(t, C::Breakout(B::RecallBreakouts { recall_secs: Some(0) }));
    let kept = r.room.breakouts_to_keep(false);
    let g1 = kept.iter().find(|k| k.group == GroupId(1)).expect("group 1 kept");
    assert_eq!((g1.round, g1.name.as_str(), g1.notes_text.as_str()), (1, "Group 1", "our plan"));
    assert!(r.room.breakouts_to_keep(false).is_empty(), "handed over once");
}

#[test]
fn the_timer_starts_the_countdown_and_its_end_brings_everyone_back() {
    let (mut r, students) = class();
    let t = r.teacher.clone();
    r.ok(t.clone(), create(3, Assignment::Random, Some(60)));
    r.ok(t.clone(), C::Breakout(B::StartBreakouts));
    assert_eq!(r.room.breakout_deadline(), Some(r.now + 60 * SEC));
    assert!(r.room.breakout_tick(r.now + 59 * SEC).is_empty());

    r.now += 60 * SEC;
    let out = r.room.breakout_tick(r.now);
    let view = events_to(&r, &out, students[0].id).into_iter().find_map(|e| match e {
        ClassroomEvent::Breakout(BreakoutEvent::BreakoutsChanged { breakouts: Some(v) }) => Some(v),
        _ => None,
    });
    let view = view.expect("the countdown is announced");
    assert_eq!((view.phase, view.recall_in_ms), (BreakoutPhase::Recalling, Some(10 * SEC)));
    assert!(view.location.is_some(), "still in the group during the countdown");
    assert!(!regrouped(&out));

    r.now += 10 * SEC;
    let out = r.room.breakout_tick(r.now);
    assert!(regrouped(&out));
    assert!(students.iter().all(|s| location(&r, s).is_none()), "everyone back");
    for s in &students {
        let got = events_to(&r, &out, s.id);
        assert!(
            got.iter().any(|e| matches!(e, ClassroomEvent::Breakout(BreakoutEvent::BreakoutSpace { group: None, .. }))),
            "{got:?}"
        );
        assert!(got.contains(&ClassroomEvent::Breakout(BreakoutEvent::BreakoutsChanged { breakouts: None })));
    }
    assert_eq!(r.room.breakout_deadline(), None);
    assert_eq!(r.room.breakouts_to_keep(false).len(), 3);
    // A new round may follow.
    r.ok(t, create(2, Assignment::Manual, None));
}

#[test]
fn the_teacher_visits_a_group_and_returns_and_the_classroom_moves_only_when_sent() {
    let (mut r, students) = class();
    let t = r.teacher.clone();
    r.ok(t.clone(), create(2, Assignment::Manual, None));
    r.ok(t.clone(), assign(&students[0], 2));
    r.ok(t.clone(), C::Breakout(B::StartBreakouts));
    let out = r.ok(t.clone(), C::Breakout(B::VisitBreakout { group: Some(GroupId(2)) }));
    assert!(regrouped(&out));
    assert_eq!(location(&r, &t), Some(GroupId(2)));
    let out = r.ok(t.clone(), say("how is it going?"));
    assert_eq!(chats_to(&r, &out, students[0].id), ["how is it going?"]);
    assert!(chats_to(&r, &out, r.viewer.id).is_empty());
    r.ok(t.clone(), C::Breakout(B::VisitBreakout { group: None }));
    assert_eq!(location(&r, &t), None);

    assert_eq!(r.room.classroom_location(), None);
    let out = r.ok(t.clone(), C::Breakout(B::MoveClassroom { group: Some(GroupId(2)) }));
    assert!(regrouped(&out));
    assert_eq!((r.room.classroom_location(), location(&r, &r.device)), (Some(GroupId(2)), Some(GroupId(2))));
}

#[test]
fn students_choose_their_group_when_allowed_and_a_broadcast_reaches_every_group() {
    let (mut r, students) = class();
    let t = r.teacher.clone();
    r.ok(t.clone(), create(2, Assignment::Choose, None));
    r.ok(students[0].clone(), C::Breakout(B::ChooseBreakout { group: Some(GroupId(2)) }));
    r.ok(students[1].clone(), C::Breakout(B::ChooseBreakout { group: Some(GroupId(1)) }));
    r.ok(t.clone(), C::Breakout(B::StartBreakouts));
    assert_eq!((location(&r, &students[0]), location(&r, &students[1])), (Some(GroupId(2)), Some(GroupId(1))));
    let out = r.ok(t, C::Breakout(B::BroadcastBreakouts { text: "Two minutes left".into() }));
    for id in students.iter().map(|s| s.id).chain([r.viewer.id, r.device.id]) {
        let got = events_to(&r, &out, id);
        assert!(
            got.iter().any(|e| matches!(e,
                ClassroomEvent::Breakout(BreakoutEvent::BreakoutBroadcast { text, .. }) if text == "Two minutes left")),
            "{id}: {got:?}"
        );
    }
}

#[test]
fn attendance_records_time_per_group() {
    let (mut r, students) = class();
    let t = r.teacher.clone();
    r.ok(t.clone(), create(2, Assignment::Manual, None));
    r.ok(t.clone(), assign(&students[0], 1));
    r.ok(t.clone(), C::Breakout(B::StartBreakouts));
    r.now += 5 * 60 * SEC;
    r.ok(t.clone(), assign(&students[0], 2));
    r.now += 2 * 60 * SEC;
    r.ok(t, C::Breakout(B::RecallBreakouts { recall_secs: Some(0) }));
    r.now += 60 * SEC;
    let report = r.room.attendance_report(r.now);
    let row = report.people.iter().find(|p| p.subject == students[0].subject).expect("present");
    let times: Vec<(u32, u64)> = row.breakouts.iter().map(|g| (g.group.0, g.total_ms)).collect();
    assert_eq!(times, [(1, 5 * 60 * SEC), (2, 2 * 60 * SEC)]);
    let other = report.people.iter().find(|p| p.subject == students[1].subject).expect("present");
    assert!(other.breakouts.is_empty(), "never in a group");
    let json = serde_json::to_string(&report).expect("serializes");
    assert!(json.contains(r#""breakouts":[{"round":1,"group":1,"name":"Group 1","totalMs":300000}"#), "{json}");
}

#[test]
fn a_leaving_teacher_stops_visiting_and_the_others_see_the_groups_without_a_leaving_student() {
    let (mut r, students) = class();
    let t = r.teacher.clone();
    r.ok(t.clone(), create(2, Assignment::Manual, None));
    r.ok(t.clone(), assign(&students[0], 1));
    r.ok(t.clone(), C::Breakout(B::StartBreakouts));
    let out = r.room.on_left(r.now, students[0].id);
    let view = events_to(&r, &out, t.id).into_iter().find_map(|e| match e {
        ClassroomEvent::Breakout(BreakoutEvent::BreakoutsChanged { breakouts: Some(v) }) => Some(v),
        _ => None,
    });
    assert!(view.expect("told").groups[0].members.is_empty());
    r.ok(t.clone(), C::Breakout(B::VisitBreakout { group: Some(GroupId(2)) }));
    r.room.on_left(r.now, t.id);
    let t2 = actor(50, Role::Teacher, true);
    r.room.on_join_request(r.now, &t2);
    assert_eq!(location(&r, &t2), None, "a teacher comes back to the main room");
}
