//! The hub's database: an SQLite file in the data dir by default (nothing to install), or
//! PostgreSQL when `[store] url` names one (docs/cluster.md); migrated at start-up. Queries are
//! shared by both ([`lectern_admin::db`]). Writes come from one task fed by [`StoreEvent`]s so the
//! media path never waits on disk.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Context;
use lectern_admin::db::{Dialect, Pool};
use lectern_proto::{ParticipantId, Role, RoomId};
use tokio::sync::mpsc;

#[derive(Clone, Debug)]
pub struct Store {
    pool: Pool,
    dialect: Dialect,
}

/// How a participant reached the hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Browser,
    Whip,
    Whep,
    /// The classroom's return feed (`/whep/{room}/return`): what remote students say and show.
    Return,
}

impl Transport {
    fn as_str(self) -> &'static str {
        match self {
            Transport::Browser => "browser",
            Transport::Whip => "whip",
            Transport::Whep => "whep",
            Transport::Return => "return",
        }
    }
}

/// Something worth persisting; sent by whoever sees it happen.
#[derive(Debug, Clone)]
pub enum StoreEvent {
    Joined {
        participant: ParticipantId,
        room: RoomId,
        subject: String,
        name: String,
        role: Role,
        transport: Transport,
        at: u64,
    },
    Left {
        participant: ParticipantId,
        at: u64,
    },
    /// The lesson's exports as they stand, saved when the room empties or the lesson ends.
    LessonSaved {
        room: RoomId,
        at: u64,
        report: SavedReport,
    },
    /// A chat message as sent; the same message may be reported once per recipient.
    Chat {
        room: RoomId,
        message: lectern_proto::classroom::ChatMessage,
    },
    /// A teacher deleted a chat message in class.
    ChatDeleted {
        room: RoomId,
        message_id: u64,
        at: u64,
    },
    /// A lesson occurrence started or ended (`lessons` rows, see [`crate::recording`]).
    Lesson(crate::recording::LessonChange),
    /// Recording of `lesson` started or stopped, `by` a teacher (`None`: the policy or the
    /// lesson's end); audited (`recording.start` / `recording.stop`).
    Recording {
        lesson: lectern_proto::LessonId,
        on: bool,
        by: Option<String>,
        at: u64,
    },
    /// A lesson's whiteboard or notes as they stand (`lesson_boards`, migration 0011).
    BoardSaved(BoardSave),
    /// A breakout group's chat, whiteboard and notes (`breakout_spaces`, migration 0015).
    BreakoutSaved(Box<BreakoutSave>),
}

/// One breakout group's space, to keep with its parent lesson.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakoutSave {
    pub lesson: lectern_proto::lesson::LessonId,
    pub room: RoomId,
    pub space: crate::classroom::breakout::KeptSpace,
    /// Unix ms.
    pub at: u64,
}

/// One document of a lesson's whiteboard and notes, to keep with the lesson.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoardSave {
    pub lesson: lectern_proto::lesson::LessonId,
    pub room: RoomId,
    pub doc: lectern_proto::board::DocKind,
    /// The whole document as one Yjs update (v1).
    pub state: Vec<u8>,
    /// The notes' text (`None` for the whiteboard).
    pub text: Option<String>,
    /// Unix ms.
    pub at: u64,
}

/// One kept breakout group as exported (`/api/rooms/{room}/breakouts.json`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BreakoutRow {
    pub lesson: String,
    pub round: u32,
    pub group: u32,
    pub name: String,
    pub chat: Vec<lectern_proto::classroom::ChatMessage>,
    /// The group's notes as text (Markdown).
    pub notes: String,
}

/// One chat message as exported.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatRow {
    /// Unix ms.
    pub sent_at: u64,
    pub from: String,
    pub text: String,
    /// Sent to one participant, not the room.
    pub private: bool,
    pub deleted: bool,
}

/// A lesson's exports, rendered: what `/api/rooms/{room}/...` serves.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SavedReport {
    pub attendance_csv: String,
    pub attendance_json: String,
    pub polls_csv: String,
    pub polls_json: String,
}

/// One row of `lessons` (times in unix ms).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LessonRow {
    pub id: String,
    pub room_id: String,
    pub started_at: i64,
    pub ended_at: Option<i64>,
    pub end_reason: Option<String>,
    pub recording_policy: String,
    pub recording_state: String,
}

/// One row of `sessions`, as the API reports it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
pub struct SessionRow {
    pub room_id: String,
    pub name: String,
    pub role: String,
    pub transport: String,
    pub joined_at: i64,
    pub left_at: Option<i64>,
}

/// Database connections: writes are serialised by SQLite anyway; a few let reads (admin pages,
/// exports) go on beside them. PostgreSQL gets a few more (connections open as needed).
const POOL_SIZE: u32 = 4;
const PG_POOL_SIZE: u32 = 10;

/// The migrations of each dialect: `hub/migrations` (SQLite) and its twin `hub/migrations-pg`.
pub fn migrator(dialect: Dialect) -> sqlx::migrate::Migrator {
    match dialect {
        Dialect::Sqlite => sqlx::migrate!("./migrations"),
        Dialect::Postgres => sqlx::migrate!("./migrations-pg"),
    }
}

/// The default database: `sqlite://<data_dir>/lectern.db`.
pub fn default_url(data_dir: &Path) -> String {
    lectern_admin::db::sqlite_url(&data_dir.join("lectern.db"))
}

