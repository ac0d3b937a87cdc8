//! A school's timetable from CSV: `POST /admin/api/schedules/import` with a `text/csv` body whose
//! header line is exactly `room,weekday,start,end,zone,teacher,title`. All or nothing: every line is
//! checked (its room exists, weekday `mon`…`sun`, times `HH:MM`, the zone or the room's default, no
//! overlap with the timetable or an earlier line) and either every slot is added in one transaction
//! or none is, with a report naming each bad line and field.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use lectern_proto::RoomId;
use serde::Serialize;
use serde_json::json;

use crate::AdminState;
use crate::audit::{self, Entry};
use crate::error::Error;
use crate::json::text;
use crate::schedule::{MAX_TEACHER_CHARS, MAX_TITLE_CHARS, Schedule};
use crate::session::Caller;
use crate::timetable::{Slot, Weekday, parse_hhmm, zone};

/// The header line, exactly.
pub const COLUMNS: [&str; 7] = ["room", "weekday", "start", "end", "zone", "teacher", "title"];
/// A file larger than this is refused with 413 (a big school's timetable is a few thousand lines).
pub const MAX_BYTES: usize = 512 * 1024;
/// At most this many lines of slots.
pub const MAX_LINES: usize = 5_000;
/// The report lists at most this many problems.
const MAX_PROBLEMS: usize = 200;

/// One thing wrong with the file: its line (1 = the header), the column, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub line: usize,
    pub field: String,
    pub message: String,
}

impl Problem {
    fn new(line: usize, field: &str, message: impl Into<String>) -> Self {
        Self { line, field: field.to_owned(), message: message.into() }
    }
}

/// Splits the file into (line number, fields) of its data lines, after checking the header.
/// Fields follow RFC 4180 quoting (`"a, b"`, `""` for a quote) within a line. Blank lines are skipped.
pub fn parse(body: &str) -> Result<Vec<(usize, Vec<String>)>, Problem> {
    let body = body.strip_prefix('\u{feff}').unwrap_or(body);
    let mut lines = body.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).enumerate();
    let header = lines.next().map(|(_, l)| l).unwrap_or_default();
    let names = split(header).unwrap_or_default();
    if names.iter().map(|n| n.trim()).ne(COLUMNS) {
        return Err(Problem::new(1, "header", format!("the first line must be exactly {}", COLUMNS.join(","))));
    }
    let mut out = Vec::new();
    for (i, l) in lines {
        if l.trim().is_empty() {
            continue;
        }
        let n = i + 1;
        if out.len() == MAX_LINES {
            return Err(Problem::new(n, "line", format!("at most {MAX_LINES} timetable slots in one file")));
        }
        out.push((n, split(l).map_err(|m| Problem::new(n, "line", m))?));
    }
    Ok(out)
}

/// One line's fields.
fn split(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut was_quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cur.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cur.push(c),
            (false, '"') if cur.trim().is_empty() && !was_quoted => {
                cur.clear();
                quoted = true;
                was_quoted = true;
            }
            (false, '"') => {
                return Err("a quote inside an unquoted field (quote the whole field, \"\" for a quote)".into());
            }
            (false, ',') => {
                fields.push(std::mem::take(&mut cur));
                was_quoted = false;
            }
            (false, c) if was_quoted && !c.is_whitespace() => {
                return Err("text after a closing quote".into());
            }
            (false, c) => cur.push(c),
        }
    }
    if quoted {
        return Err("a quoted field is not closed on this line".into());
    }
    fields.push(cur);
    Ok(fields)
}

