//! Polls and quizzes: one open at a time, one answer per identity (changeable while open), live results
//! for teachers, results for students only when the teacher shares them. Exports in [`super::poll_report`].

use lectern_proto::classroom::{
    MAX_OPTION_CHARS, MAX_POLL_OPTIONS, MAX_QUESTION_CHARS, MIN_POLL_OPTIONS, PollId, PollResults, PollView,
};

use super::ClassroomError;
use super::text::clean;

/// Polls kept per lesson; more is a runaway client, not a lesson.
pub const MAX_POLLS: usize = 200;

/// A validated `createPoll`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollSpec {
    pub question: String,
    pub options: Vec<String>,
    pub multiple: bool,
    pub anonymous: bool,
    /// Sorted, without duplicates; `Some` makes it a quiz.
    pub correct: Option<Vec<u32>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The identity that answered: a reconnect cannot vote twice.
    pub subject: String,
    pub name: String,
    pub choices: Vec<u32>,
    pub answered_at: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Poll {
    pub id: PollId,
    pub spec: PollSpec,
    pub open: bool,
    pub shared: bool,
    pub opened_at: u64,
    pub closed_at: Option<u64>,
    /// In order of first answer.
    pub answers: Vec<Answer>,
}

impl PollSpec {
    pub fn new(
        question: &str,
        options: &[String],
        multiple: bool,
        anonymous: bool,
        correct: Option<&[u32]>,
    ) -> Result<Self, ClassroomError> {
        let question = clean(question, MAX_QUESTION_CHARS, true)
            .map_err(|e| ClassroomError::text(e, "question is empty", "question is longer than 500 characters"))?;
        if !(MIN_POLL_OPTIONS..=MAX_POLL_OPTIONS).contains(&options.len()) {
            return Err(ClassroomError::InvalidInput("a poll needs 2 to 10 options"));
        }
        let options =
            options.iter().map(|o| clean(o, MAX_OPTION_CHARS, false)).collect::<Result<Vec<_>, _>>().map_err(|e| {
                ClassroomError::text(e, "an option is empty", "an option is longer than 200 characters")
            })?;
        if options.iter().enumerate().any(|(i, o)| options[..i].contains(o)) {
            return Err(ClassroomError::InvalidInput("two options are the same"));
        }
        let correct = match correct {
            None => None,
            Some(c) => Some(normalize_choices(c, options.len(), multiple).map_err(|_| {
                ClassroomError::InvalidInput("a quiz needs valid correct options (exactly one unless multiple choice)")
            })?),
        };
        Ok(Self { question, options, multiple, anonymous, correct })
    }
}

/// Sorted, deduplicated, in range, and exactly one for single choice.
fn normalize_choices(choices: &[u32], options: usize, multiple: bool) -> Result<Vec<u32>, ClassroomError> {
    let mut c = choices.to_vec();
    c.sort_unstable();
    c.dedup();
    if c.is_empty() {
        return Err(ClassroomError::InvalidInput("choose at least one option"));
    }
    if c.iter().any(|&i| i as usize >= options) {
        return Err(ClassroomError::InvalidInput("there is no such option"));
    }
    if !multiple && c.len() != 1 {
        return Err(ClassroomError::InvalidInput("this poll takes exactly one choice"));
    }
    Ok(c)
}

impl Poll {
    pub fn is_quiz(&self) -> bool {
        self.spec.correct.is_some()
    }

    /// What students see: never the correct options.
    pub fn view(&self) -> PollView {
        PollView {
            id: self.id,
            question: self.spec.question.clone(),
            options: self.spec.options.clone(),
            multiple: self.spec.multiple,
            anonymous: self.spec.anonymous,
            quiz: self.is_quiz(),
            open: self.open,
        }
    }

    pub fn counts(&self) -> Vec<u32> {
        let mut counts = vec![0u32; self.spec.options.len()];
        for &i in self.answers.iter().flat_map(|a| &a.choices) {
            // Choices were range-checked when recorded.
            if let Some(c) = counts.get_mut(i as usize) {
                *c += 1;
            }
        }
        counts
    }

