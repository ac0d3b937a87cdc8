//! Attendance per identity (token subject): presence intervals across rejoins and parallel tabs, and
//! what each person did. Exports a JSON-serializable report and a CSV with **one row per person**:
//! `name,role,joined_at,left_at,total_seconds,hands_raised,chat_messages,polls_answered,intervals`,
//! where `joined_at` is the first join, `left_at` the last leave (empty while present) and `intervals`
//! lists every `start/end` pair (ISO 8601 UTC) separated by `; `.

use std::collections::{BTreeSet, HashMap};

use lectern_proto::{ParticipantId, Role};
use serde::Serialize;

use super::text::{csv_row, iso_time};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Interval {
    /// Unix ms.
    pub joined_at: u64,
    /// `None` while still present.
    pub left_at: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AttendanceRow {
    pub subject: String,
    pub name: String,
    pub role: Role,
    pub intervals: Vec<Interval>,
    /// Time present up to the report's `generated_at`, in ms.
    pub total_ms: u64,
    pub hands_raised: u32,
    pub chat_messages: u32,
    pub polls_answered: u32,
    /// Time in each breakout group (in the CSV, one column per group after the fixed ones).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub breakouts: Vec<super::breakout::GroupTime>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AttendanceReport {
    pub generated_at: u64,
    /// In order of first arrival.
    pub people: Vec<AttendanceRow>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Person {
    row: AttendanceRow,
    /// Open connections: an interval ends only when the last one leaves.
    connections: BTreeSet<ParticipantId>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attendance {
    people: Vec<Person>,
    by_subject: HashMap<String, usize>,
}

impl Attendance {
    pub fn joined(&mut self, now: u64, id: ParticipantId, who: (&str, &str, Role)) {
        let (subject, name, role) = who;
        let index = *self.by_subject.entry(subject.to_owned()).or_insert(self.people.len());
        if index == self.people.len() {
            let row = AttendanceRow {
                subject: subject.to_owned(),
                name: name.to_owned(),
                role,
                intervals: Vec::new(),
                total_ms: 0,
                hands_raised: 0,
                chat_messages: 0,
                polls_answered: 0,
                breakouts: Vec::new(),
            };
            self.people.push(Person { row, connections: BTreeSet::new() });
        }
        let person = &mut self.people[index];
        // The latest token wins: a renamed or promoted participant shows as they are now.
        (person.row.name, person.row.role) = (name.to_owned(), role);
        if person.connections.is_empty() {
            person.row.intervals.push(Interval { joined_at: now, left_at: None });
        }
        person.connections.insert(id);
    }

    pub fn left(&mut self, now: u64, id: ParticipantId, subject: &str) {
        let Some(person) = self.by_subject.get(subject).and_then(|&i| self.people.get_mut(i)) else { return };
        if !person.connections.remove(&id) || !person.connections.is_empty() {
            return;
        }
        if let Some(open) = person.row.intervals.last_mut().filter(|i| i.left_at.is_none()) {
            // A clock that steps back must not make an interval negative.
            open.left_at = Some(now.max(open.joined_at));
        }
    }

    /// Ends every open interval (the lesson is over).
    pub fn close_all(&mut self, now: u64) {
        let open: Vec<(ParticipantId, String)> =
            self.people.iter().flat_map(|p| p.connections.iter().map(|id| (*id, p.row.subject.clone()))).collect();
        for (id, subject) in open {
            self.left(now, id, &subject);
        }
    }

    fn counters(&mut self, subject: &str) -> Option<&mut AttendanceRow> {
        self.by_subject.get(subject).and_then(|&i| self.people.get_mut(i)).map(|p| &mut p.row)
    }

    pub fn count_hand(&mut self, subject: &str) {
        if let Some(r) = self.counters(subject) {
            r.hands_raised += 1;
        }
    }

    pub fn count_chat(&mut self, subject: &str) {
        if let Some(r) = self.counters(subject) {
            r.chat_messages += 1;
        }
    }

    pub fn count_poll(&mut self, subject: &str) {
        if let Some(r) = self.counters(subject) {
            r.polls_answered += 1;
        }
    }

    /// Open intervals count up to `now`.
    pub fn report(&self, now: u64) -> AttendanceReport {
        let people = self
            .people
            .iter()
            .map(|p| {
                let mut row = p.row.clone();
                row.total_ms = row.intervals.iter().map(|i| i.left_at.unwrap_or(now).saturating_sub(i.joined_at)).sum();
                row
            })
            .collect();
        AttendanceReport { generated_at: now, people }
    }
}

impl AttendanceReport {
    /// One row per person; after the fixed columns, one column per breakout group anyone was in
    /// (`"{group name} (round {n}) seconds"`, rounds then groups in order), with each person's time there.
    pub fn to_csv(&self) -> String {
        let header = [
            "name",
            "role",
            "joined_at",
            "left_at",
            "total_seconds",
            "hands_raised",
            "chat_messages",
            "polls_answered",
            "intervals",
        ];
        let groups: std::collections::BTreeMap<(u32, u32), &str> =
            self.people.iter().flat_map(|p| &p.breakouts).map(|g| ((g.round, g.group.0), g.name.as_str())).collect();
        let mut head: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
        head.extend(groups.iter().map(|((round, _), name)| format!("{name} (round {round}) seconds")));
        let mut out = csv_row(&head);
        for p in &self.people {
            let mut row: Vec<String> = Self::csv_fields(p).into();
            row.extend(groups.keys().map(|(round, group)| {
                let ms =
                    p.breakouts.iter().find(|g| g.round == *round && g.group.0 == *group).map_or(0, |g| g.total_ms);
                (ms / 1000).to_string()
            }));
            out.push_str(&csv_row(&row));
        }
        out
    }

    fn csv_fields(p: &AttendanceRow) -> [String; 9] {
        let first = p.intervals.first().map(|i| iso_time(i.joined_at)).unwrap_or_default();
        let last = p.intervals.last().and_then(|i| i.left_at).map(iso_time).unwrap_or_default();
        let intervals: Vec<String> = p
            .intervals
            .iter()
            .map(|i| format!("{}/{}", iso_time(i.joined_at), i.left_at.map(iso_time).unwrap_or_default()))
            .collect();
        [
            p.name.clone(),
            p.role.to_string(),
            first,
            last,
            (p.total_ms / 1000).to_string(),
            p.hands_raised.to_string(),
            p.chat_messages.to_string(),
            p.polls_answered.to_string(),
            intervals.join("; "),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_714_984_200_000; // 2024-05-06T08:30:00Z
    const MIN: u64 = 60_000;

    fn ada() -> (&'static str, &'static str, Role) {
        ("sub-ada", "Ada", Role::Student)
    }

    #[test]
    fn leave_and_rejoin_make_two_intervals_and_sum_time() {
        let mut a = Attendance::default();
        a.joined(T0, ParticipantId(1), ada());
        a.left(T0 + 10 * MIN, ParticipantId(1), "sub-ada");
        a.joined(T0 + 15 * MIN, ParticipantId(2), ada());
        let report = a.report(T0 + 20 * MIN);
        let row = &report.people[0];
        assert_eq!(row.intervals.len(), 2);
        assert_eq!(row.intervals[1].left_at, None);
        assert_eq!(row.total_ms, 15 * MIN);
    }

    #[test]
    fn parallel_tabs_do_not_double_count() {
        let mut a = Attendance::default();
        a.joined(T0, ParticipantId(1), ada());
        a.joined(T0 + MIN, ParticipantId(2), ada());
        a.left(T0 + 2 * MIN, ParticipantId(1), "sub-ada");
        a.left(T0 + 3 * MIN, ParticipantId(2), "sub-ada");
        let row = &a.report(T0 + 60 * MIN).people[0];
        assert_eq!(row.intervals, [Interval { joined_at: T0, left_at: Some(T0 + 3 * MIN) }]);
        assert_eq!(row.total_ms, 3 * MIN);
    }

    #[test]
    fn unknown_or_repeated_leave_is_ignored() {
        let mut a = Attendance::default();
        a.left(T0, ParticipantId(9), "nobody");
        a.joined(T0, ParticipantId(1), ada());
        a.left(T0 + MIN, ParticipantId(1), "sub-ada");
        a.left(T0 + 5 * MIN, ParticipantId(1), "sub-ada");
        assert_eq!(a.report(T0 + 9 * MIN).people[0].total_ms, MIN);
    }

    #[test]
    fn csv_has_header_and_one_row_per_person_with_intervals() {
        let mut a = Attendance::default();
        a.joined(T0, ParticipantId(1), ada());
        a.count_hand("sub-ada");
        a.count_chat("sub-ada");
        a.count_chat("sub-ada");
        a.count_poll("sub-ada");
        a.left(T0 + 10 * MIN, ParticipantId(1), "sub-ada");
        a.joined(T0 + 15 * MIN, ParticipantId(2), ada());
        a.joined(T0 + MIN, ParticipantId(3), ("sub-t", "=Ms. T", Role::Teacher));
        a.close_all(T0 + 20 * MIN);
        let csv = a.report(T0 + 30 * MIN).to_csv();
        let lines: Vec<&str> = csv.split("\r\n").collect();
        assert_eq!(
            lines[0],
            "name,role,joined_at,left_at,total_seconds,hands_raised,chat_messages,polls_answered,intervals"
        );
        assert_eq!(
            lines[1],
            "Ada,student,2024-05-06T08:30:00Z,2024-05-06T08:50:00Z,900,1,2,1,\
             2024-05-06T08:30:00Z/2024-05-06T08:40:00Z; 2024-05-06T08:45:00Z/2024-05-06T08:50:00Z"
        );
        assert!(lines[2].starts_with("'=Ms. T,teacher,2024-05-06T08:31:00Z,"), "{}", lines[2]);
        assert_eq!(lines.len(), 4, "trailing CRLF");
    }

    #[test]
    fn csv_has_a_column_of_seconds_per_breakout_group() {
        use super::super::breakout::GroupTime;
        use lectern_proto::breakout::GroupId;
        let mut a = Attendance::default();
        a.joined(T0, ParticipantId(1), ada());
        a.joined(T0, ParticipantId(2), ("sub-bo", "Bo", Role::Student));
        let mut report = a.report(T0 + 30 * MIN);
        let time = |round, group, name: &str, min| GroupTime {
            round,
            group: GroupId(group),
            name: name.into(),
            total_ms: min * MIN,
        };
        report.people[0].breakouts = vec![time(1, 1, "Owls", 10), time(2, 1, "Owls", 3)];
        report.people[1].breakouts = vec![time(1, 2, "Foxes", 12)];
        let csv = report.to_csv();
        let lines: Vec<&str> = csv.split("\r\n").collect();
        assert!(
            lines[0].ends_with(",intervals,Owls (round 1) seconds,Foxes (round 1) seconds,Owls (round 2) seconds"),
            "{}",
            lines[0]
        );
        assert!(lines[1].ends_with(",600,0,180"), "{}", lines[1]);
        assert!(lines[2].ends_with(",0,720,0"), "{}", lines[2]);
    }
}