impl Store {
    /// Opens (creating if needed) `<data_dir>/lectern.db` and runs migrations.
    pub async fn open(data_dir: &Path) -> anyhow::Result<Self> {
        Self::connect(&default_url(data_dir)).await
    }

    /// Opens the database at `url` (`sqlite://…` or `postgres://…`) and runs its dialect's migrations.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let store = Self::connect_unmigrated(url).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Opens the database at `url` without touching its schema (`lectern-hub db copy` checks first).
    pub async fn connect_unmigrated(url: &str) -> anyhow::Result<Self> {
        let dialect = Dialect::of_url(url).map_err(anyhow::Error::msg)?;
        let size = match dialect {
            Dialect::Sqlite => POOL_SIZE,
            Dialect::Postgres => PG_POOL_SIZE,
        };
        let shown = lectern_admin::db::redact_url(url);
        let pool = lectern_admin::db::connect(url, size).await.with_context(|| format!("opening database {shown}"))?;
        Ok(Self { pool, dialect })
    }

    /// Applies the migrations this database has not seen yet.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        migrator(self.dialect).run(&self.pool).await.context("running database migrations")
    }

    /// The database, for the web admin (`lectern-admin`), whose tables live in the same database.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Which SQL the database speaks.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The boxes that were waiting to be enrolled when the hub last saved them. A row that does
    /// not read back (an address that does not parse) is skipped: that box just asks again.
    pub async fn load_pending(&self) -> anyhow::Result<Vec<crate::enroll::Pending>> {
        type Row = (String, String, String, String, String, i64, i64);
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT code, box_key, hostname, version, ip, expires_at, created_at FROM pending_enrollments",
        )
        .fetch_all(&self.pool)
        .await
        .context("reading the boxes waiting to be enrolled")?;
        Ok(rows
            .into_iter()
            .filter_map(|(code, box_key, hostname, version, ip, expires_at, created_at)| {
                Some(crate::enroll::Pending {
                    code,
                    box_key,
                    hostname,
                    version,
                    ip: ip.parse().ok()?,
                    expires_at: u64::try_from(expires_at).ok()?,
                    created_at: u64::try_from(created_at).ok()?,
                })
            })
            .collect())
    }

    /// Replaces the saved waiting boxes with `pending`.
    pub async fn save_pending(&self, pending: &[crate::enroll::Pending]) -> anyhow::Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM pending_enrollments").execute(&mut *tx).await?;
        for p in pending {
            sqlx::query(
                "INSERT INTO pending_enrollments (code, box_key, hostname, version, ip, expires_at, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&p.code)
            .bind(&p.box_key)
            .bind(&p.hostname)
            .bind(&p.version)
            .bind(p.ip.to_string())
            .bind(i64::try_from(p.expires_at).unwrap_or(i64::MAX))
            .bind(i64::try_from(p.created_at).unwrap_or(i64::MAX))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await.context("saving the boxes waiting to be enrolled")
    }

    /// Sessions left open by a previous run (crash, power loss) are closed at `now`.
    /// In a cluster (`node`: this node's id), only the sessions of rooms this node held last:
    /// another node's participants are still there.
    pub async fn close_dangling_sessions(&self, now: u64, node: Option<&str>) -> anyhow::Result<u64> {
        let mine = format!("{}#", node.unwrap_or(""));
        let r = sqlx::query(
            "UPDATE sessions SET left_at = $1 WHERE left_at IS NULL \
             AND NOT EXISTS (SELECT 1 FROM room_epochs e WHERE e.room_id = sessions.room_id \
             AND substr(e.token, 1, length($2)) <> $2)",
        )
        .bind(now as i64)
        .bind(mine)
        .execute(&self.pool)
        .await
        .context("closing dangling sessions")?;
        Ok(r.rows_affected())
    }

    async fn insert_session(&self, ev: &StoreEvent) -> anyhow::Result<i64> {
        let StoreEvent::Joined { room, subject, name, role, transport, at, .. } = ev else {
            anyhow::bail!("not a join event");
        };
        sqlx::query("INSERT INTO rooms (id, created_at) VALUES ($1, $2) ON CONFLICT(id) DO NOTHING")
            .bind(room.as_str())
            .bind(*at as i64)
            .execute(&self.pool)
            .await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO sessions (room_id, subject, name, role, transport, joined_at) VALUES ($1, $2, $3, $4, $5, $6) \
             RETURNING id",
        )
        .bind(room.as_str())
        .bind(subject)
        .bind(name)
        .bind(role.as_str())
        .bind(transport.as_str())
        .bind(*at as i64)
        .fetch_one(&self.pool)
        .await?;
        Ok(id)
    }

    async fn close_session(&self, row: i64, at: u64) -> anyhow::Result<()> {
        sqlx::query("UPDATE sessions SET left_at = $1 WHERE id = $2 AND left_at IS NULL")
            .bind(at as i64)
            .bind(row)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn save_lesson(&self, room: &RoomId, at: u64, r: &SavedReport) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO lesson_reports (room_id, saved_at, attendance_csv, attendance_json, polls_csv, polls_json) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(room.as_str())
        .bind(at as i64)
        .bind(&r.attendance_csv)
        .bind(&r.attendance_json)
        .bind(&r.polls_csv)
        .bind(&r.polls_json)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn save_chat(&self, room: &RoomId, m: &lectern_proto::classroom::ChatMessage) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO chat_messages (room_id, message_id, sent_at, from_name, from_role, to_participant, text) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        )
        .bind(room.as_str())
        .bind(m.id.0 as i64)
        .bind(m.sent_at as i64)
        .bind(&m.from_name)
        .bind(m.from_role.as_str())
        .bind(m.to.map(|p| p.0 as i64))
        .bind(&m.text)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn mark_chat_deleted(&self, room: &RoomId, message_id: u64, at: u64) -> anyhow::Result<()> {
        // Message ids restart with each lesson: the newest message with that id is the one meant.
        sqlx::query(
            "UPDATE chat_messages SET deleted_at = $1 WHERE id = \
             (SELECT id FROM chat_messages WHERE room_id = $2 AND message_id = $3 ORDER BY sent_at DESC LIMIT 1)",
        )
        .bind(at as i64)
        .bind(room.as_str())
        .bind(message_id as i64)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A room's chat sent within `sent` (unix ms), oldest first; deleted messages only if
    /// `with_deleted`.
    pub async fn chat(
        &self,
        room: &RoomId,
        sent: std::ops::RangeInclusive<u64>,
        with_deleted: bool,
    ) -> anyhow::Result<Vec<ChatRow>> {
        // sent_at, from_name, text, to_participant, deleted_at
        type Row = (i64, String, String, Option<i64>, Option<i64>);
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT sent_at, from_name, text, to_participant, deleted_at FROM chat_messages \
             WHERE room_id = $1 AND sent_at BETWEEN $2 AND $3 AND ($4 OR deleted_at IS NULL) ORDER BY sent_at, id",
        )
        .bind(room.as_str())
        .bind(i64::try_from(*sent.start()).unwrap_or(i64::MAX))
        .bind(i64::try_from(*sent.end()).unwrap_or(i64::MAX))
        .bind(with_deleted)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(sent_at, from, text, to, deleted)| ChatRow {
                sent_at: sent_at.max(0) as u64,
                from,
                text,
                private: to.is_some(),
                deleted: deleted.is_some(),
            })
            .collect())
    }

    /// Writes a lesson's start (a new row) or end (its row closed).
    /// Keeps a lesson's whiteboard or notes (the latest copy replaces the one before).
    pub async fn save_board(&self, save: &BoardSave) -> anyhow::Result<()> {
        let doc = match save.doc {
            lectern_proto::board::DocKind::Board => "board",
            lectern_proto::board::DocKind::Notes => "notes",
        };
        sqlx::query(
            "INSERT INTO lesson_boards (lesson_id, room_id, doc, state, text, saved_at) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT(lesson_id, doc) DO UPDATE SET state = excluded.state, text = excluded.text, saved_at = excluded.saved_at",
        )
        .bind(save.lesson.as_str())
        .bind(save.room.as_str())
        .bind(doc)
        .bind(&save.state)
        .bind(save.text.as_deref())
        .bind(i64::try_from(save.at).unwrap_or(i64::MAX))
        .execute(&self.pool)
        .await
        .with_context(|| format!("saving the {doc} of lesson {}", save.lesson))?;
        Ok(())
    }

    /// Keeps a breakout group's chat, whiteboard and notes (the latest copy replaces the one before).
    pub async fn save_breakout(&self, save: &BreakoutSave) -> anyhow::Result<()> {
        let s = &save.space;
        let chat = serde_json::to_string(&s.chat).context("encoding a breakout group's chat")?;
        sqlx::query(
            "INSERT INTO breakout_spaces \
             (lesson_id, round, group_no, room_id, name, chat, board, notes, notes_text, saved_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT(lesson_id, round, group_no) DO UPDATE SET name = excluded.name, chat = excluded.chat, \
             board = excluded.board, notes = excluded.notes, notes_text = excluded.notes_text, saved_at = excluded.saved_at",
        )
        .bind(save.lesson.as_str())
        .bind(i64::from(s.round))
        .bind(i64::from(s.group.0))
        .bind(save.room.as_str())
        .bind(&s.name)
        .bind(&chat)
        .bind(&s.board)
        .bind(&s.notes)
        .bind(&s.notes_text)
        .bind(i64::try_from(save.at).unwrap_or(i64::MAX))
        .execute(&self.pool)
        .await
        .with_context(|| format!("saving breakout group {} of round {} of lesson {}", s.group.0, s.round, save.lesson))?;
        Ok(())
    }

    /// The breakout groups kept of the room's last lesson that had any, in round and group order.
    pub async fn last_breakouts(&self, room: &RoomId) -> anyhow::Result<Vec<BreakoutRow>> {
        let rows: Vec<BreakoutTuple> = sqlx::query_as(
            "SELECT lesson_id, round, group_no, name, chat, notes_text FROM breakout_spaces WHERE lesson_id = \
             (SELECT lesson_id FROM breakout_spaces WHERE room_id = $1 ORDER BY saved_at DESC LIMIT 1) \
             ORDER BY round, group_no",
        )
        .bind(room.as_str())
        .fetch_all(&self.pool)
        .await
        .with_context(|| format!("reading the breakout groups of room {room}"))?;
        Ok(rows.into_iter().map(breakout_row).collect())
    }

    /// The breakout groups kept of one lesson (`breakouts.json?lesson=<id>`), by round and group.
    pub async fn breakouts_of_lesson(&self, lesson: &lectern_proto::LessonId) -> anyhow::Result<Vec<BreakoutRow>> {
        let rows: Vec<BreakoutTuple> = sqlx::query_as(
            "SELECT lesson_id, round, group_no, name, chat, notes_text FROM breakout_spaces WHERE lesson_id = $1 \
             ORDER BY round, group_no",
        )
        .bind(lesson.as_str())
        .fetch_all(&self.pool)
        .await
        .with_context(|| format!("reading the breakout groups of lesson {lesson}"))?;
        Ok(rows.into_iter().map(breakout_row).collect())
    }

    /// A kept breakout group: (name, chat JSON, notes text).
    pub async fn breakout(
        &self,
        lesson: &str,
        round: u32,
        group: u32,
    ) -> anyhow::Result<Option<(String, String, String)>> {
        sqlx::query_as(
            "SELECT name, chat, notes_text FROM breakout_spaces WHERE lesson_id = $1 AND round = $2 AND group_no = $3",
        )
        .bind(lesson)
        .bind(i64::from(round))
        .bind(i64::from(group))
        .fetch_optional(&self.pool)
        .await
        .with_context(|| format!("reading breakout group {group} of round {round} of lesson {lesson}"))
    }

    /// The notes of the room's last lesson that has any saved.
    pub async fn latest_notes(&self, room: &RoomId) -> anyhow::Result<Option<String>> {
        let row: Option<(Option<String>,)> = sqlx::query_as(
            "SELECT text FROM lesson_boards WHERE room_id = $1 AND doc = 'notes' ORDER BY saved_at DESC LIMIT 1",
        )
        .bind(room.as_str())
        .fetch_optional(&self.pool)
        .await
        .with_context(|| format!("reading the notes of room {room}"))?;
        Ok(row.map(|(text,)| text.unwrap_or_default()))
    }

    /// A lesson's saved whiteboard or notes: (state, text).
    pub async fn board(
        &self,
        lesson: &str,
        doc: lectern_proto::board::DocKind,
    ) -> anyhow::Result<Option<(Vec<u8>, Option<String>)>> {
        let doc = match doc {
            lectern_proto::board::DocKind::Board => "board",
            lectern_proto::board::DocKind::Notes => "notes",
        };
        let row: Option<(Vec<u8>, Option<String>)> =
            sqlx::query_as("SELECT state, text FROM lesson_boards WHERE lesson_id = $1 AND doc = $2")
                .bind(lesson)
                .bind(doc)
                .fetch_optional(&self.pool)
                .await
                .with_context(|| format!("reading the {doc} of lesson {lesson}"))?;
        Ok(row)
    }

    /// A lesson opened or closed: a write only the room's owner may make, so it carries the
    /// epoch of the owner's lease (0 for a hub on its own) and is refused once a later epoch is
    /// recorded in `room_epochs` (the fence, `crate::cluster::fence`). Returns whether it was
    /// written (an end already written, or a start already there, counts as written).
    pub async fn write_lesson(&self, change: &crate::recording::LessonChange, epoch: u64) -> anyhow::Result<bool> {
        use crate::recording::LessonChange as C;
        let epoch = i64::try_from(epoch).unwrap_or(i64::MAX);
        let (room, done) = match change {
            C::Started { lesson, room, at } => {
                let done = sqlx::query(
                    "INSERT INTO lessons (id, room_id, started_at) SELECT $1, $2, $3 \
                     WHERE NOT EXISTS (SELECT 1 FROM room_epochs WHERE room_id = $2 AND epoch > $4) \
                     ON CONFLICT(id) DO NOTHING",
                )
                .bind(lesson.as_str())
                .bind(room.as_str())
                .bind(i64::try_from(*at).unwrap_or(i64::MAX))
                .bind(epoch)
                .execute(&self.pool)
                .await
                .with_context(|| format!("recording the start of lesson {lesson}"))?;
                (room.clone(), done.rows_affected())
            }
            C::Ended { lesson, at, reason } => {
                let done = sqlx::query(
                    "UPDATE lessons SET ended_at = $1, end_reason = $2 WHERE id = $3 AND ended_at IS NULL \
                     AND NOT EXISTS (SELECT 1 FROM room_epochs e WHERE e.room_id = lessons.room_id AND e.epoch > $4)",
                )
                .bind(i64::try_from(*at).unwrap_or(i64::MAX))
                .bind(reason.as_str())
                .bind(lesson.as_str())
                .bind(epoch)
                .execute(&self.pool)
                .await
                .with_context(|| format!("recording the end of lesson {lesson}"))?;
                (lesson.room(), done.rows_affected())
            }
        };
        if done > 0 {
            return Ok(true);
        }
        // Nothing changed: a repeat (fine) or the fence (a later owner).
        let fenced: Option<i64> = sqlx::query_scalar("SELECT epoch FROM room_epochs WHERE room_id = $1 AND epoch > $2")
            .bind(room.as_str())
            .bind(epoch)
            .fetch_optional(&self.pool)
            .await
            .with_context(|| format!("reading the epoch of room {room}"))?;
        Ok(fenced.is_none())
    }

    /// Recording of `lesson` switched: its row says so, and the audit trail who did it (unix ms `at`).
    pub async fn write_recording_switch(
        &self,
        lesson: &lectern_proto::LessonId,
        on: bool,
        by: Option<&str>,
        at: u64,
    ) -> anyhow::Result<()> {
        let state = if on { "recording" } else { "stopped" };
        sqlx::query("UPDATE lessons SET recording_state = $1 WHERE id = $2")
            .bind(state)
            .bind(lesson.as_str())
            .execute(&self.pool)
            .await
            .with_context(|| format!("marking lesson {lesson} {state}"))?;
        let entry = lectern_admin::audit::Entry {
            at: at / 1000,
            actor: by.unwrap_or("policy"),
            action: if on { "recording.start" } else { "recording.stop" },
            target: lesson.as_str(),
            ip: "classroom",
            details: serde_json::json!({ "room": lesson.room().as_str(), "by": if by.is_some() { "teacher" } else { "policy" } }),
        };
        lectern_admin::audit::record(&self.pool, &entry).await.context("auditing a recording switch")?;
        Ok(())
    }

    /// Lessons left open by a previous run are closed at `now_ms` (reason `restart`): on a hub on
    /// its own all of them; on a cluster node (`node`, its public URL) those of rooms whose latest
    /// lease recorded in `room_epochs` was this node's or that were never leased, so a node
    /// restarting does not close the lessons other nodes serve.
    pub async fn close_dangling_lessons(&self, now_ms: u64, node: Option<&str>) -> anyhow::Result<u64> {
        let mine = format!("{}#", node.unwrap_or(""));
        let r = sqlx::query(
            "UPDATE lessons SET ended_at = $1, end_reason = $2 WHERE ended_at IS NULL \
             AND NOT EXISTS (SELECT 1 FROM room_epochs e WHERE e.room_id = lessons.room_id \
             AND substr(e.token, 1, length($3)) <> $3)",
        )
        .bind(i64::try_from(now_ms).unwrap_or(i64::MAX))
        .bind(crate::recording::EndReason::Restart.as_str())
        .bind(mine)
        .execute(&self.pool)
        .await
        .context("closing lessons left open")?;
        Ok(r.rows_affected())
    }

    /// A room's lessons, newest first.
    pub async fn lessons(&self, room: &RoomId) -> anyhow::Result<Vec<LessonRow>> {
        let rows = sqlx::query_as::<_, LessonRow>(
            "SELECT id, room_id, started_at, ended_at, end_reason, recording_policy, recording_state FROM lessons \
             WHERE room_id = $1 ORDER BY started_at DESC, id DESC",
        )
        .bind(room.as_str())
        .fetch_all(&self.pool)
        .await
        .with_context(|| format!("reading the lessons of room {room}"))?;
        Ok(rows)
    }

    /// The most recently saved exports of a room's lesson.
    pub async fn latest_lesson(&self, room: &RoomId) -> anyhow::Result<Option<SavedReport>> {
        let row = sqlx::query_as::<_, SavedReport>(
            "SELECT attendance_csv, attendance_json, polls_csv, polls_json FROM lesson_reports \
             WHERE room_id = $1 ORDER BY saved_at DESC, id DESC LIMIT 1",
        )
        .bind(room.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row)
    }

    pub async fn sessions(&self, room: &RoomId) -> anyhow::Result<Vec<SessionRow>> {
        let rows = sqlx::query_as::<_, SessionRow>(
            "SELECT room_id, name, role, transport, joined_at, left_at FROM sessions WHERE room_id = $1 ORDER BY id",
        )
        .bind(room.as_str())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    /// Spawns the writer task; events are applied in order. A failed write is logged, not fatal:
    /// losing an attendance row must never take a lesson down.
    /// The queue is bounded ([`crate::media_io::shard::OUTLET_QUEUE`]): the shards drop events
    /// rather than grow it while the database is stuck.
    /// Lessons opened and closed are fenced writes: `epochs` gives this node's epoch per room.
    pub fn spawn_writer(self, epochs: crate::cluster::fence::Epochs) -> mpsc::Sender<StoreEvent> {
        let (tx, mut rx) = mpsc::channel::<StoreEvent>(crate::media_io::shard::OUTLET_QUEUE);
        tokio::spawn(async move {
            let mut rows: HashMap<ParticipantId, i64> = HashMap::new();
            while let Some(ev) = rx.recv().await {
                match &ev {
                    StoreEvent::Joined { participant, .. } => match self.insert_session(&ev).await {
                        Ok(row) => {
                            rows.insert(*participant, row);
                        }
                        Err(e) => tracing::warn!(error = %format!("{e:#}"), "recording a join failed"),
                    },
                    StoreEvent::LessonSaved { room, at, report } => {
                        if let Err(e) = self.save_lesson(room, *at, report).await {
                            tracing::warn!(error = %format!("{e:#}"), "saving a lesson report failed");
                        }
                    }
                    StoreEvent::Chat { room, message } => {
                        if let Err(e) = self.save_chat(room, message).await {
                            tracing::warn!(error = %format!("{e:#}"), "saving a chat message failed");
                        }
                    }
                    StoreEvent::ChatDeleted { room, message_id, at } => {
                        if let Err(e) = self.mark_chat_deleted(room, *message_id, *at).await {
                            tracing::warn!(error = %format!("{e:#}"), "recording a chat deletion failed");
                        }
                    }
                    StoreEvent::Lesson(change) => {
                        let room = match change {
                            crate::recording::LessonChange::Started { room, .. } => room.clone(),
                            crate::recording::LessonChange::Ended { lesson, .. } => lesson.room(),
                        };
                        match self.write_lesson(change, epochs.of(room.as_str())).await {
                            Ok(true) => {}
                            Ok(false) => tracing::warn!(
                                %room,
                                "a lesson's start or end was refused: another node holds the room under a later lease"
                            ),
                            Err(e) => {
                                tracing::warn!(error = %format!("{e:#}"), "recording a lesson's start or end failed")
                            }
                        }
                    }
                    StoreEvent::Recording { lesson, on, by, at } => {
                        if let Err(e) = self.write_recording_switch(lesson, *on, by.as_deref(), *at).await {
                            tracing::warn!(error = %format!("{e:#}"), "recording a recording switch failed");
                        }
                    }
                    StoreEvent::BoardSaved(save) => {
                        if let Err(e) = self.save_board(save).await {
                            tracing::warn!(error = %format!("{e:#}"), "saving a lesson's whiteboard or notes failed");
                        }
                    }
                    StoreEvent::BreakoutSaved(save) => {
                        if let Err(e) = self.save_breakout(save).await {
                            tracing::warn!(error = %format!("{e:#}"), "saving a breakout group failed");
                        }
                    }
                    StoreEvent::Left { participant, at } => {
                        if let Some(row) = rows.remove(participant)
                            && let Err(e) = self.close_session(row, *at).await
                        {
                            tracing::warn!(error = %format!("{e:#}"), "recording a leave failed");
                        }
                    }
                }
            }
        });
        tx
    }
}

