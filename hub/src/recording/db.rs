//! The `recordings` rows (migration 0010): one per file of a lesson, written by the upload
//! endpoints. Kept beside the recording code rather than in `store.rs`; portable SQL (`$n`
//! placeholders, `ON CONFLICT … DO NOTHING`) so the same statements run on PostgreSQL.

use anyhow::Context;
use lectern_proto::upload::{RecordingKind, RecordingState, UploadCreate};
use lectern_proto::{LessonId, RoomId};

use crate::store::Store;

/// One row of `recordings`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RecordingRow {
    pub id: i64,
    pub lesson_id: String,
    pub kind: String,
    pub name: String,
    pub state: String,
    pub size: Option<i64>,
    pub received: i64,
    pub duration_ms: Option<i64>,
    pub sha256: Option<String>,
    /// Unix ms of the file's first sample (migration 0019).
    pub started_at: Option<i64>,
    /// Whose camera and mic a hub recorder's file holds (migration 0020).
    pub participant: Option<String>,
}

impl RecordingRow {
    pub fn state(&self) -> RecordingState {
        // The table's CHECK allows only these three.
        RecordingState::parse(&self.state).unwrap_or(RecordingState::Uploading)
    }

    pub fn kind(&self) -> Option<RecordingKind> {
        RecordingKind::parse(&self.kind)
    }

    pub fn size(&self) -> u64 {
        self.size.map_or(0, |s| u64::try_from(s).unwrap_or(0))
    }

    pub fn received(&self) -> u64 {
        u64::try_from(self.received).unwrap_or(0)
    }

    pub fn lesson(&self) -> Option<LessonId> {
        LessonId::parse(&self.lesson_id).ok()
    }
}

const COLUMNS: &str = "id, lesson_id, kind, name, state, size, received, duration_ms, sha256, started_at, participant";

