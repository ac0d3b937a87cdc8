//! Lesson exports for teachers: attendance, poll results and the chat as CSV or JSON,
//! `GET /api/rooms/{room}/attendance.csv|json`, `/polls.csv|json` and `/chat.csv|json` with a
//! teacher token, the shared notes as Markdown (`/notes.md`), and the breakout groups kept of the
//! room's last lesson that had any (`/breakouts.json`: each group's chat and notes). The chat export is the lesson's: what was sent while the teacher's token was
//! valid (a timetable link lives for its slot), private messages marked, deleted ones left out;
//! an admin token gets every lesson's, and with `?deleted=1` the deleted messages too.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use lectern_proto::{Claims, Role, RoomId};

use serde::Deserialize;

use super::auth::{TEACHERS, authorize, parse_room};
use super::error::HttpError;
use super::{AppState, segment};
use crate::sfu::Command;

/// What a lesson export holds: the word before the dot in `attendance.csv`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Record {
    Attendance,
    Polls,
    Chat,
    /// The shared notes (`notes.md` only).
    Notes,
    /// The kept breakout groups (`breakouts.json` only).
    Breakouts,
}

/// How it is written: the word after the dot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Csv,
    Json,
    Md,
}

impl Format {
    fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Json => "application/json",
            Format::Md => "text/markdown; charset=utf-8",
        }
    }
}

/// `attendance.csv` → (Attendance, Csv); the refusals say what exists.
fn parse_file(file: &str) -> Result<(Record, Format), HttpError> {
    let (what, format) = file.rsplit_once('.').ok_or_else(|| HttpError::not_found("expected e.g. attendance.csv"))?;
    segment(what)
        .zip(segment(format))
        .filter(|(what, format)| (*what == Record::Notes) == (*format == Format::Md))
        .filter(|(what, format)| *what != Record::Breakouts || *format == Format::Json)
        .ok_or_else(|| {
            HttpError::not_found("available: attendance, polls and chat, each .csv or .json; notes.md; breakouts.json")
        })
}

/// `?deleted=1`: the chat export with deleted messages (admins only); `?lesson=<id>`: the
/// breakout groups of that lesson of the room (`breakouts.json` only), not the last one's.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    #[serde(default)]
    deleted: Option<String>,
    #[serde(default)]
    lesson: Option<String>,
}

