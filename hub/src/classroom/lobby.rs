//! The lobby: who enters directly, who waits (in arrival order, shown to teachers and the room display),
//! who is refused, and which identities are blocked for the rest of the lesson.

use std::collections::BTreeSet;

use lectern_proto::classroom::{ClassroomEvent, DenyReason, LobbyEntry, RoomPolicy};
use lectern_proto::{ParticipantId, Role};

use super::passcode::Passcode;
use super::roster::Participant;
use super::{Actor, Audience, Classroom, ClassroomError, Effect, JoinDecision, JoinOutcome, Outbound, require, send};

/// More waiting than this is an attack on a shared link, not a class.
pub const MAX_WAITING: usize = 500;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiter {
    pub entry: LobbyEntry,
    pub subject: String,
    pub marks: Vec<String>,
    pub box_link: bool,
}

/// What the lobby rules say about a newcomer, before anything changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Enter,
    Wait,
    Deny(DenyReason),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lobby {
    waiting: Vec<Waiter>,
    blocked: BTreeSet<String>,
    /// What guests must give to join; kept here because only the door checks it.
    passcode: Option<Passcode>,
}

impl Lobby {
    /// Teachers and the room's box always enter: a lock, a block or a full room never shuts out the
    /// lesson itself. Someone with the box's credential in a browser is one more person: the lock,
    /// the lobby and the capacity hold for them. `full`: no seat is left under the room's capacity.
    pub fn decide(&self, actor: &Actor, policy: &RoomPolicy, full: bool) -> Verdict {
        match actor.role {
            Role::Admin => return Verdict::Deny(DenyReason::NotAParticipant),
            Role::Teacher => return Verdict::Enter,
            Role::Device if actor.box_link => return Verdict::Enter,
            Role::Device | Role::Student | Role::Viewer => {}
        }
        // First, so that a guest without the passcode learns nothing about the room (locked, full...).
        if !actor.personal && !self.passcode_accepts(actor.passcode.as_deref()) {
            Verdict::Deny(DenyReason::WrongPasscode)
        } else if self.is_blocked(actor) {
            Verdict::Deny(DenyReason::Blocked)
        } else if policy.locked {
            Verdict::Deny(DenyReason::RoomLocked)
        } else if full {
            Verdict::Deny(DenyReason::RoomFull)
        } else if !actor.personal || policy.everyone_waits {
            if self.waiting.len() >= MAX_WAITING { Verdict::Deny(DenyReason::LobbyFull) } else { Verdict::Wait }
        } else {
            Verdict::Enter
        }
    }

    /// Returns the 1-based position.
    pub fn enqueue(&mut self, now: u64, actor: &Actor, name: String) -> u32 {
        let entry =
            LobbyEntry { participant_id: actor.id, name, role: actor.role, guest: !actor.personal, waiting_since: now };
        let (subject, marks) = (actor.subject.clone(), actor.marks.clone());
        self.waiting.push(Waiter { entry, subject, marks, box_link: actor.box_link });
        position(self.waiting.len() - 1)
    }

    pub fn position(&self, id: ParticipantId) -> Option<u32> {
        self.waiting.iter().position(|w| w.entry.participant_id == id).map(position)
    }

    pub fn take(&mut self, id: ParticipantId) -> Option<Waiter> {
        let index = self.waiting.iter().position(|w| w.entry.participant_id == id)?;
        Some(self.waiting.remove(index))
    }

    pub fn take_where(&mut self, mut pick: impl FnMut(&Waiter) -> bool) -> Vec<Waiter> {
        let (taken, kept) = std::mem::take(&mut self.waiting).into_iter().partition(|w| pick(w));
        self.waiting = kept;
        taken
    }

    pub fn passcode(&self) -> Option<&Passcode> {
        self.passcode.as_ref()
    }

    pub fn set_passcode(&mut self, passcode: Option<Passcode>) {
        self.passcode = passcode;
    }

    /// Always true when no passcode is set.
    pub fn passcode_accepts(&self, attempt: Option<&str>) -> bool {
        self.passcode.as_ref().is_none_or(|p| p.accepts(attempt))
    }

    /// Blocks an identity and whatever else it is known by (a guest's browser and address).
    pub fn block(&mut self, subject: &str, marks: &[String]) {
        self.blocked.insert(subject.to_owned());
        self.blocked.extend(marks.iter().cloned());
    }

