//! What everyone looks at: the spotlighted participant and the one screen share at a time.

use lectern_proto::classroom::ClassroomEvent;
use lectern_proto::{ParticipantId, Role};

use super::{Actor, Audience, Classroom, ClassroomError, Effect, Outbound, require, send};

impl Classroom {
    /// `None` clears the spotlight.
    pub(super) fn set_spotlight(
        &mut self,
        actor: &Actor,
        target: Option<ParticipantId>,
    ) -> Result<Vec<Outbound>, ClassroomError> {
        require(actor, &[Role::Teacher], "only a teacher can spotlight someone")?;
        if let Some(id) = target {
            self.participant(id)?;
        }
        if self.spotlight == target {
            return Ok(Vec::new());
        }
        self.spotlight = target;
        Ok(vec![send(Audience::Everyone, ClassroomEvent::SpotlightChanged { participant_id: target })])
    }

    /// Teachers may always share; students when the policy allows. One share at a time: a teacher stops
    /// the current one first rather than taking the screen from under someone mid-sentence.
    pub(super) fn request_screen_share(&mut self, actor: &Actor) -> Result<Vec<Outbound>, ClassroomError> {
        match actor.role {
            Role::Teacher => {}
            Role::Student if self.policy.students_may_share_screen => {}
            Role::Student => {
                return Err(ClassroomError::NotAllowed("the teacher turned off screen sharing for students"));
            }
            _ => return Err(ClassroomError::NotAllowed("only students and teachers can share a screen")),
        }
        match self.screen_sharer {
            Some(id) if id == actor.id => Ok(Vec::new()),
            Some(_) => Err(ClassroomError::Conflict("someone else is sharing their screen")),
            None => {
                self.screen_sharer = Some(actor.id);
                Ok(vec![send(
                    Audience::Everyone,
                    ClassroomEvent::ScreenShareChanged { participant_id: Some(actor.id) },
                )])
            }
        }
    }

    /// Own share without `target`; a teacher may stop anyone's. Stopping a share that is not running
    /// changes nothing.
    pub(super) fn stop_screen_share(
        &mut self,
        actor: &Actor,
        target: Option<ParticipantId>,
    ) -> Result<Vec<Outbound>, ClassroomError> {
        let target =
            self.target_of(actor, target, &[Role::Teacher], "only a teacher can stop someone else's screen share")?;
        if self.screen_sharer != Some(target) {
            return Ok(Vec::new());
        }
        self.screen_sharer = None;
        Ok(vec![
            Outbound::Effect(Effect::StopScreenShare(target)),
            send(Audience::Everyone, ClassroomEvent::ScreenShareChanged { participant_id: None }),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classroom::tests::{Room, events_to};
    use lectern_proto::classroom::{ClassroomCommand as C, PolicyPatch};

    fn share_changed(id: Option<ParticipantId>) -> ClassroomEvent {
        ClassroomEvent::ScreenShareChanged { participant_id: id }
    }

    #[test]
    fn spotlight_is_announced_and_cleared_when_the_participant_leaves() {
        let mut r = Room::new();
        let out = r.ok(r.teacher.clone(), C::Spotlight { participant_id: Some(r.s1.id) });
        assert_eq!(events_to(&r, &out, r.s2.id), [ClassroomEvent::SpotlightChanged { participant_id: Some(r.s1.id) }]);
        let out = r.room.on_left(r.now, r.s1.id);
        assert_eq!(events_to(&r, &out, r.s2.id), [ClassroomEvent::SpotlightChanged { participant_id: None }]);
        let err = r.refused(r.teacher.clone(), C::Spotlight { participant_id: Some(r.s1.id) });
        assert_eq!(err, ClassroomError::UnknownParticipant(r.s1.id));
    }

    #[test]
    fn one_screen_share_at_a_time_and_teacher_can_stop_it() {
        let mut r = Room::new();
        let out = r.ok(r.s1.clone(), C::RequestScreenShare);
        assert_eq!(events_to(&r, &out, r.s2.id), [share_changed(Some(r.s1.id))]);
        assert!(r.ok(r.s1.clone(), C::RequestScreenShare).is_empty(), "idempotent for the sharer");
        assert!(matches!(r.refused(r.s2.clone(), C::RequestScreenShare), ClassroomError::Conflict(_)));
        assert!(matches!(r.refused(r.teacher.clone(), C::RequestScreenShare), ClassroomError::Conflict(_)));
        let stop_s1 = C::StopScreenShare { participant_id: Some(r.s1.id) };
        assert!(matches!(r.refused(r.s2.clone(), stop_s1.clone()), ClassroomError::NotAllowed(_)));
        let out = r.ok(r.teacher.clone(), stop_s1);
        assert_eq!(out[0], Outbound::Effect(Effect::StopScreenShare(r.s1.id)));
        r.ok(r.teacher.clone(), C::RequestScreenShare);
        assert_eq!(r.room.screen_sharer(), Some(r.teacher.id));
    }

    #[test]
    fn policy_off_refuses_students_and_stops_a_running_student_share() {
        let mut r = Room::new();
        r.ok(r.s1.clone(), C::RequestScreenShare);
        let off = PolicyPatch { students_may_share_screen: Some(false), ..Default::default() };
        let out = r.ok(r.teacher.clone(), C::SetPolicy(off));
        assert!(out.contains(&Outbound::Effect(Effect::StopScreenShare(r.s1.id))));
        assert_eq!(r.room.screen_sharer(), None);
        assert!(matches!(r.refused(r.s1.clone(), C::RequestScreenShare), ClassroomError::NotAllowed(_)));
        assert!(matches!(r.refused(r.viewer.clone(), C::RequestScreenShare), ClassroomError::NotAllowed(_)));
        r.ok(r.teacher.clone(), C::RequestScreenShare);
    }

    #[test]
    fn stopping_a_share_that_is_not_running_changes_nothing() {
        let mut r = Room::new();
        let before = r.room.clone();
        assert!(r.ok(r.s1.clone(), C::StopScreenShare { participant_id: None }).is_empty());
        assert_eq!(r.room, before);
    }
}
