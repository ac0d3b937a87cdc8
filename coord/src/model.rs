//! What the coordination store does with lease requests, as plain data: the in-process store of
//! a single hub, the simulated store of the property tests, and the specification the Redis
//! scripts ([`crate::script`]) implement (`tests/redis.rs` runs both side by side).
//!
//! Besides the room keys the store keeps when it came up (its *boot*, created by the first request
//! that finds it missing). A store that lost its keys (Redis restarted without persistence) has a
//! fresh boot; for one lease period after it nobody may `Acquire`, while owners may `Renew`, which
//! re-creates their vanished keys. So an owner whose lease the restart wiped keeps the room, and a
//! node that might otherwise take it waits until every lease granted before the restart has lapsed.

use std::collections::HashMap;

use crate::Millis;
use crate::lease::{Reply, Request};

#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    /// Room key → (token, expires at).
    keys: HashMap<String, (String, Millis)>,
    /// When the store came up, as its first request saw it.
    boot: Option<Millis>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// The store comes back empty: every key and its boot are gone.
    pub fn restart(&mut self) {
        self.keys.clear();
        self.boot = None;
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
            Request::Acquire { token, ttl } => {
                if now < boot + ttl {
                    return Reply::Grace { remaining: boot + ttl - now };
                }
                match self.keys.get(key) {
                    Some((owner, _)) => Reply::Held { owner: owner.clone() },
                    None => {
                        self.keys.insert(key.to_owned(), (token.clone(), now + ttl));
                        Reply::Granted
                    }
                }
            }
            Request::Renew { token, ttl } => match self.keys.get(key) {
                Some((owner, _)) if owner != token => Reply::Held { owner: owner.clone() },
                _ => {
                    self.keys.insert(key.to_owned(), (token.clone(), now + ttl));
                    Reply::Granted
                }
            },
            Request::Release { token } => {
                if self.keys.get(key).is_some_and(|(owner, _)| owner == token) {
                    self.keys.remove(key);
                }
                Reply::Released
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acquire(t: &str) -> Request {
        Request::Acquire { token: t.into(), ttl: 1_000 }
    }

    #[test]
    fn a_fresh_store_grants_nothing_for_one_lease_period_but_renewals() {
        let mut s = MemoryStore::new();
        assert_eq!(s.handle("r", &acquire("a#1"), 100), Reply::Grace { remaining: 1_000 });
        assert_eq!(s.handle("r", &Request::Renew { token: "b#1".into(), ttl: 1_000 }, 200), Reply::Granted);
        assert_eq!(s.handle("r", &acquire("a#2"), 1_100), Reply::Held { owner: "b#1".into() });
        assert_eq!(s.holder("r", 1_199), Some("b#1"));
        assert_eq!(s.handle("r", &acquire("a#3"), 1_200), Reply::Granted);
    }

    #[test]
    fn only_the_holder_renews_or_releases() {
        let mut s = MemoryStore::new();
        s.handle("x", &acquire("a#1"), 0);
        assert_eq!(s.handle("r", &acquire("a#1"), 1_000), Reply::Granted);
        assert_eq!(
            s.handle("r", &Request::Renew { token: "b#1".into(), ttl: 1_000 }, 1_500),
            Reply::Held { owner: "a#1".into() }
        );
        assert_eq!(s.handle("r", &Request::Release { token: "b#1".into() }, 1_600), Reply::Released);
        assert_eq!(s.holder("r", 1_600), Some("a#1"));
        assert_eq!(s.handle("r", &Request::Release { token: "a#1".into() }, 1_700), Reply::Released);
        assert_eq!(s.holder("r", 1_700), None);
    }
}