/// lesson_id, round, group_no, name, chat, notes_text
type BreakoutTuple = (String, i64, i64, String, String, String);

fn breakout_row((lesson, round, group, name, chat, notes): BreakoutTuple) -> BreakoutRow {
    BreakoutRow {
        lesson,
        round: round.max(0) as u32,
        group: group.max(0) as u32,
        name,
        // Written by `save_breakout` from the same type; a row that does not parse shows empty.
        chat: serde_json::from_str(&chat).unwrap_or_default(),
        notes,
    }
}

#[cfg(test)]
mod tests {
    //! Each test runs on SQLite and on a real PostgreSQL (`lectern_common::test_db`).
    use super::*;
    use lectern_common::each_backend;
    use lectern_common::test_db::TestDb;

    /// A fresh database of the test's backend, migrated.
    async fn fresh() -> (TestDb, Store) {
        let db = TestDb::current();
        let store = Store::connect(&db.url()).await.unwrap();
        (db, store)
    }

    each_backend!(join_and_leave_are_recorded_in_the_database_file);
    async fn join_and_leave_are_recorded_in_the_database_file() {
        let (db, store) = fresh().await;
        let room = RoomId::parse("r1").unwrap();
        let tx = store.clone().spawn_writer(Default::default());
        let joined = StoreEvent::Joined {
            participant: ParticipantId(1),
            room: room.clone(),
            subject: "s".into(),
            name: "Ada".into(),
            role: Role::Student,
            transport: Transport::Browser,
            at: 100,
        };
        tx.send(joined).await.unwrap();
        tx.send(StoreEvent::Left { participant: ParticipantId(1), at: 160 }).await.unwrap();
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let rows = store.sessions(&room).await.unwrap();
            if rows.first().is_some_and(|r| r.left_at == Some(160)) {
                assert_eq!(rows[0].name, "Ada");
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "session row not written: {rows:?}");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        if let TestDb::Sqlite(dir) = &db {
            assert!(dir.path().join("lectern.db").exists());
        }
    }

