//! One round of breakout groups as a pure state machine: the groups, who is assigned where (by hand,
//! dealt at random, or chosen), the timer and the recall countdown. Time (unix ms) and randomness
//! (a seed) are passed in; nothing here knows about connections or media. The classroom asks it
//! where a student, a teacher or the classroom box is ([`Plan::student_group`] and friends) and
//! moves people by the answers.
//!
//! `Planning` (everyone still in the main room) → `Running` (the timer runs) → `Recalling` (the
//! countdown) → closed ([`Tick::Closed`]: everyone back). A recall before the start just closes it.

use std::collections::BTreeMap;

use lectern_proto::ParticipantId;
use lectern_proto::breakout::{
    Assignment, BreakoutPhase, DEFAULT_RECALL_SECS, GroupId, MAX_DURATION_SECS, MAX_GROUP_NAME_CHARS, MAX_GROUPS,
    MAX_RECALL_SECS, MIN_DURATION_SECS,
};

use crate::classroom::ClassroomError;
use crate::classroom::text::clean;

/// What the teacher asked for in `createBreakouts`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Setup {
    pub groups: u32,
    pub names: Option<Vec<String>>,
    pub assignment: Assignment,
    pub duration_secs: Option<u32>,
    pub recall_secs: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Planning,
    Running { ends_at: Option<u64> },
    Recalling { at: u64, ends_at: Option<u64> },
}

/// What time passing (or a recall) did to the round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tick {
    Nothing,
    /// The timer ran out: the recall countdown started.
    Recalling,
    /// Everyone is back in the main room; the round is over.
    Closed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    round: u32,
    names: Vec<String>,
    assignment: Assignment,
    /// Students' groups by identity (the token's `sub`): a student who reconnects, or joins late,
    /// lands in the group they were given.
    assigned: BTreeMap<String, GroupId>,
    /// Teachers visiting a group, by connection.
    visiting: BTreeMap<ParticipantId, GroupId>,
    /// Where the physical classroom (its box and room display) is; the main room unless sent.
    classroom: Option<GroupId>,
    duration_ms: Option<u64>,
    recall_ms: u64,
    phase: Phase,
}

impl Plan {
    /// A new round, checked: 1..=[`MAX_GROUPS`] groups, names that fit, a timer and a countdown
    /// within bounds. Nobody is assigned yet (see [`Plan::deal`]).
    pub fn new(round: u32, setup: Setup) -> Result<Self, ClassroomError> {
        if setup.groups == 0 || setup.groups > MAX_GROUPS {
            return Err(ClassroomError::InvalidInput("between 1 and 50 groups"));
        }
        let names = match setup.names {
            Some(names) if names.len() != setup.groups as usize => {
                return Err(ClassroomError::InvalidInput("give one name per group, or none"));
            }
            Some(names) => {
                names.iter().map(|n| clean(n, MAX_GROUP_NAME_CHARS, false)).collect::<Result<Vec<_>, _>>().map_err(
                    |e| ClassroomError::text(e, "a group name is empty", "a group name is longer than 40 characters"),
                )?
            }
            None => (1..=setup.groups).map(|i| format!("Group {i}")).collect(),
        };
        if let Some(d) = setup.duration_secs
            && !(MIN_DURATION_SECS..=MAX_DURATION_SECS).contains(&d)
        {
            return Err(ClassroomError::InvalidInput("the timer runs between 10 seconds and 4 hours"));
        }
        let recall_secs = setup.recall_secs.unwrap_or(DEFAULT_RECALL_SECS);
        if recall_secs > MAX_RECALL_SECS {
            return Err(ClassroomError::InvalidInput("the recall countdown is at most 300 seconds"));
        }
        Ok(Self {
            round,
            names,
            assignment: setup.assignment,
            assigned: BTreeMap::new(),
            visiting: BTreeMap::new(),
            classroom: None,
            duration_ms: setup.duration_secs.map(|s| u64::from(s) * 1000),
            recall_ms: u64::from(recall_secs) * 1000,
            phase: Phase::Planning,
        })
    }

