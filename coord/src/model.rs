//! What the coordination store does with lease requests, as plain data: the in-process store of
//! a single hub, the simulated store of the property tests, and the specification the Redis
//! scripts ([`crate::script`]) implement (`tests/redis.rs` runs both side by side).
//!
//! Besides the room keys the store keeps when it came up (its *boot*, created by the first request
//! that finds it missing). A store that lost its keys (Redis restarted without persistence) has a
//! fresh boot; for one lease period after it nobody may `Acquire`, while owners may `Renew`, which
//! re-creates their vanished keys. So an owner whose lease the restart wiped keeps the room, and a
//! node that might otherwise take it waits until every lease granted before the restart has lapsed.
//!
//! Every key the store creates gets an epoch from a counter per room, above the `floor` the asking
//! node knows of; a restart loses the counters with the keys, so the floor (and the database's
//! fence, [`MemoryFence`] here, `room_epochs` in the hub) is what keeps epochs rising. A key a
//! renewal re-creates gets a new epoch too: it is a new lease, fenced before it counts.

use std::collections::HashMap;

use crate::Millis;
use crate::lease::{Reply, Request};

#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    /// Room key → (token, expires at).
    keys: HashMap<String, (String, Millis)>,
    /// When the store came up, as its first request saw it.
    boot: Option<Millis>,
    /// Room key → the last epoch this store handed out.
    epochs: HashMap<String, u64>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// The store comes back empty: every key and its boot are gone.
    pub fn restart(&mut self) {
        self.keys.clear();
        self.boot = None;
        self.epochs.clear();
    }

    /// Who holds `key` now.
    pub fn holder(&self, key: &str, now: Millis) -> Option<&str> {
        self.keys.get(key).filter(|(_, until)| now < *until).map(|(t, _)| t.as_str())
    }

    pub fn handle(&mut self, key: &str, request: &Request, now: Millis) -> Reply {
        let boot = *self.boot.get_or_insert(now);
        if self.keys.get(key).is_some_and(|(_, until)| now >= *until) {
            self.keys.remove(key);
        }
        match request {
            Request::Acquire { node, floor, ttl } => {
                if now < boot + ttl {
                    return Reply::Grace { remaining: boot + ttl - now };
                }
                match self.keys.get(key) {
                    Some((owner, _)) => Reply::Held { owner: owner.clone() },
                    None => self.create(key, node, *floor, now + ttl),
                }
            }
            Request::Renew { token, floor, ttl } => match self.keys.get(key) {
                Some((owner, _)) if owner != token => Reply::Held { owner: owner.clone() },
                Some(_) => {
                    self.keys.insert(key.to_owned(), (token.clone(), now + ttl));
                    Reply::Granted
                }
                None => {
                    let node = token.rsplit_once('#').map_or(token.as_str(), |(n, _)| n);
                    self.create(key, node, *floor, now + ttl)
                }
            },
            Request::Release { token } => {
                if self.keys.get(key).is_some_and(|(owner, _)| owner == token) {
                    self.keys.remove(key);
                }
                Reply::Released
            }
            // The fence is the database's, never sent here ([`crate::Coord::lease`] refuses it);
            // answered as a refusal all the same.
            Request::Fence { .. } => Reply::Held { owner: String::new() },
        }
    }

    /// A new key for `node`, numbered above both this store's counter and `floor`.
    fn create(&mut self, key: &str, node: &str, floor: u64, until: Millis) -> Reply {
        let counter = self.epochs.entry(key.to_owned()).or_insert(0);
        let epoch = (*counter + 1).max(floor + 1);
        *counter = epoch;
        self.keys.insert(key.to_owned(), (format!("{node}#{epoch}"), until));
        Reply::Acquired { epoch }
    }
}

/// The database's fence as plain data: per room the highest epoch recorded and whose lease it
/// is. `room_epochs` in the hub's store does the same in SQL.
#[derive(Debug, Default, Clone)]
pub struct MemoryFence {
    rooms: HashMap<String, (u64, String)>,
}

impl MemoryFence {
    pub fn new() -> Self {
        Self::default()
    }

