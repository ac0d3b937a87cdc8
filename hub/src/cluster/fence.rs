//! The lease fence in the hub's database (`room_epochs`, migration 0018): a node owns a room only
//! once its lease's epoch is recorded there, and the writes only the room's owner may make carry
//! the epoch and are refused once a later one is recorded (`docs/cluster.md`, "The fence").
//!
//! A hub on its own has no leases: its writes carry epoch 0 and pass the same SQL, since no row is
//! ever recorded for its rooms.

use std::sync::{Arc, OnceLock};

use lectern_admin::db::Pool;
use lectern_coord::fence::BoxFuture;
use lectern_coord::{Fence, Leases, Reply};

/// `room_epochs` as the leases' fence.
pub struct StoreFence {
    pool: Pool,
}

impl StoreFence {
    pub fn new(pool: Pool) -> Self {
        Self { pool }
    }

    async fn record_epoch(&self, room: &str, token: &str, epoch: u64) -> anyhow::Result<Reply> {
        use anyhow::Context as _;
        let epoch = i64::try_from(epoch).context("an epoch past i64")?;
        let now = i64::try_from(lectern_common::time::unix_ms()).unwrap_or(i64::MAX);
        let previous: Option<String> = sqlx::query_scalar("SELECT token FROM room_epochs WHERE room_id = $1")
            .bind(room)
            .fetch_optional(&self.pool)
            .await
            .with_context(|| format!("reading the epoch of room {room}"))?;
        // Compare-and-set in one statement: a new room, a higher epoch, or this very lease again.
        let done = sqlx::query(
            "INSERT INTO room_epochs (room_id, epoch, token, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (room_id) DO UPDATE SET epoch = excluded.epoch, token = excluded.token, \
             updated_at = excluded.updated_at \
             WHERE room_epochs.epoch < excluded.epoch OR room_epochs.token = excluded.token",
        )
        .bind(room)
        .bind(epoch)
        .bind(token)
        .bind(now)
        .execute(&self.pool)
        .await
        .with_context(|| format!("recording epoch {epoch} of room {room}"))?;
        if done.rows_affected() > 0 {
            if previous.is_some_and(|p| node_of(&p) != node_of(token)) {
                self.close_previous_owners(room, now).await?;
            }
            return Ok(Reply::Fenced);
        }
        let recorded: i64 = sqlx::query_scalar("SELECT epoch FROM room_epochs WHERE room_id = $1")
            .bind(room)
            .fetch_one(&self.pool)
            .await
            .with_context(|| format!("reading the epoch of room {room}"))?;
        Ok(Reply::Stale { recorded: u64::try_from(recorded).unwrap_or(0) })
    }

    /// The room was another node's (which died, or lost it): what that node left open in the
    /// room, its lesson and its participants' sessions, ends now, so attendance and the lessons
    /// list do not show them running for ever. This node has admitted nobody to the room yet:
    /// joins wait for the fence.
    async fn close_previous_owners(&self, room: &str, now_ms: i64) -> anyhow::Result<()> {
        use anyhow::Context as _;
        let lessons =
            sqlx::query("UPDATE lessons SET ended_at = $1, end_reason = $2 WHERE room_id = $3 AND ended_at IS NULL")
                .bind(now_ms)
                .bind(crate::recording::EndReason::Restart.as_str())
                .bind(room)
                .execute(&self.pool)
                .await
                .with_context(|| format!("closing the previous owner's lesson of room {room}"))?;
        let sessions = sqlx::query("UPDATE sessions SET left_at = $1 WHERE room_id = $2 AND left_at IS NULL")
            .bind(now_ms / 1000)
            .bind(room)
            .execute(&self.pool)
            .await
            .with_context(|| format!("closing the previous owner's sessions in room {room}"))?;
        let (lessons, sessions) = (lessons.rows_affected(), sessions.rows_affected());
        if lessons + sessions > 0 {
            tracing::info!(room, lessons, sessions, "took the room over: closed what its previous owner left open");
        }
        Ok(())
    }
}

/// The node part of a lease token (`<node>#<epoch>`).
fn node_of(token: &str) -> &str {
    token.rsplit_once('#').map_or(token, |(node, _)| node)
}

impl Fence for StoreFence {
    fn record<'a>(&'a self, room: &'a str, token: &'a str, epoch: u64) -> BoxFuture<'a, Result<Reply, String>> {
        Box::pin(async move { self.record_epoch(room, token, epoch).await.map_err(|e| format!("{e:#}")) })
    }
}

/// What the store's writer asks before a fenced write: this node's epoch for a room. Filled in
/// once the node joins its cluster (the writer starts before that); 0 for a hub on its own.
#[derive(Clone, Default)]
pub struct Epochs(Arc<OnceLock<Leases>>);

impl std::fmt::Debug for Epochs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Epochs").field(&self.0.get().map(Leases::node)).finish()
    }
}

impl Epochs {
    pub fn join(&self, leases: Leases) {
        let _ = self.0.set(leases);
    }

    /// The epoch of this node's latest lease on `room` (0: none, or no cluster).
    pub fn of(&self, room: &str) -> u64 {
        self.0.get().and_then(|l| l.last_epoch(room)).unwrap_or(0)
    }

    /// This node's id in its cluster, if it is in one.
    pub fn node(&self) -> Option<&str> {
        self.0.get().map(Leases::node)
    }
}
