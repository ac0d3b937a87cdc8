//! Poll exports for teachers: a JSON-serializable report and a CSV with one row per option
//! (`question,option,votes,correct,voters`). Anonymous polls export counts only, never names.

use lectern_proto::classroom::PollId;
use serde::Serialize;

use super::poll::Poll;
use super::text::{csv_row, iso_time};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PollReport {
    pub id: PollId,
    pub question: String,
    pub multiple: bool,
    pub anonymous: bool,
    pub quiz: bool,
    /// Unix ms.
    pub opened_at: u64,
    pub closed_at: Option<u64>,
    pub respondents: u32,
    pub options: Vec<OptionResult>,
    /// Empty for anonymous polls.
    pub responses: Vec<PollResponse>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OptionResult {
    pub text: String,
    pub votes: u32,
    /// Quizzes only.
    pub correct: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PollResponse {
    pub name: String,
    /// Option indexes, 0-based.
    pub choices: Vec<u32>,
    pub answered_at: u64,
    /// Quizzes only: whether the choices match the correct options exactly.
    pub correct: Option<bool>,
}

impl PollReport {
    pub fn of(poll: &Poll) -> Self {
        let counts = poll.counts();
        let options = poll
            .spec
            .options
            .iter()
            .zip(counts)
            .enumerate()
            .map(|(i, (text, votes))| OptionResult {
                text: text.clone(),
                votes,
                correct: poll.spec.correct.as_ref().map(|c| c.iter().any(|&k| k as usize == i)),
            })
            .collect();
        let responses = if poll.spec.anonymous {
            Vec::new()
        } else {
            let row = |a: &super::poll::Answer| PollResponse {
                name: a.name.clone(),
                choices: a.choices.clone(),
                answered_at: a.answered_at,
                correct: poll.is_correct(a),
            };
            poll.answers.iter().map(row).collect()
        };
        Self {
            id: poll.id,
            question: poll.spec.question.clone(),
            multiple: poll.spec.multiple,
            anonymous: poll.spec.anonymous,
            quiz: poll.is_quiz(),
            opened_at: poll.opened_at,
            closed_at: poll.closed_at,
            respondents: poll.results().respondents,
            options,
            responses,
        }
    }

    /// Header `question,option,votes,correct,voters,opened_at`; `correct` is `yes`/`no` for quizzes and
    /// empty for polls; `voters` lists names separated by `; ` and is empty for anonymous polls.
    pub fn to_csv(&self) -> String {
        let mut out = csv_row(&["question", "option", "votes", "correct", "voters", "opened_at"]);
        for (i, option) in self.options.iter().enumerate() {
            let voters: Vec<&str> = self
                .responses
                .iter()
                .filter(|r| r.choices.iter().any(|&c| c as usize == i))
                .map(|r| r.name.as_str())
                .collect();
            let correct = match option.correct {
                Some(true) => "yes",
                Some(false) => "no",
                None => "",
            };
            let votes = option.votes.to_string();
            let opened = iso_time(self.opened_at);
            out.push_str(&csv_row(&[&self.question, &option.text, &votes, correct, &voters.join("; "), &opened]));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classroom::poll::{PollSpec, Polls};

    fn poll(anonymous: bool, correct: Option<&[u32]>) -> Polls {
        let options = ["Yes".to_owned(), "No, =SUM(A1)".to_owned()];
        let spec = PollSpec::new("Ready?", &options, false, anonymous, correct).unwrap();
        let mut polls = Polls::default();
        let id = polls.create(0, spec).unwrap().id;
        polls.answer(1, id, ("s1", "Ada"), &[0]).unwrap();
        polls.answer(2, id, ("s2", "Bob"), &[1]).unwrap();
        polls
    }

    #[test]
    fn csv_has_a_header_and_one_row_per_option_with_voters() {
        let polls = poll(false, Some(&[0]));
        let csv = PollReport::of(&polls.all()[0]).to_csv();
        let lines: Vec<&str> = csv.split("\r\n").collect();
        assert_eq!(lines[0], "question,option,votes,correct,voters,opened_at");
        assert_eq!(lines[1], "Ready?,Yes,1,yes,Ada,1970-01-01T00:00:00Z");
        assert_eq!(lines[2], "Ready?,\"No, =SUM(A1)\",1,no,Bob,1970-01-01T00:00:00Z");
    }

    #[test]
    fn anonymous_poll_exports_no_names() {
        let polls = poll(true, None);
        let report = PollReport::of(&polls.all()[0]);
        assert!(report.responses.is_empty());
        assert_eq!(report.respondents, 2);
        let csv = report.to_csv();
        assert!(!csv.contains("Ada") && !csv.contains("Bob"), "{csv}");
        let json = serde_json::to_string(&report).unwrap();
        assert!(!json.contains("Ada"), "{json}");
    }

    #[test]
    fn report_marks_quiz_answers() {
        let polls = poll(false, Some(&[0]));
        let report = PollReport::of(&polls.all()[0]);
        let marks: Vec<_> = report.responses.iter().map(|r| (r.name.as_str(), r.correct)).collect();
        assert_eq!(marks, [("Ada", Some(true)), ("Bob", Some(false))]);
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["options"][0]["votes"], 1);
        assert_eq!(json["responses"][1]["answeredAt"], 2);
    }
}