/// A line checked on its own: the slot (zone resolved by `default_zone`) or its problems.
fn check_line(
    n: usize,
    f: &[String],
    default_zone: impl Fn(&RoomId) -> Option<String>,
) -> Result<(Slot, String, String), Vec<Problem>> {
    if f.len() != COLUMNS.len() {
        return Err(vec![Problem::new(n, "line", format!("{} columns, expected {}", f.len(), COLUMNS.len()))]);
    }
    let mut problems = Vec::new();
    let mut bad = |field: &str, m: String| problems.push(Problem::new(n, field, m));
    let room = RoomId::parse(f[0].trim()).map_err(|e| bad("room", e.to_string())).ok();
    let room_zone = room.as_ref().and_then(|r| {
        let z = default_zone(r);
        if z.is_none() {
            bad("room", format!("no configured room '{r}'"));
        }
        z
    });
    let weekday = f[1].trim().parse::<Weekday>().map_err(|e| bad("weekday", e)).ok();
    let start = parse_hhmm(f[2].trim(), false).map_err(|e| bad("start", e)).ok();
    let end = parse_hhmm(f[3].trim(), true).map_err(|e| bad("end", e)).ok();
    if let (Some(s), Some(e)) = (start, end)
        && e <= s
    {
        bad("end", "must be after start on the same day (24:00 for midnight)".into());
    }
    let zone_name = match f[4].trim() {
        "" => room_zone.clone(),
        z => Some(z.to_owned()),
    };
    let tz = zone_name.as_deref().and_then(|z| zone(z).map_err(|e| bad("zone", e)).ok());
    let teacher = text("teacher", &f[5], 1, MAX_TEACHER_CHARS).map_err(|e| bad("teacher", strip(&e, "teacher"))).ok();
    let title = text("title", &f[6], 1, MAX_TITLE_CHARS).map_err(|e| bad("title", strip(&e, "title"))).ok();
    match (room, weekday, start, end, zone_name, tz, teacher, title) {
        (
            Some(room),
            Some(weekday),
            Some(start_min),
            Some(end_min),
            Some(zone),
            Some(tz),
            Some(teacher),
            Some(title),
        ) if problems.is_empty() => Ok((Slot { id: 0, room, weekday, start_min, end_min, zone, tz }, teacher, title)),
        _ => Err(problems),
    }
}

/// `text()`'s message without its leading "field: ".
fn strip(e: &Error, field: &str) -> String {
    let s = e.to_string();
    s.strip_prefix(&format!("{field}: ")).map(str::to_owned).unwrap_or(s)
}

/// The refusal: 400 for a file that is not a timetable CSV at all, 422 for bad lines; nothing imported.
fn report(status: StatusCode, problems: Vec<Problem>) -> Response {
    let more = problems.len().saturating_sub(MAX_PROBLEMS);
    let first = problems.first().map(|p| format!("line {}, {}: {}", p.line, p.field, p.message)).unwrap_or_default();
    let count = problems.len();
    let detail = if count == 1 {
        format!("{first}; nothing was imported")
    } else {
        format!("{count} problems (the first: {first}); nothing was imported")
    };
    let problems: Vec<Problem> = problems.into_iter().take(MAX_PROBLEMS).collect();
    let code = if status == StatusCode::BAD_REQUEST { "bad_request" } else { "invalid_timetable" };
    (status, Json(json!({ "error": code, "detail": detail, "problems": problems, "notShown": more }))).into_response()
}

