//! A room's timetable as iCalendar (RFC 5545): `GET /admin/api/rooms/{id}/calendar.ics`. [`render`]
//! is pure (the timetable, the labels and `now` are arguments).
//!
//! Mapping: one VEVENT per slot and term with `DTSTART;TZID=…` at the slot's first lesson in the
//! term and a weekly `RRULE` whose `UNTIL` is the end of the term's last day (a slot in a room
//! without terms has an open-ended rule); holidays and cancelled or moved occurrences are
//! `EXDATE`s; a moved or extra lesson is a VEVENT of its own, and so is an occurrence whose start
//! the clocks skip (clients would shift it by the gap). Each zone used gets a VTIMEZONE
//! listing its real offset changes around the years covered. Lines are folded at 75 octets, CRLF.

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use lectern_proto::RoomId;

use crate::AdminState;
use crate::calendar::{Change, DateRange, Timetable};
use crate::error::{Error, Result};
use crate::timetable::{MINUTES_PER_DAY, Slot, add_days, instant, span, wall};

/// Teacher and title of each slot and extra lesson.
#[derive(Debug, Clone, Default)]
pub struct Labels {
    pub slots: BTreeMap<i64, (String, String)>,
    pub extras: BTreeMap<i64, (String, String)>,
}

/// How many years past the last dated lesson (or `now`, for open-ended rules) a VTIMEZONE lists.
const ZONE_YEARS_AHEAD: i16 = 5;