    /// `Fence`: record `epoch` if it is above what the room has (or the very lease recorded).
    pub fn record(&mut self, room: &str, token: &str, epoch: u64) -> Reply {
        match self.rooms.get(room) {
            Some((recorded, by)) if *recorded > epoch || (*recorded == epoch && by != token) => {
                Reply::Stale { recorded: *recorded }
            }
            _ => {
                self.rooms.insert(room.to_owned(), (epoch, token.to_owned()));
                Reply::Fenced
            }
        }
    }

    /// Whether a write of the room's owner under `epoch` is let through: no later lease recorded.
    pub fn admits(&self, room: &str, epoch: u64) -> bool {
        self.rooms.get(room).is_none_or(|(recorded, _)| *recorded <= epoch)
    }

    /// The room's highest epoch recorded.
    pub fn recorded(&self, room: &str) -> Option<u64> {
        self.rooms.get(room).map(|(e, _)| *e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acquire(node: &str) -> Request {
        Request::Acquire { node: node.into(), floor: 0, ttl: 1_000 }
    }

    fn renew(token: &str, floor: u64) -> Request {
        Request::Renew { token: token.into(), floor, ttl: 1_000 }
    }

    #[test]
    fn a_fresh_store_grants_nothing_for_one_lease_period_but_renewals() {
        let mut s = MemoryStore::new();
        assert_eq!(s.handle("r", &acquire("a"), 100), Reply::Grace { remaining: 1_000 });
        // b's key vanished with the restart: re-created under a new epoch above b's.
        assert_eq!(s.handle("r", &renew("b#4", 4), 200), Reply::Acquired { epoch: 5 });
        assert_eq!(s.handle("r", &acquire("a"), 1_100), Reply::Held { owner: "b#5".into() });
        assert_eq!(s.holder("r", 1_199), Some("b#5"));
        assert_eq!(s.handle("r", &acquire("a"), 1_200), Reply::Acquired { epoch: 6 });
    }

    #[test]
    fn only_the_holder_renews_or_releases() {
        let mut s = MemoryStore::new();
        s.handle("x", &acquire("a"), 0);
        assert_eq!(s.handle("r", &acquire("a"), 1_000), Reply::Acquired { epoch: 1 });
        assert_eq!(s.handle("r", &renew("b#1", 1), 1_500), Reply::Held { owner: "a#1".into() });
        assert_eq!(s.handle("r", &renew("a#1", 1), 1_500), Reply::Granted);
        assert_eq!(s.handle("r", &Request::Release { token: "b#1".into() }, 1_600), Reply::Released);
        assert_eq!(s.holder("r", 1_600), Some("a#1"));
        assert_eq!(s.handle("r", &Request::Release { token: "a#1".into() }, 1_700), Reply::Released);
        assert_eq!(s.holder("r", 1_700), None);
    }

    #[test]
    fn epochs_rise_from_the_floor_when_the_store_lost_its_counter() {
        let mut s = MemoryStore::new();
        s.handle("x", &acquire("a"), 0);
        assert_eq!(s.handle("r", &acquire("a"), 1_000), Reply::Acquired { epoch: 1 });
        s.handle("r", &Request::Release { token: "a#1".into() }, 1_001);
        assert_eq!(s.handle("r", &acquire("b"), 1_002), Reply::Acquired { epoch: 2 });
        s.restart();
        s.handle("x", &acquire("a"), 2_000);
        let floor = Request::Acquire { node: "c".into(), floor: 9, ttl: 1_000 };
        assert_eq!(s.handle("r", &floor, 3_000), Reply::Acquired { epoch: 10 });
    }

    #[test]
    fn the_fence_takes_only_higher_epochs_and_refuses_stale_writes() {
        let mut f = MemoryFence::new();
        assert!(f.admits("r", 0), "a room never leased: a single hub's writes pass");
        assert_eq!(f.record("r", "a#3", 3), Reply::Fenced);
        assert_eq!(f.record("r", "a#3", 3), Reply::Fenced, "the same lease again");
        assert_eq!(f.record("r", "b#3", 3), Reply::Stale { recorded: 3 });
        assert_eq!(f.record("r", "b#2", 2), Reply::Stale { recorded: 3 });
        assert!(f.admits("r", 3));
        assert_eq!(f.record("r", "b#4", 4), Reply::Fenced);
        assert!(!f.admits("r", 3), "the old owner's write is refused");
        assert_eq!(f.recorded("r"), Some(4));
    }
}