    pub fn is_blocked(&self, actor: &Actor) -> bool {
        self.blocked.contains(&actor.subject) || actor.marks.iter().any(|m| self.blocked.contains(m))
    }

    pub fn entries(&self) -> Vec<LobbyEntry> {
        self.waiting.iter().map(|w| w.entry.clone()).collect()
    }

    pub fn ids(&self) -> Vec<ParticipantId> {
        self.waiting.iter().map(|w| w.entry.participant_id).collect()
    }
}

fn position(index: usize) -> u32 {
    u32::try_from(index + 1).unwrap_or(u32::MAX)
}

impl Classroom {
    pub fn on_join_request(&mut self, now: u64, actor: &Actor) -> JoinOutcome {
        let decided = |decision| JoinOutcome { decision, outbound: Vec::new() };
        if self.ended {
            return decided(JoinDecision::Deny(DenyReason::LessonEnded));
        }
        if self.roster.contains(actor.id) {
            return decided(JoinDecision::Admit);
        }
        if let Some(position) = self.lobby.position(actor.id) {
            return decided(JoinDecision::Wait(position));
        }
        let name = super::text::clean_name(&actor.name);
        let full = self.seats_left() == Some(0);
        match self.lobby.decide(actor, &self.policy, full) {
            Verdict::Deny(reason) => decided(JoinDecision::Deny(reason)),
            Verdict::Enter => {
                let participant = Participant {
                    subject: actor.subject.clone(),
                    name,
                    role: actor.role,
                    marks: actor.marks.clone(),
                    box_link: actor.box_link,
                };
                self.enter(now, actor.id, participant);
                decided(JoinDecision::Admit)
            }
            Verdict::Wait => {
                let position = self.lobby.enqueue(now, actor, name);
                JoinOutcome { decision: JoinDecision::Wait(position), outbound: vec![self.lobby_changed()] }
            }
        }
    }

    pub(super) fn enter(&mut self, now: u64, id: ParticipantId, participant: Participant) {
        self.attendance.joined(now, id, (&participant.subject, &participant.name, participant.role));
        self.roster.add(id, participant);
        self.breakout_entered(now, id);
    }

    pub(super) fn lobby_changed(&self) -> Outbound {
        send(Audience::TeachersAndDevices, ClassroomEvent::LobbyChanged { waiting: self.lobby.entries() })
    }

    /// After the lobby shrank: the new list for hosts, a new position for each waiter.
    pub(super) fn lobby_moved(&self) -> Vec<Outbound> {
        let mut out = vec![self.lobby_changed()];
        for (i, id) in self.lobby.ids().into_iter().enumerate() {
            out.push(send(Audience::One(id), ClassroomEvent::Waiting { position: position(i) }));
        }
        out
    }

    fn admit_waiters(&mut self, now: u64, waiters: Vec<Waiter>) -> Vec<Outbound> {
        if waiters.is_empty() {
            return Vec::new();
        }
        let mut out = Vec::new();
        for w in waiters {
            let id = w.entry.participant_id;
            let p = Participant {
                subject: w.subject,
                name: w.entry.name,
                role: w.entry.role,
                marks: w.marks,
                box_link: w.box_link,
            };
            self.enter(now, id, p);
            out.push(Outbound::Effect(Effect::Admit(id)));
        }
        out.extend(self.lobby_moved());
        out
    }

    /// Takes the waiters `pick` chooses, in arrival order, as far as seats are left.
    fn take_seated(&mut self, mut pick: impl FnMut(&Waiter) -> bool) -> Vec<Waiter> {
        let mut left = self.seats_left().unwrap_or(usize::MAX);
        self.lobby.take_where(|w| {
            let take = left > 0 && pick(w);
            left -= usize::from(take);
            take
        })
    }

    fn deny_waiters(&mut self, waiters: Vec<Waiter>) -> Vec<Outbound> {
        if waiters.is_empty() {
            return Vec::new();
        }
        let mut out = Vec::new();
        for w in waiters {
            self.lobby.block(&w.subject, &w.marks);
            let id = w.entry.participant_id;
            out.push(send(Audience::One(id), ClassroomEvent::Denied { reason: DenyReason::DeniedByTeacher }));
            out.push(Outbound::Effect(Effect::Kick(id)));
        }
        out.extend(self.lobby_moved());
        out
    }

