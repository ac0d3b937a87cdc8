use super::*;
use crate::calendar::{RoomCalendar, parse_date};
use crate::timetable::{Weekday, parse_hhmm};

fn tz(name: &str) -> TimeZone {
    jiff::tz::TimeZoneDatabase::bundled().get(name).unwrap()
}

fn at(utc: &str) -> u64 {
    utc.parse::<Timestamp>().unwrap().as_second() as u64
}

fn date(s: &str) -> Date {
    parse_date(s).unwrap()
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

/// Lab-1 in Berlin: two slots, two terms, Easter holidays, a cancelled, a moved and an extra
/// lesson; a New York room beside it that must not show.
fn timetable() -> (Timetable, Labels) {
    let lab = RoomId::parse("lab-1").unwrap();
    let mut t = Timetable::from(vec![
        slot(1, "lab-1", Weekday::Mon, "08:00", "09:00", "Europe/Berlin"),
        slot(2, "lab-1", Weekday::Fri, "13:15", "14:45", "Europe/Berlin"),
        slot(3, "ny", Weekday::Mon, "08:00", "09:00", "America/New_York"),
    ]);
    let range = |a, b| DateRange { first: date(a), last: date(b) };
    t.calendars.insert(
        lab.clone(),
        RoomCalendar {
            terms: vec![range("2027-02-22", "2027-07-16"), range("2027-09-06", "2027-12-17")],
            holidays: vec![range("2027-03-29", "2027-04-09"), range("2027-10-25", "2027-11-05")],
        },
    );
    t.changes = vec![
        Change::Cancel { id: 7, slot: 1, date: date("2027-03-22") },
        Change::Move { id: 8, slot: 2, date: date("2027-05-14"), to: date("2027-05-12"), start_min: 600, end_min: 690 },
        Change::Extra {
            id: 9,
            room: lab.clone(),
            date: date("2027-10-31"),
            start_min: 600,
            end_min: 660,
            zone: "Europe/Berlin".into(),
            tz: tz("Europe/Berlin"),
        },
    ];
    let long = "Physik, Chemie; Übungen mit Experimenten – Kapitel 3 bis 5 (Wiederholung für alle Gruppen)";
    let mut labels = Labels::default();
    labels.slots.insert(1, ("Frau Müller".into(), long.into()));
    labels.slots.insert(2, ("Herr Bohr".into(), "Chemie".into()));
    labels.extras.insert(9, ("Frau Müller".into(), "Nachhilfe".into()));
    (t, labels)
}

/// Unfolded content lines of `ics`, after checking CRLF and the 75-octet limit.
fn unfold(ics: &str) -> Vec<String> {
    assert!(ics.ends_with("\r\n"));
    let mut lines: Vec<String> = Vec::new();
    for raw in ics.split("\r\n").filter(|l| !l.is_empty()) {
        assert!(!raw.contains('\n') && !raw.contains('\r'), "a bare line break in {raw:?}");
        assert!(raw.len() <= 75, "{} octets: {raw:?}", raw.len());
        match raw.strip_prefix(' ') {
            Some(rest) => lines.last_mut().expect("a continuation after a line").push_str(rest),
            None => lines.push(raw.to_owned()),
        }
    }
    lines
}

/// (name with parameters, value) of each property of each VEVENT.
fn events(lines: &[String]) -> Vec<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut cur: Option<Vec<(String, String)>> = None;
    for l in lines {
        match l.as_str() {
            "BEGIN:VEVENT" => cur = Some(Vec::new()),
            "END:VEVENT" => out.push(cur.take().unwrap()),
            _ => {
                if let Some(c) = cur.as_mut() {
                    let (k, v) = l.split_once(':').unwrap();
                    c.push((k.to_owned(), v.to_owned()));
                }
            }
        }
    }
    out
}

fn prop<'a>(e: &'a [(String, String)], name: &str) -> Option<(&'a str, &'a str)> {
    e.iter().find(|(k, _)| k == name || k.starts_with(&format!("{name};"))).map(|(k, v)| (k.as_str(), v.as_str()))
}

/// `TZID=Zone:YYYYMMDDTHHMMSS` → Unix seconds, the way RFC 5545 reads a local time.
fn read_local(key: &str, value: &str) -> u64 {
    let zone = key.split("TZID=").nth(1).unwrap();
    let dt: jiff::civil::DateTime = jiff::fmt::strtime::parse("%Y%m%dT%H%M%S", value).unwrap().to_datetime().unwrap();
    tz(zone).to_ambiguous_timestamp(dt).compatible().unwrap().as_second() as u64
}

