//! Reactions: a fixed set of emoji, relayed to everyone, rate-limited per identity. The set itself is
//! enforced when the command is parsed ([`lectern_proto::classroom::Reaction`]).

use lectern_proto::Role;
use lectern_proto::classroom::{ClassroomEvent, Reaction};

use super::{Actor, Audience, Classroom, ClassroomError, Outbound, require, send};

impl Classroom {
    pub(super) fn react(
        &mut self,
        now: u64,
        actor: &Actor,
        reaction: Reaction,
    ) -> Result<Vec<Outbound>, ClassroomError> {
        require(actor, &[Role::Student, Role::Teacher], "only students and teachers can react")?;
        if !self.reaction_limit.try_acquire(&actor.subject, now) {
            return Err(ClassroomError::RateLimited);
        }
        let event = ClassroomEvent::Reacted { participant_id: actor.id, name: self.display_name(actor.id), reaction };
        Ok(vec![send(Audience::Everyone, event)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classroom::tests::{Room, events_to};
    use lectern_proto::classroom::ClassroomCommand as C;

    #[test]
    fn reaction_is_broadcast_with_the_senders_name() {
        let mut r = Room::new();
        let out = r.ok(r.s1.clone(), C::React { reaction: Reaction::Clap });
        let want = ClassroomEvent::Reacted { participant_id: r.s1.id, name: "Sam".into(), reaction: Reaction::Clap };
        assert_eq!(events_to(&r, &out, r.viewer.id), vec![want]);
    }

    #[test]
    fn reactions_are_rate_limited_and_viewers_cannot_react() {
        let mut r = Room::new();
        for _ in 0..6 {
            r.ok(r.s1.clone(), C::React { reaction: Reaction::ThumbsUp });
        }
        assert_eq!(r.refused(r.s1.clone(), C::React { reaction: Reaction::ThumbsUp }), ClassroomError::RateLimited);
        let err = r.refused(r.viewer.clone(), C::React { reaction: Reaction::Heart });
        assert!(matches!(err, ClassroomError::NotAllowed(_)));
    }
}
