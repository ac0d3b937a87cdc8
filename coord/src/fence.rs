//! The fence: the database's record of each room's highest lease epoch (issue 20: "room ownership
//! as a lease with an epoch … also fenced in PostgreSQL, so a Redis restart without persistence
//! cannot produce two owners"). A node owns a room only once the fence took its lease's epoch,
//! and the writes only an owner may make check that no later epoch was recorded since.
//!
//! The hub's implementation is `room_epochs` in its store (SQLite or PostgreSQL);
//! [`LocalFence`] is the in-process one of tests and of a hub on its own.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use crate::lease::Reply;
use crate::model::MemoryFence;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where a node records the epochs of the leases it won.
pub trait Fence: Send + Sync + 'static {
    /// Records `epoch` (the lease `token`) as `room`'s highest: [`Reply::Fenced`], or
    /// [`Reply::Stale`] with what is recorded when that is higher (or the same epoch from another
    /// lease). An error (database unreachable) is retried by the lease.
    fn record<'a>(&'a self, room: &'a str, token: &'a str, epoch: u64) -> BoxFuture<'a, Result<Reply, String>>;
}

/// The fence in memory, shared by the nodes of one process.
#[derive(Debug, Default)]
pub struct LocalFence(Mutex<MemoryFence>);

impl LocalFence {
    /// Whether a write under `epoch` for `room` would be let through.
    pub fn admits(&self, room: &str, epoch: u64) -> bool {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).admits(room, epoch)
    }
}

impl Fence for LocalFence {
    fn record<'a>(&'a self, room: &'a str, token: &'a str, epoch: u64) -> BoxFuture<'a, Result<Reply, String>> {
        let reply = self.0.lock().unwrap_or_else(|e| e.into_inner()).record(room, token, epoch);
        Box::pin(std::future::ready(Ok(reply)))
    }
}