/// The room's calendar, CRLF lines folded at 75 octets.
pub fn render(t: &Timetable, labels: &Labels, room: &RoomId, room_name: &str, now: u64) -> String {
    let mut out = Vec::new();
    let stamp = utc(now as i64);
    let mut zones: BTreeMap<String, (TimeZone, Date, Date)> = BTreeMap::new();
    let mut note_zone = |name: &str, tz: &TimeZone, d: Date| {
        let e = zones.entry(name.to_owned()).or_insert((tz.clone(), d, d));
        e.1 = e.1.min(d);
        e.2 = e.2.max(d);
    };
    let calendar = t.calendars.get(room).cloned().unwrap_or_default();
    let mut events: Vec<Vec<String>> = Vec::new();
    let mut gap_events: Vec<Vec<String>> = Vec::new();
    for slot in t.slots.iter().filter(|s| &s.room == room) {
        let (teacher, title) = labels.slots.get(&slot.id).cloned().unwrap_or_default();
        let segments: Vec<Option<DateRange>> =
            if calendar.terms.is_empty() { vec![None] } else { calendar.terms.iter().copied().map(Some).collect() };
        for (i, term) in segments.iter().enumerate() {
            let from = term.map_or_else(|| first_on_or_after(slot, now), |r| r.first);
            let first = next_weekday(from, slot);
            if term.is_some_and(|r| first > r.last) {
                continue;
            }
            note_zone(&slot.zone, &slot.tz, first);
            let mut e = vec![
                format!("UID:slot-{}-{}@lectern", slot.id, term.map_or("open".to_owned(), |_| format!("term{i}"))),
                format!("DTSTAMP:{stamp}"),
                format!("DTSTART;TZID={}:{}", slot.zone, local(first, slot.start_min)),
                format!("DTEND;TZID={}:{}", slot.zone, local(first, slot.end_min)),
            ];
            let byday = &slot.weekday.as_str()[..2].to_ascii_uppercase();
            match term {
                Some(r) => {
                    note_zone(&slot.zone, &slot.tz, r.last);
                    // The end of the term's last day, in UTC as RFC 5545 asks beside a TZID.
                    let until = instant(&slot.tz, wall(add_days(r.last, 1), 0)) - 1;
                    e.push(format!("RRULE:FREQ=WEEKLY;BYDAY={byday};UNTIL={}", utc(until)));
                }
                None => e.push(format!("RRULE:FREQ=WEEKLY;BYDAY={byday}")),
            }
            let mut skipped = exdates(t, &calendar.holidays, slot, first, term.map(|r| r.last));
            // A start the clocks skip: calendar clients would move it by the gap's length (02:30 ->
            // 03:30), the hub starts it at the first minute that exists (03:00). Such a lesson
            // leaves the rule and is an event of its own at the hub's time.
            let horizon = term.map_or_else(
                || Date::new(now_year(now).saturating_add(ZONE_YEARS_AHEAD), 12, 31).unwrap_or(first),
                |r| r.last,
            );
            for d in gap_dates(slot, first, horizon) {
                if skipped.insert(d) && t.runs(slot, d) {
                    let (start, end) = span(&slot.tz, d, slot.start_min, slot.end_min);
                    note_zone(&slot.zone, &slot.tz, d);
                    gap_events.push(vec![
                        format!("UID:slot-{}-{}@lectern", slot.id, d),
                        format!("DTSTAMP:{stamp}"),
                        format!("DTSTART;TZID={}:{}", slot.zone, local_at(&slot.tz, start)),
                        format!("DTEND;TZID={}:{}", slot.zone, local_at(&slot.tz, end)),
                        format!("SUMMARY:{}", text(&title)),
                        format!("DESCRIPTION:{}", text(&format!("Teacher: {teacher}"))),
                        format!("LOCATION:{}", text(&format!("{room} ({room_name})"))),
                    ]);
                }
            }
            let exdates: Vec<String> = skipped.into_iter().map(|d| local(d, slot.start_min)).collect();
            if !exdates.is_empty() {
                e.push(format!("EXDATE;TZID={}:{}", slot.zone, exdates.join(",")));
            }
            e.push(format!("SUMMARY:{}", text(&title)));
            e.push(format!("DESCRIPTION:{}", text(&format!("Teacher: {teacher}"))));
            e.push(format!("LOCATION:{}", text(&format!("{room} ({room_name})"))));
            events.push(e);
        }
    }
    events.append(&mut gap_events);
    for change in &t.changes {
        let Some(lesson) = t.lesson_of(change) else { continue };
        if &lesson.room != room {
            continue;
        }
        let ((teacher, title), tz, what) = match change {
            Change::Move { slot, .. } => {
                let Some(s) = t.slots.iter().find(|s| s.id == *slot) else { continue };
                (labels.slots.get(slot).cloned().unwrap_or_default(), s.tz.clone(), " (moved)")
            }
            Change::Extra { id, tz, .. } => (labels.extras.get(id).cloned().unwrap_or_default(), tz.clone(), ""),
            Change::Cancel { .. } => continue,
        };
        note_zone(&lesson.zone, &tz, lesson.date);
        events.push(vec![
            format!("UID:change-{}@lectern", change.id()),
            format!("DTSTAMP:{stamp}"),
            format!("DTSTART;TZID={}:{}", lesson.zone, local(lesson.date, lesson.start_min)),
            format!("DTEND;TZID={}:{}", lesson.zone, local(lesson.date, lesson.end_min)),
            format!("SUMMARY:{}", text(&format!("{title}{what}"))),
            format!("DESCRIPTION:{}", text(&format!("Teacher: {teacher}"))),
            format!("LOCATION:{}", text(&format!("{room} ({room_name})"))),
        ]);
    }
    out.extend(
        ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Lectern//Timetable//EN", "CALSCALE:GREGORIAN"].map(String::from),
    );
    out.push(format!("X-WR-CALNAME:{}", text(&format!("{room_name} ({room})"))));
    let now_year = now_year(now);
    for (name, (tz, first, last)) in &zones {
        let last_year = last.year().max(now_year).saturating_add(ZONE_YEARS_AHEAD);
        out.extend(vtimezone(name, tz, first.year().saturating_sub(1), last_year));
    }
    for e in events {
        out.push("BEGIN:VEVENT".into());
        out.extend(e);
        out.push("END:VEVENT".into());
    }
    out.push("END:VCALENDAR".into());
    let mut s = String::new();
    for line in out {
        fold(&line, &mut s);
    }
    s
}

/// For an open-ended rule: from the slot's current or next occurrence's week, so the file does not
/// start in the past of a slot created long ago, yet keeps this week's lesson.
fn first_on_or_after(slot: &Slot, now: u64) -> Date {
    let (start, _) = slot.occurrence(now);
    crate::timetable::local_date(&slot.tz, start)
}

