//! Retention: a room's recordings are deleted `retention_days` after their lesson ended (the room's
//! own setting in the web admin, else `[recording] retention_days`; 0 keeps them forever), unless
//! the lesson is under legal hold. [`expired`] decides which lessons go at time `t` (pure, no
//! clock); [`sweep`] reads the candidates, claims each expired lesson's files in the database (a
//! hold set meanwhile wins), deletes them from storage and keeps the rows marked `deleted_at`.
//! [`spawn`] runs a sweep every [`SWEEP_EVERY`] on the real clock.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use lectern_proto::LessonId;

use super::storage::{ObjectKey, Storage};
use crate::store::Store;

/// How often the hub looks for expired recordings. Retention is counted in days: an hour late is
/// nothing, and a sweep with nothing to do is one small query.
pub const SWEEP_EVERY: Duration = Duration::from_secs(3600);
const DAY_MS: u64 = 24 * 3600 * 1000;

/// A lesson with recordings still stored, as retention sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub lesson: LessonId,
    /// `None`: the lesson is still on (never expires while on).
    pub ended_at_ms: Option<u64>,
    /// The room's own retention (`None`: the hub's default).
    pub room_days: Option<u32>,
    pub legal_hold: bool,
}

/// The lessons whose recordings are to be deleted at `now_ms`: ended, not held, with a retention
/// (their room's, else `default_days`) that is not 0 and has passed.
pub fn expired(candidates: &[Candidate], default_days: u32, now_ms: u64) -> Vec<LessonId> {
    candidates
        .iter()
        .filter(|c| !c.legal_hold)
        .filter(|c| {
            let days = c.room_days.unwrap_or(default_days);
            match c.ended_at_ms {
                Some(ended) if days > 0 => ended.saturating_add(u64::from(days) * DAY_MS) <= now_ms,
                _ => false,
            }
        })
        .map(|c| c.lesson.clone())
        .collect()
}

/// What one sweep did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Swept {
    /// Lessons whose files were deleted.
    pub lessons: Vec<LessonId>,
    pub files: u64,
    pub bytes: u64,
    /// Lessons whose files could not all be deleted: their rows were given back, the next sweep tries again.
    pub failed: Vec<LessonId>,
}

/// One sweep at `now_ms`: expired lessons' files leave storage, their rows are marked deleted and
/// each lesson's deletion is audited (`recording.delete`, actor `retention`).
pub async fn sweep(store: &Store, storage: &dyn Storage, default_days: u32, now_ms: u64) -> anyhow::Result<Swept> {
    let candidates = store.retention_candidates().await?;
    let mut swept = Swept::default();
    for lesson in expired(&candidates, default_days, now_ms) {
        // The claim re-reads the hold in the same statement: a hold set since the candidates were
        // read keeps the files.
        let claimed = store.claim_for_deletion(&lesson, now_ms).await?;
        if claimed.is_empty() {
            continue;
        }
        let mut ok = true;
        for (name, _) in &claimed {
            let deleted = match ObjectKey::new(lesson.clone(), name) {
                Ok(key) => storage.delete(&key).await.map_err(anyhow::Error::from),
                // Names were checked when the upload was created: a row that fails now is kept.
                Err(e) => Err(anyhow::Error::from(e)),
            };
            if let Err(e) = deleted {
                tracing::warn!(%lesson, name, error = %e, "retention: a recording could not be deleted; trying again next sweep");
                ok = false;
            }
        }
        if !ok {
            store.unclaim(&lesson, now_ms).await?;
            swept.failed.push(lesson);
            continue;
        }
        let bytes: u64 = claimed.iter().map(|(_, b)| *b).sum();
        store.audit_retention(&lesson, claimed.len() as u64, bytes, now_ms).await?;
        tracing::info!(%lesson, files = claimed.len(), bytes, "retention: recordings deleted");
        swept.files += claimed.len() as u64;
        swept.bytes += bytes;
        swept.lessons.push(lesson);
    }
    Ok(swept)
}

/// Sweeps every [`SWEEP_EVERY`] (the first a minute after start-up) while the hub runs.
pub fn spawn(store: Store, storage: Arc<dyn Storage>, default_days: u32) {
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(60)).await;
        let mut every = tokio::time::interval(SWEEP_EVERY);
        loop {
            every.tick().await;
            match sweep(&store, storage.as_ref(), default_days, lectern_common::time::unix_ms()).await {
                Ok(s) if !s.lessons.is_empty() || !s.failed.is_empty() => {
                    tracing::info!(
                        lessons = s.lessons.len(),
                        files = s.files,
                        bytes = s.bytes,
                        failed = s.failed.len(),
                        "retention sweep"
                    );
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %format!("{e:#}"), "retention sweep failed; trying again later"),
            }
        }
    });
}

