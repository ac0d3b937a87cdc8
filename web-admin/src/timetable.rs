//! A timetable slot (the weekly rule: a room, a day, a start and an end, in a time zone) as plain
//! data and its time arithmetic: whether its lesson is on, its next lesson (occurrence), whether two
//! slots collide. Pure (time is an argument), so the scheduler and the links are tested on
//! simulated clocks.
//!
//! Times are wall-clock minutes after local midnight in the slot's IANA zone (`Europe/Berlin`), so a
//! lesson at 08:00 stays at 08:00 across daylight-saving changes. Rules for the two odd days a year:
//! a time the clocks skip (02:30 when they jump from 02:00 to 03:00) becomes the first minute that
//! exists (03:00); a time that happens twice (02:30 when they go back from 03:00 to 02:00) is the
//! first of the two, so the lesson runs once.

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use jiff::civil::{Date, DateTime};
use jiff::tz::{AmbiguousOffset, TimeZone};
use lectern_proto::RoomId;

pub const MINUTES_PER_DAY: i64 = 24 * 60;
const MINUTES_PER_WEEK: i64 = 7 * MINUTES_PER_DAY;
/// How far ahead two slots in different zones are compared for a collision.
const OVERLAP_WEEKS: i64 = 53;

/// An IANA time zone by name (`Europe/Berlin`), from the system's tz database (Debian's `tzdata`).
pub fn zone(name: &str) -> Result<TimeZone, String> {
    if name.is_empty() || name.len() > 64 || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"/_+-".contains(&b)) {
        return Err(format!(
            "'{}' is not a time zone name such as Europe/Berlin",
            name.chars().take(64).collect::<String>()
        ));
    }
    TimeZone::get(name).map_err(|_| format!("unknown time zone '{name}' (an IANA name such as Europe/Berlin)"))
}

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

/// One timetable slot, validated: `start_min < end_min <= 1440`, wall-clock times in `zone`.
#[derive(Debug, Clone, PartialEq)]
pub struct Slot {
    pub id: i64,
    pub room: RoomId,
    pub weekday: Weekday,
    pub start_min: i64,
    pub end_min: i64,
    /// The IANA name of `tz`, as stored.
    pub zone: String,
    pub tz: TimeZone,
}

impl Slot {
    fn len_min(&self) -> i64 {
        self.end_min - self.start_min
    }

    /// The slot's lesson is on at `now`: start inclusive, end exclusive.
    pub fn is_on(&self, now: u64) -> bool {
        let (start, end) = self.occurrence(now);
        start <= now && now < end
    }

    /// (start, end) in Unix seconds of the occurrence that is on at `now`, else the next one.
    pub fn occurrence(&self, now: u64) -> (u64, u64) {
        let ts = Timestamp::from_second(i64::try_from(now).unwrap_or(i64::MAX)).unwrap_or(Timestamp::MAX);
        let today = ts.to_zoned(self.tz.clone()).date();
        let monday = add_days(today, -i64::from(today.weekday().to_monday_zero_offset()));
        let this_week = self.on_date(add_days(monday, self.weekday.index()));
        if (this_week.1 as i128) > i128::from(now) {
            this_week
        } else {
            self.on_date(add_days(monday, self.weekday.index() + 7))
        }
    }

    /// The lesson on `date` (which must be this slot's weekday), in Unix seconds.
    pub(crate) fn on_date(&self, date: Date) -> (u64, u64) {
        span(&self.tz, date, self.start_min, self.end_min)
    }

    /// Every occurrence (its local date, start, end) that shares a second with `[from, to)`, by start.
    pub fn occurrences(&self, from: u64, to: u64) -> Vec<(Date, u64, u64)> {
        let first = add_days(local_date(&self.tz, from), -1);
        let last = add_days(local_date(&self.tz, to), 1);
        let ahead = (self.weekday.index() - i64::from(first.weekday().to_monday_zero_offset())).rem_euclid(7);
        let mut date = add_days(first, ahead);
        let mut out = Vec::new();
        while date <= last {
            let (start, end) = self.on_date(date);
            if start < to && end > from {
                out.push((date, start, end));
            }
            let next = add_days(date, 7);
            if next == date {
                break;
            }
            date = next;
        }
        out
    }

    /// Both happen in the same room at some common minute: in one zone, compared on the local week
    /// (a daylight-saving change moves both alike); across zones, over the coming year from `now`.
    pub fn overlaps(&self, other: &Slot, now: u64) -> bool {
        if self.room != other.room {
            return false;
        }
        if self.zone == other.zone {
            let (a, b) = (self.local_week_start(), other.local_week_start());
            return (b - a).rem_euclid(MINUTES_PER_WEEK) < self.len_min()
                || (a - b).rem_euclid(MINUTES_PER_WEEK) < other.len_min();
        }
        let mut at = now;
        for _ in 0..OVERLAP_WEEKS {
            let (a, b) = (self.occurrence(at), other.occurrence(at));
            if a.0 < b.1 && b.0 < a.1 {
                return true;
            }
            at = a.1.min(b.1);
        }
        false
    }

