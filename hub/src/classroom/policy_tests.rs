//! The rules an attacker probes (issue 19): the admin's capacity and everyone-waits, the box's
//! credential in a browser, and guests coming back on the same shared link.

use lectern_proto::classroom::{ClassroomCommand as C, ClassroomEvent, DenyReason, PolicyPatch};
use lectern_proto::{ParticipantId, Role};

use super::tests::{Room, actor};
use super::*;

fn admin(capacity: Option<u32>, everyone_waits: Option<bool>) -> AdminSettings {
    AdminSettings { capacity, everyone_waits, ..Default::default() }
}

fn decision(r: &mut Room, a: &Actor) -> JoinDecision {
    r.room.on_join_request(r.now, a).decision
}

#[test]
fn the_one_over_capacity_is_refused_and_teachers_and_the_box_are_not_counted() {
    let mut r = Room::new(); // 2 students and a viewer seated
    r.room.follow_admin(r.now, admin(Some(4), None));
    assert_eq!(decision(&mut r, &actor(10, Role::Student, true)), JoinDecision::Admit);
    assert_eq!(decision(&mut r, &actor(11, Role::Student, true)), JoinDecision::Deny(DenyReason::RoomFull));
    assert_eq!(decision(&mut r, &actor(12, Role::Viewer, false)), JoinDecision::Deny(DenyReason::RoomFull));
    assert_eq!(decision(&mut r, &actor(13, Role::Teacher, true)), JoinDecision::Admit, "a co-teacher takes no seat");
    r.room.on_left(r.now, ParticipantId(10));
    assert_eq!(decision(&mut r, &actor(14, Role::Student, true)), JoinDecision::Admit, "a seat came free");
}

#[test]
fn a_teacher_admits_from_the_lobby_only_up_to_capacity() {
    let mut r = Room::new();
    r.room.follow_admin(r.now, admin(Some(4), None)); // 3 seated
    let g1 = r.join(20, Role::Student, false);
    let g2 = r.join(21, Role::Student, false);
    assert!(r.room.is_waiting(g1.id) && r.room.is_waiting(g2.id));
    r.ok(r.teacher.clone(), C::AdmitAll);
    assert!(!r.room.is_waiting(g1.id) && r.room.is_waiting(g2.id), "one seat, first come");
    let err = r.refused(r.teacher.clone(), C::Admit { participant_id: g2.id });
    assert!(err.to_string().contains("full"), "{err}");
}

#[test]
fn the_admins_everyone_waits_holds_all_but_teachers_and_follows_changes() {
    let mut r = Room::new();
    let out = r.room.follow_admin(r.now, admin(None, Some(true)));
    assert!(out.iter().any(|o| matches!(o, Outbound::Event { event: ClassroomEvent::PolicyChanged { policy }, .. } if policy.everyone_waits)));
    assert!(matches!(decision(&mut r, &actor(30, Role::Student, true)), JoinDecision::Wait(_)));
    assert!(matches!(decision(&mut r, &actor(31, Role::Viewer, true)), JoinDecision::Wait(_)));
    let console = Actor { box_link: false, ..actor(32, Role::Device, true) };
    assert!(matches!(decision(&mut r, &console), JoinDecision::Wait(_)), "the box's credential in a browser waits");
    assert_eq!(decision(&mut r, &actor(33, Role::Teacher, true)), JoinDecision::Admit);
    let the_box = Actor { box_link: true, ..actor(34, Role::Device, true) };
    assert_eq!(decision(&mut r, &the_box), JoinDecision::Admit, "the box itself is the room");
    // The same settings again change nothing (a teacher's own choice for the lesson stands).
    r.ok(r.teacher.clone(), C::SetPolicy(PolicyPatch { everyone_waits: Some(false), ..Default::default() }));
    assert!(r.room.follow_admin(r.now, admin(None, Some(true))).is_empty());
    assert!(!r.room.policy().everyone_waits);
    // Off already: nothing to say. A change by the admin applies again.
    assert!(r.room.follow_admin(r.now, admin(None, Some(false))).is_empty());
    r.room.follow_admin(r.now, admin(None, Some(true)));
    assert!(r.room.policy().everyone_waits);
}