    /// Deals `students` (identities) into the groups at random, sizes differing by one at most.
    /// The same seed and students give the same groups.
    pub fn deal(&mut self, students: &[String], seed: u64) {
        let mut order: Vec<&String> = students.iter().collect();
        order.sort();
        order.dedup();
        let mut rng = SplitMix(seed);
        // Fisher–Yates.
        for i in (1..order.len()).rev() {
            let j = (rng.next() % (i as u64 + 1)) as usize;
            order.swap(i, j);
        }
        let n = self.names.len() as u32;
        for (i, s) in order.into_iter().enumerate() {
            self.assigned.insert(s.clone(), GroupId(i as u32 % n + 1));
        }
    }

    fn check_group(&self, group: Option<GroupId>) -> Result<(), ClassroomError> {
        match group {
            Some(GroupId(g)) if g == 0 || g as usize > self.names.len() => {
                Err(ClassroomError::InvalidInput("there is no such group"))
            }
            _ => Ok(()),
        }
    }

    /// A teacher puts a student (by identity) in a group, or back in the main room. False: no change.
    pub fn assign(&mut self, subject: &str, group: Option<GroupId>) -> Result<bool, ClassroomError> {
        self.check_group(group)?;
        if matches!(self.phase, Phase::Recalling { .. }) {
            return Err(ClassroomError::Conflict("the groups are being called back"));
        }
        let before = match group {
            Some(g) => self.assigned.insert(subject.to_owned(), g),
            None => self.assigned.remove(subject),
        };
        Ok(before != group)
    }

    /// A student picks a group themselves: only in a round whose assignment is `choose`.
    pub fn choose(&mut self, subject: &str, group: Option<GroupId>) -> Result<bool, ClassroomError> {
        if self.assignment != Assignment::Choose {
            return Err(ClassroomError::NotAllowed("the teacher assigns the groups in this round"));
        }
        self.assign(subject, group)
    }

    /// Everyone assigned goes to their group; the timer starts now.
    pub fn start(&mut self, now: u64) -> Result<(), ClassroomError> {
        if self.phase != Phase::Planning {
            return Err(ClassroomError::Conflict("the groups have already started"));
        }
        self.phase = Phase::Running { ends_at: self.duration_ms.map(|d| now.saturating_add(d)) };
        Ok(())
    }

    /// A teacher goes to a group (or back to the main room). Only while the groups meet.
    pub fn visit(&mut self, teacher: ParticipantId, group: Option<GroupId>) -> Result<bool, ClassroomError> {
        self.check_group(group)?;
        if !self.is_live() {
            return Err(ClassroomError::Conflict("the groups have not started"));
        }
        let before = match group {
            Some(g) => self.visiting.insert(teacher, g),
            None => self.visiting.remove(&teacher),
        };
        Ok(before != group)
    }

    /// The physical classroom goes to a group (or back). Before the start it says where it will go.
    pub fn move_classroom(&mut self, group: Option<GroupId>) -> Result<bool, ClassroomError> {
        self.check_group(group)?;
        if matches!(self.phase, Phase::Recalling { .. }) {
            return Err(ClassroomError::Conflict("the groups are being called back"));
        }
        let changed = self.classroom != group;
        self.classroom = group;
        Ok(changed)
    }

    /// Everyone back after `secs` (else the round's countdown); at once before the start. A
    /// second recall may only shorten the countdown.
    pub fn recall(&mut self, now: u64, secs: Option<u32>) -> Result<Tick, ClassroomError> {
        if secs.is_some_and(|s| s > MAX_RECALL_SECS) {
            return Err(ClassroomError::InvalidInput("the recall countdown is at most 300 seconds"));
        }
        let wait = secs.map_or(self.recall_ms, |s| u64::from(s) * 1000);
        let at = now.saturating_add(wait);
        match self.phase {
            Phase::Planning => Ok(Tick::Closed),
            Phase::Running { ends_at } => {
                self.phase = Phase::Recalling { at, ends_at };
                Ok(self.tick(now))
            }
            Phase::Recalling { at: before, ends_at } => {
                self.phase = Phase::Recalling { at: at.min(before), ends_at };
                Ok(self.tick(now))
            }
        }
    }