    each_backend!(the_latest_saved_lesson_is_served_back);
    async fn the_latest_saved_lesson_is_served_back() {
        let (_db, store) = fresh().await;
        let room = RoomId::parse("r").unwrap();
        assert_eq!(store.latest_lesson(&room).await.unwrap(), None);
        let report = |n: &str| SavedReport {
            attendance_csv: n.into(),
            attendance_json: "{}".into(),
            polls_csv: String::new(),
            polls_json: "[]".into(),
        };
        store.save_lesson(&room, 10, &report("old")).await.unwrap();
        store.save_lesson(&room, 20, &report("new")).await.unwrap();
        assert_eq!(store.latest_lesson(&room).await.unwrap().unwrap().attendance_csv, "new");
    }

    each_backend!(chat_is_recorded_once_and_deletion_is_marked);
    async fn chat_is_recorded_once_and_deletion_is_marked() {
        use lectern_proto::classroom::{ChatMessage, ChatMessageId};
        let (_db, store) = fresh().await;
        let room = RoomId::parse("r").unwrap();
        let m = ChatMessage {
            id: ChatMessageId(1),
            from: ParticipantId(3),
            from_name: "Ada".into(),
            from_role: Role::Student,
            to: None,
            text: "<b>hi</b>".into(),
            sent_at: 1000,
            file: None,
        };
        store.save_chat(&room, &m).await.unwrap();
        store.save_chat(&room, &m).await.unwrap(); // delivered to two audiences: one row
        let private = ChatMessage { id: ChatMessageId(2), to: Some(ParticipantId(4)), sent_at: 5000, ..m.clone() };
        store.save_chat(&room, &private).await.unwrap();
        store.mark_chat_deleted(&room, 1, 2000).await.unwrap();
        let row = |sent_at, private, deleted| ChatRow {
            sent_at,
            from: "Ada".into(),
            text: "<b>hi</b>".into(),
            private,
            deleted,
        };
        assert_eq!(
            store.chat(&room, 0..=u64::MAX, true).await.unwrap(),
            vec![row(1000, false, true), row(5000, true, false)]
        );
        assert_eq!(
            store.chat(&room, 0..=u64::MAX, false).await.unwrap(),
            vec![row(5000, true, false)],
            "deleted left out"
        );
        assert_eq!(store.chat(&room, 0..=4999, true).await.unwrap(), vec![row(1000, false, true)], "only the window");
    }

