//! Recordings as IT sees them: how much storage they take (the hub's storage totals, and per room
//! from the `recordings` rows), each room's retention, and the legal hold an admin puts on a
//! lesson so that retention never deletes it (audited `lesson.hold` / `lesson.release`). The
//! deleting itself is the hub's (`lectern_hub::recording::retention`).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, Path, State};
use lectern_proto::LessonId;
use serde::Serialize;
use serde_json::json;

use crate::audit::{self, Entry};
use crate::db::Flag;
use crate::error::{Error, Result};
use crate::json::Body;
use crate::session::Caller;
use crate::{AdminState, random_hex};

/// What the hub's recordings storage holds (`Storage::totals` in the hub).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StorageTotals {
    /// `"local"` or `"s3"`.
    pub kind: &'static str,
    pub files: u64,
    pub bytes: u64,
    pub partial_files: u64,
    pub partial_bytes: u64,
}

/// Asks the hub's storage for its totals (the message says why it could not).
pub type TotalsFn =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = std::result::Result<StorageTotals, String>> + Send>> + Send + Sync>;

/// The hub's recordings: where totals come from and the default retention.
#[derive(Clone, Default)]
pub struct RecordingsInfo {
    /// `None`: this hub keeps no recordings.
    pub totals: Option<TotalsFn>,
    /// `[recording] retention_days` (0: forever).
    pub default_retention_days: u32,
}

impl std::fmt::Debug for RecordingsInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordingsInfo").field("default_retention_days", &self.default_retention_days).finish()
    }
}

/// One room's recordings, from the rows (files not deleted by retention).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct RoomTotals {
    pub room: String,
    pub lessons: i64,
    pub files: i64,
    pub bytes: i64,
    pub partial_files: i64,
    pub partial_bytes: i64,
    /// The room's own retention (`None`: the default, or a room the admin never configured).
    pub retention_days: Option<i64>,
}

/// A lesson with recordings, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct LessonFiles {
    pub id: String,
    pub room: String,
    pub started_at: i64,
    pub ended_at: Option<i64>,
    #[sqlx(try_from = "Flag")]
    pub legal_hold: bool,
    pub files: i64,
    pub bytes: i64,
    /// Files retention has deleted.
    pub deleted_files: i64,
}

/// How many lessons the page lists.
pub const LESSONS_LISTED: i64 = 200;

// SUM of a BIGINT is NUMERIC on PostgreSQL: cast back so both databases answer an integer.
const ROOMS_SQL: &str = "SELECT l.room_id AS room, COUNT(DISTINCT l.id) AS lessons, \
     COALESCE(SUM(CASE WHEN c.state = 'ready' THEN 1 ELSE 0 END), 0) AS files, \
     CAST(COALESCE(SUM(CASE WHEN c.state = 'ready' THEN c.received ELSE 0 END), 0) AS BIGINT) AS bytes, \
     COALESCE(SUM(CASE WHEN c.state <> 'ready' THEN 1 ELSE 0 END), 0) AS partial_files, \
     CAST(COALESCE(SUM(CASE WHEN c.state <> 'ready' THEN c.received ELSE 0 END), 0) AS BIGINT) AS partial_bytes, \
     MAX(r.retention_days) AS retention_days \
     FROM recordings c JOIN lessons l ON l.id = c.lesson_id LEFT JOIN admin_rooms r ON r.id = l.room_id \
     WHERE c.deleted_at IS NULL GROUP BY l.room_id ORDER BY l.room_id";

const LESSONS_SQL: &str = "SELECT l.id, l.room_id AS room, l.started_at, l.ended_at, l.legal_hold, \
     COALESCE(SUM(CASE WHEN c.deleted_at IS NULL THEN 1 ELSE 0 END), 0) AS files, \
     CAST(COALESCE(SUM(CASE WHEN c.deleted_at IS NULL THEN c.received ELSE 0 END), 0) AS BIGINT) AS bytes, \
     COALESCE(SUM(CASE WHEN c.deleted_at IS NULL THEN 0 ELSE 1 END), 0) AS deleted_files \
     FROM lessons l JOIN recordings c ON c.lesson_id = l.id \
     GROUP BY l.id, l.room_id, l.started_at, l.ended_at, l.legal_hold ORDER BY l.started_at DESC, l.id DESC LIMIT $1";