    /// Time passed: the timer's end starts the recall; the recall's end closes the round.
    pub fn tick(&mut self, now: u64) -> Tick {
        match self.phase {
            Phase::Running { ends_at: Some(end) } if now >= end => {
                self.phase = Phase::Recalling { at: end.saturating_add(self.recall_ms), ends_at: Some(end) };
                if self.tick(now) == Tick::Closed { Tick::Closed } else { Tick::Recalling }
            }
            Phase::Recalling { at, .. } if now >= at => Tick::Closed,
            _ => Tick::Nothing,
        }
    }

    /// When [`Plan::tick`] has something to do.
    pub fn deadline(&self) -> Option<u64> {
        match self.phase {
            Phase::Planning | Phase::Running { ends_at: None } => None,
            Phase::Running { ends_at: Some(end) } => Some(end),
            Phase::Recalling { at, .. } => Some(at),
        }
    }

    /// The groups meet (running or counting down to the recall): people are in them.
    pub fn is_live(&self) -> bool {
        self.phase != Phase::Planning
    }

    pub fn phase(&self) -> BreakoutPhase {
        match self.phase {
            Phase::Planning => BreakoutPhase::Planning,
            Phase::Running { .. } => BreakoutPhase::Running,
            Phase::Recalling { .. } => BreakoutPhase::Recalling,
        }
    }

    pub fn round(&self) -> u32 {
        self.round
    }

    pub fn assignment(&self) -> Assignment {
        self.assignment
    }

    pub fn recall_secs(&self) -> u32 {
        (self.recall_ms / 1000) as u32
    }

    /// The timer's end, if it has one and runs.
    pub fn ends_at(&self) -> Option<u64> {
        match self.phase {
            Phase::Planning => None,
            Phase::Running { ends_at } | Phase::Recalling { ends_at, .. } => ends_at,
        }
    }

    /// When everyone is back, while recalling.
    pub fn recall_at(&self) -> Option<u64> {
        match self.phase {
            Phase::Recalling { at, .. } => Some(at),
            _ => None,
        }
    }

    /// The groups, numbered from 1, with their names.
    pub fn groups(&self) -> impl Iterator<Item = (GroupId, &str)> {
        self.names.iter().enumerate().map(|(i, n)| (GroupId(i as u32 + 1), n.as_str()))
    }

    pub fn name(&self, group: GroupId) -> Option<&str> {
        self.names.get((group.0 as usize).checked_sub(1)?).map(String::as_str)
    }

    /// The group a student (identity) is assigned to, started or not.
    pub fn assigned(&self, subject: &str) -> Option<GroupId> {
        self.assigned.get(subject).copied()
    }

    /// Where a student is now.
    pub fn student_group(&self, subject: &str) -> Option<GroupId> {
        self.assigned(subject).filter(|_| self.is_live())
    }

    /// Where a teacher is now.
    pub fn teacher_group(&self, teacher: ParticipantId) -> Option<GroupId> {
        self.visiting.get(&teacher).copied().filter(|_| self.is_live())
    }

    /// Where the classroom's box and room display are now.
    pub fn classroom_group(&self) -> Option<GroupId> {
        self.classroom.filter(|_| self.is_live())
    }

    /// Where the classroom goes when the groups start (or is, once they have).
    pub fn classroom_setting(&self) -> Option<GroupId> {
        self.classroom
    }

    /// A teacher's connection ended: it visits nothing any more.
    pub fn forget_teacher(&mut self, teacher: ParticipantId) {
        self.visiting.remove(&teacher);
    }
}