    each_backend!(lessons_are_opened_closed_and_listed_newest_first);
    async fn lessons_are_opened_closed_and_listed_newest_first() {
        use crate::recording::{EndReason, LessonChange};
        use lectern_proto::LessonId;
        let (_db, store) = fresh().await;
        let room = RoomId::parse("lab").unwrap();
        let (first, second) = (LessonId::new(&room, 1_000), LessonId::new(&room, 5_000));
        let started = |lesson: &LessonId, at| LessonChange::Started { lesson: lesson.clone(), room: room.clone(), at };
        assert!(store.write_lesson(&started(&first, 1_000), 0).await.unwrap());
        assert!(store.write_lesson(&started(&first, 1_000), 0).await.unwrap()); // written twice: one row
        let ended = LessonChange::Ended { lesson: first.clone(), at: 4_000, reason: EndReason::Api };
        assert!(store.write_lesson(&ended, 0).await.unwrap());
        let later = LessonChange::Ended { lesson: first.clone(), at: 4_500, reason: EndReason::Empty };
        assert!(store.write_lesson(&later, 0).await.unwrap()); // a closed row keeps its end
        assert!(store.write_lesson(&started(&second, 5_000), 0).await.unwrap());
        let rows = store.lessons(&room).await.unwrap();
        let got: Vec<_> = rows.iter().map(|r| (r.id.as_str(), r.ended_at, r.end_reason.as_deref())).collect();
        assert_eq!(got, [(second.as_str(), None, None), (first.as_str(), Some(4_000), Some("api"))]);
        assert_eq!(rows[0].recording_policy, "off");
        assert_eq!(store.close_dangling_lessons(9_000, None).await.unwrap(), 1);
        let rows = store.lessons(&room).await.unwrap();
        assert_eq!((rows[0].ended_at, rows[0].end_reason.as_deref()), (Some(9_000), Some("restart")));
        assert!(store.lessons(&RoomId::parse("other").unwrap()).await.unwrap().is_empty());
    }

