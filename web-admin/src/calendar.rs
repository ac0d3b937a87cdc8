//! The term calendar over the weekly timetable: terms (lessons run only inside one), holidays (no
//! lessons) and one-off changes (cancel one occurrence, move it, add an extra lesson), and the
//! concrete lessons that result. Pure: [`Timetable::lessons_between`] takes the time span as an
//! argument, so the scheduler, the week view, the links and the `.ics` export are all tested on
//! simulated clocks.
//!
//! Dates are local dates in each slot's own zone: a term that starts on Monday 5 April starts at
//! that Monday's midnight in Sydney for a Sydney room, and in Berlin for a Berlin room.

use std::collections::BTreeMap;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use lectern_proto::RoomId;
use serde::Serialize;

use crate::timetable::{Slot, add_days, span};

/// Days, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateRange {
    pub first: Date,
    pub last: Date,
}

impl DateRange {
    pub fn contains(&self, d: Date) -> bool {
        self.first <= d && d <= self.last
    }
}

/// `YYYY-MM-DD`, strictly.
pub fn parse_date(s: &str) -> Result<Date, String> {
    let ok = s.len() == 10
        && s.bytes().enumerate().all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() });
    if !ok {
        return Err("must be a date as YYYY-MM-DD".into());
    }
    s.parse::<Date>().map_err(|_| format!("'{s}' is not a date in the calendar"))
}

/// What a room's lessons follow: its terms and its holidays.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RoomCalendar {
    /// Empty: every week is a teaching week.
    pub terms: Vec<DateRange>,
    pub holidays: Vec<DateRange>,
}

impl RoomCalendar {
    /// Regular lessons run on `d` (a local date).
    pub fn teaching_day(&self, d: Date) -> bool {
        (self.terms.is_empty() || self.terms.iter().any(|t| t.contains(d)))
            && !self.holidays.iter().any(|h| h.contains(d))
    }
}

/// A one-off change to the timetable.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// No lesson of `slot` on its occurrence of `date`.
    Cancel { id: i64, slot: i64, date: Date },
    /// The occurrence of `slot` on `date` happens on `to` from `start_min` to `end_min` instead
    /// (wall-clock, in the slot's zone), term or holiday or not.
    Move { id: i64, slot: i64, date: Date, to: Date, start_min: i64, end_min: i64 },
    /// One lesson in `room` that belongs to no slot.
    Extra { id: i64, room: RoomId, date: Date, start_min: i64, end_min: i64, zone: String, tz: TimeZone },
}

impl Change {
    pub fn id(&self) -> i64 {
        match self {
            Change::Cancel { id, .. } | Change::Move { id, .. } | Change::Extra { id, .. } => *id,
        }
    }

