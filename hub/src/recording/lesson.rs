//! One lesson occurrence of a room, as a sans-IO state machine: it opens when the first person is
//! admitted, and closes when a teacher ends it, `POST /api/rooms/{room}/end` is called, the
//! timetable slot ends, or the room has been empty for [`EMPTY_ENDS_LESSON`]. Time (unix ms) is
//! an input; what to persist comes back as [`LessonChange`]s.

use lectern_proto::{LessonId, RoomId};

/// A lesson whose room has been empty this long is over (nobody came back after a break). The
/// room times it (`sfu::room::occurrence`).
pub const EMPTY_ENDS_LESSON: std::time::Duration = std::time::Duration::from_secs(10 * 60);

/// Why a lesson closed, as stored in `lessons.end_reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// A teacher's `endLesson` in class.
    Teacher,
    /// `POST /api/rooms/{room}/end`.
    Api,
    /// The timetable slot ended.
    Timetable,
    /// Nobody in the room for [`EMPTY_ENDS_LESSON`].
    Empty,
    /// The hub stopped while the lesson was open (closed at the next start).
    Restart,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Teacher => "teacher",
            Self::Api => "api",
            Self::Timetable => "timetable",
            Self::Empty => "empty",
            Self::Restart => "restart",
        }
    }
}

/// What happened to the lesson, for the store (`lessons` rows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LessonChange {
    Started { lesson: LessonId, room: RoomId, at: u64 },
    Ended { lesson: LessonId, at: u64, reason: EndReason },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    /// Nobody was admitted yet.
    NotStarted,
    Open {
        id: LessonId,
        started_at: u64,
    },
    Closed {
        id: LessonId,
        started_at: u64,
        ended_at: u64,
        reason: EndReason,
    },
}

/// A room's current lesson occurrence. A closed one stays closed: the room starts the next with
/// [`LessonRun::default`] (see `Classroom::next_lesson`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LessonRun {
    phase: Phase,
}

impl Default for LessonRun {
    fn default() -> Self {
        Self { phase: Phase::NotStarted }
    }
}

impl LessonRun {
    /// The lesson's id once it started (also after it closed).
    pub fn id(&self) -> Option<&LessonId> {
        match &self.phase {
            Phase::NotStarted => None,
            Phase::Open { id, .. } | Phase::Closed { id, .. } => Some(id),
        }
    }

    pub fn is_open(&self) -> bool {
        matches!(self.phase, Phase::Open { .. })
    }

    pub fn is_closed(&self) -> bool {
        matches!(self.phase, Phase::Closed { .. })
    }

    /// Unix ms the lesson started at.
    pub fn started_at(&self) -> Option<u64> {
        match &self.phase {
            Phase::NotStarted => None,
            Phase::Open { started_at, .. } | Phase::Closed { started_at, .. } => Some(*started_at),
        }
    }

    /// Why and when it closed.
    pub fn ended(&self) -> Option<(u64, EndReason)> {
        match &self.phase {
            Phase::Closed { ended_at, reason, .. } => Some((*ended_at, *reason)),
            _ => None,
        }
    }

    /// Someone was admitted to `room`: the lesson starts if it had not. A closed lesson is not reopened (the room starts the next one first).
    pub fn on_admitted(&mut self, room: &RoomId, now: u64) -> Option<LessonChange> {
        match &mut self.phase {
            Phase::NotStarted => {
                let id = LessonId::new(room, now);
                self.phase = Phase::Open { id: id.clone(), started_at: now };
                Some(LessonChange::Started { lesson: id, room: room.clone(), at: now })
            }
            Phase::Open { .. } | Phase::Closed { .. } => None,
        }
    }

    /// Closes the lesson now (no-op unless open).
    pub fn end(&mut self, now: u64, reason: EndReason) -> Option<LessonChange> {
        let Phase::Open { id, started_at, .. } = &self.phase else { return None };
        let (id, started_at) = (id.clone(), *started_at);
        self.phase = Phase::Closed { id: id.clone(), started_at, ended_at: now, reason };
        Some(LessonChange::Ended { lesson: id, at: now, reason })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_700_000_000_000;
    const MIN: u64 = 60_000;

    fn room() -> RoomId {
        RoomId::parse("lab").expect("valid room")
    }

    #[test]
    fn the_first_admission_starts_the_lesson_once() {
        let mut run = LessonRun::default();
        assert_eq!(run.id(), None);
        let started = run.on_admitted(&room(), T0);
        let id = LessonId::new(&room(), T0);
        assert_eq!(started, Some(LessonChange::Started { lesson: id.clone(), room: room(), at: T0 }));
        assert_eq!(run.on_admitted(&room(), T0 + MIN), None, "a second person joins the same lesson");
        assert_eq!(run.id(), Some(&id));
        assert_eq!(run.started_at(), Some(T0));
    }

    #[test]
    fn an_ended_lesson_keeps_its_reason_and_is_not_reopened() {
        let mut run = LessonRun::default();
        assert_eq!(run.end(T0, EndReason::Api), None, "nothing to end before it starts");
        run.on_admitted(&room(), T0);
        assert!(matches!(
            run.end(T0 + MIN, EndReason::Timetable),
            Some(LessonChange::Ended { reason: EndReason::Timetable, .. })
        ));
        assert_eq!(run.end(T0 + 2 * MIN, EndReason::Teacher), None, "the first reason stays");
        assert_eq!(run.on_admitted(&room(), T0 + 3 * MIN), None);
        assert!(run.is_closed());
        assert_eq!(run.ended(), Some((T0 + MIN, EndReason::Timetable)));
    }
}