fn db_int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Store {
    /// Whether the hub knows `lesson` (a box may only upload files of lessons the hub held).
    pub async fn lesson_exists(&self, lesson: &LessonId) -> anyhow::Result<bool> {
        let row: Option<(String,)> = sqlx::query_as("SELECT id FROM lessons WHERE id = $1")
            .bind(lesson.as_str())
            .fetch_optional(self.pool())
            .await
            .with_context(|| format!("looking up lesson {lesson}"))?;
        Ok(row.is_some())
    }

    /// The upload of `c` (created now, `true`, or found from an earlier create, `false`).
    pub async fn create_upload(&self, c: &UploadCreate, now_ms: u64) -> anyhow::Result<(RecordingRow, bool)> {
        let inserted = sqlx::query(
            "INSERT INTO recordings (lesson_id, kind, name, state, size, received, duration_ms, sha256, created_at, \
             started_at) VALUES ($1, $2, $3, 'uploading', $4, 0, $5, $6, $7, $8) ON CONFLICT (lesson_id, name) DO NOTHING",
        )
        .bind(c.lesson.as_str())
        .bind(c.kind.as_str())
        .bind(&c.name)
        .bind(db_int(c.size))
        .bind(c.duration_ms.map(db_int))
        .bind(&c.sha256)
        .bind(db_int(now_ms))
        .bind(c.started_at.map(db_int))
        .execute(self.pool())
        .await
        .with_context(|| format!("creating the upload of {}/{}", c.lesson, c.name))?
        .rows_affected()
            > 0;
        let row = sqlx::query_as::<_, RecordingRow>(&format!(
            "SELECT {COLUMNS} FROM recordings WHERE lesson_id = $1 AND name = $2"
        ))
        .bind(c.lesson.as_str())
        .bind(&c.name)
        .fetch_one(self.pool())
        .await
        .with_context(|| format!("reading the upload of {}/{}", c.lesson, c.name))?;
        Ok((row, inserted))
    }

    pub async fn recording(&self, id: i64) -> anyhow::Result<Option<RecordingRow>> {
        // A file the retention sweeper deleted is gone for the upload and download endpoints too.
        let row = sqlx::query_as::<_, RecordingRow>(&format!(
            "SELECT {COLUMNS} FROM recordings WHERE id = $1 AND deleted_at IS NULL"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await
        .with_context(|| format!("reading recording {id}"))?;
        Ok(row)
    }

    /// The upload moved from `from` to `to` bytes; false if another request moved it first.
    pub async fn advance_upload(&self, id: i64, from: u64, to: u64) -> anyhow::Result<bool> {
        let r =
            sqlx::query("UPDATE recordings SET received = $1 WHERE id = $2 AND received = $3 AND state = 'uploading'")
                .bind(db_int(to))
                .bind(id)
                .bind(db_int(from))
                .execute(self.pool())
                .await
                .with_context(|| format!("advancing upload {id}"))?;
        Ok(r.rows_affected() > 0)
    }

    /// The upload holds `received` bytes, whatever it said before (storage had less; a bad file starts over).
    pub async fn reset_upload(&self, id: i64, received: u64) -> anyhow::Result<()> {
        sqlx::query("UPDATE recordings SET received = $1, state = 'uploading' WHERE id = $2")
            .bind(db_int(received))
            .bind(id)
            .execute(self.pool())
            .await
            .with_context(|| format!("resetting upload {id}"))?;
        Ok(())
    }

    /// The whole file is stored and checked.
    pub async fn mark_ready(&self, id: i64) -> anyhow::Result<()> {
        sqlx::query("UPDATE recordings SET state = 'ready', received = size WHERE id = $1")
            .bind(id)
            .execute(self.pool())
            .await
            .with_context(|| format!("marking recording {id} ready"))?;
        Ok(())
    }

    /// A file the hub recorder is writing (`state = 'recording'`, no size yet); its row id.
    pub async fn create_recorded(
        &self,
        lesson: &LessonId,
        kind: RecordingKind,
        name: &str,
        participant: &str,
        started_at: i64,
        now_ms: u64,
    ) -> anyhow::Result<i64> {
        sqlx::query(
            "INSERT INTO recordings (lesson_id, kind, name, state, size, received, created_at, started_at, participant) \
             VALUES ($1, $2, $3, 'recording', NULL, 0, $4, $5, $6) ON CONFLICT (lesson_id, name) DO NOTHING",
        )
        .bind(lesson.as_str())
        .bind(kind.as_str())
        .bind(name)
        .bind(db_int(now_ms))
        .bind(started_at)
        .bind(participant)
        .execute(self.pool())
        .await
        .with_context(|| format!("creating the recording {lesson}/{name}"))?;
        let (id,): (i64,) = sqlx::query_as("SELECT id FROM recordings WHERE lesson_id = $1 AND name = $2")
            .bind(lesson.as_str())
            .bind(name)
            .fetch_one(self.pool())
            .await
            .with_context(|| format!("reading the recording {lesson}/{name}"))?;
        Ok(id)
    }

    /// The hub recorder's file `id` holds `bytes` so far (what the lessons API shows while it records).
    pub async fn progress_recorded(&self, id: i64, bytes: u64) -> anyhow::Result<()> {
        sqlx::query("UPDATE recordings SET received = $1 WHERE id = $2 AND state = 'recording'")
            .bind(db_int(bytes))
            .bind(id)
            .execute(self.pool())
            .await
            .with_context(|| format!("updating recording {id}"))?;
        Ok(())
    }

    /// The hub recorder's files still being written, as far as the database knows (id, lesson, name):
    /// after a hub stopped mid-recording, those whose file is on this hub's disk are its own.
    pub async fn recordings_in_progress(&self) -> anyhow::Result<Vec<(i64, String, String)>> {
        let rows = sqlx::query_as(
            "SELECT id, lesson_id, name FROM recordings WHERE state = 'recording' AND deleted_at IS NULL ORDER BY id",
        )
        .fetch_all(self.pool())
        .await
        .context("reading the recordings in progress")?;
        Ok(rows)
    }

    /// The hub recorder's file `id` is complete and in the storage.
    pub async fn finish_recorded(&self, id: i64, bytes: u64, duration_ms: Option<u64>) -> anyhow::Result<()> {
        sqlx::query("UPDATE recordings SET state = 'ready', size = $1, received = $1, duration_ms = $2 WHERE id = $3")
            .bind(db_int(bytes))
            .bind(duration_ms.map(db_int))
            .bind(id)
            .execute(self.pool())
            .await
            .with_context(|| format!("marking recording {id} ready"))?;
        Ok(())
    }

    /// Every file of `room`'s lessons, by lesson then name.
    pub async fn recordings_of_room(&self, room: &RoomId) -> anyhow::Result<Vec<RecordingRow>> {
        let rows = sqlx::query_as::<_, RecordingRow>(&format!(
            "SELECT {COLUMNS} FROM recordings WHERE lesson_id IN (SELECT id FROM lessons WHERE room_id = $1) \
             AND deleted_at IS NULL ORDER BY lesson_id, name"
        ))
        .bind(room.as_str())
        .fetch_all(self.pool())
        .await
        .with_context(|| format!("reading the recordings of room {room}"))?;
        Ok(rows)
    }

    /// Every file of `lesson` (files retention deleted left out), by name.
    pub async fn recordings_of_lesson(&self, lesson: &LessonId) -> anyhow::Result<Vec<RecordingRow>> {
        let rows = sqlx::query_as::<_, RecordingRow>(&format!(
            "SELECT {COLUMNS} FROM recordings WHERE lesson_id = $1 AND deleted_at IS NULL ORDER BY name"
        ))
        .bind(lesson.as_str())
        .fetch_all(self.pool())
        .await
        .with_context(|| format!("reading the recordings of lesson {lesson}"))?;
        Ok(rows)
    }

    /// The row of `lesson`, if the hub held it.
    pub async fn lesson_row(&self, lesson: &LessonId) -> anyhow::Result<Option<crate::store::LessonRow>> {
        let row = sqlx::query_as::<_, crate::store::LessonRow>(
            "SELECT id, room_id, started_at, ended_at, end_reason, recording_policy, recording_state FROM lessons \
             WHERE id = $1",
        )
        .bind(lesson.as_str())
        .fetch_optional(self.pool())
        .await
        .with_context(|| format!("reading lesson {lesson}"))?;
        Ok(row)
    }

    /// The teachers of `room` who joined between `from` and `to` (unix seconds, as `sessions`
    /// keeps them), each once, in order of arrival.
    pub async fn teachers_between(&self, room: &RoomId, from: i64, to: i64) -> anyhow::Result<Vec<String>> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT name FROM sessions WHERE room_id = $1 AND role = 'teacher' AND joined_at BETWEEN $2 AND $3 \
             ORDER BY joined_at, id",
        )
        .bind(room.as_str())
        .bind(from)
        .bind(to)
        .fetch_all(self.pool())
        .await
        .with_context(|| format!("reading the teachers of room {room}"))?;
        let mut names: Vec<String> = Vec::new();
        for (name,) in rows {
            if !names.contains(&name) {
                names.push(name);
            }
        }
        Ok(names)
    }

    /// The last report (attendance, polls) of `room` saved between `from` and `to` (unix seconds,
    /// as `lesson_reports` keeps them).
    pub async fn report_between(
        &self,
        room: &RoomId,
        from: i64,
        to: i64,
    ) -> anyhow::Result<Option<crate::store::SavedReport>> {
        let row = sqlx::query_as::<_, crate::store::SavedReport>(
            "SELECT attendance_csv, attendance_json, polls_csv, polls_json FROM lesson_reports \
             WHERE room_id = $1 AND saved_at BETWEEN $2 AND $3 ORDER BY saved_at DESC, id DESC LIMIT 1",
        )
        .bind(room.as_str())
        .bind(from)
        .bind(to)
        .fetch_optional(self.pool())
        .await
        .with_context(|| format!("reading the saved reports of room {room}"))?;
        Ok(row)
    }
}