/// Every start the file describes: weekly rules expanded to UNTIL minus EXDATEs, and single events.
fn expand(events: &[Vec<(String, String)>]) -> Vec<u64> {
    let mut starts = Vec::new();
    for e in events {
        let (k, v) = prop(e, "DTSTART").unwrap();
        let first = read_local(k, v);
        let Some((_, rule)) = prop(e, "RRULE") else {
            starts.push(first);
            continue;
        };
        let until = rule.split(';').find_map(|p| p.strip_prefix("UNTIL=")).expect("bounded in this test");
        let until = jiff::fmt::strtime::parse("%Y%m%dT%H%M%SZ", until).unwrap().to_datetime().unwrap();
        let until = until.to_zoned(TimeZone::UTC).unwrap().timestamp().as_second() as u64;
        let ex: Vec<u64> = prop(e, "EXDATE").map_or(vec![], |(k, v)| v.split(',').map(|d| read_local(k, d)).collect());
        let zone = k.split("TZID=").nth(1).unwrap();
        let mut d = jiff::fmt::strtime::parse("%Y%m%dT%H%M%S", v).unwrap().to_datetime().unwrap();
        loop {
            let s = tz(zone).to_ambiguous_timestamp(d).compatible().unwrap().as_second() as u64;
            if s > until {
                break;
            }
            if !ex.contains(&s) {
                starts.push(s);
            }
            d = d.checked_add(jiff::Span::new().days(7)).unwrap();
        }
    }
    starts.sort();
    starts
}

#[test]
fn the_calendar_is_folded_crlf_with_tzid_rrules_bounded_by_terms_and_exdates() {
    let (t, labels) = timetable();
    let lab = RoomId::parse("lab-1").unwrap();
    let ics = render(&t, &labels, &lab, "Physiklabor, Haus B", at("2027-01-10T12:00:00Z"));
    let lines = unfold(&ics);
    assert_eq!(lines.first().map(String::as_str), Some("BEGIN:VCALENDAR"));
    assert_eq!(lines.last().map(String::as_str), Some("END:VCALENDAR"));
    assert!(ics.split("\r\n").any(|l| l.starts_with(' ')), "the long title is folded");
    let ev = events(&lines);
    // Two slots × two terms, the moved and the extra lesson; nothing of the New York room.
    assert_eq!(ev.len(), 6, "{ics}");
    assert!(!ics.contains("America/New_York"));
    let monday_spring = &ev[0];
    assert_eq!(prop(monday_spring, "DTSTART"), Some(("DTSTART;TZID=Europe/Berlin", "20270222T080000")));
    assert_eq!(prop(monday_spring, "DTEND"), Some(("DTEND;TZID=Europe/Berlin", "20270222T090000")));
    // The end of 16 July in Berlin (CEST) is 21:59:59 UTC.
    assert_eq!(prop(monday_spring, "RRULE").unwrap().1, "FREQ=WEEKLY;BYDAY=MO;UNTIL=20270716T215959Z");
    assert_eq!(
        prop(monday_spring, "EXDATE"),
        Some(("EXDATE;TZID=Europe/Berlin", "20270322T080000,20270329T080000,20270405T080000"))
    );
    assert_eq!(
        prop(monday_spring, "SUMMARY").unwrap().1,
        "Physik\\, Chemie\\; Übungen mit Experimenten – Kapitel 3 bis 5 (Wiederholung für alle Gruppen)"
    );
    assert_eq!(prop(&ev[4], "SUMMARY").unwrap().1, "Chemie (moved)");
    assert_eq!(prop(&ev[4], "DTSTART").unwrap().1, "20270512T100000");

    // Read back the way a calendar client does, the file has exactly the lessons the scheduler runs.
    let from = at("2027-01-01T00:00:00Z");
    let to = at("2028-01-01T00:00:00Z");
    let want: Vec<u64> = t.lessons_between(from, to).iter().filter(|l| l.room == lab).map(|l| l.starts_at).collect();
    assert_eq!(expand(&ev), want);
    // Two slots a week over 21 + 15 weeks, less four holiday weeks, less the cancelled one, plus
    // the extra (the moved one is one for one).
    assert_eq!(want.len(), 2 * (21 + 15) - 2 * 4 - 1 + 1);
}

