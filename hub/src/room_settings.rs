//! The web admin's settings of each room that lessons enforce (capacity, everyone waits): read
//! from the admin's table at start-up, kept current by its changes, and handed to a room with
//! each join (see [`Access::room`](crate::sfu::Access)), so a room picks up a change at the next
//! person who arrives, which is when capacity and waiting are decided.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use lectern_admin::rooms::Enforced;
use lectern_proto::RoomId;

use crate::sfu::RoomSettings;

/// Shared by clones.
#[derive(Debug, Clone, Default)]
pub struct RoomSettingsCache(Arc<RwLock<HashMap<RoomId, Enforced>>>);

impl RoomSettingsCache {
    /// What the admin set for `room`; `None` for a room it does not know (ad-hoc rooms).
    pub fn get(&self, room: &RoomId) -> Option<RoomSettings> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).get(room).copied().map(of)
    }

    /// The recording policy the admin set for `room`; `None` for a room it does not know (the
    /// hub's `[recording] default` applies).
    pub fn recording(&self, room: &RoomId) -> Option<lectern_proto::lesson::RecordingPolicy> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).get(room).map(|e| e.recording)
    }

    /// Records the admin's change (`None`: the room was deleted).
    pub fn set(&self, room: &RoomId, settings: Option<Enforced>) {
        let mut map = self.0.write().unwrap_or_else(|e| e.into_inner());
        match settings {
            Some(e) => map.insert(room.clone(), e),
            None => map.remove(room),
        };
    }

    /// Reads every configured room, and from then on follows the admin's changes.
    pub async fn load(&self, admin: &lectern_admin::AdminState) -> Result<usize, lectern_admin::error::Error> {
        let cache = self.clone();
        admin.room_watch.on_change(Box::new(move |room, settings| cache.set(room, settings)));
        let rooms = lectern_admin::rooms::all_enforced(&admin.pool).await?;
        let n = rooms.len();
        for (room, e) in rooms {
            self.set(&room, Some(e));
        }
        Ok(n)
    }
}

fn of(e: Enforced) -> RoomSettings {
    RoomSettings { capacity: e.capacity, everyone_waits: e.everyone_waits }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lectern_proto::lesson::RecordingPolicy;

    #[test]
    fn a_change_replaces_and_a_delete_forgets() {
        let cache = RoomSettingsCache::default();
        let room = RoomId::parse("lab").expect("valid room");
        assert_eq!(cache.get(&room), None);
        cache.set(&room, Some(Enforced { capacity: 3, everyone_waits: true, recording: RecordingPolicy::Off }));
        cache
            .clone()
            .set(&room, Some(Enforced { capacity: 5, everyone_waits: false, recording: RecordingPolicy::Always }));
        assert_eq!(cache.get(&room), Some(RoomSettings { capacity: 5, everyone_waits: false }));
        assert_eq!(cache.recording(&room), Some(RecordingPolicy::Always));
        cache.set(&room, None);
        assert_eq!(cache.get(&room), None);
        assert_eq!(cache.recording(&room), None);
    }
}