    fn local_week_start(&self) -> i64 {
        self.weekday.index() * MINUTES_PER_DAY + self.start_min
    }
}

/// A lesson from `start_min` to `end_min` (wall-clock minutes, 1440 = the next midnight) on `date`
/// in `tz`, in Unix seconds, by the rules of this module: a skipped start at the first minute that
/// exists, a repeated one at its first occurrence.
pub(crate) fn span(tz: &TimeZone, date: Date, start_min: i64, end_min: i64) -> (u64, u64) {
    let start = instant(tz, wall(date, start_min));
    let end = instant(tz, wall(date, end_min));
    // A lesson the clocks skipped whole still happens, from the first minute that exists.
    let end = if end > start { end } else { start + (end_min - start_min) * 60 };
    (start.max(0) as u64, end.max(0) as u64)
}

/// The local date in `tz` at Unix second `at`.
pub(crate) fn local_date(tz: &TimeZone, at: u64) -> Date {
    let ts = Timestamp::from_second(i64::try_from(at).unwrap_or(i64::MAX)).unwrap_or(Timestamp::MAX);
    ts.to_zoned(tz.clone()).date()
}

pub(crate) fn add_days(date: Date, days: i64) -> Date {
    date.checked_add(jiff::Span::new().days(days)).unwrap_or(date)
}

/// `minutes` after midnight on `date` (1440 = the next midnight).
pub(crate) fn wall(date: Date, minutes: i64) -> DateTime {
    let date = if minutes >= MINUTES_PER_DAY { add_days(date, 1) } else { date };
    let m = minutes.rem_euclid(MINUTES_PER_DAY);
    date.at((m / 60) as i8, (m % 60) as i8, 0, 0)
}

