//! The room passcode a teacher may set: guests on a shared link must give it to join, so a leaked
//! link alone does not reach the lobby. Personal-token students, teachers and the room device never
//! need it. The passcode stays in the hub: events and snapshots only say whether one is set.

use std::fmt;

use lectern_proto::Role;
use lectern_proto::classroom::{ClassroomEvent, MAX_PASSCODE_CHARS, MIN_PASSCODE_CHARS};

use super::{Actor, Audience, Classroom, ClassroomError, Outbound, require, send};

/// A validated passcode. `Debug` hides it, so a logged or asserted `Classroom` never shows it.
// `PartialEq` is derived (not constant time): it serves state comparisons in tests, never a guess.
#[derive(Clone, PartialEq, Eq)]
pub struct Passcode(String);

impl fmt::Debug for Passcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Passcode(<hidden>)")
    }
}

impl Passcode {
    /// Trimmed, then 4–32 printable characters: a teacher reads it out loud or writes it on the board,
    /// so invisible characters would only make it impossible to type.
    pub fn parse(input: &str) -> Result<Self, ClassroomError> {
        let trimmed = input.trim();
        if trimmed.chars().any(|c| c.is_control() || super::text::is_bidi_control(c)) {
            return Err(ClassroomError::InvalidInput("a passcode may only contain printable characters"));
        }
        let n = trimmed.chars().count();
        if !(MIN_PASSCODE_CHARS..=MAX_PASSCODE_CHARS).contains(&n) {
            return Err(ClassroomError::InvalidInput("a passcode is 4 to 32 characters long"));
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// Whether a guest's attempt matches, ignoring surrounding spaces as [`Passcode::parse`] does.
    pub fn accepts(&self, attempt: Option<&str>) -> bool {
        attempt.is_some_and(|a| same_bytes(self.0.as_bytes(), a.trim().as_bytes()))
    }
}

/// Looks at every byte whatever differs, so the time taken does not tell a guesser how many leading
/// characters were right. (The length may still show; it is not the secret part.)
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len().max(b.len());
    let diff = (0..n).fold(u8::from(a.len() != b.len()), |acc, i| {
        acc | (a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0))
    });
    diff == 0
}

impl Classroom {
    /// Guests already waiting stay: the teacher sees them in the lobby and decides.
    pub(super) fn set_passcode(
        &mut self,
        actor: &Actor,
        passcode: Option<&str>,
    ) -> Result<Vec<Outbound>, ClassroomError> {
        require(actor, &[Role::Teacher], "only a teacher can set the room passcode")?;
        let passcode = passcode.map(Passcode::parse).transpose()?;
        self.policy.passcode_required = passcode.is_some();
        self.lobby.set_passcode(passcode);
        // Sent even when only the passcode changed: it is the teacher's confirmation, and it says
        // nothing a student could not see already.
        Ok(vec![send(Audience::Everyone, ClassroomEvent::PolicyChanged { policy: self.policy })])
    }
}

#[cfg(test)]
mod tests {
    use lectern_proto::classroom::{ClassroomCommand as C, DenyReason};
    use lectern_proto::{ParticipantId, Role};

    use super::*;
    use crate::classroom::tests::{Room, actor, events_to};
    use crate::classroom::{JoinDecision, Outbound};

    const SECRET: &str = "Owl-4242";

    fn set(code: Option<&str>) -> C {
        C::SetPasscode { passcode: code.map(str::to_owned) }
    }

    fn guest(id: u64, passcode: Option<&str>) -> Actor {
        Actor { passcode: passcode.map(str::to_owned), ..actor(id, Role::Student, false) }
    }

    fn with_passcode() -> Room {
        let mut r = Room::new();
        r.ok(r.teacher.clone(), set(Some(SECRET)));
        r
    }

    #[test]
    fn teacher_sets_and_clears_and_everyone_learns_only_that_one_is_required() {
        let mut r = Room::new();
        let out = r.ok(r.teacher.clone(), set(Some(&format!("  {SECRET} "))));
        let policy = r.room.policy();
        assert!(policy.passcode_required);
        assert_eq!(events_to(&r, &out, r.s1.id), [ClassroomEvent::PolicyChanged { policy }]);
        assert!(guest(60, Some(SECRET)).passcode.is_some_and(|p| r.room.lobby.passcode_accepts(Some(&p))));

        let out = r.ok(r.teacher.clone(), set(None));
        assert!(!r.room.policy().passcode_required);
        assert_eq!(events_to(&r, &out, r.teacher.id), [ClassroomEvent::PolicyChanged { policy: r.room.policy() }]);
        let decision = r.room.on_join_request(r.now, &guest(61, None)).decision;
        assert_eq!(decision, JoinDecision::Wait(1), "no passcode: guests wait as before");
    }

    #[test]
    fn passcodes_outside_four_to_32_printable_characters_are_refused() {
        let mut r = Room::new();
        for bad in ["abc", "   abc   ", "", &"x".repeat(33), "ab\u{7}cd", "ab\u{202E}cd"] {
            assert!(matches!(r.refused(r.teacher.clone(), set(Some(bad))), ClassroomError::InvalidInput(_)), "{bad:?}");
        }
        r.ok(r.teacher.clone(), set(Some(&"é".repeat(32))));
        r.ok(r.teacher.clone(), set(Some("a b c d")));
    }

