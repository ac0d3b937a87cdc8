//! A room's lessons: `GET /api/rooms/{room}/lessons` (a teacher token of the room, or an admin)
//! lists each lesson occurrence with its recordings, newest first; `POST /api/rooms/{room}/end`
//! ends the lesson on the hub ([`end`], called from `device::command`). The lessons themselves
//! are opened and closed by the room (`sfu::room::occurrence`), written by the store.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use lectern_proto::RoomId;
use serde::Serialize;

use super::AppState;
use super::auth::{TEACHERS, authorize, parse_room};
use super::error::HttpError;
use crate::recording::EndReason;
use crate::sfu::{Command, SfuError};
use crate::store::LessonRow;

/// One lesson as `GET /api/rooms/{room}/lessons` lists it (times in unix ms).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LessonView {
    pub id: String,
    pub started_at: i64,
    /// `null` while the lesson is on.
    pub ended_at: Option<i64>,
    pub recordings: Vec<RecordingView>,
}

/// One file of a lesson's recording.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordingView {
    /// `camera`, `slides`, `audio`, …
    pub kind: String,
    /// `recording` | `uploading` | `ready`
    pub state: String,
    /// What the hub holds of it so far.
    pub bytes: u64,
    pub duration_ms: Option<u64>,
    /// A signed, expiring download link; `null` until the file is ready.
    pub url: Option<String>,
}

impl LessonView {
    fn of(row: LessonRow) -> Self {
        Self { id: row.id, started_at: row.started_at, ended_at: row.ended_at, recordings: Vec::new() }
    }
}

/// `GET /api/rooms/{room}/lessons`.
pub async fn list(
    State(st): State<Arc<AppState>>,
    Path(room): Path<String>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let room = parse_room(&room)?;
    authorize(&headers, &st.key, &room, TEACHERS)?;
    let rows = st.store.lessons(&room).await.map_err(|e| HttpError::internal("reading the room's lessons", e))?;
    let lessons: Vec<LessonView> = rows.into_iter().map(LessonView::of).collect();
    let mut resp = Json(lessons).into_response();
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// Ends `room`'s lesson on the hub, if one is on (`POST /api/rooms/{room}/end`).
pub async fn end(st: &AppState, room: &RoomId) -> Result<bool, HttpError> {
    let reason = EndReason::Api;
    match st.sfu.call(room, |reply| Command::EndLesson { room: room.clone(), reason, reply }).await {
        Ok(ended) => Ok(ended),
        Err(SfuError::UnknownParticipant) => Ok(false),
        Err(e) => Err(e.into()),
    }
}