    // The lease fence (`room_epochs`): epochs only rise, and once a later owner's epoch is
    // recorded the old owner's lesson writes are refused, on both databases.
    each_backend!(the_fence_refuses_a_stale_owners_lesson_writes);
    async fn the_fence_refuses_a_stale_owners_lesson_writes() {
        use crate::cluster::fence::StoreFence;
        use crate::recording::{EndReason, LessonChange};
        use lectern_coord::{Fence, Reply};
        use lectern_proto::LessonId;
        let (_db, store) = fresh().await;
        let fence = StoreFence::new(store.pool().clone());
        let a = "http://a.test";
        let room = RoomId::parse("lab").unwrap();
        assert_eq!(fence.record("lab", &format!("{a}#3"), 3).await.unwrap(), Reply::Fenced);
        assert_eq!(fence.record("lab", &format!("{a}#3"), 3).await.unwrap(), Reply::Fenced, "the same lease again");
        assert_eq!(fence.record("lab", "http://b.test#3", 3).await.unwrap(), Reply::Stale { recorded: 3 });
        assert_eq!(fence.record("lab", "http://b.test#1", 1).await.unwrap(), Reply::Stale { recorded: 3 });
        let lesson = LessonId::new(&room, 1_000);
        let start = LessonChange::Started { lesson: lesson.clone(), room: room.clone(), at: 1_000 };
        assert!(!store.write_lesson(&start, 2).await.unwrap(), "an older lease's lesson is refused");
        assert!(store.lessons(&room).await.unwrap().is_empty());
        assert!(store.write_lesson(&start, 3).await.unwrap());
        let joined = |room: &str| StoreEvent::Joined {
            participant: ParticipantId(1),
            room: RoomId::parse(room).unwrap(),
            subject: "s".into(),
            name: "n".into(),
            role: Role::Student,
            transport: Transport::Browser,
            at: 1,
        };
        store.insert_session(&joined("lab")).await.unwrap();
        store.insert_session(&joined("elsewhere")).await.unwrap();
        // b takes the room over: what a left open in it (its lesson, its sessions) ends then, and
        // a's late end of the lesson is refused.
        assert_eq!(fence.record("lab", "http://b.test#4", 4).await.unwrap(), Reply::Fenced);
        let row = store.lessons(&room).await.unwrap().remove(0);
        assert_eq!((row.ended_at.is_some(), row.end_reason.as_deref()), (true, Some("restart")));
        assert_eq!(
            store.close_dangling_sessions(9, None).await.unwrap(),
            1,
            "only the other room's session was left open"
        );
        let end = |reason| LessonChange::Ended { lesson: lesson.clone(), at: 2_000, reason };
        assert!(!store.write_lesson(&end(EndReason::Empty), 3).await.unwrap());
        // b's own lesson: a restarting leaves it open; b restarting closes it.
        let second = LessonId::new(&room, 5_000);
        let start = LessonChange::Started { lesson: second.clone(), room: room.clone(), at: 5_000 };
        assert!(store.write_lesson(&start, 4).await.unwrap());
        assert_eq!(store.close_dangling_lessons(6_000, Some(a)).await.unwrap(), 0);
        assert_eq!(store.close_dangling_lessons(6_000, Some("http://b.test")).await.unwrap(), 1);
        let end = LessonChange::Ended { lesson: second, at: 7_000, reason: EndReason::Api };
        assert!(store.write_lesson(&end, 4).await.unwrap(), "already closed: nothing refused");
        // The same node renewing under a new epoch (Redis restarted) closes nothing of its own.
        store.insert_session(&joined("lab")).await.unwrap();
        assert_eq!(fence.record("lab", "http://b.test#9", 9).await.unwrap(), Reply::Fenced);
        // a restarting leaves b's participants in; b restarting closes them.
        assert_eq!(store.close_dangling_sessions(9, Some(a)).await.unwrap(), 0);
        assert_eq!(store.close_dangling_sessions(9, Some("http://b.test")).await.unwrap(), 1);
    }