/// A small, seedable generator (SplitMix64): enough to shuffle a class list, no dependency.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_700_000_000_000;
    const SEC: u64 = 1000;

    fn setup(groups: u32, assignment: Assignment) -> Setup {
        Setup { groups, assignment, duration_secs: Some(600), recall_secs: Some(30), ..Setup::default() }
    }

    fn students(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("s{i}")).collect()
    }

    #[test]
    fn bad_setups_are_refused_with_the_reason() {
        let bad = [
            Setup { groups: 0, ..setup(1, Assignment::Manual) },
            Setup { groups: MAX_GROUPS + 1, ..setup(1, Assignment::Manual) },
            Setup { names: Some(vec!["a".into()]), ..setup(2, Assignment::Manual) },
            Setup { names: Some(vec!["a".into(), " \n".into()]), ..setup(2, Assignment::Manual) },
            Setup { names: Some(vec!["a".into(), "x".repeat(41)]), ..setup(2, Assignment::Manual) },
            Setup { duration_secs: Some(9), ..setup(2, Assignment::Manual) },
            Setup { duration_secs: Some(MAX_DURATION_SECS + 1), ..setup(2, Assignment::Manual) },
            Setup { recall_secs: Some(MAX_RECALL_SECS + 1), ..setup(2, Assignment::Manual) },
        ];
        for s in bad {
            assert!(matches!(Plan::new(1, s.clone()), Err(ClassroomError::InvalidInput(_))), "{s:?}");
        }
        let p =
            Plan::new(1, Setup { names: Some(vec![" Owls ".into(), "Foxes".into()]), ..setup(2, Assignment::Manual) })
                .expect("valid");
        assert_eq!(p.groups().map(|(_, n)| n.to_owned()).collect::<Vec<_>>(), ["Owls", "Foxes"]);
        let p = Plan::new(1, setup(3, Assignment::Manual)).expect("valid");
        assert_eq!(p.name(GroupId(3)), Some("Group 3"));
        assert_eq!(p.name(GroupId(0)), None);
        assert_eq!(p.name(GroupId(4)), None);
    }

    #[test]
    fn random_deal_is_balanced_complete_and_seeded() {
        let mut a = Plan::new(1, setup(3, Assignment::Random)).expect("valid");
        a.deal(&students(7), 42);
        let mut sizes = [0; 3];
        for s in students(7) {
            sizes[a.assigned(&s).expect("everyone dealt").0 as usize - 1] += 1;
        }
        sizes.sort();
        assert_eq!(sizes, [2, 2, 3]);
        let mut b = Plan::new(1, setup(3, Assignment::Random)).expect("valid");
        b.deal(&students(7), 42);
        assert_eq!(a, b, "same seed, same groups");
        let differs = (0..20).any(|seed| {
            let mut c = Plan::new(1, setup(3, Assignment::Random)).expect("valid");
            c.deal(&students(7), seed);
            c.assigned != a.assigned
        });
        assert!(differs, "the seed matters");
    }

    #[test]
    fn nobody_is_in_a_group_until_the_start_then_the_timer_recalls_after_the_countdown() {
        let mut p = Plan::new(1, setup(2, Assignment::Manual)).expect("valid");
        assert!(p.assign("ada", Some(GroupId(2))).expect("assigned"));
        assert!(!p.assign("ada", Some(GroupId(2))).expect("same"), "no change the second time");
        p.move_classroom(Some(GroupId(1))).expect("moved");
        assert_eq!((p.student_group("ada"), p.classroom_group()), (None, None), "planning: all in the main room");
        assert_eq!(p.deadline(), None);

        p.start(T0).expect("started");
        assert_eq!(p.start(T0), Err(ClassroomError::Conflict("the groups have already started")));
        assert_eq!((p.student_group("ada"), p.classroom_group()), (Some(GroupId(2)), Some(GroupId(1))));
        assert_eq!(p.deadline(), Some(T0 + 600 * SEC));
        assert_eq!(p.tick(T0 + 599 * SEC), Tick::Nothing);

        assert_eq!(p.tick(T0 + 600 * SEC), Tick::Recalling);
        assert_eq!(p.phase(), BreakoutPhase::Recalling);
        assert_eq!(p.student_group("ada"), Some(GroupId(2)), "still in the group during the countdown");
        assert_eq!(p.recall_at(), Some(T0 + 630 * SEC));
        assert_eq!(p.deadline(), Some(T0 + 630 * SEC));
        assert_eq!(p.tick(T0 + 629 * SEC), Tick::Nothing);
        assert_eq!(p.tick(T0 + 630 * SEC), Tick::Closed);
    }

    #[test]
    fn a_late_tick_past_both_deadlines_closes_at_once() {
        let mut p = Plan::new(1, setup(2, Assignment::Manual)).expect("valid");
        p.start(T0).expect("started");
        assert_eq!(p.tick(T0 + 3600 * SEC), Tick::Closed);
    }

    #[test]
    fn a_teachers_recall_counts_down_and_a_second_one_only_shortens_it() {
        let mut p = Plan::new(1, setup(2, Assignment::Manual)).expect("valid");
        p.start(T0).expect("started");
        assert_eq!(p.recall(T0 + 10 * SEC, None), Ok(Tick::Nothing));
        assert_eq!(p.recall_at(), Some(T0 + 40 * SEC), "the round's 30 s countdown");
        assert_eq!(p.recall(T0 + 11 * SEC, Some(120)), Ok(Tick::Nothing));
        assert_eq!(p.recall_at(), Some(T0 + 40 * SEC), "a longer countdown does not delay the return");
        assert_eq!(p.recall(T0 + 12 * SEC, Some(0)), Ok(Tick::Closed), "zero: back now");
        assert!(matches!(p.recall(T0, Some(MAX_RECALL_SECS + 1)), Err(ClassroomError::InvalidInput(_))));
    }

    #[test]
    fn a_recall_before_the_start_discards_the_round() {
        let mut p = Plan::new(1, setup(2, Assignment::Manual)).expect("valid");
        assert_eq!(p.recall(T0, None), Ok(Tick::Closed));
    }

    #[test]
    fn students_choose_only_when_the_round_lets_them_and_not_during_the_recall() {
        let mut manual = Plan::new(1, setup(2, Assignment::Manual)).expect("valid");
        assert!(matches!(manual.choose("ada", Some(GroupId(1))), Err(ClassroomError::NotAllowed(_))));
        let mut p = Plan::new(1, setup(2, Assignment::Choose)).expect("valid");
        assert!(p.choose("ada", Some(GroupId(1))).expect("chosen"));
        assert!(matches!(p.choose("ada", Some(GroupId(3))), Err(ClassroomError::InvalidInput(_))));
        assert!(matches!(p.choose("ada", Some(GroupId(0))), Err(ClassroomError::InvalidInput(_))));
        p.start(T0).expect("started");
        assert!(p.choose("ada", Some(GroupId(2))).expect("moved while running"));
        assert_eq!(p.student_group("ada"), Some(GroupId(2)));
        p.recall(T0, None).expect("recalling");
        let before = p.clone();
        assert!(matches!(p.choose("ada", None), Err(ClassroomError::Conflict(_))));
        assert_eq!(p, before, "a refusal changes nothing");
    }

    #[test]
    fn teachers_visit_only_running_groups_and_come_back() {
        let mut p = Plan::new(1, setup(2, Assignment::Manual)).expect("valid");
        let t = ParticipantId(1);
        assert!(matches!(p.visit(t, Some(GroupId(1))), Err(ClassroomError::Conflict(_))));
        p.start(T0).expect("started");
        assert!(p.visit(t, Some(GroupId(1))).expect("visiting"));
        assert_eq!(p.teacher_group(t), Some(GroupId(1)));
        assert!(p.visit(t, None).expect("back"));
        assert_eq!(p.teacher_group(t), None);
        p.visit(t, Some(GroupId(2))).expect("visiting");
        p.forget_teacher(t);
        assert_eq!(p.teacher_group(t), None);
    }

    #[test]
    fn without_a_timer_only_a_recall_ends_the_round() {
        let mut p = Plan::new(1, Setup { duration_secs: None, ..setup(2, Assignment::Manual) }).expect("valid");
        p.start(T0).expect("started");
        assert_eq!((p.deadline(), p.ends_at()), (None, None));
        assert_eq!(p.tick(T0 + 100 * 3600 * SEC), Tick::Nothing);
    }
}
