//! Lesson exports for teachers: attendance and poll results as CSV or JSON,
//! `GET /api/rooms/{room}/attendance.csv|json` and `/polls.csv|json` with a teacher token.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use lectern_proto::RoomId;

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
}

/// How it is written: the word after the dot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Csv,
    Json,
}

impl Format {
    fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Json => "application/json",
        }
    }
}

/// `attendance.csv` → (Attendance, Csv); the refusals say what exists.
fn parse_file(file: &str) -> Result<(Record, Format), HttpError> {
    let (what, format) = file.rsplit_once('.').ok_or_else(|| HttpError::not_found("expected e.g. attendance.csv"))?;
    segment(what)
        .zip(segment(format))
        .ok_or_else(|| HttpError::not_found("available: attendance, polls and chat, each .csv or .json"))
}

pub async fn report(
    State(st): State<Arc<AppState>>,
    Path((room, file)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let room = parse_room(&room)?;
    authorize(&headers, &st.key, &room, TEACHERS)?;
    let (what, format) = parse_file(&file)?;
    let body = match what {
        Record::Chat => return chat(&st, &room, format).await,
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

/// Attendance or polls of the live lesson if the hub still holds the room, else of the last one saved.
async fn lesson(st: &AppState, room: &RoomId, what: Record, format: Format) -> Result<String, HttpError> {
    let body = match st.sfu.call(room, |reply| Command::Report { room: room.clone(), reply }).await {
        Ok(report) => match (what, format) {
            (Record::Attendance, Format::Csv) => report.attendance.to_csv(),
            (Record::Attendance, Format::Json) => serde_json::to_string_pretty(&report.attendance).unwrap_or_default(),
            (_, Format::Csv) => report.polls.iter().map(|p| p.to_csv()).collect::<Vec<_>>().join("\n"),
            (_, Format::Json) => serde_json::to_string_pretty(&report.polls).unwrap_or_default(),
        },
        Err(_) => {
            let saved =
                st.store.latest_lesson(room).await.map_err(|e| HttpError::internal("reading saved lessons", e))?;
            let saved = saved.ok_or_else(|| HttpError::not_found(format!("no lesson recorded for room '{room}'")))?;
            match (what, format) {
                (Record::Attendance, Format::Csv) => saved.attendance_csv,
                (Record::Attendance, Format::Json) => saved.attendance_json,
                (_, Format::Csv) => saved.polls_csv,
                (_, Format::Json) => saved.polls_json,
            }
        }
    };
    Ok(body)
}

/// The room's chat record from the database (every lesson, deleted messages marked).
async fn chat(st: &AppState, room: &RoomId, format: Format) -> Result<Response, HttpError> {
    let rows = st.store.chat(room).await.map_err(|e| HttpError::internal("reading chat", e))?;
    let body = if format == Format::Csv {
        let mut out = crate::classroom::csv_row(&["sent_at", "from", "text", "deleted"]);
        for (at, from, text, deleted) in &rows {
            let at = crate::classroom::iso_time(*at as u64);
            out.push_str(&crate::classroom::csv_row(&[at.as_str(), from, text, if *deleted { "yes" } else { "no" }]));
        }
        out
    } else {
        let v: Vec<_> = rows
            .iter()
            .map(|(at, from, text, deleted)| serde_json::json!({ "sentAt": at, "from": from, "text": text, "deleted": deleted }))
            .collect();
        serde_json::to_string_pretty(&v).unwrap_or_default()
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
    fn an_export_file_is_a_record_and_a_format() {
        assert_eq!(parse_file("attendance.csv").expect("known"), (Record::Attendance, Format::Csv));
        assert_eq!(parse_file("polls.json").expect("known"), (Record::Polls, Format::Json));
        assert_eq!(parse_file("chat.csv").expect("known"), (Record::Chat, Format::Csv));
        for bad in ["attendance", "grades.csv", "polls.xml", "Polls.csv", "x.attendance.csv"] {
            assert_eq!(parse_file(bad).expect_err(bad).status(), StatusCode::NOT_FOUND, "{bad}");
        }
    }
}