fn db_int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Store {
    /// Lessons with recordings not deleted yet, with their room's retention and their hold.
    pub async fn retention_candidates(&self) -> anyhow::Result<Vec<Candidate>> {
        type Row = (String, Option<i64>, Option<i64>, lectern_admin::db::Flag);
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT l.id, l.ended_at, r.retention_days, l.legal_hold FROM lessons l \
             LEFT JOIN admin_rooms r ON r.id = l.room_id \
             WHERE EXISTS (SELECT 1 FROM recordings c WHERE c.lesson_id = l.id AND c.deleted_at IS NULL)",
        )
        .fetch_all(self.pool())
        .await
        .context("reading the lessons retention applies to")?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, ended, days, hold)| {
                Some(Candidate {
                    lesson: LessonId::parse(&id).ok()?,
                    ended_at_ms: ended.and_then(|v| u64::try_from(v).ok()),
                    room_days: days.map(|d| u32::try_from(d.max(0)).unwrap_or(u32::MAX)),
                    legal_hold: hold.0,
                })
            })
            .collect())
    }

    /// How retention sees `lesson` (`None`: no such lesson), whether or not it has files left.
    pub async fn retention_of(&self, lesson: &LessonId) -> anyhow::Result<Option<Candidate>> {
        type Row = (Option<i64>, Option<i64>, lectern_admin::db::Flag);
        let row: Option<Row> = sqlx::query_as(
            "SELECT l.ended_at, r.retention_days, l.legal_hold FROM lessons l \
             LEFT JOIN admin_rooms r ON r.id = l.room_id WHERE l.id = $1",
        )
        .bind(lesson.as_str())
        .fetch_optional(self.pool())
        .await
        .with_context(|| format!("reading the retention of {lesson}"))?;
        Ok(row.map(|(ended, days, hold)| Candidate {
            lesson: lesson.clone(),
            ended_at_ms: ended.and_then(|v| u64::try_from(v).ok()),
            room_days: days.map(|d| u32::try_from(d.max(0)).unwrap_or(u32::MAX)),
            legal_hold: hold.0,
        }))
    }

    /// Marks `lesson`'s stored files deleted at `now_ms` unless it is held; returns their names
    /// and sizes (none if it is held, or was claimed by another sweep).
    pub async fn claim_for_deletion(&self, lesson: &LessonId, now_ms: u64) -> anyhow::Result<Vec<(String, u64)>> {
        let mut tx = self.pool().begin().await.context("claiming recordings for deletion")?;
        sqlx::query(
            "UPDATE recordings SET deleted_at = $1 WHERE lesson_id = $2 AND deleted_at IS NULL \
             AND NOT (SELECT legal_hold FROM lessons WHERE id = $2)",
        )
        .bind(db_int(now_ms))
        .bind(lesson.as_str())
        .execute(&mut *tx)
        .await
        .with_context(|| format!("claiming the recordings of {lesson}"))?;
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT name, received FROM recordings WHERE lesson_id = $1 AND deleted_at = $2")
                .bind(lesson.as_str())
                .bind(db_int(now_ms))
                .fetch_all(&mut *tx)
                .await
                .with_context(|| format!("reading the claimed recordings of {lesson}"))?;
        tx.commit().await.context("claiming recordings for deletion")?;
        Ok(rows.into_iter().map(|(n, b)| (n, u64::try_from(b).unwrap_or(0))).collect())
    }

    /// Gives back a claim whose deletion failed.
    pub async fn unclaim(&self, lesson: &LessonId, claimed_at_ms: u64) -> anyhow::Result<()> {
        sqlx::query("UPDATE recordings SET deleted_at = NULL WHERE lesson_id = $1 AND deleted_at = $2")
            .bind(lesson.as_str())
            .bind(db_int(claimed_at_ms))
            .execute(self.pool())
            .await
            .with_context(|| format!("giving back the recordings of {lesson}"))?;
        Ok(())
    }

    async fn audit_retention(&self, lesson: &LessonId, files: u64, bytes: u64, now_ms: u64) -> anyhow::Result<()> {
        let entry = lectern_admin::audit::Entry {
            at: now_ms / 1000,
            actor: "retention",
            action: "recording.delete",
            target: lesson.as_str(),
            ip: "hub",
            details: serde_json::json!({ "room": lesson.room().as_str(), "files": files, "bytes": bytes }),
        };
        lectern_admin::audit::record(self.pool(), &entry).await.context("auditing a retention deletion")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lesson(n: u64) -> LessonId {
        LessonId::parse(&format!("lab-1.{}", 1_700_000_000_000 + n)).unwrap()
    }

    fn candidate(n: u64, ended: Option<u64>, room_days: Option<u32>, hold: bool) -> Candidate {
        Candidate { lesson: lesson(n), ended_at_ms: ended, room_days, legal_hold: hold }
    }

    #[test]
    fn a_lesson_expires_when_its_rooms_retention_has_passed_since_it_ended() {
        let ended = 1_000 * DAY_MS;
        let c = [candidate(1, Some(ended), Some(30), false), candidate(2, Some(ended), None, false)];
        assert!(expired(&c, 7, ended + 7 * DAY_MS - 1).is_empty(), "not a moment early");
        assert_eq!(expired(&c, 7, ended + 7 * DAY_MS), vec![lesson(2)], "the default where the room has none");
        assert_eq!(expired(&c, 7, ended + 30 * DAY_MS), vec![lesson(1), lesson(2)]);
        assert_eq!(expired(&c, 0, ended + 365 * DAY_MS), vec![lesson(1)], "a default of 0 keeps forever");
    }

    #[test]
    fn held_running_and_keep_forever_lessons_never_expire() {
        let c = [
            candidate(1, Some(0), Some(1), true),
            candidate(2, None, Some(1), false),
            candidate(3, Some(0), Some(0), false),
        ];
        assert!(expired(&c, 1, u64::MAX).is_empty(), "{:?}", expired(&c, 1, u64::MAX));
    }

    #[test]
    fn an_end_near_the_end_of_time_does_not_wrap() {
        let c = [candidate(1, Some(u64::MAX - 5), Some(36_500), false)];
        assert!(expired(&c, 1, u64::MAX - 1).is_empty());
    }
}