/// The Unix second a wall-clock time in `tz` happens: a skipped time at the end of its gap (the
/// first minute that exists), a repeated one at its first occurrence.
pub(crate) fn instant(tz: &TimeZone, dt: DateTime) -> i64 {
    let ambiguous = tz.to_ambiguous_timestamp(dt);
    let at = match ambiguous.offset() {
        // `compatible` reads a skipped time with the offset before the gap: an instant after the
        // change, whose preceding transition is the change itself.
        AmbiguousOffset::Gap { .. } => {
            ambiguous.compatible().ok().and_then(|after| tz.preceding(after).next().map(|tr| tr.timestamp()))
        }
        AmbiguousOffset::Unambiguous { .. } | AmbiguousOffset::Fold { .. } => ambiguous.earlier().ok(),
    };
    at.map_or(0, |t| t.as_second())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Zone rules from the tz database bundled with jiff, not the machine's.
    fn tz(name: &str) -> TimeZone {
        jiff::tz::TimeZoneDatabase::bundled().get(name).unwrap()
    }

    fn slot(room: &str, day: Weekday, start: &str, end: &str, zone: &str) -> Slot {
        Slot {
            id: 1,
            room: RoomId::parse(room).unwrap(),
            weekday: day,
            start_min: parse_hhmm(start, false).unwrap(),
            end_min: parse_hhmm(end, true).unwrap(),
            zone: zone.to_owned(),
            tz: tz(zone),
        }
    }

    fn at(utc: &str) -> u64 {
        utc.parse::<Timestamp>().unwrap().as_second() as u64
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
    fn zone_names_are_checked() {
        assert!(zone("Europe/Berlin").is_ok());
        for bad in ["", "Europe/Atlantis", "../../etc/passwd", "Europe/Berlin\n", &"A".repeat(100)] {
            assert!(zone(bad).is_err(), "{bad:?}");
        }
    }

    /// The 2027 daylight-saving changes in three zones (Europe/Berlin: 28 March and 31 October;
    /// America/New_York: 14 March and 7 November; Australia/Sydney: 4 April and 3 October, southern
    /// summer): every lesson starts and ends at its wall-clock time, a skipped start moves to the
    /// first minute that exists, a repeated hour runs once.
    #[test]
    fn lessons_keep_their_wall_clock_time_across_the_2027_daylight_saving_changes() {
        use Weekday::*;
        #[rustfmt::skip]
        let table: &[(&str, Weekday, &str, &str, &str, &str, &str)] = &[
            // zone, day, start, end, now (UTC), expected start and end (UTC)
            ("Europe/Berlin", Mon, "08:00", "09:00", "2027-03-22T06:30:00Z", "2027-03-22T07:00:00Z", "2027-03-22T08:00:00Z"),
            ("Europe/Berlin", Mon, "08:00", "09:00", "2027-03-26T12:00:00Z", "2027-03-29T06:00:00Z", "2027-03-29T07:00:00Z"),
            ("Europe/Berlin", Mon, "08:00", "09:00", "2027-10-29T12:00:00Z", "2027-11-01T07:00:00Z", "2027-11-01T08:00:00Z"),
            // 02:00 -> 03:00: the lesson starts at the first minute that exists and ends on time.
            ("Europe/Berlin", Sun, "02:30", "03:30", "2027-03-27T12:00:00Z", "2027-03-28T01:00:00Z", "2027-03-28T01:30:00Z"),
            // Skipped whole: from 03:00, its full length.
            ("Europe/Berlin", Sun, "02:10", "02:50", "2027-03-27T12:00:00Z", "2027-03-28T01:00:00Z", "2027-03-28T01:40:00Z"),
            // 03:00 -> 02:00: the first 02:30, once; 01:00 to the first 02:30 is 90 minutes.
            ("Europe/Berlin", Sun, "01:00", "02:30", "2027-10-30T12:00:00Z", "2027-10-30T23:00:00Z", "2027-10-31T00:30:00Z"),
            ("Europe/Berlin", Sun, "02:30", "04:00", "2027-10-30T12:00:00Z", "2027-10-31T00:30:00Z", "2027-10-31T03:00:00Z"),
            ("America/New_York", Mon, "08:00", "09:00", "2027-03-12T12:00:00Z", "2027-03-15T12:00:00Z", "2027-03-15T13:00:00Z"),
            ("America/New_York", Mon, "08:00", "09:00", "2027-11-05T12:00:00Z", "2027-11-08T13:00:00Z", "2027-11-08T14:00:00Z"),
            ("America/New_York", Sun, "02:15", "03:15", "2027-03-13T12:00:00Z", "2027-03-14T07:00:00Z", "2027-03-14T07:15:00Z"),
            ("America/New_York", Sun, "01:30", "02:00", "2027-11-06T12:00:00Z", "2027-11-07T05:30:00Z", "2027-11-07T07:00:00Z"),
            ("Australia/Sydney", Mon, "09:00", "10:00", "2027-04-02T00:00:00Z", "2027-04-04T23:00:00Z", "2027-04-05T00:00:00Z"),
            ("Australia/Sydney", Mon, "09:00", "10:00", "2027-03-26T00:00:00Z", "2027-03-28T22:00:00Z", "2027-03-28T23:00:00Z"),
            ("Australia/Sydney", Sun, "02:30", "03:30", "2027-10-01T00:00:00Z", "2027-10-02T16:00:00Z", "2027-10-02T16:30:00Z"),
            ("Australia/Sydney", Sun, "02:30", "03:30", "2027-04-02T00:00:00Z", "2027-04-03T15:30:00Z", "2027-04-03T17:30:00Z"),
        ];
        for &(zone, day, start, end, now, want_start, want_end) in table {
            let l = slot("a", day, start, end, zone);
            let got = l.occurrence(at(now));
            assert_eq!(got, (at(want_start), at(want_end)), "{zone} {day} {start}-{end} seen at {now}");
            assert!(
                l.is_on(got.0) && !l.is_on(got.0 - 1) && !l.is_on(got.1),
                "{zone} {day} {start}: on from start to end"
            );
        }
    }

    #[test]
    fn a_lesson_on_now_is_this_one_and_after_it_the_next_week() {
        let l = slot("a", Weekday::Mon, "08:00", "09:00", "Europe/Berlin");
        let start = at("2027-01-04T07:00:00Z");
        assert_eq!(l.occurrence(start + 600), (start, start + 3600));
        assert_eq!(l.occurrence(start + 3600).0, start + 7 * 86_400);
        // A Sunday-evening lesson seen from Monday morning is six days ahead.
        let s = slot("a", Weekday::Sun, "23:00", "24:00", "UTC");
        assert_eq!(s.occurrence(at("2027-01-04T00:00:00Z")).0, at("2027-01-10T23:00:00Z"));
        assert!(s.is_on(at("2027-01-03T23:59:59Z")));
    }

    #[test]
    fn overlap_is_per_room_in_one_zone_and_across_zones() {
        let now = at("2027-01-04T00:00:00Z");
        let a = slot("a", Weekday::Mon, "08:00", "09:00", "Europe/Berlin");
        assert!(a.overlaps(&slot("a", Weekday::Mon, "08:59", "10:00", "Europe/Berlin"), now));
        assert!(!a.overlaps(&slot("a", Weekday::Mon, "09:00", "10:00", "Europe/Berlin"), now), "back to back is fine");
        assert!(!a.overlaps(&slot("b", Weekday::Mon, "08:00", "09:00", "Europe/Berlin"), now));
        // 07:30 in London is 08:30 in Berlin all year.
        assert!(a.overlaps(&slot("a", Weekday::Mon, "07:30", "08:00", "Europe/London"), now));
        assert!(!a.overlaps(&slot("a", Weekday::Mon, "08:00", "09:00", "Europe/London"), now));
        // New York and Berlin change on different dates: 02:00 in New York meets 08:00 in Berlin
        // only in the weeks between the two changes.
        let ny = slot("a", Weekday::Mon, "02:30", "03:00", "America/New_York");
        assert!(a.overlaps(&ny, now), "2027-03-15 to 2027-03-22: 03:00 in New York is 08:00 in Berlin");
        let week_wraps = slot("a", Weekday::Sun, "23:00", "24:00", "UTC");
        assert!(week_wraps.overlaps(&slot("a", Weekday::Mon, "00:00", "01:00", "Europe/Berlin"), now));
    }
}