fn next_weekday(from: Date, slot: &Slot) -> Date {
    let ahead = (slot.weekday.index() - i64::from(from.weekday().to_monday_zero_offset())).rem_euclid(7);
    add_days(from, ahead)
}

/// Dates of the slot's weekday from `first` (to `last`) that do not run: holidays, cancelled, moved.
fn exdates(t: &Timetable, holidays: &[DateRange], slot: &Slot, first: Date, last: Option<Date>) -> BTreeSet<Date> {
    let inside = |d: Date| d >= first && last.is_none_or(|l| d <= l);
    let mut out = BTreeSet::new();
    for h in holidays {
        let mut d = next_weekday(h.first.max(first), slot);
        while d <= h.last && inside(d) {
            out.insert(d);
            d = add_days(d, 7);
        }
    }
    for c in &t.changes {
        if let Change::Cancel { slot: s, date, .. } | Change::Move { slot: s, date, .. } = c
            && *s == slot.id
            && inside(*date)
        {
            out.insert(*date);
        }
    }
    out
}

fn now_year(now: u64) -> i16 {
    crate::timetable::local_date(&TimeZone::UTC, now).year()
}

/// Days of the slot's weekday from `first` to `last` on which its start is a time the clocks skip.
fn gap_dates(slot: &Slot, first: Date, last: Date) -> Vec<Date> {
    let from = Timestamp::from_second(instant(&slot.tz, wall(add_days(first, -1), 0))).unwrap_or(Timestamp::UNIX_EPOCH);
    let until = instant(&slot.tz, wall(add_days(last, 2), 0));
    let mut out = Vec::new();
    for tr in slot.tz.following(from) {
        let ts = tr.timestamp();
        if ts.as_second() > until {
            break;
        }
        let before = slot.tz.to_offset(ts.checked_sub(jiff::SignedDuration::from_secs(1)).unwrap_or(ts));
        if tr.offset() <= before {
            continue; // clocks go back: no gap
        }
        let d = ts.to_zoned(TimeZone::fixed(before)).date();
        let gap = matches!(
            slot.tz.to_ambiguous_timestamp(wall(d, slot.start_min)).offset(),
            jiff::tz::AmbiguousOffset::Gap { .. }
        );
        if gap && d.weekday().to_monday_zero_offset() == slot.weekday.index() as i8 && first <= d && d <= last {
            out.push(d);
        }
    }
    out
}

/// The wall-clock time in `tz` at Unix second `at`, as `YYYYMMDDTHHMMSS`.
fn local_at(tz: &TimeZone, at: u64) -> String {
    let ts = Timestamp::from_second(at as i64).unwrap_or(Timestamp::UNIX_EPOCH);
    ts.to_zoned(tz.clone()).datetime().strftime("%Y%m%dT%H%M%S").to_string()
}

/// `YYYYMMDDTHHMMSS` local; minute 1440 is the next day's midnight.
fn local(date: Date, minutes: i64) -> String {
    let (date, m) = if minutes >= MINUTES_PER_DAY { (add_days(date, 1), 0) } else { (date, minutes) };
    format!("{:04}{:02}{:02}T{:02}{:02}00", date.year(), date.month(), date.day(), m / 60, m % 60)
}

fn utc(unix: i64) -> String {
    let ts = Timestamp::from_second(unix).unwrap_or(Timestamp::UNIX_EPOCH);
    ts.strftime("%Y%m%dT%H%M%SZ").to_string()
}

fn offset(seconds: i32) -> String {
    let sign = if seconds < 0 { '-' } else { '+' };
    let s = seconds.unsigned_abs();
    if s.is_multiple_of(60) {
        format!("{sign}{:02}{:02}", s / 3600, s / 60 % 60)
    } else {
        format!("{sign}{:02}{:02}{:02}", s / 3600, s / 60 % 60, s % 60)
    }
}

