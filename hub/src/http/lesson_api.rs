//! Lesson exports for teachers: attendance and poll results as CSV or JSON,
//! `GET /api/rooms/{room}/attendance.csv|json` and `/polls.csv|json` with a teacher token.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use lectern_proto::Role;

use super::AppState;
use super::auth::{authorize, parse_room};
use super::error::AppError;
use crate::sfu::Command;

pub async fn report(
    State(st): State<Arc<AppState>>,
    Path((room, file)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let room = parse_room(&room)?;
    authorize(&headers, &st.key, &room, &[Role::Teacher, Role::Admin])?;
    let (what, format) = file.rsplit_once('.').ok_or_else(|| AppError::not_found("expected e.g. attendance.csv"))?;
    if !matches!(what, "attendance" | "polls" | "chat") || !matches!(format, "csv" | "json") {
        return Err(AppError::not_found("available: attendance, polls and chat, each .csv or .json"));
    }
    if what == "chat" {
        return chat(&st, &room, format).await;
    }
    // The live lesson if the hub still holds the room, else the last one saved.
    let body = match st.sfu.call(&room, |reply| Command::Report { room: room.clone(), reply }).await {
        Ok(report) => match (what, format) {
            ("attendance", "csv") => report.attendance.to_csv(),
            ("attendance", _) => serde_json::to_string_pretty(&report.attendance).unwrap_or_default(),
            ("polls", "csv") => report.polls.iter().map(|p| p.to_csv()).collect::<Vec<_>>().join("\n"),
            _ => serde_json::to_string_pretty(&report.polls).unwrap_or_default(),
        },
        Err(_) => {
            let saved =
                st.store.latest_lesson(&room).await.map_err(|e| AppError::internal("reading saved lessons", e))?;
            let saved = saved.ok_or_else(|| AppError::not_found(format!("no lesson recorded for room '{room}'")))?;
            match (what, format) {
                ("attendance", "csv") => saved.attendance_csv,
                ("attendance", _) => saved.attendance_json,
                ("polls", "csv") => saved.polls_csv,
                _ => saved.polls_json,
            }
        }
    };
    let ctype = if format == "csv" { "text/csv; charset=utf-8" } else { "application/json" };
    let mut resp = (StatusCode::OK, body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{room}-{what}.{format}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// The room's chat record from the database (every lesson, deleted messages marked).
async fn chat(st: &AppState, room: &lectern_proto::RoomId, format: &str) -> Result<Response, AppError> {
    let rows = st.store.chat(room).await.map_err(|e| AppError::internal("reading chat", e))?;
    let body = if format == "csv" {
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
    let ctype = if format == "csv" { "text/csv; charset=utf-8" } else { "application/json" };
    let mut resp = (StatusCode::OK, body).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}
