//! Files in the chat over HTTP: `POST /api/rooms/{room}/files` (a teacher's or student's token of
//! the room; the raw file as the body, its name percent-encoded in `Lectern-Filename`) and the
//! signed download `GET /files/{id}/{name}?exp=…&sig=…`. Every check that needs no bytes runs
//! before the body is read; a file is offered in the chat only once it is stored, scanned and
//! recorded, and a refusal after that point deletes what was kept.

use std::sync::Arc;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use lectern_proto::classroom::{ClassroomCommand, SharedFile};
use lectern_proto::{Claims, ParticipantId, Role, RoomId};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::AppState;
use super::auth::{check_grant, display_name, parse_room, verify_bearer};
use super::error::HttpError;
use crate::classroom::{ClassroomError, FileGate, Sharer};
use crate::files::db::{FileRow, NewFile};
use crate::files::name::{FILENAME_HEADER, ascii_segment, clean, content_disposition};
use crate::files::scan::{Verdict, scan};
use crate::files::{Kind, LINK_TTL_SECS};
use crate::recording::storage::{ObjectKey, Storage, StorageError};
use crate::sfu::{Command, SfuError};

/// Who may upload: people in the lesson (students only while the teacher allows it).
pub const SHARERS: &[Role] = &[Role::Teacher, Role::Student];
/// Optional: which of the uploader's connections speaks (a teacher visiting a group shares there).
pub const PARTICIPANT_HEADER: &str = "lectern-participant";

/// An upload's refusal: the hub's usual errors, and 422 for a file the scanner flagged.
#[derive(Debug)]
pub enum Refused {
    Http(HttpError),
    Infected,
}

impl From<HttpError> for Refused {
    fn from(e: HttpError) -> Self {
        Self::Http(e)
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        match self {
            Self::Http(e) => e.into_response(),
            Self::Infected => {
                let detail = "the virus scanner flagged this file: it was deleted and not shared";
                (StatusCode::UNPROCESSABLE_ENTITY, Json(serde_json::json!({"error": "infected", "detail": detail})))
                    .into_response()
            }
        }
    }
}

/// What `POST /api/rooms/{room}/files` answers (201).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Uploaded {
    #[serde(flatten)]
    pub file: SharedFile,
    pub sha256: String,
}

