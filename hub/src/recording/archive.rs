//! What the HTTP layer holds of the recordings: where files are stored, the key download links
//! are signed with, and one lock per upload so two requests for the same file (a box retrying
//! while its first attempt is still being written) take turns.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::link::LinkKey;
use super::storage::Storage;

/// A storage handed to the hub at start-up (`Edge::storage`): `Debug` for the settings it travels with.
#[derive(Clone)]
pub struct StorageHandle(pub Arc<dyn Storage>);

impl std::fmt::Debug for StorageHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Storage")
    }
}

pub struct Archive {
    /// `None`: this hub keeps no recordings (no data dir, as in some tests).
    storage: Option<Arc<dyn Storage>>,
    links: LinkKey,
    locks: Mutex<HashMap<i64, Arc<tokio::sync::Mutex<()>>>>,
}

impl Archive {
    pub fn new(storage: Option<Arc<dyn Storage>>, links: LinkKey) -> Self {
        Self { storage, links, locks: Mutex::default() }
    }

    pub fn storage(&self) -> Option<&dyn Storage> {
        self.storage.as_deref()
    }

    /// The storage itself, for tasks that outlive a request (the retention sweeper).
    pub fn shared_storage(&self) -> Option<Arc<dyn Storage>> {
        self.storage.clone()
    }

    pub fn links(&self) -> &LinkKey {
        &self.links
    }

    /// Waits for upload `id`'s turn; the turn lasts as long as the guard.
    pub async fn turn(&self, id: i64) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            // Only map operations happen under this lock: a panic cannot leave it half-done.
            let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
            Arc::clone(locks.entry(id).or_default())
        };
        lock.lock_owned().await
    }

    /// Upload `id` is complete: its lock is no longer needed (a late request makes a new one).
    pub fn forget(&self, id: i64) {
        self.locks.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
    }
}