    pub fn results(&self) -> PollResults {
        PollResults {
            poll_id: self.id,
            counts: self.counts(),
            respondents: u32::try_from(self.answers.len()).unwrap_or(u32::MAX),
            correct: self.spec.correct.clone(),
        }
    }

    pub fn answer_of(&self, subject: &str) -> Option<&Answer> {
        self.answers.iter().find(|a| a.subject == subject)
    }

    /// `None` for a plain poll.
    pub fn is_correct(&self, answer: &Answer) -> Option<bool> {
        self.spec.correct.as_ref().map(|c| *c == answer.choices)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Polls {
    polls: Vec<Poll>,
    next_id: u64,
}

impl Polls {
    pub fn create(&mut self, now: u64, spec: PollSpec) -> Result<&Poll, ClassroomError> {
        if self.open().is_some() {
            return Err(ClassroomError::Conflict("close the open poll before starting another"));
        }
        if self.polls.len() >= MAX_POLLS {
            return Err(ClassroomError::Conflict("this lesson already has the most polls it can keep"));
        }
        self.next_id += 1;
        let id = PollId(self.next_id);
        self.polls.push(Poll { id, spec, open: true, shared: false, opened_at: now, closed_at: None, answers: vec![] });
        Ok(&self.polls[self.polls.len() - 1])
    }

    /// Records or replaces an answer; returns the normalized choices and whether it replaced one.
    pub fn answer(
        &mut self,
        now: u64,
        id: PollId,
        who: (&str, &str),
        choices: &[u32],
    ) -> Result<(Vec<u32>, bool), ClassroomError> {
        let (subject, name) = who;
        let poll = self.get_mut(id)?;
        if !poll.open {
            return Err(ClassroomError::PollClosed);
        }
        let choices = normalize_choices(choices, poll.spec.options.len(), poll.spec.multiple)?;
        if let Some(a) = poll.answers.iter_mut().find(|a| a.subject == subject) {
            a.choices = choices.clone();
            a.answered_at = now;
            return Ok((choices, true));
        }
        let answer =
            Answer { subject: subject.to_owned(), name: name.to_owned(), choices: choices.clone(), answered_at: now };
        poll.answers.push(answer);
        Ok((choices, false))
    }

    pub fn close(&mut self, now: u64, id: PollId) -> Result<&Poll, ClassroomError> {
        let poll = self.get_mut(id)?;
        if !poll.open {
            return Err(ClassroomError::PollClosed);
        }
        poll.open = false;
        poll.closed_at = Some(now);
        Ok(poll)
    }

    pub fn share(&mut self, id: PollId) -> Result<&Poll, ClassroomError> {
        let poll = self.get_mut(id)?;
        poll.shared = true;
        Ok(poll)
    }

    pub fn get(&self, id: PollId) -> Result<&Poll, ClassroomError> {
        self.polls.iter().find(|p| p.id == id).ok_or(ClassroomError::UnknownPoll(id))
    }

    fn get_mut(&mut self, id: PollId) -> Result<&mut Poll, ClassroomError> {
        self.polls.iter_mut().find(|p| p.id == id).ok_or(ClassroomError::UnknownPoll(id))
    }

    pub fn open(&self) -> Option<&Poll> {
        self.polls.iter().find(|p| p.open)
    }

    /// What a joiner should see: the open poll, else the latest one if its results were shared.
    pub fn current(&self) -> Option<&Poll> {
        self.open().or_else(|| self.polls.last().filter(|p| p.shared))
    }

    pub fn all(&self) -> &[Poll] {
        &self.polls
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("option {i}")).collect()
    }

    fn spec(multiple: bool, correct: Option<&[u32]>) -> PollSpec {
        PollSpec::new("Which?", &opts(3), multiple, false, correct).unwrap()
    }

    #[test]
    fn spec_rejects_empty_question_bad_option_counts_and_duplicates() {
        let err = |q: &str, o: &[String]| PollSpec::new(q, o, false, false, None).unwrap_err();
        assert_eq!(err("  ", &opts(2)), ClassroomError::InvalidInput("question is empty"));
        assert_eq!(err("Q", &opts(1)), ClassroomError::InvalidInput("a poll needs 2 to 10 options"));
        assert_eq!(err("Q", &opts(11)), ClassroomError::InvalidInput("a poll needs 2 to 10 options"));
        assert_eq!(err("Q", &["a".into(), " ".into()]), ClassroomError::InvalidInput("an option is empty"));
        assert_eq!(err("Q", &["a".into(), " a".into()]), ClassroomError::InvalidInput("two options are the same"));
    }

    #[test]
    fn quiz_correct_options_are_validated() {
        assert!(PollSpec::new("Q", &opts(3), false, false, Some(&[0, 1])).is_err(), "single choice, two correct");
        assert!(PollSpec::new("Q", &opts(3), false, false, Some(&[3])).is_err());
        assert!(PollSpec::new("Q", &opts(3), true, false, Some(&[])).is_err());
        assert_eq!(spec(true, Some(&[2, 0, 2])).correct, Some(vec![0, 2]));
    }

    #[test]
    fn answer_once_change_allowed_while_open_then_closed_is_refused() {
        let mut polls = Polls::default();
        let id = polls.create(0, spec(false, None)).unwrap().id;
        assert_eq!(polls.answer(1, id, ("s1", "A"), &[0]).unwrap(), (vec![0], false));
        assert_eq!(polls.answer(2, id, ("s1", "A"), &[2]).unwrap(), (vec![2], true));
        assert_eq!(polls.get(id).unwrap().counts(), [0, 0, 1]);
        polls.close(3, id).unwrap();
        let before = polls.clone();
        assert_eq!(polls.answer(4, id, ("s2", "B"), &[1]), Err(ClassroomError::PollClosed));
        assert_eq!(polls.close(5, id).unwrap_err(), ClassroomError::PollClosed);
        assert_eq!(polls, before);
    }

    #[test]
    fn answers_out_of_range_or_unknown_poll_are_refused() {
        let mut polls = Polls::default();
        let id = polls.create(0, spec(false, None)).unwrap().id;
        assert!(matches!(polls.answer(1, id, ("s", "n"), &[3]), Err(ClassroomError::InvalidInput(_))));
        assert!(matches!(polls.answer(1, id, ("s", "n"), &[0, 1]), Err(ClassroomError::InvalidInput(_))));
        assert!(matches!(polls.answer(1, id, ("s", "n"), &[]), Err(ClassroomError::InvalidInput(_))));
        assert_eq!(polls.answer(1, PollId(9), ("s", "n"), &[0]), Err(ClassroomError::UnknownPoll(PollId(9))));
    }

    #[test]
    fn only_one_poll_open_at_a_time() {
        let mut polls = Polls::default();
        let id = polls.create(0, spec(false, None)).unwrap().id;
        assert!(matches!(polls.create(1, spec(false, None)), Err(ClassroomError::Conflict(_))));
        polls.close(2, id).unwrap();
        assert_eq!(polls.create(3, spec(false, None)).unwrap().id, PollId(2));
    }

    #[test]
    fn quiz_marks_exact_matches_correct_and_view_hides_them() {
        let mut polls = Polls::default();
        let id = polls.create(0, spec(true, Some(&[0, 2]))).unwrap().id;
        polls.answer(1, id, ("s1", "A"), &[2, 0]).unwrap();
        polls.answer(1, id, ("s2", "B"), &[0]).unwrap();
        let poll = polls.get(id).unwrap();
        let marks: Vec<_> = poll.answers.iter().map(|a| poll.is_correct(a)).collect();
        assert_eq!(marks, [Some(true), Some(false)]);
        assert!(poll.view().quiz);
        assert_eq!(poll.results().counts, [2, 0, 1]);
        assert_eq!(poll.results().respondents, 2);
    }
}
