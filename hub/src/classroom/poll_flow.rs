//! Poll commands as room events: who may create, answer, close and share, and who hears about it.
//! Live results go to teachers; students see results only once shared.

use lectern_proto::Role;
use lectern_proto::classroom::{ClassroomEvent, PollId};

use super::poll::{Poll, PollSpec};
use super::{Actor, Audience, Classroom, ClassroomError, Outbound, require, send};

fn results_to(audience: Audience, poll: &Poll) -> Outbound {
    send(audience, ClassroomEvent::PollResults { results: poll.results() })
}

/// Teachers always follow the results; everyone once they are shared (teachers included, once).
fn results_audience(poll: &Poll) -> Audience {
    if poll.shared { Audience::Everyone } else { Audience::Teachers }
}

impl Classroom {
    pub(super) fn create_poll(
        &mut self,
        now: u64,
        actor: &Actor,
        question: &str,
        options: &[String],
        (multiple, anonymous): (bool, bool),
        correct: Option<&[u32]>,
    ) -> Result<Vec<Outbound>, ClassroomError> {
        require(actor, &[Role::Teacher], "only a teacher can start a poll")?;
        let spec = PollSpec::new(question, options, multiple, anonymous, correct)?;
        let poll = self.polls.create(now, spec)?;
        Ok(vec![
            send(Audience::Everyone, ClassroomEvent::PollOpened { poll: poll.view() }),
            results_to(Audience::Teachers, poll),
        ])
    }

    pub(super) fn answer_poll(
        &mut self,
        now: u64,
        actor: &Actor,
        id: PollId,
        choices: &[u32],
    ) -> Result<Vec<Outbound>, ClassroomError> {
        require(actor, &[Role::Student], "only students answer polls")?;
        let name = self.display_name(actor.id);
        let (choices, changed) = self.polls.answer(now, id, (&actor.subject, &name), choices)?;
        if !changed {
            self.attendance.count_poll(&actor.subject);
        }
        let poll = self.polls.get(id)?;
        Ok(vec![
            send(Audience::One(actor.id), ClassroomEvent::PollAnswered { poll_id: id, choices, changed }),
            results_to(results_audience(poll), poll),
        ])
    }

    pub(super) fn close_poll(
        &mut self,
        now: u64,
        actor: &Actor,
        id: PollId,
        share: bool,
    ) -> Result<Vec<Outbound>, ClassroomError> {
        require(actor, &[Role::Teacher], "only a teacher can close a poll")?;
        self.polls.close(now, id)?;
        let mut out = vec![send(Audience::Everyone, ClassroomEvent::PollClosed { poll_id: id })];
        if share {
            // The poll exists: close just found it.
            out.push(results_to(Audience::Everyone, self.polls.share(id)?));
        }
        Ok(out)
    }