    /// The slot occurrence it takes away, if any.
    fn removes(&self) -> Option<(i64, Date)> {
        match self {
            Change::Cancel { slot, date, .. } | Change::Move { slot, date, .. } => Some((*slot, *date)),
            Change::Extra { .. } => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LessonKind {
    /// A weekly slot's occurrence.
    Regular,
    /// A slot's occurrence moved to another date or time.
    Moved,
    /// An extra lesson.
    Extra,
}

/// One concrete lesson.
#[derive(Debug, Clone, PartialEq)]
pub struct Lesson {
    pub room: RoomId,
    pub kind: LessonKind,
    /// The slot it is an occurrence of (`None`: an extra lesson).
    pub slot: Option<i64>,
    /// The change that made it (moved, extra).
    pub change: Option<i64>,
    /// Its local date and wall-clock minutes in `zone`.
    pub date: Date,
    pub start_min: i64,
    pub end_min: i64,
    pub zone: String,
    pub starts_at: u64,
    pub ends_at: u64,
}

/// The whole timetable with its calendars and changes, as the database holds it.
#[derive(Debug, Clone, Default)]
pub struct Timetable {
    pub slots: Vec<Slot>,
    /// By room; a room not listed has no terms and no holidays.
    pub calendars: BTreeMap<RoomId, RoomCalendar>,
    pub changes: Vec<Change>,
}

impl From<Vec<Slot>> for Timetable {
    fn from(slots: Vec<Slot>) -> Self {
        Self { slots, ..Self::default() }
    }
}

/// How far ahead the next lesson of a slot is looked for.
const LOOKAHEAD_WEEKS: u64 = 60;
const WEEK_SECS: u64 = 7 * 86_400;

impl Timetable {
    fn calendar(&self, room: &RoomId) -> Option<&RoomCalendar> {
        self.calendars.get(room)
    }

    /// Whether the occurrence of `slot` on `date` runs as scheduled.
    pub fn runs(&self, slot: &Slot, date: Date) -> bool {
        self.calendar(&slot.room).is_none_or(|c| c.teaching_day(date)) && !self.changed(slot.id, date)
    }

    /// A cancel or a move takes the occurrence of `slot` on `date` away.
    pub fn changed(&self, slot: i64, date: Date) -> bool {
        self.changes.iter().any(|c| c.removes() == Some((slot, date)))
    }

    /// Every lesson that shares a second with `[from, to)`, by start then room.
    pub fn lessons_between(&self, from: u64, to: u64) -> Vec<Lesson> {
        let mut out = Vec::new();
        for slot in &self.slots {
            for (date, starts_at, ends_at) in slot.occurrences(from, to) {
                if self.runs(slot, date) {
                    out.push(Lesson {
                        room: slot.room.clone(),
                        kind: LessonKind::Regular,
                        slot: Some(slot.id),
                        change: None,
                        date,
                        start_min: slot.start_min,
                        end_min: slot.end_min,
                        zone: slot.zone.clone(),
                        starts_at,
                        ends_at,
                    });
                }
            }
        }
        for change in &self.changes {
            if let Some(l) = self.lesson_of(change)
                && l.starts_at < to
                && l.ends_at > from
            {
                out.push(l);
            }
        }
        out.sort_by(|a, b| (a.starts_at, &a.room, a.slot).cmp(&(b.starts_at, &b.room, b.slot)));
        out
    }

    /// The lesson a move or an extra makes; `None` for a cancel or a move of a slot that is gone.
    pub fn lesson_of(&self, change: &Change) -> Option<Lesson> {
        match change {
            Change::Cancel { .. } => None,
            Change::Move { id, slot, to, start_min, end_min, .. } => {
                let s = self.slots.iter().find(|s| s.id == *slot)?;
                let (starts_at, ends_at) = span(&s.tz, *to, *start_min, *end_min);
                Some(Lesson {
                    room: s.room.clone(),
                    kind: LessonKind::Moved,
                    slot: Some(s.id),
                    change: Some(*id),
                    date: *to,
                    start_min: *start_min,
                    end_min: *end_min,
                    zone: s.zone.clone(),
                    starts_at,
                    ends_at,
                })
            }
            Change::Extra { id, room, date, start_min, end_min, zone, tz } => {
                let (starts_at, ends_at) = span(tz, *date, *start_min, *end_min);
                Some(Lesson {
                    room: room.clone(),
                    kind: LessonKind::Extra,
                    slot: None,
                    change: Some(*id),
                    date: *date,
                    start_min: *start_min,
                    end_min: *end_min,
                    zone: zone.clone(),
                    starts_at,
                    ends_at,
                })
            }
        }
    }

    /// Lessons on at `now` (start inclusive, end exclusive).
    pub fn on_at(&self, now: u64) -> Vec<Lesson> {
        self.lessons_between(now, now.saturating_add(1)).into_iter().filter(|l| l.starts_at <= now).collect()
    }

    /// The lesson of slot `id` on at `now`, else its next one (moved ones included), within about a year.
    pub fn next_of_slot(&self, id: i64, now: u64) -> Option<Lesson> {
        (0..LOOKAHEAD_WEEKS).find_map(|w| {
            let from = now.saturating_add(w * WEEK_SECS);
            self.lessons_between(from, from.saturating_add(WEEK_SECS))
                .into_iter()
                .find(|l| l.slot == Some(id) && l.ends_at > now)
        })
    }
}

/// The Monday on or before `d`.
pub fn monday_of(d: Date) -> Date {
    add_days(d, -i64::from(d.weekday().to_monday_zero_offset()))
}

#[cfg(test)]
mod tests;
