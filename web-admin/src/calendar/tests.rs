use super::*;
use crate::timetable::{Weekday, parse_hhmm};
use jiff::Timestamp;

/// Zone rules from the tz database bundled with jiff, not the machine's.
fn tz(name: &str) -> TimeZone {
    jiff::tz::TimeZoneDatabase::bundled().get(name).unwrap()
}

fn slot(id: i64, room: &str, day: Weekday, start: &str, end: &str, zone: &str) -> Slot {
    Slot {
        id,
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

fn date(s: &str) -> Date {
    parse_date(s).unwrap()
}

fn ranges(list: &[(&str, &str)]) -> Vec<DateRange> {
    list.iter().map(|(a, b)| DateRange { first: date(a), last: date(b) }).collect()
}

/// (start, end) in UTC of every lesson of `t` within the window.
fn lessons(t: &Timetable, from: &str, to: &str) -> Vec<(u64, u64)> {
    t.lessons_between(at(from), at(to)).iter().map(|l| (l.starts_at, l.ends_at)).collect()
}

#[test]
fn dates_parse_strictly() {
    assert_eq!(parse_date("2027-03-28").unwrap().to_string(), "2027-03-28");
    for bad in ["2027-3-28", "2027-02-30", "28.03.2027", "", "2027-03-28T00:00", "２０２７-03-28"] {
        assert!(parse_date(bad).is_err(), "{bad}");
    }
}

/// Terms, holidays and the 2027 daylight-saving changes in Europe/Berlin (28 March, 31 October),
/// America/New_York (14 March, 7 November) and Australia/Sydney (4 April, 3 October): every lesson
/// of a window starts and ends at the right instant, none runs outside a term or in a holiday, and
/// term dates are the room's local dates.
#[test]
fn lessons_follow_terms_and_holidays_across_the_2027_daylight_saving_changes() {
    use Weekday::*;
    type Case<'a> = (
        &'a str,
        Weekday,
        &'a str,
        &'a str,
        &'a [(&'a str, &'a str)],
        &'a [(&'a str, &'a str)],
        &'a str,
        &'a str,
        &'a [(&'a str, &'a str)],
    );
    #[rustfmt::skip]
    let table: &[Case] = &[
        // zone, day, start, end, terms, holidays, window (UTC), every lesson in it (UTC)
        ("Europe/Berlin", Mon, "08:00", "09:00",
            &[("2027-03-01", "2027-07-16"), ("2027-09-01", "2027-12-17")], &[("2027-03-29", "2027-04-09"), ("2027-10-25", "2027-11-05")],
            "2027-03-15T00:00:00Z", "2027-04-20T00:00:00Z",
            &[("2027-03-15T07:00:00Z", "2027-03-15T08:00:00Z"), ("2027-03-22T07:00:00Z", "2027-03-22T08:00:00Z"),
              // 29 March and 5 April: Easter holidays; then summer time.
              ("2027-04-12T06:00:00Z", "2027-04-12T07:00:00Z"), ("2027-04-19T06:00:00Z", "2027-04-19T07:00:00Z")]),
        ("Europe/Berlin", Mon, "08:00", "09:00",
            &[("2027-03-01", "2027-07-16"), ("2027-09-01", "2027-12-17")], &[("2027-03-29", "2027-04-09"), ("2027-10-25", "2027-11-05")],
            "2027-10-18T00:00:00Z", "2027-11-16T00:00:00Z",
            &[("2027-10-18T06:00:00Z", "2027-10-18T07:00:00Z"),
              // Autumn holidays over the change back; then winter time.
              ("2027-11-08T07:00:00Z", "2027-11-08T08:00:00Z"), ("2027-11-15T07:00:00Z", "2027-11-15T08:00:00Z")]),
        // Term boundaries: the last Monday of one term, none in the summer, the first of the next.
        ("Europe/Berlin", Mon, "08:00", "09:00",
            &[("2027-03-01", "2027-07-16"), ("2027-09-01", "2027-12-17")], &[],
            "2027-07-10T00:00:00Z", "2027-09-10T00:00:00Z",
            &[("2027-07-12T06:00:00Z", "2027-07-12T07:00:00Z"), ("2027-09-06T06:00:00Z", "2027-09-06T07:00:00Z")]),
        // Sunday 01:30–03:00 over the night the clocks jump 02:00 -> 03:00: 30 real minutes.
        ("America/New_York", Sun, "01:30", "03:00",
            &[("2027-01-04", "2027-06-18")], &[("2027-03-28", "2027-04-04")],
            "2027-03-06T00:00:00Z", "2027-04-12T00:00:00Z",
            &[("2027-03-07T06:30:00Z", "2027-03-07T08:00:00Z"), ("2027-03-14T06:30:00Z", "2027-03-14T07:00:00Z"),
              ("2027-03-21T05:30:00Z", "2027-03-21T07:00:00Z"), ("2027-04-11T05:30:00Z", "2027-04-11T07:00:00Z")]),
        // ... and over the night 02:00 -> 01:00: 01:30 is the first one, 03:00 comes 2.5 h later.
        ("America/New_York", Sun, "01:30", "03:00",
            &[("2027-09-07", "2027-12-17")], &[],
            "2027-10-30T00:00:00Z", "2027-11-15T00:00:00Z",
            &[("2027-10-31T05:30:00Z", "2027-10-31T07:00:00Z"), ("2027-11-07T05:30:00Z", "2027-11-07T08:00:00Z"),
              ("2027-11-14T06:30:00Z", "2027-11-14T08:00:00Z")]),
        // Sydney, autumn: the term break over the change; term 2 starts Monday 26 April local,
        // which is Sunday in UTC.
        ("Australia/Sydney", Mon, "09:00", "10:00",
            &[("2027-02-01", "2027-04-09"), ("2027-04-26", "2027-07-02")], &[],
            "2027-03-21T00:00:00Z", "2027-05-04T00:00:00Z",
            &[("2027-03-21T22:00:00Z", "2027-03-21T23:00:00Z"), ("2027-03-28T22:00:00Z", "2027-03-28T23:00:00Z"),
              ("2027-04-04T23:00:00Z", "2027-04-05T00:00:00Z"), ("2027-04-25T23:00:00Z", "2027-04-26T00:00:00Z"),
              ("2027-05-02T23:00:00Z", "2027-05-03T00:00:00Z")]),
        // Sydney, spring: term 4 starts on Tuesday 5 October, so Monday 4 October has no lesson.
        ("Australia/Sydney", Mon, "09:00", "10:00",
            &[("2027-07-19", "2027-09-24"), ("2027-10-05", "2027-12-17")], &[],
            "2027-09-19T00:00:00Z", "2027-10-12T00:00:00Z",
            &[("2027-09-19T23:00:00Z", "2027-09-20T00:00:00Z"), ("2027-10-10T22:00:00Z", "2027-10-10T23:00:00Z")]),
        // No terms: every week.
        ("Australia/Sydney", Sun, "02:30", "03:30", &[], &[],
            "2027-09-25T00:00:00Z", "2027-10-10T00:00:00Z",
            &[("2027-09-25T16:30:00Z", "2027-09-25T17:30:00Z"), ("2027-10-02T16:00:00Z", "2027-10-02T16:30:00Z"),
              ("2027-10-09T15:30:00Z", "2027-10-09T16:30:00Z")]),
    ];
    for (i, &(zone, day, start, end, terms, holidays, from, to, want)) in table.iter().enumerate() {
        let s = slot(1, "a", day, start, end, zone);
        let mut t = Timetable::from(vec![s]);
        t.calendars
            .insert(RoomId::parse("a").unwrap(), RoomCalendar { terms: ranges(terms), holidays: ranges(holidays) });
        let want: Vec<(u64, u64)> = want.iter().map(|(a, b)| (at(a), at(b))).collect();
        assert_eq!(lessons(&t, from, to), want, "case {i}: {zone} {day} {start}-{end} from {from}");
        // The scheduler's view agrees at every start and end.
        for &(a, b) in &want {
            assert_eq!(t.on_at(a).len(), 1, "case {i}: on at its start {a}");
            assert!(t.on_at(a - 1).is_empty() && t.on_at(b).is_empty(), "case {i}: off before and at its end");
        }
    }
}

#[test]
fn one_off_changes_cancel_move_and_add_lessons() {
    let room = RoomId::parse("a").unwrap();
    let mut t = Timetable::from(vec![slot(1, "a", Weekday::Mon, "08:00", "09:00", "Europe/Berlin")]);
    t.calendars.insert(room.clone(), RoomCalendar { terms: vec![], holidays: ranges(&[("2027-04-05", "2027-04-05")]) });
    t.changes = vec![
        Change::Cancel { id: 10, slot: 1, date: date("2027-03-22") },
        // The first Monday of summer time moves to Tuesday 10:00.
        Change::Move {
            id: 11,
            slot: 1,
            date: date("2027-03-29"),
            to: date("2027-03-30"),
            start_min: 600,
            end_min: 660,
        },
        // Into the holiday, the week after: an explicit move runs anyway.
        Change::Move {
            id: 12,
            slot: 1,
            date: date("2027-04-12"),
            to: date("2027-04-05"),
            start_min: 480,
            end_min: 540,
        },
        // An extra lesson at a time the clocks skip: from 03:00, ending on time at 03:30.
        Change::Extra {
            id: 13,
            room: room.clone(),
            date: date("2027-03-28"),
            start_min: 150,
            end_min: 210,
            zone: "Europe/Berlin".into(),
            tz: tz("Europe/Berlin"),
        },
    ];
    let got: Vec<(u64, LessonKind, Option<i64>)> = t
        .lessons_between(at("2027-03-15T00:00:00Z"), at("2027-04-20T00:00:00Z"))
        .iter()
        .map(|l| (l.starts_at, l.kind, l.change))
        .collect();
    assert_eq!(
        got,
        [
            (at("2027-03-15T07:00:00Z"), LessonKind::Regular, None),
            (at("2027-03-28T01:00:00Z"), LessonKind::Extra, Some(13)),
            (at("2027-03-30T08:00:00Z"), LessonKind::Moved, Some(11)),
            (at("2027-04-05T06:00:00Z"), LessonKind::Moved, Some(12)),
            (at("2027-04-19T06:00:00Z"), LessonKind::Regular, None),
        ]
    );
    let extra = t.on_at(at("2027-03-28T01:00:00Z"));
    assert_eq!((extra.len(), extra[0].ends_at), (1, at("2027-03-28T01:30:00Z")));
    // The links' lesson: on Monday 22 March (cancelled) the next one is the moved Tuesday.
    let next = t.next_of_slot(1, at("2027-03-22T06:00:00Z")).unwrap();
    assert_eq!((next.kind, next.starts_at), (LessonKind::Moved, at("2027-03-30T08:00:00Z")));
    // A slot with nothing left in a year has no next lesson.
    t.calendars.get_mut(&room).unwrap().terms = ranges(&[("2020-01-01", "2020-12-31")]);
    t.changes.clear();
    assert_eq!(t.next_of_slot(1, at("2027-03-22T06:00:00Z")), None);
}