    each_backend!(reopening_closes_sessions_left_dangling);
    async fn reopening_closes_sessions_left_dangling() {
        let (db, store) = fresh().await;
        let ev = StoreEvent::Joined {
            participant: ParticipantId(1),
            room: RoomId::parse("r").unwrap(),
            subject: "s".into(),
            name: "n".into(),
            role: Role::Device,
            transport: Transport::Whip,
            at: 5,
        };
        store.insert_session(&ev).await.unwrap();
        drop(store);
        let store = Store::connect(&db.url()).await.unwrap();
        assert_eq!(store.close_dangling_sessions(9, None).await.unwrap(), 1);
    }

    each_backend!(a_lessons_board_and_notes_are_kept_and_the_latest_copy_wins);
    async fn a_lessons_board_and_notes_are_kept_and_the_latest_copy_wins() {
        use lectern_proto::board::DocKind;
        let (_db, store) = fresh().await;
        let lesson = lectern_proto::LessonId::parse("r.1700000000000").unwrap();
        let save = |doc, state: &[u8], text: Option<&str>, at| BoardSave {
            lesson: lesson.clone(),
            room: RoomId::parse("r").unwrap(),
            doc,
            state: state.to_vec(),
            text: text.map(str::to_owned),
            at,
        };
        assert_eq!(store.board("r.1700000000000", DocKind::Notes).await.unwrap(), None);
        store.save_board(&save(DocKind::Notes, &[1, 2], Some("# old"), 10)).await.unwrap();
        store.save_board(&save(DocKind::Notes, &[3, 4], Some("# new"), 20)).await.unwrap();
        store.save_board(&save(DocKind::Board, &[5], None, 20)).await.unwrap();
        assert_eq!(
            store.board("r.1700000000000", DocKind::Notes).await.unwrap(),
            Some((vec![3, 4], Some("# new".to_owned())))
        );
        assert_eq!(store.board("r.1700000000000", DocKind::Board).await.unwrap(), Some((vec![5], None)));
        assert_eq!(store.latest_notes(&RoomId::parse("r").unwrap()).await.unwrap().as_deref(), Some("# new"));
        assert_eq!(store.latest_notes(&RoomId::parse("other").unwrap()).await.unwrap(), None);
    }