#[test]
fn each_zone_gets_a_vtimezone_with_its_real_changes() {
    let (t, labels) = timetable();
    let ics = render(&t, &labels, &RoomId::parse("lab-1").unwrap(), "Lab", at("2027-01-10T12:00:00Z"));
    let lines = unfold(&ics);
    let vt: Vec<&str> = lines
        .iter()
        .skip_while(|l| *l != "BEGIN:VTIMEZONE")
        .take_while(|l| *l != "END:VTIMEZONE")
        .map(String::as_str)
        .collect();
    assert_eq!(vt[1], "TZID:Europe/Berlin");
    let text = vt.join("\n");
    // Spring 2027: 02:00 CET becomes 03:00 CEST; autumn: 03:00 CEST becomes 02:00 CET.
    assert!(
        text.contains("BEGIN:DAYLIGHT\nDTSTART:20270328T020000\nTZOFFSETFROM:+0100\nTZOFFSETTO:+0200\nTZNAME:CEST"),
        "{text}"
    );
    assert!(
        text.contains("BEGIN:STANDARD\nDTSTART:20271031T030000\nTZOFFSETFROM:+0200\nTZOFFSETTO:+0100\nTZNAME:CET"),
        "{text}"
    );
    // Sydney's southern summer: the offsets go the other way round the year.
    let mut sydney = Timetable::from(vec![slot(1, "s", Weekday::Mon, "09:00", "10:00", "Australia/Sydney")]);
    sydney.calendars.clear();
    let ics = render(&sydney, &Labels::default(), &RoomId::parse("s").unwrap(), "S", at("2027-01-10T12:00:00Z"));
    let text = unfold(&ics).join("\n");
    assert!(text.contains("BEGIN:STANDARD\nDTSTART:20270404T030000\nTZOFFSETFROM:+1100\nTZOFFSETTO:+1000"), "{text}");
    assert!(text.contains("BEGIN:DAYLIGHT\nDTSTART:20271003T020000\nTZOFFSETFROM:+1000\nTZOFFSETTO:+1100"), "{text}");
    // No terms: an open-ended weekly rule from this week's lesson.
    assert!(text.contains("RRULE:FREQ=WEEKLY;BYDAY=MO\n"), "{text}");
    assert!(text.contains("DTSTART;TZID=Australia/Sydney:20270111T090000"), "{text}");
}

#[test]
fn folding_never_splits_a_character_and_text_is_escaped() {
    let mut out = String::new();
    fold(&format!("SUMMARY:{}", "ü".repeat(80)), &mut out);
    for l in out.split("\r\n").filter(|l| !l.is_empty()) {
        assert!(l.len() <= 75, "{}", l.len());
    }
    assert_eq!(text("a\\b;c,d\ne\u{7}"), "a\\\\b\\;c\\,d\\ne");
}

/// A lesson whose start the clocks skip leaves the weekly rule (an EXDATE) and is an event of its
/// own at the hub's time, so a calendar client shows it when the box goes live.
#[test]
fn a_start_in_a_daylight_saving_gap_is_its_own_event_at_the_first_minute_that_exists() {
    let room = RoomId::parse("night").unwrap();
    let mut t = Timetable::from(vec![
        slot(1, "night", Weekday::Sun, "02:30", "03:30", "Europe/Berlin"),
        slot(2, "night", Weekday::Sun, "02:15", "03:15", "America/New_York"),
    ]);
    t.calendars.insert(
        room.clone(),
        RoomCalendar {
            terms: vec![DateRange { first: date("2027-01-04"), last: date("2027-12-17") }],
            holidays: vec![],
        },
    );
    let ics = render(&t, &Labels::default(), &room, "Night school", at("2027-01-10T12:00:00Z"));
    let ev = events(&unfold(&ics));
    let own: Vec<(&str, &str)> =
        ev.iter().filter(|e| prop(e, "RRULE").is_none()).map(|e| prop(e, "DTSTART").unwrap()).collect();
    assert_eq!(
        own,
        [("DTSTART;TZID=Europe/Berlin", "20270328T030000"), ("DTSTART;TZID=America/New_York", "20270314T030000")],
        "{ics}"
    );
    let want: Vec<u64> =
        t.lessons_between(at("2027-01-01T00:00:00Z"), at("2028-01-01T00:00:00Z")).iter().map(|l| l.starts_at).collect();
    assert_eq!(expand(&ev), want);
    assert!(want.contains(&at("2027-03-28T01:00:00Z")) && want.contains(&at("2027-03-14T07:00:00Z")));
}