/// `GET /admin/api/recordings`: storage totals, per room, the default retention and recent lessons.
pub async fn overview(State(st): State<AdminState>) -> Result<Json<serde_json::Value>> {
    let storage = match &st.recordings.totals {
        Some(totals) => match totals().await {
            Ok(t) => json!(t),
            Err(e) => {
                tracing::warn!(error = %e, "the recordings storage could not be counted");
                json!({ "error": e })
            }
        },
        None => serde_json::Value::Null,
    };
    let rooms: Vec<RoomTotals> = sqlx::query_as(ROOMS_SQL).fetch_all(&st.pool).await?;
    let lessons: Vec<LessonFiles> = sqlx::query_as(LESSONS_SQL).bind(LESSONS_LISTED).fetch_all(&st.pool).await?;
    Ok(Json(json!({
        "storage": storage,
        "defaultRetentionDays": st.recordings.default_retention_days,
        "rooms": rooms,
        "lessons": lessons,
    })))
}

/// `PUT /admin/api/recordings/lessons/{id}/hold` `{"hold": bool}`: sets or clears the legal hold.
pub async fn set_hold(
    State(st): State<AdminState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Body,
) -> Result<Json<serde_json::Value>> {
    let lesson = LessonId::parse(&id).map_err(|e| Error::invalid(format!("id: {e}")))?;
    body.only(&["hold"])?;
    let hold = body.opt_bool("hold")?.ok_or_else(|| Error::invalid("hold: required (true or false)"))?;
    let now = st.now();
    let mut tx = st.pool.begin().await?;
    let before: Option<(Flag,)> = sqlx::query_as("SELECT legal_hold FROM lessons WHERE id = $1")
        .bind(lesson.as_str())
        .fetch_optional(&mut *tx)
        .await?;
    let Some((Flag(was),)) = before else {
        return Err(Error::NotFound(format!("no lesson '{lesson}'")));
    };
    sqlx::query("UPDATE lessons SET legal_hold = $1 WHERE id = $2")
        .bind(hold)
        .bind(lesson.as_str())
        .execute(&mut *tx)
        .await?;
    if was != hold {
        let action = if hold { "lesson.hold" } else { "lesson.release" };
        let details = json!({ "room": lesson.room().as_str() });
        audit::record(&mut *tx, &Entry::by(&caller, now, action, lesson.as_str(), details)).await?;
    }
    tx.commit().await?;
    Ok(Json(json!({ "id": lesson.as_str(), "legalHold": hold })))
}

/// How long the admin token of a lesson page opened from the Recordings page lasts.
pub const OPEN_TTL_SECS: u64 = 2 * 3600;

/// `POST /admin/api/recordings/lessons/{id}/open`: a link to the hub's lesson page with a
/// short-lived admin token of the lesson's room (the page's API takes room tokens; this session's
/// cookie does not reach it). Everything the page shows is the admin's to see; audited `lesson.open`.
pub async fn open(
    State(st): State<AdminState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>> {
    let lesson = LessonId::parse(&id).map_err(|e| Error::invalid(format!("id: {e}")))?;
    let known: Option<(String,)> =
        sqlx::query_as("SELECT id FROM lessons WHERE id = $1").bind(lesson.as_str()).fetch_optional(&st.pool).await?;
    if known.is_none() {
        return Err(Error::NotFound(format!("no lesson '{lesson}'")));
    }
    let now = st.now();
    let claims = lectern_proto::Claims {
        sub: random_hex(),
        room: lesson.room(),
        role: lectern_proto::Role::Admin,
        name: Some(caller.username.clone()),
        nbf: now.saturating_sub(60),
        exp: now + OPEN_TTL_SECS,
        jti: random_hex(),
        guest: false,
    };
    let details = json!({ "room": lesson.room().as_str(), "jti": claims.jti });
    audit::record(&st.pool, &Entry::by(&caller, now, "lesson.open", lesson.as_str(), details)).await?;
    let token = (st.mint)(claims);
    let base = st.public_url.clone().unwrap_or_default();
    Ok(Json(json!({ "url": format!("{}/lessons/{lesson}?token={token}", base.trim_end_matches('/')) })))
}
