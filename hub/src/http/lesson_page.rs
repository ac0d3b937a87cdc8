//! The lesson page (`docs/recording.md`, "The lesson page"): `/lessons/{id}` and the room's list
//! `/rooms/{room}/lessons` (static pages: the data needs a credential), and their JSON:
//! `GET /api/rooms/{room}/lessons/{id}` (a teacher or admin token of the room: everything),
//! `POST /api/rooms/{room}/lessons/{id}/share` (the same: a signed link for students) and
//! `GET /api/lessons/{id}/shared?exp=…&sig=…` (that link's view: no private chat, no attendance,
//! no names in poll results). What each viewer sees is `recording::page` (pure).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use lectern_common::time::{unix_ms, unix_secs};
use lectern_proto::{LessonId, RoomId};
use serde::Serialize;

use super::AppState;
use super::auth::{TEACHERS, authorize, parse_room};
use super::error::HttpError;
use crate::recording::link::{LINK_TTL_SECS, SHARE_TTL_SECS};
use crate::recording::page::{self, LessonPage, PageFile, Viewer};
use crate::sfu::Command;
use crate::store::LessonRow;

/// `GET /lessons/{id}`: the page (it asks the API with the token or the link it was opened with).
pub async fn page(Path(id): Path<String>) -> Result<Response, HttpError> {
    LessonId::parse(&id).map_err(|e| HttpError::not_found(format!("no lesson '{}': {e}", clip(&id))))?;
    super::pages::serve("lesson.html")
}

/// `GET /rooms/{room}/lessons`: the room's list of lessons.
pub async fn list_page(Path(room): Path<String>) -> Result<Response, HttpError> {
    parse_room(&room).map_err(|e| HttpError::not_found(e.to_string()))?;
    super::pages::serve("lessons.html")
}

