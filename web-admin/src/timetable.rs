//! A timetable slot (the weekly rule: a room, a day, a start and an end) as plain data and its time
//! arithmetic: whether its lesson is on, its next lesson (occurrence), whether two slots collide. Pure (time is an argument), so the scheduler and the links are tested on
//! simulated clocks.
//!
//! Times are minutes after local midnight, local being UTC + `utc_offset_min` as saved with the slot.
//! The hub does not know its time zone (no tz library in the build), so the browser sends its own
//! offset; comparisons are done on the UTC week so slots saved with different offsets still collide.

use std::fmt;
use std::str::FromStr;

use lectern_proto::RoomId;

pub const MINUTES_PER_DAY: i64 = 24 * 60;
const MINUTES_PER_WEEK: i64 = 7 * MINUTES_PER_DAY;
const SECS_PER_WEEK: i64 = MINUTES_PER_WEEK * 60;
/// 1970-01-01 was a Thursday: day 0 of the Unix epoch is weekday 3 counting from Monday.
const EPOCH_WEEKDAY: i64 = 3;
/// UTC−12:00 to UTC+14:00, the offsets in use on Earth.
pub const MIN_OFFSET: i64 = -12 * 60;
pub const MAX_OFFSET: i64 = 14 * 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Weekday {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Weekday {
    pub const ALL: [Weekday; 7] =
        [Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri, Weekday::Sat, Weekday::Sun];

    pub fn as_str(self) -> &'static str {
        ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][self.index() as usize]
    }

    /// 0 = Monday … 6 = Sunday, as stored.
    pub fn index(self) -> i64 {
        self as i64
    }

    pub fn from_index(i: i64) -> Option<Self> {
        usize::try_from(i).ok().and_then(|i| Self::ALL.get(i).copied())
    }
}

impl fmt::Display for Weekday {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Weekday {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|d| d.as_str() == s)
            .ok_or_else(|| "must be one of mon, tue, wed, thu, fri, sat, sun".into())
    }
}

/// `"HH:MM"` (24-hour, two digits each) → minutes after midnight; `"24:00"` only when `allow_midnight_end`.
pub fn parse_hhmm(s: &str, allow_midnight_end: bool) -> Result<i64, String> {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if b.len() != 5 || b[2] != b':' || !digits(0..2) || !digits(3..5) {
        return Err("must be a time as HH:MM (24-hour)".into());
    }
    let h = i64::from(b[0] - b'0') * 10 + i64::from(b[1] - b'0');
    let m = i64::from(b[3] - b'0') * 10 + i64::from(b[4] - b'0');
    if allow_midnight_end && h == 24 && m == 0 {
        return Ok(MINUTES_PER_DAY);
    }
    if h > 23 || m > 59 {
        return Err("must be a time between 00:00 and 23:59".into());
    }
    Ok(h * 60 + m)
}

pub fn format_hhmm(minutes: i64) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// One timetable slot, validated: `start_min < end_min <= 1440`, offset within [`MIN_OFFSET`, `MAX_OFFSET`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub id: i64,
    pub room: RoomId,
    pub weekday: Weekday,
    pub start_min: i64,
    pub end_min: i64,
    pub utc_offset_min: i64,
}

impl Slot {
    /// Start as minutes into the UTC week (Monday 00:00 UTC = 0); may sit near the week's end and wrap.
    fn utc_week_start(&self) -> i64 {
        (self.weekday.index() * MINUTES_PER_DAY + self.start_min - self.utc_offset_min).rem_euclid(MINUTES_PER_WEEK)
    }

    fn len_min(&self) -> i64 {
        self.end_min - self.start_min
    }

    /// Seconds since this slot's local Monday 00:00 at `now`.
    fn secs_into_local_week(&self, now: u64) -> i64 {
        let local = now as i64 + self.utc_offset_min * 60;
        (local + EPOCH_WEEKDAY * 86_400).rem_euclid(SECS_PER_WEEK)
    }

    /// The slot's lesson is on at `now`: start inclusive, end exclusive.
    pub fn is_on(&self, now: u64) -> bool {
        let (start, end) = self.occurrence(now);
        start <= now && now < end
    }