/// `POST /admin/api/schedules/import` (`text/csv`) → `201 {imported, slots}`; `400`/`422` with
/// `problems: [{line, field, message}]` and nothing imported; `413` over [`MAX_BYTES`].
pub async fn import(
    State(st): State<AdminState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Error> {
    let is_csv = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("text/csv"));
    if !is_csv {
        return Err(Error::UnsupportedMediaType("expected Content-Type: text/csv".into()));
    }
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Error::PayloadTooLarge(format!("body: a timetable file may be at most {} KiB", MAX_BYTES / 1024))
        } else {
            Error::invalid(format!("body: could not read it: {}", e.body_text()))
        }
    })?;
    let Ok(body) = std::str::from_utf8(&body) else {
        return Ok(report(
            StatusCode::BAD_REQUEST,
            vec![Problem::new(1, "file", "is not UTF-8 text (save it as CSV UTF-8)")],
        ));
    };
    let lines = match parse(body) {
        Ok(l) if l.is_empty() => {
            return Ok(report(
                StatusCode::BAD_REQUEST,
                vec![Problem::new(2, "line", "the file has no timetable slots")],
            ));
        }
        Ok(l) => l,
        Err(p) if p.line == 1 => return Ok(report(StatusCode::BAD_REQUEST, vec![p])),
        Err(p) => return Ok(report(StatusCode::UNPROCESSABLE_ENTITY, vec![p])),
    };
    let now = st.now() as i64;
    let mut tx = st.pool.begin().await?;
    // Each room's default zone (room, building, hub), read once.
    let rooms: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT r.id, COALESCE(r.zone, b.zone) FROM admin_rooms r LEFT JOIN admin_buildings b ON b.id = r.building_id",
    )
    .fetch_all(&mut *tx)
    .await?;
    let default_zone = |r: &RoomId| {
        rooms.iter().find(|(id, _)| id == r.as_str()).map(|(_, z)| z.clone().unwrap_or_else(|| st.zone.clone()))
    };
    let mut problems = Vec::new();
    let mut good: Vec<(usize, Slot, String, String)> = Vec::new();
    for (n, fields) in &lines {
        match check_line(*n, fields, default_zone) {
            Ok((slot, teacher, title)) => good.push((*n, slot, teacher, title)),
            Err(p) => problems.extend(p),
        }
    }
    // Overlaps, with the timetable as it is and with earlier lines.
    let mut existing: std::collections::BTreeMap<String, Vec<(Slot, Schedule)>> = Default::default();
    for (i, (n, slot, _, _)) in good.iter().enumerate() {
        let room = slot.room.as_str();
        if !existing.contains_key(room) {
            existing.insert(room.to_owned(), crate::schedule::slots_of_room(&mut tx, room).await?);
        }
        if let Some((_, s)) = existing[room].iter().find(|(other, _)| other.overlaps(slot, now as u64)) {
            problems.push(Problem::new(
                *n,
                "start",
                format!(
                    "overlaps timetable slot {} '{}' in room {} ({} {}–{})",
                    s.id, s.title, s.room_id, s.weekday, s.start, s.end
                ),
            ));
        } else if let Some((m, ..)) = good[..i].iter().find(|(_, other, ..)| other.overlaps(slot, now as u64)) {
            problems.push(Problem::new(*n, "start", format!("overlaps line {m} in room {room}")));
        }
    }
    if !problems.is_empty() {
        problems.sort_by_key(|p| p.line);
        return Ok(report(StatusCode::UNPROCESSABLE_ENTITY, problems));
    }
    let mut slots = Vec::with_capacity(good.len());
    for (_, slot, teacher, title) in &good {
        slots.push(crate::schedule::insert(&mut tx, slot, teacher, title, now).await?);
    }
    let ids: Vec<i64> = slots.iter().map(|s| s.id).collect();
    let details = json!({ "imported": slots.len(), "ids": ids });
    audit::record(
        &mut *tx,
        &Entry::by(&caller, now as u64, "schedule.import", &format!("{} slots", slots.len()), details),
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(json!({ "imported": slots.len(), "slots": slots }))).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_is_exact_and_quoted_fields_keep_their_commas() {
        let ok = "room,weekday,start,end,zone,teacher,title\r\nlab-1,mon,08:00,09:00,,\"Curie, M.\",\"Physics \"\"A\"\"\"\r\n\r\n";
        assert_eq!(
            parse(ok).unwrap(),
            [(2, ["lab-1", "mon", "08:00", "09:00", "", "Curie, M.", "Physics \"A\""].map(String::from).to_vec())]
        );
        assert_eq!(parse(&format!("\u{feff}{ok}")).unwrap().len(), 1, "a BOM (Excel's CSV UTF-8) is fine");
        for bad in ["", "room,weekday,start,end,teacher,title\n", "Room,Weekday,Start,End,Zone,Teacher,Title\n"] {
            assert_eq!(parse(bad).unwrap_err().field, "header", "{bad:?}");
        }
        let unclosed = "room,weekday,start,end,zone,teacher,title\nlab-1,mon,08:00,09:00,,\"Curie,x\n";
        assert_eq!(parse(unclosed).unwrap_err(), Problem::new(2, "line", "a quoted field is not closed on this line"));
        assert!(split("a,b\"c\",d").is_err() && split("\"a\"b,c").is_err());
    }

    #[test]
    fn every_bad_field_of_a_line_is_named() {
        let f: Vec<String> = ["lab 1!", "monday", "8:00", "25:00", "Mars/Base", " ", ""].map(String::from).to_vec();
        let fields: Vec<String> =
            check_line(4, &f, |_| Some("UTC".into())).unwrap_err().into_iter().map(|p| p.field).collect();
        assert_eq!(fields, ["room", "weekday", "start", "end", "zone", "teacher", "title"]);
        let f: Vec<String> = ["lab-1", "mon", "09:00", "08:00", "", "T", "X"].map(String::from).to_vec();
        let p = check_line(5, &f, |_| Some("UTC".into())).unwrap_err();
        assert_eq!((p[0].line, p[0].field.as_str()), (5, "end"));
        assert_eq!(check_line(6, &f[..3], |_| None).unwrap_err()[0].message, "3 columns, expected 7");
        let f: Vec<String> = ["nope", "mon", "08:00", "09:00", "", "T", "X"].map(String::from).to_vec();
        assert_eq!(check_line(7, &f, |_| None).unwrap_err()[0].message, "no configured room 'nope'");
        // The zone column empty: the room's default.
        let f: Vec<String> = ["lab-1", "fri", "08:00", "24:00", "", "T", "X"].map(String::from).to_vec();
        assert_eq!(check_line(8, &f, |_| Some("Europe/Berlin".into())).unwrap().0.zone, "Europe/Berlin");
    }
}
