//! A room's lessons: `GET /api/rooms/{room}/lessons` (a teacher token of the room, or an admin)
//! and `GET /api/rooms/{room}/recording` (any token of the room: is it being recorded?)
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
use crate::recording::db::RecordingRow;
use crate::recording::link::{LINK_TTL_SECS, LinkKey};
use crate::sfu::{Command, SfuError};
use crate::store::LessonRow;
use lectern_proto::upload::RecordingState;

/// One lesson as `GET /api/rooms/{room}/lessons` lists it (times in unix ms).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LessonView {
    pub id: String,
    pub started_at: i64,
    /// `null` while the lesson is on.
    pub ended_at: Option<i64>,
    /// The teachers who joined it, in order of arrival (for the room's list of lessons).
    pub teachers: Vec<String>,
    pub recordings: Vec<RecordingView>,
    /// Files shared in the lesson's chat (and its breakout groups'), oldest first.
    pub files: Vec<FileView>,
}

/// A shared file as the lessons list shows it, with a fresh signed link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileView {
    pub id: i64,
    pub name: String,
    pub size: u64,
    pub content_type: String,
    pub sha256: String,
    pub uploader: String,
    /// The breakout round and group it was shared in (`null`: the main room).
    pub round: Option<i64>,
    pub group: Option<i64>,
    pub created_at: i64,
    pub url: String,
}

pub use lectern_proto::upload::RecordingView;

impl LessonView {
    fn of(row: LessonRow) -> Self {
        Self {
            id: row.id,
            started_at: row.started_at,
            ended_at: row.ended_at,
            teachers: Vec::new(),
            recordings: Vec::new(),
            files: Vec::new(),
        }
    }
}

/// A recording row as the list shows it: ready files with a signed link valid until `exp`.
pub(super) fn view(row: &RecordingRow, links: &LinkKey, exp: u64) -> Option<RecordingView> {
    let state = row.state();
    Some(RecordingView {
        kind: row.kind()?,
        state,
        bytes: row.received(),
        duration_ms: row.duration_ms.and_then(|d| u64::try_from(d).ok()),
        started_at: row.started_at.and_then(|t| u64::try_from(t).ok()),
        url: (state == RecordingState::Ready).then(|| links.url(row.id, &row.name, exp)),
        participant: row.participant.clone(),
    })
}

/// The teachers who joined while `lesson` ran (sessions are in unix seconds), each once.
fn teachers_of(lesson: &LessonView, sessions: &[crate::store::SessionRow]) -> Vec<String> {
    let from = lesson.started_at.div_euclid(1000) - 1;
    let until = lesson.ended_at.map_or(i64::MAX, |e| e.div_euclid(1000) + 1);
    let mut names: Vec<String> = Vec::new();
    for s in sessions.iter().filter(|s| s.role == "teacher" && (from..=until).contains(&s.joined_at)) {
        if !names.contains(&s.name) {
            names.push(s.name.clone());
        }
    }
    names
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
    let mut lessons: Vec<LessonView> = rows.into_iter().map(LessonView::of).collect();
    let sessions = st.store.sessions(&room).await.map_err(|e| HttpError::internal("reading the room's sessions", e))?;
    for lesson in &mut lessons {
        lesson.teachers = teachers_of(lesson, &sessions);
    }
    let files = st
        .store
        .recordings_of_room(&room)
        .await
        .map_err(|e| HttpError::internal("reading the room's recordings", e))?;
    let exp = lectern_common::time::unix_secs() + LINK_TTL_SECS;
    for file in &files {
        let (Some(lesson), Some(v)) =
            (lessons.iter_mut().find(|l| l.id == file.lesson_id), view(file, st.archive.links(), exp))
        else {
            continue;
        };
        lesson.recordings.push(v);
    }
    let shared = st
        .store
        .shared_files_of_room(&room)
        .await
        .map_err(|e| HttpError::internal("reading the room's shared files", e))?;
    let file_exp = lectern_common::time::unix_secs() + crate::files::LINK_TTL_SECS;
    for f in shared {
        let Some(lesson) = lessons.iter_mut().find(|l| l.id == f.lesson_id) else { continue };
        let url = st.files.url(f.id, &crate::files::name::ascii_segment(&f.name), file_exp);
        lesson.files.push(FileView {
            id: f.id,
            size: f.size(),
            name: f.name,
            content_type: f.content_type,
            sha256: f.sha256,
            uploader: f.uploader_name,
            round: f.breakout_round,
            group: f.breakout_group,
            created_at: f.created_at,
            url,
        });
    }
    let mut resp = Json(lessons).into_response();
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// `GET /api/rooms/{room}/recording` (any token of the room): whether its lesson is being recorded
/// now and the room's policy, so the join page can say so before anyone enters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordingNow {
    pub recording: bool,
    pub policy: lectern_proto::lesson::RecordingPolicy,
}

pub async fn recording(
    State(st): State<Arc<AppState>>,
    Path(room): Path<String>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let room = parse_room(&room)?;
    authorize(&headers, &st.key, &room, ANY_ROLE)?;
    let policy = st.room_settings.recording(&room).unwrap_or(st.recording.default);
    let recording = match st.sfu.call(&room, |reply| Command::Recording { room: room.clone(), reply }).await {
        Ok(on) => on,
        Err(SfuError::UnknownParticipant) => false,
        Err(e) => return Err(e.into()),
    };
    let mut resp = Json(RecordingNow { recording, policy }).into_response();
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// Everyone a join link is for: the notice is for the people who enter.
pub const ANY_ROLE: &[lectern_proto::Role] = &lectern_proto::Role::ALL;

/// Ends `room`'s lesson on the hub, if one is on (`POST /api/rooms/{room}/end`).
pub async fn end(st: &AppState, room: &RoomId) -> Result<bool, HttpError> {
    let reason = EndReason::Api;
    match st.sfu.call(room, |reply| Command::EndLesson { room: room.clone(), reason, reply }).await {
        Ok(ended) => Ok(ended),
        Err(SfuError::UnknownParticipant) => Ok(false),
        Err(e) => Err(e.into()),
    }
}