pub async fn report(
    State(st): State<Arc<AppState>>,
    Path((room, file)): Path<(String, String)>,
    query: Result<Query<ExportQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let room = parse_room(&room)?;
    let claims = authorize(&headers, &st.key, &room, TEACHERS)?;
    let (what, format) = parse_file(&file)?;
    let Ok(Query(query)) = query else {
        return Err(HttpError::invalid(
            "the query parameters are deleted=1 (chat, admins) and lesson=<id> (breakouts.json)",
        ));
    };
    if query.lesson.is_some() && what != Record::Breakouts {
        return Err(HttpError::invalid("lesson=<id> applies to breakouts.json only"));
    }
    let with_deleted = match query.deleted.as_deref() {
        None | Some("0") | Some("false") => false,
        Some("1") | Some("true") if what == Record::Chat && claims.role == Role::Admin => true,
        Some("1") | Some("true") if what == Record::Chat => {
            return Err(HttpError::forbidden("only an admin may export deleted chat messages"));
        }
        Some(_) => return Err(HttpError::invalid("deleted=1 applies to the chat export only")),
    };
    let body = match what {
        Record::Chat => return chat(&st, &room, &claims, with_deleted, format).await,
        Record::Notes => notes(&st, &room).await?,
        Record::Breakouts => {
            let rows = match query.lesson.as_deref().map(|l| lesson_of(&room, l)).transpose()? {
                Some(lesson) => st.store.breakouts_of_lesson(&lesson).await,
                None => st.store.last_breakouts(&room).await,
            };
            let rows = rows.map_err(|e| HttpError::internal("reading breakout groups", e))?;
            serde_json::to_string_pretty(&rows).unwrap_or_default()
        }
        Record::Attendance | Record::Polls => lesson(&st, &room, what, format).await?,
    };
    let mut resp = (StatusCode::OK, body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(format.content_type()));
    // `file` is exactly `{what}.{format}`: both words parsed.
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{room}-{file}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// `?lesson=<id>` of `room` (another room's lesson is refused: a teacher token is for one room).
fn lesson_of(room: &RoomId, id: &str) -> Result<lectern_proto::LessonId, HttpError> {
    let lesson = lectern_proto::LessonId::parse(id)
        .map_err(|e| HttpError::invalid(format!("lesson: '{id}' is not a lesson id ({{room}}.{{started_ms}}): {e}")))?;
    if &lesson.room() != room {
        return Err(HttpError::forbidden(format!("lesson {lesson} is not a lesson of room '{room}'")));
    }
    Ok(lesson)
}

/// Attendance or polls of the live lesson if the hub still holds the room, else of the last one saved.
async fn lesson(st: &AppState, room: &RoomId, what: Record, format: Format) -> Result<String, HttpError> {
    let body = match st.sfu.call(room, |reply| Command::Report { room: room.clone(), reply }).await {
        Ok(report) => match (what, format) {
            (Record::Attendance, Format::Csv) => report.attendance.to_csv(),
            (Record::Attendance, Format::Json) => serde_json::to_string_pretty(&report.attendance).unwrap_or_default(),
            (_, Format::Csv) => report.polls.iter().map(|p| p.to_csv()).collect::<Vec<_>>().join("\n"),
            // `.md` is the notes' only (see `parse_file`).
            (_, Format::Json | Format::Md) => serde_json::to_string_pretty(&report.polls).unwrap_or_default(),
        },
        Err(_) => {
            let saved =
                st.store.latest_lesson(room).await.map_err(|e| HttpError::internal("reading saved lessons", e))?;
            let saved = saved.ok_or_else(|| HttpError::not_found(format!("no lesson recorded for room '{room}'")))?;
            match (what, format) {
                (Record::Attendance, Format::Csv) => saved.attendance_csv,
                (Record::Attendance, Format::Json) => saved.attendance_json,
                (_, Format::Csv) => saved.polls_csv,
                (_, Format::Json | Format::Md) => saved.polls_json,
            }
        }
    };
    Ok(body)
}

/// The shared notes of the live lesson if the hub still holds the room, else of the last one saved.
async fn notes(st: &AppState, room: &RoomId) -> Result<String, HttpError> {
    if let Ok(report) = st.sfu.call(room, |reply| Command::Report { room: room.clone(), reply }).await {
        return Ok(report.notes);
    }
    let saved = st.store.latest_notes(room).await.map_err(|e| HttpError::internal("reading saved notes", e))?;
    saved.ok_or_else(|| HttpError::not_found(format!("no notes recorded for room '{room}'")))
}

/// The chat a token may export, in unix ms: a teacher's, what was sent while the token was valid;
/// an admin's, everything.
fn chat_window(claims: &Claims) -> std::ops::RangeInclusive<u64> {
    if claims.role == Role::Admin {
        return 0..=u64::MAX;
    }
    claims.nbf.saturating_mul(1000)..=claims.exp.saturating_mul(1000)
}

/// The lesson's chat from the database: private messages marked, deleted ones only if asked.
async fn chat(
    st: &AppState,
    room: &RoomId,
    claims: &Claims,
    with_deleted: bool,
    format: Format,
) -> Result<Response, HttpError> {
    let rows = st
        .store
        .chat(room, chat_window(claims), with_deleted)
        .await
        .map_err(|e| HttpError::internal("reading chat", e))?;
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    let body = if format == Format::Csv {
        let mut out = crate::classroom::csv_row(&["sent_at", "from", "text", "private", "deleted"]);
        for r in &rows {
            let at = crate::classroom::iso_time(r.sent_at);
            out.push_str(&crate::classroom::csv_row(&[
                at.as_str(),
                &r.from,
                &r.text,
                yes_no(r.private),
                yes_no(r.deleted),
            ]));
        }
        out
    } else {
        serde_json::to_string_pretty(&rows).unwrap_or_default()
    };
    let mut resp = (StatusCode::OK, body).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(format.content_type()));
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_teacher_exports_the_chat_of_the_lesson_their_token_was_for() {
        let claims = |role, nbf, exp| Claims {
            sub: "t".into(),
            room: RoomId::parse("r").expect("a room"),
            role,
            name: None,
            exp,
            nbf,
            jti: "j".into(),
            guest: false,
        };
        assert_eq!(chat_window(&claims(Role::Teacher, 100, 200)), 100_000..=200_000);
        assert_eq!(chat_window(&claims(Role::Admin, 100, 200)), 0..=u64::MAX);
        assert_eq!(chat_window(&claims(Role::Teacher, 100, u64::MAX)), 100_000..=u64::MAX, "never overflows");
    }

    #[test]
    fn an_export_file_is_a_record_and_a_format() {
        assert_eq!(parse_file("attendance.csv").expect("known"), (Record::Attendance, Format::Csv));
        assert_eq!(parse_file("polls.json").expect("known"), (Record::Polls, Format::Json));
        assert_eq!(parse_file("chat.csv").expect("known"), (Record::Chat, Format::Csv));
        assert_eq!(parse_file("notes.md").expect("known"), (Record::Notes, Format::Md));
        assert_eq!(parse_file("breakouts.json").expect("known"), (Record::Breakouts, Format::Json));
        assert!(parse_file("breakouts.csv").is_err() && parse_file("breakouts.md").is_err());
        for bad in ["attendance", "grades.csv", "polls.xml", "Polls.csv", "x.attendance.csv", "notes.csv", "chat.md"] {
            assert_eq!(parse_file(bad).expect_err(bad).status(), StatusCode::NOT_FOUND, "{bad}");
        }
    }
}