    each_backend!(a_breakout_group_is_kept_by_lesson_round_and_group_and_the_latest_copy_wins);
    async fn a_breakout_group_is_kept_by_lesson_round_and_group_and_the_latest_copy_wins() {
        use crate::classroom::breakout::KeptSpace;
        use lectern_proto::breakout::GroupId;
        let (_db, store) = fresh().await;
        let message = lectern_proto::classroom::ChatMessage {
            id: lectern_proto::classroom::ChatMessageId(1),
            from: ParticipantId(2),
            from_name: "Ada".into(),
            from_role: Role::Student,
            to: None,
            text: "our plan".into(),
            sent_at: 5,
            file: None,
        };
        let save = |group: u32, notes: &str, at| BreakoutSave {
            lesson: lectern_proto::LessonId::parse("r.1700000000000").unwrap(),
            room: RoomId::parse("r").unwrap(),
            space: KeptSpace {
                round: 1,
                group: GroupId(group),
                name: format!("Group {group}"),
                chat: vec![message.clone()],
                board: vec![0, 0],
                notes: vec![0, 0],
                notes_text: notes.to_owned(),
            },
            at,
        };
        assert_eq!(store.breakout("r.1700000000000", 1, 1).await.unwrap(), None);
        store.save_breakout(&save(1, "draft", 10)).await.unwrap();
        store.save_breakout(&save(1, "final", 20)).await.unwrap();
        store.save_breakout(&save(2, "other", 20)).await.unwrap();
        let (name, chat, notes) = store.breakout("r.1700000000000", 1, 1).await.unwrap().expect("kept");
        assert_eq!((name.as_str(), notes.as_str()), ("Group 1", "final"));
        assert!(chat.contains(r#""text":"our plan""#), "{chat}");
        assert_eq!(store.breakout("r.1700000000000", 1, 2).await.unwrap().map(|r| r.2).as_deref(), Some("other"));
        assert_eq!(store.breakout("r.1700000000000", 2, 1).await.unwrap(), None);
        let all = store.last_breakouts(&RoomId::parse("r").unwrap()).await.unwrap();
        assert_eq!(all.iter().map(|b| (b.group, b.notes.as_str())).collect::<Vec<_>>(), [(1, "final"), (2, "other")]);
        assert!(store.last_breakouts(&RoomId::parse("other").unwrap()).await.unwrap().is_empty());
        // A later lesson's groups become the last; the earlier lesson is still there by its id.
        let later = BreakoutSave {
            lesson: lectern_proto::LessonId::parse("r.1700000900000").unwrap(),
            at: 30,
            ..save(1, "next", 30)
        };
        store.save_breakout(&later).await.unwrap();
        let last = store.last_breakouts(&RoomId::parse("r").unwrap()).await.unwrap();
        assert_eq!(last.iter().map(|b| b.notes.as_str()).collect::<Vec<_>>(), ["next"]);
        let first = lectern_proto::LessonId::parse("r.1700000000000").unwrap();
        let earlier = store.breakouts_of_lesson(&first).await.unwrap();
        assert_eq!(earlier.iter().map(|b| b.notes.as_str()).collect::<Vec<_>>(), ["final", "other"]);
        assert_eq!(all[0].chat, [message]);
    }
}
