//! Raised hands: a queue ordered by the time each hand went up, seen by teachers and the room display.

use lectern_proto::classroom::{ClassroomEvent, RaisedHand};
use lectern_proto::{ParticipantId, Role};

use super::{Actor, Audience, Classroom, ClassroomError, Outbound, require, send};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HandQueue {
    hands: Vec<RaisedHand>,
}

impl HandQueue {
    /// Returns false if the hand was already up: it keeps its place.
    pub fn raise(&mut self, id: ParticipantId, name: &str, now: u64) -> bool {
        if self.is_raised(id) {
            return false;
        }
        // Times are inputs and may arrive out of order; keep the queue sorted, ties first-come.
        let at = self.hands.iter().position(|h| h.raised_at > now).unwrap_or(self.hands.len());
        self.hands.insert(at, RaisedHand { participant_id: id, name: name.to_owned(), raised_at: now });
        true
    }

    /// Returns false if the hand was not up.
    pub fn lower(&mut self, id: ParticipantId) -> bool {
        let before = self.hands.len();
        self.hands.retain(|h| h.participant_id != id);
        self.hands.len() != before
    }

    pub fn lower_all(&mut self) -> Vec<ParticipantId> {
        self.hands.drain(..).map(|h| h.participant_id).collect()
    }

    pub fn is_raised(&self, id: ParticipantId) -> bool {
        self.hands.iter().any(|h| h.participant_id == id)
    }

    pub fn list(&self) -> &[RaisedHand] {
        &self.hands
    }
}

impl Classroom {
    fn hands_changed(&self) -> Outbound {
        send(Audience::TeachersAndDevices, ClassroomEvent::HandsChanged { hands: self.hands.list().to_vec() })
    }

    pub(super) fn raise_hand(&mut self, now: u64, actor: &Actor) -> Result<Vec<Outbound>, ClassroomError> {
        require(actor, &[Role::Student, Role::Teacher], "only students and teachers can raise a hand")?;
        let name = self.display_name(actor.id);
        if !self.hands.raise(actor.id, &name, now) {
            return Ok(Vec::new());
        }
        self.attendance.count_hand(&actor.subject);
        Ok(vec![self.hands_changed(), send(Audience::One(actor.id), ClassroomEvent::OwnHand { raised: true })])
    }

    /// Own hand without `target`; the room display (device) may lower hands like a teacher, since a
    /// teacher standing in the room answers a hand from there.
    pub(super) fn lower_hand(
        &mut self,
        actor: &Actor,
        target: Option<ParticipantId>,
    ) -> Result<Vec<Outbound>, ClassroomError> {
        let target = self.target_of(
            actor,
            target,
            &[Role::Teacher, Role::Device],
            "only a teacher can lower someone else's hand",
        )?;
        if !self.hands.lower(target) {
            return Ok(Vec::new());
        }
        Ok(vec![self.hands_changed(), send(Audience::One(target), ClassroomEvent::OwnHand { raised: false })])
    }

    pub(super) fn lower_all_hands(&mut self, actor: &Actor) -> Result<Vec<Outbound>, ClassroomError> {
        require(actor, &[Role::Teacher, Role::Device], "only a teacher can lower all hands")?;
        let lowered = self.hands.lower_all();
        if lowered.is_empty() {
            return Ok(Vec::new());
        }
        let mut out = vec![self.hands_changed()];
        out.extend(lowered.into_iter().map(|id| send(Audience::One(id), ClassroomEvent::OwnHand { raised: false })));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classroom::tests::{Room, events_to};
    use lectern_proto::classroom::ClassroomCommand as C;

    fn order(q: &HandQueue) -> Vec<u64> {
        q.list().iter().map(|h| h.participant_id.0).collect()
    }

    #[test]
    fn queue_is_ordered_by_time_raised_even_out_of_order() {
        let mut q = HandQueue::default();
        assert!(q.raise(ParticipantId(1), "a", 300));
        assert!(q.raise(ParticipantId(2), "b", 100));
        assert!(q.raise(ParticipantId(3), "c", 300));
        assert_eq!(order(&q), [2, 1, 3]);
    }

    #[test]
    fn raise_is_idempotent_and_keeps_place() {
        let mut q = HandQueue::default();
        q.raise(ParticipantId(1), "a", 1);
        q.raise(ParticipantId(2), "b", 2);
        assert!(!q.raise(ParticipantId(1), "a", 3));
        assert_eq!(order(&q), [1, 2]);
        assert_eq!(q.list()[0].raised_at, 1);
    }

    #[test]
    fn lower_when_not_raised_reports_no_change() {
        let mut q = HandQueue::default();
        assert!(!q.lower(ParticipantId(1)));
        q.raise(ParticipantId(1), "a", 1);
        assert!(q.lower(ParticipantId(1)));
        assert!(q.list().is_empty());
    }

    #[test]
    fn raised_hand_is_shown_to_teachers_and_device_not_students() {
        let mut r = Room::new();
        let out = r.ok(r.s1.clone(), C::RaiseHand);
        assert!(events_to(&r, &out, r.teacher.id).iter().any(|e| matches!(e, ClassroomEvent::HandsChanged { .. })));
        assert!(events_to(&r, &out, r.device.id).iter().any(|e| matches!(e, ClassroomEvent::HandsChanged { .. })));
        assert_eq!(events_to(&r, &out, r.s2.id), vec![]);
        assert_eq!(events_to(&r, &out, r.s1.id), vec![ClassroomEvent::OwnHand { raised: true }]);
    }

    #[test]
    fn duplicate_raise_and_lower_when_not_raised_change_nothing() {
        let mut r = Room::new();
        r.ok(r.s1.clone(), C::RaiseHand);
        let before = r.room.clone();
        assert!(r.ok(r.s1.clone(), C::RaiseHand).is_empty());
        assert!(r.ok(r.s2.clone(), C::LowerHand { participant_id: None }).is_empty());
        assert_eq!(r.room, before);
    }

    #[test]
    fn student_cannot_lower_another_students_hand() {
        let mut r = Room::new();
        r.ok(r.s1.clone(), C::RaiseHand);
        let err = r.refused(r.s2.clone(), C::LowerHand { participant_id: Some(r.s1.id) });
        assert!(matches!(err, ClassroomError::NotAllowed(_)));
    }

    #[test]
    fn teacher_lowers_one_or_all_and_students_are_told() {
        let mut r = Room::new();
        r.ok(r.s1.clone(), C::RaiseHand);
        r.ok(r.s2.clone(), C::RaiseHand);
        let out = r.ok(r.teacher.clone(), C::LowerHand { participant_id: Some(r.s1.id) });
        assert_eq!(events_to(&r, &out, r.s1.id), vec![ClassroomEvent::OwnHand { raised: false }]);
        let out = r.ok(r.teacher.clone(), C::LowerAllHands);
        assert_eq!(events_to(&r, &out, r.s2.id), vec![ClassroomEvent::OwnHand { raised: false }]);
        assert!(r.room.hands.list().is_empty());
        assert_eq!(r.room.attendance_report(10_000).people[1].hands_raised, 1);
    }
}