    pub(super) fn share_poll(&mut self, actor: &Actor, id: PollId) -> Result<Vec<Outbound>, ClassroomError> {
        require(actor, &[Role::Teacher], "only a teacher can share poll results")?;
        let poll = self.polls.share(id)?;
        Ok(vec![results_to(Audience::Everyone, poll)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classroom::tests::{Room, events_to};
    use lectern_proto::classroom::ClassroomCommand as C;

    fn create(quiz: bool) -> C {
        C::CreatePoll {
            question: "2+2?".into(),
            options: vec!["3".into(), "4".into(), "5".into()],
            multiple: false,
            anonymous: false,
            correct: quiz.then(|| vec![1]),
        }
    }

    fn answer(choice: u32) -> C {
        C::AnswerPoll { poll_id: PollId(1), choices: vec![choice] }
    }

    fn has_results(events: &[ClassroomEvent]) -> bool {
        events.iter().any(|e| matches!(e, ClassroomEvent::PollResults { .. }))
    }

    #[test]
    fn students_see_the_poll_teachers_see_live_results() {
        let mut r = Room::new();
        let out = r.ok(r.teacher.clone(), create(true));
        let student_view = events_to(&r, &out, r.s1.id);
        let [ClassroomEvent::PollOpened { poll }] = student_view.as_slice() else { panic!("{student_view:?}") };
        assert!(poll.quiz && poll.open);
        let out = r.ok(r.s1.clone(), answer(1));
        assert!(has_results(&events_to(&r, &out, r.teacher.id)));
        assert!(!has_results(&events_to(&r, &out, r.s2.id)), "results are not shared yet");
        let own = events_to(&r, &out, r.s1.id);
        assert_eq!(own, [ClassroomEvent::PollAnswered { poll_id: PollId(1), choices: vec![1], changed: false }]);
    }

    #[test]
    fn changing_an_answer_says_so_and_counts_once_for_attendance() {
        let mut r = Room::new();
        r.ok(r.teacher.clone(), create(false));
        r.ok(r.s1.clone(), answer(0));
        let out = r.ok(r.s1.clone(), answer(2));
        let own = events_to(&r, &out, r.s1.id);
        assert_eq!(own[0], ClassroomEvent::PollAnswered { poll_id: PollId(1), choices: vec![2], changed: true });
        assert_eq!(r.room.attendance_report(r.now).people[1].polls_answered, 1);
        assert_eq!(r.room.poll_report(PollId(1)).unwrap().options[2].votes, 1);
    }

    #[test]
    fn answering_a_closed_or_unknown_poll_is_refused_and_changes_nothing() {
        let mut r = Room::new();
        assert_eq!(r.refused(r.s1.clone(), answer(0)), ClassroomError::UnknownPoll(PollId(1)));
        r.ok(r.teacher.clone(), create(false));
        r.ok(r.teacher.clone(), C::ClosePoll { poll_id: PollId(1), share_results: false });
        let before = r.room.clone();
        assert_eq!(r.refused(r.s1.clone(), answer(0)), ClassroomError::PollClosed);
        assert_eq!(r.room, before);
    }

    #[test]
    fn close_with_sharing_shows_results_and_correct_options_to_students() {
        let mut r = Room::new();
        r.ok(r.teacher.clone(), create(true));
        r.ok(r.s1.clone(), answer(1));
        let out = r.ok(r.teacher.clone(), C::ClosePoll { poll_id: PollId(1), share_results: true });
        let seen = events_to(&r, &out, r.s2.id);
        assert_eq!(seen[0], ClassroomEvent::PollClosed { poll_id: PollId(1) });
        let ClassroomEvent::PollResults { results } = &seen[1] else { panic!("{seen:?}") };
        assert_eq!((results.counts.clone(), results.correct.clone()), (vec![0, 1, 0], Some(vec![1])));
        let ClassroomEvent::State { poll_results, my_answer, .. } = r.room.snapshot_for(&r.s1) else { panic!() };
        assert!(poll_results.is_some(), "late joiners see shared results");
        assert_eq!(my_answer, Some(vec![1]));
    }

    #[test]
    fn students_cannot_create_close_or_share_and_teachers_cannot_answer() {
        let mut r = Room::new();
        let before = r.room.clone();
        assert!(matches!(r.refused(r.s1.clone(), create(false)), ClassroomError::NotAllowed(_)));
        assert_eq!(r.room, before);
        r.ok(r.teacher.clone(), create(false));
        let close = C::ClosePoll { poll_id: PollId(1), share_results: true };
        assert!(matches!(r.refused(r.s1.clone(), close), ClassroomError::NotAllowed(_)));
        let share = C::SharePollResults { poll_id: PollId(1) };
        assert!(matches!(r.refused(r.s1.clone(), share), ClassroomError::NotAllowed(_)));
        assert!(matches!(r.refused(r.teacher.clone(), answer(0)), ClassroomError::NotAllowed(_)));
        assert!(matches!(r.refused(r.viewer.clone(), answer(0)), ClassroomError::NotAllowed(_)));
    }

    #[test]
    fn a_rejoining_student_keeps_one_vote() {
        let mut r = Room::new();
        r.ok(r.teacher.clone(), create(false));
        r.ok(r.s1.clone(), answer(0));
        let again = r.rejoin(&r.s1.clone());
        let out = r.ok(again, answer(2));
        assert!(events_to(&r, &out, r.teacher.id).iter().any(|e| matches!(
            e,
            ClassroomEvent::PollResults { results } if results.respondents == 1 && results.counts == [0, 0, 1]
        )));
    }
}