#[test]
fn the_boxs_credential_in_a_browser_meets_the_lock_and_can_be_removed_the_box_cannot() {
    let mut r = Room::new();
    r.ok(r.teacher.clone(), C::SetPolicy(PolicyPatch { locked: Some(true), ..Default::default() }));
    let console = Actor { box_link: false, ..actor(40, Role::Device, true) };
    assert_eq!(decision(&mut r, &console), JoinDecision::Deny(DenyReason::RoomLocked));
    let the_box = Actor { box_link: true, ..actor(41, Role::Device, true) };
    assert_eq!(decision(&mut r, &the_box), JoinDecision::Admit, "a lock never shuts out the room's own box");

    r.ok(r.teacher.clone(), C::SetPolicy(PolicyPatch { locked: Some(false), ..Default::default() }));
    // The console shares the box's `sub`: removing it must leave the box in the lesson.
    let console = Actor { id: ParticipantId(42), subject: r.device.subject.clone(), box_link: false, ..console };
    assert_eq!(decision(&mut r, &console), JoinDecision::Admit);
    let out = r.ok(r.teacher.clone(), C::RemoveParticipant { participant_id: console.id });
    assert!(out.contains(&Outbound::Effect(Effect::Kick(console.id))));
    assert!(!out.contains(&Outbound::Effect(Effect::Kick(r.device.id))), "the box stays");
    let err = r.refused(r.teacher.clone(), C::RemoveParticipant { participant_id: r.device.id });
    assert!(matches!(err, ClassroomError::NotAllowed(_)));
    let back = Actor { id: ParticipantId(43), ..console };
    assert_eq!(decision(&mut r, &back), JoinDecision::Deny(DenyReason::Blocked));
}

/// A guest on the shared link: a new `sub` per connection, known by its browser and address.
fn guest(id: u64, browser: &str, address: &str) -> Actor {
    let marks = vec![format!("browser:{browser}"), format!("address:{address}")];
    Actor { subject: format!("link:{id}"), marks, ..actor(id, Role::Student, false) }
}

#[test]
fn a_removed_or_denied_guest_coming_back_on_the_same_link_is_refused_by_browser_or_address() {
    let mut r = Room::new();
    let g = guest(50, "b1", "192.0.2.1");
    r.room.on_join_request(r.now, &g);
    r.ok(r.teacher.clone(), C::Deny { participant_id: g.id });
    // The same browser from another network; another browser from the same address.
    assert_eq!(decision(&mut r, &guest(51, "b1", "198.51.100.7")), JoinDecision::Deny(DenyReason::Blocked));
    assert_eq!(decision(&mut r, &guest(52, "b9", "192.0.2.1")), JoinDecision::Deny(DenyReason::Blocked));
    // Someone else entirely still reaches the lobby.
    assert!(matches!(decision(&mut r, &guest(53, "b2", "203.0.113.9")), JoinDecision::Wait(_)));

    let h = guest(60, "b3", "203.0.113.50");
    r.room.on_join_request(r.now, &h);
    r.ok(r.teacher.clone(), C::Admit { participant_id: h.id });
    r.ok(r.teacher.clone(), C::RemoveParticipant { participant_id: h.id });
    assert_eq!(decision(&mut r, &guest(61, "b3", "198.51.100.8")), JoinDecision::Deny(DenyReason::Blocked));
    // A personal-token student on the same address is not a guest: their own `sub` decides.
    let student = Actor { marks: Vec::new(), ..actor(62, Role::Student, true) };
    assert_eq!(decision(&mut r, &student), JoinDecision::Admit);
    // The next lesson forgets the blocks.
    r.ok(r.teacher.clone(), C::EndLesson);
    let mut next = r.room.next_lesson();
    assert!(matches!(next.on_join_request(r.now, &guest(63, "b3", "203.0.113.50")).decision, JoinDecision::Wait(_)));
}