/// The zone's observances from January of `from_year` to the end of `to_year`: the one in force at
/// the start, then one per offset change, each at its local onset (in the offset before it).
fn vtimezone(name: &str, tz: &TimeZone, from_year: i16, to_year: i16) -> Vec<String> {
    let mut out = vec!["BEGIN:VTIMEZONE".to_owned(), format!("TZID:{name}")];
    let at = |year: i16| Date::new(year, 1, 1).ok().map_or(0, |d| instant(&TimeZone::UTC, d.at(0, 0, 0, 0)));
    let (start, end) = (at(from_year), at(to_year.saturating_add(1)));
    let start_ts = Timestamp::from_second(start).unwrap_or(Timestamp::UNIX_EPOCH);
    let observance = |out: &mut Vec<String>, dst: bool, onset_local: String, from: i32, to: i32, abbr: &str| {
        let kind = if dst { "DAYLIGHT" } else { "STANDARD" };
        out.push(format!("BEGIN:{kind}"));
        out.push(format!("DTSTART:{onset_local}"));
        out.push(format!("TZOFFSETFROM:{}", offset(from)));
        out.push(format!("TZOFFSETTO:{}", offset(to)));
        if !abbr.is_empty() {
            out.push(format!("TZNAME:{}", text(abbr)));
        }
        out.push(format!("END:{kind}"));
    };
    let info = tz.to_offset_info(start_ts);
    let (first, dst, abbr) = (info.offset().seconds(), info.dst().is_dst(), info.abbreviation().to_owned());
    let onset = start_ts.to_zoned(tz.clone()).datetime().strftime("%Y%m%dT%H%M%S").to_string();
    observance(&mut out, dst, onset, first, first, &abbr);
    for tr in tz.following(start_ts) {
        let ts = tr.timestamp();
        if ts.as_second() >= end {
            break;
        }
        let before = tz.to_offset(ts.checked_sub(jiff::SignedDuration::from_secs(1)).unwrap_or(ts)).seconds();
        let onset =
            ts.to_zoned(TimeZone::fixed(jiff::tz::Offset::from_seconds(before).unwrap_or(jiff::tz::Offset::UTC)));
        let onset = onset.datetime().strftime("%Y%m%dT%H%M%S").to_string();
        observance(&mut out, tr.dst().is_dst(), onset, before, tr.offset().seconds(), tr.abbreviation());
    }
    out.push("END:VTIMEZONE".into());
    out
}

/// A TEXT value, escaped (RFC 5545 3.3.11).
fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Appends `line` folded at 75 octets (never inside a UTF-8 character), CRLF after each part.
fn fold(line: &str, out: &mut String) {
    let mut width = 0;
    for c in line.chars() {
        let n = c.len_utf8();
        if width + n > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += n;
    }
    out.push_str("\r\n");
}

/// `GET /admin/api/rooms/{id}/calendar.ics`: an admin session, or a teacher's token of the room.
pub async fn room_calendar(State(st): State<AdminState>, Path(id): Path<String>) -> Result<Response> {
    let room = RoomId::parse(&id).map_err(|e| Error::invalid(format!("id: {e}")))?;
    let name: Option<String> = sqlx::query_scalar("SELECT name FROM admin_rooms WHERE id = $1")
        .bind(room.as_str())
        .fetch_optional(&st.pool)
        .await?;
    let name = name.ok_or_else(|| Error::NotFound(format!("no room '{room}'")))?;
    let timetable = crate::terms::load_timetable(&st.pool).await?;
    let labels = Labels {
        slots: sqlx::query_as::<_, (i64, String, String)>(
            "SELECT id, teacher, title FROM admin_schedules WHERE room_id = $1",
        )
        .bind(room.as_str())
        .fetch_all(&st.pool)
        .await?
        .into_iter()
        .map(|(id, teacher, title)| (id, (teacher, title)))
        .collect(),
        extras: sqlx::query_as::<_, (i64, Option<String>, Option<String>)>(
            "SELECT id, teacher, title FROM admin_lesson_exceptions WHERE kind = 'extra' AND room_id = $1",
        )
        .bind(room.as_str())
        .fetch_all(&st.pool)
        .await?
        .into_iter()
        .map(|(id, teacher, title)| (id, (teacher.unwrap_or_default(), title.unwrap_or_default())))
        .collect(),
    };
    let body = render(&timetable, &labels, &room, &name, st.now());
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/calendar; charset=utf-8"));
    let disposition = format!("attachment; filename=\"{room}.ics\"");
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

#[cfg(test)]
mod tests;
