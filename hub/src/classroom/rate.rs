//! Token buckets with time as an input: join attempts per client address (used by the HTTP layer), chat
//! messages and reactions per participant (used by the classroom).

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;

/// `burst` requests at once, then one more every `every_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub burst: u32,
    pub every_ms: u64,
}

impl Rate {
    /// Join attempts per client address: 10 at once (a class behind one NAT), then 10 a minute.
    pub const JOIN: Rate = Rate { burst: 10, every_ms: 6_000 };
    /// Chat: 5 messages per 5 s.
    pub const CHAT: Rate = Rate { burst: 5, every_ms: 1_000 };
    /// Reactions: a short burst of applause, then 2 a second.
    pub const REACTION: Rate = Rate { burst: 6, every_ms: 500 };

    /// Credit is kept in milliseconds of waiting so refill needs no division or floats.
    fn full(self) -> u64 {
        u64::from(self.burst).saturating_mul(self.every_ms)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Bucket {
    credit_ms: u64,
    at: u64,
}

impl Bucket {
    /// A clock that steps backwards refills nothing rather than underflowing.
    fn refilled(self, now: u64, full: u64) -> u64 {
        self.credit_ms.saturating_add(now.saturating_sub(self.at)).min(full)
    }
}

/// Default bound on tracked keys, so an attacker rotating addresses cannot grow the map without limit.
pub const DEFAULT_MAX_KEYS: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimiter<K: Hash + Eq> {
    rate: Rate,
    max_keys: usize,
    buckets: HashMap<K, Bucket>,
}

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    pub fn new(rate: Rate) -> Self {
        Self::with_max_keys(rate, DEFAULT_MAX_KEYS)
    }

    pub fn with_max_keys(rate: Rate, max_keys: usize) -> Self {
        Self { rate, max_keys, buckets: HashMap::new() }
    }

    /// Takes one token for `key` at `now` (unix ms). A refusal changes nothing, so callers may check
    /// the limit last and still leave all state untouched on any error.
    pub fn try_acquire(&mut self, key: &K, now: u64) -> bool {
        let full = self.rate.full();
        let existing = self.buckets.get(key).copied();
        let credit = existing.map_or(full, |b| b.refilled(now, full));
        if credit < self.rate.every_ms {
            return false;
        }
        if existing.is_none() && self.buckets.len() >= self.max_keys {
            self.prune(now);
            if self.buckets.len() >= self.max_keys {
                // Under a flood of distinct keys, fail closed rather than grow memory.
                return false;
            }
        }
        let at = existing.map_or(now, |b| b.at.max(now));
        self.buckets.insert(key.clone(), Bucket { credit_ms: credit - self.rate.every_ms, at });
        true
    }

    /// Forgets keys whose bucket is full again: they behave exactly like unseen keys.
    pub fn prune(&mut self, now: u64) {
        let full = self.rate.full();
        self.buckets.retain(|_, b| b.refilled(now, full) < full);
    }

    pub fn forget(&mut self, key: &K) {
        self.buckets.remove(key);
    }

    pub fn tracked(&self) -> usize {
        self.buckets.len()
    }
}

/// Joins per verified credential ([`join_key`]): a personal token's, or a shared guest link's
/// from one client address.
pub type JoinLimiter = RateLimiter<String>;

/// Whose joins count together: a personal token alone (wherever its holder is), a shared guest
/// link per client address (a whole class shares its `jti`; one address stands for one home). An
/// IPv6 address counts by its /64.
pub fn join_key(jti: &str, guest: bool, client: Option<IpAddr>) -> String {
    match (guest, client) {
        (true, Some(ip)) => format!("{jti}@{}", ip_key(ip)),
        _ => jti.to_owned(),
    }
}

pub use lectern_common::net::ip_key;

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: Rate = Rate { burst: 3, every_ms: 1_000 };

    #[test]
    fn burst_then_refused_until_refill() {
        let mut rl = RateLimiter::new(RATE);
        assert!((0..3).all(|_| rl.try_acquire(&1, 10_000)));
        assert!(!rl.try_acquire(&1, 10_000));
        assert!(!rl.try_acquire(&1, 10_999));
        assert!(rl.try_acquire(&1, 11_000), "one token refills after every_ms");
        assert!(!rl.try_acquire(&1, 11_000));
    }

    #[test]
    fn refill_is_capped_at_burst() {
        let mut rl = RateLimiter::new(RATE);
        assert!(rl.try_acquire(&1, 0));
        let later = 1_000_000;
        assert!((0..3).all(|_| rl.try_acquire(&1, later)));
        assert!(!rl.try_acquire(&1, later));
    }

    #[test]
    fn keys_are_independent() {
        let mut rl = RateLimiter::new(RATE);
        assert!((0..3).all(|_| rl.try_acquire(&"a", 0)));
        assert!(!rl.try_acquire(&"a", 0));
        assert!(rl.try_acquire(&"b", 0));
    }

    #[test]
    fn refusal_leaves_state_untouched() {
        let mut rl = RateLimiter::new(RATE);
        assert!((0..3).all(|_| rl.try_acquire(&1, 0)));
        let before = rl.clone();
        assert!(!rl.try_acquire(&1, 500));
        assert_eq!(rl, before);
    }

    #[test]
    fn clock_stepping_backwards_grants_nothing_extra() {
        let mut rl = RateLimiter::new(RATE);
        assert!((0..3).all(|_| rl.try_acquire(&1, 5_000)));
        assert!(!rl.try_acquire(&1, 1_000));
        assert!(!rl.try_acquire(&1, 5_999), "the step back must not have reset the refill clock");
        assert!(rl.try_acquire(&1, 6_000));
    }

    #[test]
    fn prune_forgets_full_buckets_and_bound_fails_closed() {
        let mut rl = RateLimiter::with_max_keys(RATE, 2);
        assert!(rl.try_acquire(&1, 0));
        assert!(rl.try_acquire(&2, 0));
        assert!(!rl.try_acquire(&3, 0), "table full of active keys");
        assert!(rl.try_acquire(&3, 1_000), "key 1 and 2 refilled and were pruned");
        rl.prune(10_000);
        assert_eq!(rl.tracked(), 0);
    }

    #[test]
    fn a_guest_link_counts_per_address_and_one_ipv6_slash_64_is_one_address() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        let mut rl = JoinLimiter::new(Rate::JOIN);
        assert!((0..10).all(|_| rl.try_acquire(&join_key("link", true, Some(a)), 0)));
        assert!(!rl.try_acquire(&join_key("link", true, Some(b)), 0), "the same /64");
        assert!(rl.try_acquire(&join_key("link", true, Some(c)), 0), "another home with the same link");
        // A personal token is one person wherever they are.
        assert!((0..10).all(|_| rl.try_acquire(&join_key("mine", false, Some(a)), 0)));
        assert!(!rl.try_acquire(&join_key("mine", false, Some(c)), 0));
    }
}