/// `GET /api/rooms/{room}/lessons/{id}`.
pub async fn detail(
    State(st): State<Arc<AppState>>,
    Path((room, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let room = parse_room(&room)?;
    authorize(&headers, &st.key, &room, TEACHERS)?;
    let lesson = lesson_in(&room, &id)?;
    let row = row_of(&st, &lesson).await?;
    Ok(no_store(Json(compose(&st, &lesson, row, Viewer::Staff).await?).into_response()))
}

/// A shared page's link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Shared {
    /// Relative to the hub: `/lessons/{id}?exp=…&sig=…`.
    pub url: String,
    /// Unix seconds.
    pub expires_at: u64,
}

/// `POST /api/rooms/{room}/lessons/{id}/share`: a link students open the page with, for a week.
pub async fn share(
    State(st): State<Arc<AppState>>,
    Path((room, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let room = parse_room(&room)?;
    let claims = authorize(&headers, &st.key, &room, TEACHERS)?;
    let lesson = lesson_in(&room, &id)?;
    row_of(&st, &lesson).await?;
    let expires_at = unix_secs() + SHARE_TTL_SECS;
    let url = st.archive.links().share_url(lesson.as_str(), expires_at);
    tracing::info!(%lesson, by = %super::auth::display_name(&claims), expires_at, "lesson page shared with students");
    Ok(no_store(Json(Shared { url, expires_at }).into_response()))
}

/// `GET /api/lessons/{id}/shared?exp=…&sig=…`: the student's view through a shared link.
pub async fn shared(
    State(st): State<Arc<AppState>>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, HttpError> {
    let lesson = LessonId::parse(&id).map_err(|e| {
        HttpError::invalid(format!("'{}' is not a lesson id ({{room}}.{{started_ms}}): {e}", clip(&id)))
    })?;
    let (exp, sig) = crate::recording::link::query(query.as_deref())
        .ok_or_else(|| HttpError::forbidden("a shared lesson link carries exp and sig"))?;
    st.archive
        .links()
        .verify_share(lesson.as_str(), exp, &sig, unix_secs())
        .map_err(|e| HttpError::forbidden(e.to_string().replace("download link", "shared lesson link")))?;
    let row = row_of(&st, &lesson).await?;
    Ok(no_store(Json(compose(&st, &lesson, row, Viewer::Student).await?).into_response()))
}

fn clip(s: &str) -> String {
    s.chars().take(64).collect()
}

fn no_store(mut resp: Response) -> Response {
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// Lesson `id` of `room`: 400 when it is no lesson id, 404 when it is another room's.
fn lesson_in(room: &RoomId, id: &str) -> Result<LessonId, HttpError> {
    let lesson = LessonId::parse(id)
        .map_err(|e| HttpError::invalid(format!("'{}' is not a lesson id ({{room}}.{{started_ms}}): {e}", clip(id))))?;
    if &lesson.room() != room {
        return Err(HttpError::not_found(format!("no lesson {lesson} in room '{room}'")));
    }
    Ok(lesson)
}

async fn row_of(st: &AppState, lesson: &LessonId) -> Result<LessonRow, HttpError> {
    let row = st.store.lesson_row(lesson).await.map_err(|e| HttpError::internal("reading a lesson", e))?;
    row.ok_or_else(|| HttpError::not_found(format!("no lesson {lesson} on this hub")))
}

/// How long after its end a lesson's report may still be saved (the room saves it as it ends).
const REPORT_SLACK_SECS: i64 = 5;

/// The page's JSON from the lesson's rows (and, while it is on, the room's live report).
async fn compose(st: &AppState, lesson: &LessonId, row: LessonRow, viewer: Viewer) -> Result<LessonPage, HttpError> {
    let room = lesson.room();
    let until_ms = row.ended_at.unwrap_or_else(|| i64::try_from(unix_ms()).unwrap_or(i64::MAX));
    let (from_s, until_s) = (row.started_at.div_euclid(1000), until_ms.div_euclid(1000) + 1);
    let exp = unix_secs() + LINK_TTL_SECS;
    let rows = st.store.recordings_of_lesson(lesson).await.map_err(|e| HttpError::internal("reading recordings", e))?;
    let mut files: Vec<PageFile> = rows
        .iter()
        .filter_map(|r| {
            let view = super::lessons::view(r, st.archive.links(), exp)?;
            Some(PageFile { view, name: r.name.clone(), track: page::track_of(&r.name) })
        })
        .collect();
    page::order_files(&mut files);
    let chat_window = u64::try_from(row.started_at).unwrap_or(0)..=u64::try_from(until_ms).unwrap_or(0);
    let chat = st.store.chat(&room, chat_window, false).await.map_err(|e| HttpError::internal("reading chat", e))?;
    let teachers = st
        .store
        .teachers_between(&room, from_s - 1, until_s)
        .await
        .map_err(|e| HttpError::internal("reading the lesson's teachers", e))?;
    let (attendance, polls) = report(st, &room, &row, from_s, until_s).await?;
    Ok(LessonPage {
        id: row.id,
        room: room.to_string(),
        started_at: row.started_at,
        ended_at: row.ended_at,
        viewer,
        teachers,
        files,
        chat: page::chat_for(chat, viewer),
        attendance: page::attendance_for(attendance.as_deref(), viewer),
        polls: page::polls_for(polls.as_deref(), viewer),
    })
}

/// Attendance and polls as JSON text: the live lesson's from its room, else the report saved
/// while it ran (the last one: the room saves as it empties and as the lesson ends).
async fn report(
    st: &AppState,
    room: &RoomId,
    row: &LessonRow,
    from_s: i64,
    until_s: i64,
) -> Result<(Option<String>, Option<String>), HttpError> {
    if row.ended_at.is_none()
        && let Ok(live) = st.sfu.call(room, |reply| Command::Report { room: room.clone(), reply }).await
    {
        let attendance = serde_json::to_string(&live.attendance).ok();
        return Ok((attendance, serde_json::to_string(&live.polls).ok()));
    }
    let saved = st
        .store
        .report_between(room, from_s, until_s + REPORT_SLACK_SECS)
        .await
        .map_err(|e| HttpError::internal("reading the lesson's report", e))?;
    Ok(saved.map_or((None, None), |s| (Some(s.attendance_json), Some(s.polls_json))))
}
