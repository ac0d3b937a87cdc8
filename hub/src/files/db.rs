//! The `shared_files` rows (migration 0016): one per file shared in a lesson's chat. Portable SQL
//! (`$n` placeholders, `RETURNING`) so the same statements run on SQLite and PostgreSQL.

use anyhow::Context;
use lectern_proto::{LessonId, RoomId};

use crate::store::Store;

/// A file about to be recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFile {
    pub lesson: LessonId,
    /// The breakout round and group it was shared in (`None`: the main room).
    pub breakout: Option<(u32, u32)>,
    pub uploader_subject: String,
    pub uploader_name: String,
    pub uploader_role: String,
    pub name: String,
    pub object: String,
    pub size: u64,
    pub sha256: String,
    pub content_type: String,
    pub created_at: u64,
}

/// One row of `shared_files`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct FileRow {
    pub id: i64,
    pub lesson_id: String,
    pub room_id: String,
    pub breakout_round: Option<i64>,
    pub breakout_group: Option<i64>,
    pub uploader_subject: String,
    pub uploader_name: String,
    pub uploader_role: String,
    pub name: String,
    pub object: String,
    pub size: i64,
    pub sha256: String,
    pub content_type: String,
    pub created_at: i64,
}

impl FileRow {
    pub fn lesson(&self) -> Option<LessonId> {
        LessonId::parse(&self.lesson_id).ok()
    }

    pub fn size(&self) -> u64 {
        u64::try_from(self.size).unwrap_or(0)
    }
}

const COLUMNS: &str = "id, lesson_id, room_id, breakout_round, breakout_group, uploader_subject, uploader_name, \
uploader_role, name, object, size, sha256, content_type, created_at";

fn db_int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Store {
    /// Records a stored file; its id.
    pub async fn insert_shared_file(&self, f: &NewFile) -> anyhow::Result<i64> {
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO shared_files (lesson_id, room_id, breakout_round, breakout_group, uploader_subject, \
             uploader_name, uploader_role, name, object, size, sha256, content_type, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
        )
        .bind(f.lesson.as_str())
        .bind(f.lesson.room().as_str())
        .bind(f.breakout.map(|(r, _)| i64::from(r)))
        .bind(f.breakout.map(|(_, g)| i64::from(g)))
        .bind(&f.uploader_subject)
        .bind(&f.uploader_name)
        .bind(&f.uploader_role)
        .bind(&f.name)
        .bind(&f.object)
        .bind(db_int(f.size))
        .bind(&f.sha256)
        .bind(&f.content_type)
        .bind(db_int(f.created_at))
        .fetch_one(self.pool())
        .await
        .with_context(|| format!("recording shared file {} of lesson {}", f.object, f.lesson))?;
        Ok(id)
    }

    pub async fn shared_file(&self, id: i64) -> anyhow::Result<Option<FileRow>> {
        let row = sqlx::query_as::<_, FileRow>(&format!("SELECT {COLUMNS} FROM shared_files WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .with_context(|| format!("reading shared file {id}"))?;
        Ok(row)
    }

    /// Forgets a file whose offer failed (its bytes are deleted by the caller).
    pub async fn delete_shared_file(&self, id: i64) -> anyhow::Result<()> {
        sqlx::query("DELETE FROM shared_files WHERE id = $1")
            .bind(id)
            .execute(self.pool())
            .await
            .with_context(|| format!("deleting shared file {id}"))?;
        Ok(())
    }

    /// Every file shared in `room`'s lessons, oldest first.
    pub async fn shared_files_of_room(&self, room: &RoomId) -> anyhow::Result<Vec<FileRow>> {
        let rows =
            sqlx::query_as::<_, FileRow>(&format!("SELECT {COLUMNS} FROM shared_files WHERE room_id = $1 ORDER BY id"))
                .bind(room.as_str())
                .fetch_all(self.pool())
                .await
                .with_context(|| format!("reading the shared files of room {room}"))?;
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use lectern_common::each_backend;
    use lectern_common::test_db::TestDb;

    use super::*;

    fn file(lesson: &str, name: &str, breakout: Option<(u32, u32)>) -> NewFile {
        NewFile {
            lesson: LessonId::parse(lesson).unwrap(),
            breakout,
            uploader_subject: "t-1".into(),
            uploader_name: "Ms Ada".into(),
            uploader_role: "teacher".into(),
            name: name.into(),
            object: "file-abc".into(),
            size: 5_000_000_000,
            sha256: "ab".repeat(32),
            content_type: "application/pdf".into(),
            created_at: 1_700_000_000_123,
        }
    }

    each_backend!(shared_files_are_kept_per_lesson_with_their_group_and_listed_by_room);
    async fn shared_files_are_kept_per_lesson_with_their_group_and_listed_by_room() {
        let db = TestDb::current();
        let store = Store::connect(&db.url()).await.unwrap();
        let a = store.insert_shared_file(&file("lab-1.1700000000000", "Übung 1.pdf", None)).await.unwrap();
        let b = store.insert_shared_file(&file("lab-1.1700000000000", "group.pdf", Some((1, 2)))).await.unwrap();
        let c = store.insert_shared_file(&file("lab-2.1700000000000", "other.pdf", None)).await.unwrap();
        assert!(a < b && b < c);
        let row = store.shared_file(a).await.unwrap().unwrap();
        assert_eq!((row.name.as_str(), row.room_id.as_str(), row.size()), ("Übung 1.pdf", "lab-1", 5_000_000_000));
        assert_eq!((row.breakout_round, row.breakout_group, row.created_at), (None, None, 1_700_000_000_123));
        let room = RoomId::parse("lab-1").unwrap();
        let listed = store.shared_files_of_room(&room).await.unwrap();
        assert_eq!(listed.iter().map(|r| r.id).collect::<Vec<_>>(), [a, b]);
        assert_eq!((listed[1].breakout_round, listed[1].breakout_group), (Some(1), Some(2)));
        store.delete_shared_file(a).await.unwrap();
        assert_eq!(store.shared_file(a).await.unwrap(), None);
        assert_eq!(store.shared_files_of_room(&room).await.unwrap().len(), 1);
    }
}