    #[test]
    fn guests_without_or_with_a_wrong_passcode_are_denied_and_the_right_one_reaches_the_lobby() {
        let mut r = with_passcode();
        for (id, attempt) in [(60, None), (61, Some("owl-4242")), (62, Some("Owl-424")), (63, Some("Owl-42420"))] {
            let outcome = r.room.on_join_request(r.now, &guest(id, attempt));
            assert_eq!(outcome.decision, JoinDecision::Deny(DenyReason::WrongPasscode), "{attempt:?}");
            assert!(outcome.outbound.is_empty(), "a refused guest never shows up in the lobby");
        }
        let decision = r.room.on_join_request(r.now, &guest(64, Some(&format!("{SECRET} ")))).decision;
        assert_eq!(decision, JoinDecision::Wait(1));
        let ClassroomEvent::State { lobby, .. } = r.room.snapshot_for(&r.teacher) else { panic!("not a snapshot") };
        assert_eq!(lobby.map(|l| l.len()), Some(1), "only the guest with the passcode waits");
    }

    #[test]
    fn the_passcode_is_checked_before_the_lock_so_a_guesser_learns_nothing_else() {
        let mut r = with_passcode();
        r.ok(
            r.teacher.clone(),
            C::SetPolicy(lectern_proto::classroom::PolicyPatch { locked: Some(true), ..Default::default() }),
        );
        let wrong = r.room.on_join_request(r.now, &guest(60, Some("nope"))).decision;
        assert_eq!(wrong, JoinDecision::Deny(DenyReason::WrongPasscode));
        let right = r.room.on_join_request(r.now, &guest(61, Some(SECRET))).decision;
        assert_eq!(right, JoinDecision::Deny(DenyReason::RoomLocked));
    }

    #[test]
    fn personal_students_teachers_and_the_device_never_need_it() {
        let mut r = with_passcode();
        for (id, role) in [(70, Role::Student), (71, Role::Teacher), (72, Role::Device), (73, Role::Viewer)] {
            let decision = r.room.on_join_request(r.now, &actor(id, role, true)).decision;
            assert_eq!(decision, JoinDecision::Admit, "{role}");
        }
        // A teacher holding a shared link is still the teacher.
        let decision = r.room.on_join_request(r.now, &actor(74, Role::Teacher, false)).decision;
        assert_eq!(decision, JoinDecision::Admit);
    }

    #[test]
    fn students_and_the_device_cannot_set_or_clear_it() {
        let mut r = with_passcode();
        for who in [r.s1.clone(), r.device.clone(), r.viewer.clone()] {
            assert!(matches!(r.refused(who.clone(), set(None)), ClassroomError::NotAllowed(_)));
            assert!(matches!(r.refused(who, set(Some("mine-1234"))), ClassroomError::NotAllowed(_)));
        }
        assert!(r.room.policy().passcode_required);
        assert!(r.room.lobby.passcode_accepts(Some(SECRET)));
    }

    #[test]
    fn the_passcode_never_appears_in_anything_sent_or_debug_printed() {
        let mut r = Room::new();
        let mut sent: Vec<String> = Vec::new();
        let mut keep = |out: &[Outbound]| {
            for o in out {
                if let Outbound::Event { event, .. } = o {
                    sent.push(serde_json::to_string(event).unwrap());
                }
            }
        };
        keep(&r.ok(r.teacher.clone(), set(Some(SECRET))));
        for g in [guest(60, Some(SECRET)), guest(61, Some("wrong-one"))] {
            keep(&r.room.on_join_request(r.now, &g).outbound);
        }
        keep(&r.ok(r.teacher.clone(), C::AdmitAll));
        let admitted = Actor { id: ParticipantId(60), ..guest(60, Some(SECRET)) };
        for a in [&r.teacher, &r.s1, &r.device, &r.viewer, &admitted] {
            sent.push(serde_json::to_string(&r.room.snapshot_for(a)).unwrap());
        }
        assert!(sent.iter().any(|s| s.contains(r#""passcodeRequired":true"#)));
        for s in &sent {
            assert!(!s.to_lowercase().contains(&SECRET.to_lowercase()), "leaked in {s}");
        }
        assert!(!format!("{:?}", r.room).contains(SECRET));
    }

    #[test]
    fn the_next_lesson_keeps_the_passcode_and_a_new_room_has_none() {
        let r = with_passcode();
        let mut next = r.room.next_lesson();
        assert!(next.policy().passcode_required);
        let decision = next.on_join_request(r.now, &guest(60, None)).decision;
        assert_eq!(decision, JoinDecision::Deny(DenyReason::WrongPasscode));
        let fresh = Classroom::new(r.room.policy());
        assert!(!fresh.policy().passcode_required, "a policy alone cannot require a passcode nobody set");
    }

    #[test]
    fn comparison_checks_every_byte_and_the_length() {
        assert!(same_bytes(b"abcd", b"abcd"));
        assert!(!same_bytes(b"abcd", b"abce") && !same_bytes(b"abcd", b"xbcd"));
        assert!(!same_bytes(b"abcd", b"abc") && !same_bytes(b"abc", b"abcd") && !same_bytes(b"abcd", b""));
    }
}