fn storage(st: &AppState) -> Result<&dyn Storage, HttpError> {
    st.archive.storage().ok_or_else(|| HttpError::Unavailable("this hub keeps no files".into()))
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn too_big(st: &AppState) -> HttpError {
    HttpError::PayloadTooLarge(format!("the file is larger than the limit of {}", st.files.settings.limit_text()))
}

fn not_allowed(st: &AppState, why: &str) -> HttpError {
    HttpError::unsupported_media_type(format!("{why}; allowed types: {}", st.files.settings.allow_text()))
}

/// `POST /api/rooms/{room}/files`: 201 with the file, now a message in the uploader's chat.
pub async fn upload(
    State(st): State<Arc<AppState>>,
    Path(room): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Refused> {
    let room = parse_room(&room)?;
    let claims = verify_bearer(&headers, &st.key)?;
    check_grant(&claims, &room, SHARERS)?;
    storage(&st)?;
    let name = header_str(&headers, FILENAME_HEADER)
        .ok_or_else(|| HttpError::invalid("name the file in the Lectern-Filename header (percent-encoded UTF-8)"))?;
    let name = clean(name).map_err(HttpError::invalid)?;
    let kind = Kind::of_name(&name)
        .filter(|k| st.files.settings.allow.contains(k))
        .ok_or_else(|| not_allowed(&st, &format!("'{name}' is not a type this hub takes")))?;
    if let Some(len) = header_str(&headers, header::CONTENT_LENGTH.as_str()) {
        let len: u64 = len.trim().parse().map_err(|_| HttpError::invalid("content-length is not a number"))?;
        if len > st.files.settings.max_bytes {
            return Err(too_big(&st).into());
        }
    }
    let (gate, sharer) = admit(&st, &room, &claims, &headers).await?;
    let data = read_body(body, st.files.settings.max_bytes).await.map_err(|e| e.unwrap_or_else(|| too_big(&st)))?;
    if data.is_empty() {
        return Err(HttpError::invalid("the file is empty").into());
    }
    if !kind.matches(&data) {
        let what = Kind::describe(&data);
        return Err(not_allowed(&st, &format!("'{name}' is named .{kind} but its content is {what}")).into());
    }
    if let Some(argv) = &st.files.settings.scan {
        check_scan(&st, argv, &data).await?;
    }
    let lesson = gate.lesson.clone().ok_or_else(|| HttpError::conflict("no lesson is on in this room"))?;
    let object = format!("file-{}", crate::token::random_id());
    let key = ObjectKey::shared_file(lesson.clone(), &object)
        .ok_or_else(|| HttpError::internal("naming a shared file", &object))?;
    let sha256: String = Sha256::digest(&data).iter().map(|b| format!("{b:02x}")).collect();
    let size = data.len() as u64;
    let storage = storage(&st)?;
    store_bytes(storage, &key, data).await?;
    let row = NewFile {
        lesson,
        breakout: gate.round.zip(sharer.group.map(|g| g.0)),
        uploader_subject: claims.sub.clone(),
        uploader_name: display_name(&claims),
        uploader_role: claims.role.to_string(),
        name: name.clone(),
        object,
        size,
        sha256: sha256.clone(),
        content_type: kind.content_type().to_owned(),
        created_at: lectern_common::time::unix_ms(),
    };
    let id = match st.store.insert_shared_file(&row).await {
        Ok(id) => id,
        Err(e) => {
            discard(storage, &key).await;
            return Err(HttpError::internal("recording a shared file", e).into());
        }
    };
    let exp = lectern_common::time::unix_secs() + LINK_TTL_SECS;
    let file = SharedFile {
        id,
        name,
        size,
        content_type: kind.content_type().to_owned(),
        url: st.files.url(id, &ascii_segment(&row.name), exp),
    };
    let share = ClassroomCommand::ShareFile { file: file.clone(), subject: claims.sub.clone(), group: sharer.group };
    let offered = st
        .sfu
        .call(&room, |reply| Command::Classroom { room: room.clone(), participant: sharer.id, command: share, reply })
        .await;
    if let Err(e) = offered {
        // Not offered: nothing of it is kept.
        discard(storage, &key).await;
        if let Err(e) = st.store.delete_shared_file(id).await {
            tracing::warn!(id, %e, "a refused file's row stays behind");
        }
        return Err(sfu_refusal(e).into());
    }
    tracing::info!(id, room = %room, %key, bytes = size, kind = %kind, "file shared");
    let mut resp = (StatusCode::CREATED, Json(Uploaded { file, sha256 })).into_response();
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// The room's view for this upload, and the participant it speaks for; refused before any byte is
/// read if there is no lesson, the uploader is not in it, or may not share.
async fn admit(
    st: &AppState,
    room: &RoomId,
    claims: &Claims,
    headers: &HeaderMap,
) -> Result<(FileGate, Sharer), HttpError> {
    let wanted = match header_str(headers, PARTICIPANT_HEADER) {
        Some(v) => Some(ParticipantId(
            v.trim().parse().map_err(|_| HttpError::invalid("lectern-participant is not a participant id"))?,
        )),
        None => None,
    };
    let report = match st.sfu.call(room, |reply| Command::Report { room: room.clone(), reply }).await {
        Ok(r) => r,
        Err(SfuError::UnknownParticipant) => return Err(HttpError::conflict("no lesson is on in this room")),
        Err(e) => return Err(e.into()),
    };
    let gate = report.files;
    if gate.lesson.is_none() {
        return Err(HttpError::conflict("no lesson is on in this room"));
    }
    let sharer = gate
        .sharer(&claims.sub, wanted)
        .cloned()
        .ok_or_else(|| HttpError::conflict("join the lesson before sharing a file"))?;
    gate.allows(&sharer).map_err(HttpError::forbidden)?;
    Ok((gate, sharer))
}

/// A classroom refusal of the offer, as the upload's status.
fn sfu_refusal(e: SfuError) -> HttpError {
    match e {
        SfuError::Classroom(ClassroomError::NotAllowed(why)) => HttpError::forbidden(why),
        SfuError::Classroom(ClassroomError::RateLimited) => HttpError::Throttled {
            detail: "too many messages: wait a moment and share it again".into(),
            retry_after: 1,
        },
        SfuError::UnknownParticipant => HttpError::conflict("you left the lesson while the file was uploading"),
        e => e.into(),
    }
}

/// Reads at most `limit` bytes: `Err(None)` past it, `Err(Some(_))` if the body broke off.
async fn read_body(body: Body, limit: u64) -> Result<Bytes, Option<HttpError>> {
    let mut stream = body.into_data_stream();
    let mut data = Vec::new();
    while let Some(part) = stream.next().await {
        let part = part.map_err(|e| Some(HttpError::invalid(format!("the file did not arrive whole: {e}"))))?;
        if (data.len() + part.len()) as u64 > limit {
            return Err(None);
        }
        data.extend_from_slice(&part);
    }
    Ok(Bytes::from(data))
}

/// Writes the upload to the scratch directory, scans it, deletes it: 422 infected, 503 failed.
async fn check_scan(st: &AppState, argv: &[String], data: &Bytes) -> Result<(), Refused> {
    let dir = st.files.settings.scratch_dir.clone().unwrap_or_else(std::env::temp_dir);
    let path = dir.join(format!("lectern-upload-{}", crate::token::random_id()));
    let write = {
        let (path, data) = (path.clone(), data.clone());
        move || -> std::io::Result<()> {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::create_dir_all(path.parent().unwrap_or(std::path::Path::new(".")))?;
            let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path)?;
            f.write_all(&data)?;
            f.sync_data()
        }
    };
    let written = tokio::task::spawn_blocking(write).await.map_err(std::io::Error::other).and_then(|r| r);
    let verdict = match written {
        Ok(()) => scan(argv, &path, st.files.settings.scan_timeout).await,
        Err(e) => Verdict::Failed(format!("writing {} for the scanner: {e}", path.display())),
    };
    if let Err(e) = tokio::fs::remove_file(&path).await
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(path = %path.display(), %e, "a scanned upload could not be deleted");
    }
    match verdict {
        Verdict::Clean => Ok(()),
        Verdict::Infected(said) => {
            tracing::warn!(%said, "the virus scanner flagged an upload: refused");
            Err(Refused::Infected)
        }
        Verdict::Failed(why) => {
            tracing::warn!(%why, "the virus scan failed: the upload is refused");
            Err(HttpError::Unavailable("scan failed: the file was not shared; try again later".into()).into())
        }
    }
}

async fn store_bytes(storage: &dyn Storage, key: &ObjectKey, data: Bytes) -> Result<(), HttpError> {
    let len = data.len() as u64;
    let stored = async {
        storage.append(key, 0, data).await?;
        storage.finish(key, len).await
    };
    if let Err(e) = stored.await {
        discard(storage, key).await;
        return Err(HttpError::internal("storing a shared file", e));
    }
    Ok(())
}

async fn discard(storage: &dyn Storage, key: &ObjectKey) {
    if let Err(e) = storage.delete(key).await {
        tracing::warn!(%key, %e, "a refused file's bytes stay behind");
    }
}

/// The storage key of a file row.
pub fn key_of(row: &FileRow) -> Result<ObjectKey, HttpError> {
    let lesson =
        row.lesson().ok_or_else(|| HttpError::internal("reading a shared file", "its lesson id does not parse"))?;
    ObjectKey::shared_file(lesson, &row.object)
        .ok_or_else(|| HttpError::internal("reading a shared file", "a bad object name"))
}

/// `GET /files/{id}/{name}?exp=…&sig=…`: the file, always as a download.
pub async fn download(
    State(st): State<Arc<AppState>>,
    Path((id, name)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Response, HttpError> {
    let storage = storage(&st)?;
    let (exp, sig) = crate::recording::link::query(query.as_deref())
        .ok_or_else(|| HttpError::forbidden("a download link carries exp and sig"))?;
    let id_num: i64 = id.parse().map_err(|_| HttpError::forbidden("the download link's signature is not valid"))?;
    st.files
        .verify(id_num, &name, exp, &sig, lectern_common::time::unix_secs())
        .map_err(|e| HttpError::forbidden(e.to_string()))?;
    let missing = || HttpError::not_found(format!("no file {id}/{name}"));
    let row = st.store.shared_file(id_num).await.map_err(|e| HttpError::internal("reading a shared file", e))?;
    let row = row.filter(|r| ascii_segment(&r.name) == name).ok_or_else(missing)?;
    let key = key_of(&row)?;
    let stream = storage.open_range(&key, 0..row.size()).await.map_err(|e| match e {
        StorageError::NotFound { .. } => missing(),
        e => HttpError::internal("reading a shared file", e),
    })?;
    let mut resp = Response::new(Body::from_stream(stream));
    let h = resp.headers_mut();
    // The stored type is the allow-list's, never the uploader's; and it is never rendered here.
    let mime = HeaderValue::from_str(&row.content_type).unwrap_or(HeaderValue::from_static("application/octet-stream"));
    h.insert(header::CONTENT_TYPE, mime);
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(row.size()));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    let disposition = HeaderValue::from_str(&content_disposition(&row.name))
        .unwrap_or(HeaderValue::from_static("attachment; filename=\"file\""));
    h.insert(header::CONTENT_DISPOSITION, disposition);
    Ok(resp)
}
