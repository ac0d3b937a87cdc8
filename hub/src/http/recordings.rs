//! The recordings' HTTP edge: the box's resumable upload (`POST /api/rooms/{room}/uploads`,
//! `GET|HEAD|PATCH /api/rooms/{room}/uploads/{id}`, the room's device token only) and the signed
//! download link (`GET /recordings/{id}/{name}?exp=…&sig=…`, with `Range`). The decisions are
//! `recording::upload` and `recording::link` (pure); here: read the row, ask them, then touch
//! storage — so every refusal leaves what is stored as it was.

use std::sync::Arc;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use lectern_proto::upload::{
    CHECKSUM_HEADER, CHUNK_CONTENT_TYPE, OFFSET_HEADER, RecordingState, UploadCreate, UploadStatus,
};
use lectern_proto::{LessonId, Role, RoomId};

use super::AppState;
use super::auth::{authorize, parse_room};
use super::error::HttpError;
use crate::recording::db::RecordingRow;
use crate::recording::link::{Ranged, parse_range};
use crate::recording::retention;
use crate::recording::storage::{ObjectKey, Storage, StorageError};
use crate::recording::upload::{self, Held, UploadError};

/// Only the room's box uploads its recordings.
pub const DEVICE: &[Role] = &[Role::Device];

fn refused(e: UploadError) -> HttpError {
    let detail = e.to_string();
    match e.status() {
        403 => HttpError::forbidden(detail),
        409 => HttpError::conflict(detail),
        413 => HttpError::PayloadTooLarge(detail),
        _ => HttpError::invalid(detail),
    }
}

/// A refusal that names the hub's offset in `upload-offset` too, so the box can resume from it.
fn refused_at(e: UploadError, offset: u64) -> Response {
    let mut resp = refused(e).into_response();
    resp.headers_mut().insert(OFFSET_HEADER, HeaderValue::from(offset));
    resp
}