    /// (start, end) in Unix seconds of the occurrence that is on at `now`, else the next one.
    pub fn occurrence(&self, now: u64) -> (u64, u64) {
        let into = self.secs_into_local_week(now);
        let start_in_week = (self.weekday.index() * MINUTES_PER_DAY + self.start_min) * 60;
        let end_in_week = start_in_week + self.len_min() * 60;
        let week_start = now as i64 - into;
        let start =
            if into < end_in_week { week_start + start_in_week } else { week_start + SECS_PER_WEEK + start_in_week };
        // Real clocks are far past 1970 plus a week; clamp rather than wrap for a clock at zero.
        let start = start.max(0) as u64;
        (start, start + self.len_min() as u64 * 60)
    }

    /// Both happen in the same room at some common minute of the week.
    pub fn overlaps(&self, other: &Slot) -> bool {
        let (a, b) = (self.utc_week_start(), other.utc_week_start());
        self.room == other.room
            && ((b - a).rem_euclid(MINUTES_PER_WEEK) < self.len_min()
                || (a - b).rem_euclid(MINUTES_PER_WEEK) < other.len_min())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Monday 2024-01-01 00:00:00 UTC.
    pub const MONDAY: u64 = 1_704_067_200;

    fn slot(room: &str, day: Weekday, start: &str, end: &str, offset: i64) -> Slot {
        Slot {
            id: 1,
            room: RoomId::parse(room).unwrap(),
            weekday: day,
            start_min: parse_hhmm(start, false).unwrap(),
            end_min: parse_hhmm(end, true).unwrap(),
            utc_offset_min: offset,
        }
    }

    #[test]
    fn times_parse_strictly() {
        assert_eq!(parse_hhmm("08:05", false), Ok(485));
        assert_eq!(parse_hhmm("24:00", true), Ok(1440));
        for bad in ["24:00", "8:05", "08:60", "0805", "08:5x", "", "٠٨:٠٥", "08:05 "] {
            assert!(parse_hhmm(bad, false).is_err(), "{bad}");
        }
        assert_eq!(format_hhmm(485), "08:05");
        assert_eq!("sun".parse(), Ok(Weekday::Sun));
        assert!("Sunday".parse::<Weekday>().is_err());
    }

    #[test]
    fn occurrences_follow_the_local_week() {
        let l = slot("a", Weekday::Mon, "08:00", "09:00", 60);
        // Monday 08:00 at UTC+1 is 07:00 UTC.
        assert_eq!(l.occurrence(MONDAY), (MONDAY + 7 * 3600, MONDAY + 8 * 3600));
        assert!(!l.is_on(MONDAY + 7 * 3600 - 1));
        assert!(l.is_on(MONDAY + 7 * 3600));
        assert!(!l.is_on(MONDAY + 8 * 3600));
        // Once over, the next one is a week later.
        assert_eq!(l.occurrence(MONDAY + 8 * 3600).0, MONDAY + 7 * 86_400 + 7 * 3600);
        // A Sunday-evening lesson seen from Monday morning is six days ahead.
        let s = slot("a", Weekday::Sun, "23:00", "24:00", 0);
        assert_eq!(s.occurrence(MONDAY).0, MONDAY + 6 * 86_400 + 23 * 3600);
        assert!(s.is_on(MONDAY - 1), "Sunday 23:59:59 before that Monday");
    }

    #[test]
    fn overlap_is_per_room_and_across_offsets() {
        let a = slot("a", Weekday::Mon, "08:00", "09:00", 0);
        assert!(a.overlaps(&slot("a", Weekday::Mon, "08:59", "10:00", 0)));
        assert!(!a.overlaps(&slot("a", Weekday::Mon, "09:00", "10:00", 0)), "back to back is fine");
        assert!(!a.overlaps(&slot("b", Weekday::Mon, "08:00", "09:00", 0)));
        // 09:30 at UTC+1 is 08:30 UTC.
        assert!(a.overlaps(&slot("a", Weekday::Mon, "09:30", "10:00", 60)));
        // Monday 00:30 at UTC+1 is Sunday 23:30 UTC: wraps the week.
        let late = slot("a", Weekday::Sun, "23:00", "24:00", 0);
        assert!(late.overlaps(&slot("a", Weekday::Mon, "00:00", "01:00", 60)));
        assert!(slot("a", Weekday::Mon, "00:00", "01:00", 60).overlaps(&late));
    }
}