    /// Teachers and the room display admit: a teacher standing in the room may have no console.
    pub(super) fn admit(
        &mut self,
        now: u64,
        actor: &Actor,
        target: Option<ParticipantId>,
    ) -> Result<Vec<Outbound>, ClassroomError> {
        require(actor, &[Role::Teacher, Role::Device], "only a teacher can admit people")?;
        let waiters = match target {
            Some(id) => {
                self.lobby.position(id).ok_or(ClassroomError::UnknownParticipant(id))?;
                let one = self.take_seated(|w| w.entry.participant_id == id);
                if one.is_empty() {
                    return Err(ClassroomError::NotAllowed("the room is full: its capacity is set in the web admin"));
                }
                one
            }
            // As many as there are seats; the others keep waiting.
            None => self.take_seated(|_| true),
        };
        Ok(self.admit_waiters(now, waiters))
    }

    pub(super) fn deny(
        &mut self,
        actor: &Actor,
        target: Option<ParticipantId>,
    ) -> Result<Vec<Outbound>, ClassroomError> {
        require(actor, &[Role::Teacher, Role::Device], "only a teacher can turn people away")?;
        let waiters = match target {
            Some(id) => vec![self.lobby.take(id).ok_or(ClassroomError::UnknownParticipant(id))?],
            None => self.lobby.take_where(|_| true),
        };
        Ok(self.deny_waiters(waiters))
    }

    /// When a teacher stops making everyone wait, the personal-token students waiting walk in, as they
    /// would have had they arrived now. Guests keep waiting.
    pub(super) fn release_personal_waiters(&mut self, now: u64) -> Vec<Outbound> {
        if self.policy.everyone_waits || self.policy.locked {
            return Vec::new();
        }
        let waiters = self.take_seated(|w| !w.entry.guest);
        self.admit_waiters(now, waiters)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(role: Role, personal: bool) -> Actor {
        let (name, subject) = ("n".into(), "sub".into());
        let box_link = role == Role::Device; // the box itself
        Actor { id: ParticipantId(7), role, name, subject, personal, passcode: None, marks: Vec::new(), box_link }
    }

    #[test]
    fn decide_follows_the_lobby_rules() {
        let lobby = Lobby::default();
        let open = RoomPolicy::default();
        let waits = RoomPolicy { everyone_waits: true, ..open };
        let locked = RoomPolicy { locked: true, ..open };
        let cases = [
            (Role::Student, true, open, Verdict::Enter),
            (Role::Student, false, open, Verdict::Wait),
            (Role::Viewer, false, open, Verdict::Wait),
            (Role::Student, true, waits, Verdict::Wait),
            (Role::Student, true, locked, Verdict::Deny(DenyReason::RoomLocked)),
            (Role::Teacher, false, locked, Verdict::Enter),
            (Role::Device, true, RoomPolicy { everyone_waits: true, ..locked }, Verdict::Enter),
            (Role::Admin, true, open, Verdict::Deny(DenyReason::NotAParticipant)),
        ];
        for (role, personal, policy, want) in cases {
            assert_eq!(
                lobby.decide(&actor(role, personal), &policy, false),
                want,
                "{role} personal={personal} {policy:?}"
            );
        }
    }

    #[test]
    fn blocked_identity_is_denied_before_anything_else() {
        let mut lobby = Lobby::default();
        lobby.block("sub", &[]);
        let verdict =
            lobby.decide(&actor(Role::Student, true), &RoomPolicy { locked: true, ..RoomPolicy::default() }, false);
        assert_eq!(verdict, Verdict::Deny(DenyReason::Blocked));
    }

    #[test]
    fn full_lobby_turns_guests_away() {
        let mut lobby = Lobby::default();
        for i in 0..MAX_WAITING as u64 {
            let a = Actor { id: ParticipantId(i), subject: format!("s{i}"), ..actor(Role::Student, false) };
            lobby.enqueue(0, &a, "n".into());
        }
        let verdict = lobby.decide(&actor(Role::Student, false), &RoomPolicy::default(), false);
        assert_eq!(verdict, Verdict::Deny(DenyReason::LobbyFull));
    }

    #[test]
    fn positions_follow_arrival_and_close_gaps() {
        let mut lobby = Lobby::default();
        for i in 1..=3 {
            let a = Actor { id: ParticipantId(i), ..actor(Role::Student, false) };
            assert_eq!(lobby.enqueue(i, &a, "n".into()), i as u32);
        }
        assert!(lobby.take(ParticipantId(2)).is_some());
        assert_eq!(lobby.position(ParticipantId(3)), Some(2));
        assert!(lobby.take(ParticipantId(2)).is_none());
    }
}