fn storage(st: &AppState) -> Result<&dyn Storage, HttpError> {
    st.archive.storage().ok_or_else(|| HttpError::Unavailable("this hub keeps no recordings".into()))
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn status_of(row: &RecordingRow) -> UploadStatus {
    UploadStatus { id: row.id, offset: row.received(), size: row.size(), state: row.state() }
}

/// The upload's state as JSON, with `upload-offset` and `upload-length` for tus-minded clients.
fn answer(code: StatusCode, row: &RecordingRow) -> Response {
    let mut resp = (code, Json(status_of(row))).into_response();
    let h = resp.headers_mut();
    h.insert(OFFSET_HEADER, HeaderValue::from(row.received()));
    h.insert("upload-length", HeaderValue::from(row.size()));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

fn key_of(row: &RecordingRow) -> Result<ObjectKey, HttpError> {
    let lesson =
        row.lesson().ok_or_else(|| HttpError::internal("reading an upload", "its lesson id does not parse"))?;
    ObjectKey::new(lesson, &row.name).map_err(|e| HttpError::internal("reading an upload", e))
}

/// Upload `id` of `room` (404 for another room's: a box learns nothing of other rooms).
async fn upload_of(st: &AppState, room: &RoomId, id: &str) -> Result<RecordingRow, HttpError> {
    let missing = || HttpError::not_found(format!("no upload {id} in room '{room}'"));
    let id: i64 = id.parse().map_err(|_| missing())?;
    let row = st.store.recording(id).await.map_err(|e| HttpError::internal("reading an upload", e))?;
    row.filter(|r| r.lesson().is_some_and(|l| &l.room() == room)).ok_or_else(missing)
}

/// `POST /api/rooms/{room}/uploads`: 201 with a new upload, 200 with the one an earlier create made.
pub async fn create(
    State(st): State<Arc<AppState>>,
    Path(room): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, HttpError> {
    let room = parse_room(&room)?;
    authorize(&headers, &st.key, &room, DEVICE)?;
    storage(&st)?;
    let c: UploadCreate =
        serde_json::from_slice(&body).map_err(|e| HttpError::invalid(format!("not an upload request: {e}")))?;
    upload::check_create(&c, &room).map_err(refused)?;
    let now = lectern_common::time::unix_ms();
    let Some(kept) =
        st.store.retention_of(&c.lesson).await.map_err(|e| HttpError::internal("creating an upload", e))?
    else {
        return Err(HttpError::not_found(format!("no lesson {} on this hub", c.lesson)));
    };
    // A box that was offline past the lesson's retention: the hub would only delete the file again.
    let days = st.admin.recordings.default_retention_days;
    if !retention::expired(&[kept], days, now).is_empty() {
        return Err(gone(&c.lesson));
    }
    let (row, created) =
        st.store.create_upload(&c, now).await.map_err(|e| HttpError::internal("creating an upload", e))?;
    // This very file was stored and deleted by retention (the lesson was on hold then, say).
    if !created && st.store.recording(row.id).await.map_err(|e| HttpError::internal("creating an upload", e))?.is_none()
    {
        return Err(gone(&c.lesson));
    }
    if !created {
        upload::check_same_file(&c, row.size(), row.sha256.as_deref().unwrap_or_default()).map_err(refused)?;
    }
    tracing::info!(id = row.id, lesson = %c.lesson, name = %c.name, size = c.size, created, "upload opened");
    let mut resp = answer(if created { StatusCode::CREATED } else { StatusCode::OK }, &row);
    let location = format!("/api/rooms/{room}/uploads/{}", row.id);
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

fn gone(lesson: &LessonId) -> HttpError {
    HttpError::gone(format!("the recordings of lesson {lesson} are past their retention and were deleted"))
}

/// `GET` (or `HEAD`) `/api/rooms/{room}/uploads/{id}`: how much the hub holds.
pub async fn status(
    State(st): State<Arc<AppState>>,
    Path((room, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let room = parse_room(&room)?;
    authorize(&headers, &st.key, &room, DEVICE)?;
    let storage = storage(&st)?;
    let row = upload_of(&st, &room, &id).await?;
    let _turn = st.archive.turn(row.id).await;
    // Read again in turn: a PATCH may have moved it while we waited.
    let row = upload_of(&st, &room, &id).await?;
    let row = match settle(&st, storage, row).await? {
        Ok(row) => row,
        Err(resp) => return Ok(resp),
    };
    Ok(answer(StatusCode::OK, &row))
}

/// `PATCH /api/rooms/{room}/uploads/{id}`: one chunk at the hub's offset.
pub async fn append(
    State(st): State<Arc<AppState>>,
    Path((room, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, HttpError> {
    let room = parse_room(&room)?;
    authorize(&headers, &st.key, &room, DEVICE)?;
    let storage = storage(&st)?;
    let row = upload_of(&st, &room, &id).await?;
    let _turn = st.archive.turn(row.id).await;
    let row = upload_of(&st, &room, &id).await?;
    let row = match settle(&st, storage, row).await? {
        Ok(row) => row,
        Err(resp) => return Ok(resp),
    };
    let content_type = header_str(&headers, header::CONTENT_TYPE.as_str()).unwrap_or_default();
    if !content_type.eq_ignore_ascii_case(CHUNK_CONTENT_TYPE) {
        return Err(HttpError::unsupported_media_type(format!("a chunk is sent as {CHUNK_CONTENT_TYPE}")));
    }
    let offset = upload::parse_offset(header_str(&headers, OFFSET_HEADER)).map_err(refused)?;
    let digest = upload::parse_checksum(header_str(&headers, CHECKSUM_HEADER)).map_err(refused)?;
    let held = Held { received: row.received(), size: row.size(), state: row.state() };
    let announced = match header_str(&headers, header::CONTENT_LENGTH.as_str()) {
        Some(v) => Some(v.trim().parse::<u64>().map_err(|_| HttpError::invalid("content-length is not a number"))?),
        None => None,
    };
    if let Err(e) = upload::check_chunk(held, offset, announced) {
        return Ok(refused_at(e, held.received));
    }
    let data = read_chunk(body, upload::room_for(held, offset)).await.map_err(refused)?;
    upload::check_len(held, offset, data.len() as u64).map_err(refused)?;
    upload::check_chunk_digest(&data, &digest).map_err(refused)?;
    let key = key_of(&row)?;
    let end = offset + data.len() as u64;
    match storage.append(&key, offset, data).await {
        Ok(()) => {}
        Err(StorageError::Behind { have, .. }) => {
            tracing::warn!(id = row.id, %key, have, expected = offset, "the partial file was cut: the box resends from {have}");
            st.store.reset_upload(row.id, have).await.map_err(|e| HttpError::internal("resetting an upload", e))?;
            return Ok(refused_at(UploadError::Offset { asked: offset, current: have }, have));
        }
        Err(e) => return Err(HttpError::internal("storing a chunk", e)),
    }
    if !st.store.advance_upload(row.id, offset, end).await.map_err(|e| HttpError::internal("storing a chunk", e))? {
        return Err(HttpError::conflict("the upload moved while this chunk was written: ask for its offset"));
    }
    let row = upload_of(&st, &room, &id).await?;
    match settle(&st, storage, row).await? {
        Ok(row) => Ok(answer(StatusCode::OK, &row)),
        Err(resp) => Ok(resp),
    }
}

/// Reads a chunk of at most `limit` bytes; more is refused (413) without being kept.
async fn read_chunk(body: Body, limit: u64) -> Result<Bytes, UploadError> {
    let mut stream = body.into_data_stream();
    let mut data = Vec::new();
    while let Some(part) = stream.next().await {
        let part = part.map_err(|e| UploadError::Invalid(format!("the chunk did not arrive whole: {e}")))?;
        if (data.len() + part.len()) as u64 > limit {
            return Err(UploadError::TooLarge(format!(
                "more than the {limit} bytes this upload takes at its offset (one chunk, up to the announced size)"
            )));
        }
        data.extend_from_slice(&part);
    }
    Ok(Bytes::from(data))
}

/// An upload holding all its bytes is checked and finished: its whole-file SHA-256 against the
/// announced one, then `ready`. A mismatch starts it over (the stored copy is wrong, not the box's)
/// and answers 400. Runs in the upload's turn.
async fn settle(
    st: &AppState,
    storage: &dyn Storage,
    row: RecordingRow,
) -> Result<Result<RecordingRow, Response>, HttpError> {
    if row.state() != RecordingState::Uploading || row.received() < row.size() {
        return Ok(Ok(row));
    }
    let key = key_of(&row)?;
    let digest = storage.digest(&key, row.size()).await.map_err(|e| HttpError::internal("checking an upload", e))?;
    if let Err(e) = upload::check_file_digest(&digest, row.sha256.as_deref().unwrap_or_default()) {
        tracing::warn!(id = row.id, %key, %e, "an uploaded file does not match its checksum: starting over");
        storage.delete(&key).await.map_err(|e| HttpError::internal("discarding a bad upload", e))?;
        st.store.reset_upload(row.id, 0).await.map_err(|e| HttpError::internal("resetting an upload", e))?;
        return Ok(Err(refused_at(e, 0)));
    }
    storage.finish(&key, row.size()).await.map_err(|e| HttpError::internal("finishing an upload", e))?;
    st.store.mark_ready(row.id).await.map_err(|e| HttpError::internal("finishing an upload", e))?;
    st.archive.forget(row.id);
    tracing::info!(id = row.id, %key, bytes = row.size(), "upload complete and checked");
    let row = st.store.recording(row.id).await.map_err(|e| HttpError::internal("reading an upload", e))?;
    row.map(Ok).ok_or_else(|| HttpError::internal("finishing an upload", "its row is gone"))
}

/// `GET /recordings/{id}/{name}?exp=…&sig=…`: a ready file, whole (200) or the asked range (206).
pub async fn download(
    State(st): State<Arc<AppState>>,
    Path((id, name)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let storage = storage(&st)?;
    let (exp, sig) = crate::recording::link::query(query.as_deref())
        .ok_or_else(|| HttpError::forbidden("a download link carries exp and sig"))?;
    let id_num: i64 = id.parse().map_err(|_| HttpError::forbidden("the download link's signature is not valid"))?;
    st.archive
        .links()
        .verify(id_num, &name, exp, &sig, lectern_common::time::unix_secs())
        .map_err(|e| HttpError::forbidden(e.to_string()))?;
    let missing = || HttpError::not_found(format!("no recording {id}/{name}"));
    let row = st.store.recording(id_num).await.map_err(|e| HttpError::internal("reading a recording", e))?;
    let row = row.filter(|r| r.name == name && r.state() == RecordingState::Ready).ok_or_else(missing)?;
    let size = row.size();
    let (status, range) = match parse_range(header_str(&headers, header::RANGE.as_str()), size) {
        Ranged::Whole => (StatusCode::OK, 0..size),
        Ranged::Part(r) => (StatusCode::PARTIAL_CONTENT, r),
        Ranged::Unsatisfiable => {
            let mut resp = (
                StatusCode::RANGE_NOT_SATISFIABLE,
                Json(serde_json::json!({"error": "range_not_satisfiable", "detail": format!("the file has {size} bytes")})),
            )
                .into_response();
            resp.headers_mut().insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes */{size}")).map_err(|e| HttpError::internal("a header", e))?,
            );
            return Ok(resp);
        }
    };
    let key = key_of(&row)?;
    let stream = storage.open_range(&key, range.clone()).await.map_err(|e| match e {
        StorageError::NotFound { .. } => missing(),
        e => HttpError::internal("reading a recording", e),
    })?;
    let mut resp = Response::new(Body::from_stream(stream));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    let mime = if name.ends_with(".webm") { "video/webm" } else { "video/mp4" };
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(range.end - range.start));
    // The link is the credential: caches other than the browser's own keep nothing.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-transform"));
    if let Ok(v) = HeaderValue::from_str(&format!("inline; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    if status == StatusCode::PARTIAL_CONTENT
        && let Ok(v) = HeaderValue::from_str(&format!("bytes {}-{}/{size}", range.start, range.end - 1))
    {
        h.insert(header::CONTENT_RANGE, v);
    }
    Ok(resp)
}
