//! The login throttle, checked and reserved in one step. 5 failures from one address (an IPv6
//! address counts as its /64) or for one username within 15 minutes, and further attempts get 429
//! until the oldest failure ages out — even with the right password.
//!
//! An attempt *reserves* its place before the password is checked: with 300 wrong logins sent at
//! once, only the first five reach Argon2, and the rest are refused without any hashing. The
//! failures are also audit rows (`login.failed`); the gate is seeded from them once, so a restart
//! does not forgive an attacker. Argon2 itself (about 19 MiB and tens of milliseconds each) runs
//! at most [`Gate::hashers`] at a time with a short queue: a burst from many addresses costs
//! bounded memory and CPU, and the excess gets 429 with `Retry-After: 1`.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use lectern_common::net::ip_key;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub const MAX_FAILURES: usize = 5;
pub const WINDOW_SECS: u64 = 15 * 60;
/// Throttle keys kept at once; past it, keys with nothing in the window are dropped first.
const MAX_KEYS: usize = 100_000;
/// Password checks that may wait for a hasher, per hasher.
const QUEUE_PER_HASHER: usize = 4;

/// Why an attempt may not go ahead, and when to come back (seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    pub retry_after: u64,
}

/// Failures and attempts in flight per key: the sans-IO core of the throttle.
#[derive(Debug, Default)]
pub struct Window {
    keys: HashMap<String, KeyState>,
}

#[derive(Debug, Default)]
struct KeyState {
    /// When each failure within the window happened, oldest first.
    failures: VecDeque<u64>,
    /// Attempts that reserved a place and are being checked now.
    in_flight: usize,
}

impl KeyState {
    fn expire(&mut self, now: u64) {
        while self.failures.front().is_some_and(|at| at + WINDOW_SECS <= now) {
            self.failures.pop_front();
        }
    }

    fn idle(&self) -> bool {
        self.failures.is_empty() && self.in_flight == 0
    }
}

impl Window {
    /// A failure recorded earlier (the audit trail, at start-up).
    pub fn seed(&mut self, key: &str, at: u64) {
        let state = self.keys.entry(key.to_owned()).or_default();
        let place = state.failures.partition_point(|&t| t <= at);
        state.failures.insert(place, at);
    }

    /// Reserves a place for an attempt under every key, or none: refused while any key has as many
    /// failures and attempts in flight as [`MAX_FAILURES`].
    pub fn reserve(&mut self, keys: &[String], now: u64) -> Result<(), Refused> {
        if self.keys.len() + keys.len() > MAX_KEYS {
            self.prune(now);
            if self.keys.len() + keys.len() > MAX_KEYS {
                return Err(Refused { retry_after: 60 });
            }
        }
        for key in keys {
            let state = self.keys.entry(key.clone()).or_default();
            state.expire(now);
            if state.failures.len() + state.in_flight >= MAX_FAILURES {
                // Attempts in flight that succeed free their place within a second or so.
                let retry_after = state.failures.front().map_or(1, |oldest| oldest + WINDOW_SECS - now).max(1);
                return Err(Refused { retry_after });
            }
        }
        for key in keys {
            // Invariant: every key was inserted by the loop above.
            self.keys.get_mut(key).expect("key checked above").in_flight += 1;
        }
        Ok(())
    }

    /// The attempt reserved under `keys` ended; a failure keeps its place for the window.
    pub fn settle(&mut self, keys: &[String], failed: bool, now: u64) {
        for key in keys {
            let Some(state) = self.keys.get_mut(key) else { continue };
            state.in_flight = state.in_flight.saturating_sub(1);
            if failed {
                state.failures.push_back(now);
            }
            if state.idle() {
                self.keys.remove(key);
            }
        }
    }

    fn prune(&mut self, now: u64) {
        self.keys.retain(|_, s| {
            s.expire(now);
            !s.idle()
        });
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.keys.len()
    }
}

/// The throttle keys of an attempt: the client's address (IPv6 by /64: one home or host has a
/// whole /64 to rotate through) and the username.
pub fn keys(ip: &str, username: &str) -> [String; 2] {
    let ip = ip.parse::<IpAddr>().map_or_else(|_| ip.to_owned(), |ip| ip_key(ip).to_string());
    [format!("ip {ip}"), format!("user {username}")]
}

/// The login throttle and the password hashers, shared by every login request.
#[derive(Debug)]
pub struct Gate {
    window: Mutex<Window>,
    seeded: tokio::sync::OnceCell<()>,
    hashers: Arc<Semaphore>,
    hasher_count: usize,
    waiting: AtomicUsize,
}

impl Default for Gate {
    fn default() -> Self {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
        Self::with_hashers(n)
    }
}

impl Gate {
    pub fn with_hashers(n: usize) -> Self {
        Self {
            window: Mutex::default(),
            seeded: tokio::sync::OnceCell::new(),
            hashers: Arc::new(Semaphore::new(n)),
            hasher_count: n,
            waiting: AtomicUsize::new(0),
        }
    }

    /// How many password checks run at once.
    pub fn hashers(&self) -> usize {
        self.hasher_count
    }

    fn window(&self) -> std::sync::MutexGuard<'_, Window> {
        // A panic while holding it leaves counts that are still meaningful.
        self.window.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Loads the failures of the last window from the audit trail, once per process.
    pub async fn seed_once(&self, pool: &crate::db::Pool, now: u64) -> Result<(), sqlx::Error> {
        self.seeded
            .get_or_try_init(|| async {
                let since = now.saturating_sub(WINDOW_SECS) as i64;
                let rows: Vec<(String, String, i64)> = sqlx::query_as(
                    "SELECT ip, target, at FROM admin_audit WHERE action = 'login.failed' AND at > $1 ORDER BY at",
                )
                .bind(since)
                .fetch_all(pool)
                .await?;
                let mut w = self.window();
                for (ip, user, at) in rows {
                    for key in keys(&ip, &user) {
                        w.seed(&key, at as u64);
                    }
                }
                Ok(())
            })
            .await
            .map(|_| ())
    }

    /// Reserves this attempt's place; the returned ticket must be settled.
    pub fn reserve<'a>(&'a self, keys: [String; 2], now: u64) -> Result<Ticket<'a>, Refused> {
        self.window().reserve(&keys, now)?;
        Ok(Ticket { gate: self, keys, at: now, settled: false })
    }

    /// A hasher, waiting in a short queue; refused when the queue is full.
    pub async fn hasher(&self) -> Result<OwnedSemaphorePermit, Refused> {
        if let Ok(p) = self.hashers.clone().try_acquire_owned() {
            return Ok(p);
        }
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.hasher_count * QUEUE_PER_HASHER {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(Refused { retry_after: 1 });
        }
        let permit = self.hashers.clone().acquire_owned().await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        // Invariant: the semaphore is never closed.
        Ok(permit.expect("the hasher semaphore is never closed"))
    }
}

/// An attempt's reserved place. Dropped unsettled (the client went away mid-check), it counts as
/// a failure: cancelling a request must not be a way around the throttle.
#[derive(Debug)]
pub struct Ticket<'a> {
    gate: &'a Gate,
    keys: [String; 2],
    /// When the place was reserved.
    at: u64,
    settled: bool,
}

impl Ticket<'_> {
    pub fn settle(mut self, failed: bool, now: u64) {
        self.gate.window().settle(&self.keys, failed, now);
        self.settled = true;
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        if !self.settled {
            self.gate.window().settle(&self.keys, true, self.at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(ip: &str, user: &str) -> Vec<String> {
        keys(ip, user).to_vec()
    }

    #[test]
    fn places_are_reserved_before_the_check_so_parallel_attempts_cannot_all_pass() {
        let mut w = Window::default();
        let attempt = k("198.51.100.1", "ada");
        for _ in 0..MAX_FAILURES {
            assert_eq!(w.reserve(&attempt, 100), Ok(()));
        }
        assert!(w.reserve(&attempt, 100).is_err(), "five in flight fill the window");
        // A success frees its place; a failure keeps it for the window.
        w.settle(&attempt, false, 101);
        assert_eq!(w.reserve(&attempt, 101), Ok(()));
        for _ in 0..MAX_FAILURES {
            w.settle(&attempt, true, 102);
        }
        assert_eq!(w.reserve(&attempt, 103), Err(Refused { retry_after: WINDOW_SECS - 1 }));
        assert_eq!(w.reserve(&attempt, 102 + WINDOW_SECS), Ok(()), "the failures aged out");
    }

    #[test]
    fn one_key_full_refuses_without_reserving_under_the_others() {
        let mut w = Window::default();
        for i in 0..MAX_FAILURES {
            let a = k(&format!("198.51.100.{i}"), "ada");
            w.reserve(&a, 0).unwrap();
            w.settle(&a, true, 0);
        }
        assert!(w.reserve(&k("203.0.113.9", "ada"), 1).is_err());
        // The refused attempt took no place under its address.
        for _ in 0..MAX_FAILURES {
            assert_eq!(w.reserve(&k("203.0.113.9", "otto"), 1), Ok(()));
        }
    }

    #[test]
    fn ipv6_addresses_of_one_slash_64_share_a_key() {
        assert_eq!(keys("2001:db8:1:2:aaaa::1", "x")[0], keys("2001:db8:1:2:bbbb::9", "x")[0]);
        assert_eq!(keys("198.51.100.1", "x")[0], "ip 198.51.100.1");
        assert_eq!(keys("unknown", "x")[0], "ip unknown");
    }

    #[test]
    fn seeded_failures_count_and_idle_keys_are_forgotten() {
        let mut w = Window::default();
        let attempt = k("198.51.100.1", "ada");
        for at in [50, 10, 30, 20, 40] {
            w.seed(&attempt[1], at);
        }
        assert_eq!(w.reserve(&attempt, 60), Err(Refused { retry_after: 10 + WINDOW_SECS - 60 }));
        let other = k("198.51.100.2", "otto");
        w.reserve(&other, 60).unwrap();
        w.settle(&other, false, 60);
        assert_eq!(w.len(), 2, "a success leaves nothing behind; the seeded and refused keys stay");
    }

    #[tokio::test]
    async fn the_hasher_queue_is_short() {
        let gate = Gate::with_hashers(1);
        let held = gate.hasher().await.unwrap();
        let mut waiters = Vec::new();
        for _ in 0..QUEUE_PER_HASHER {
            let gate = &gate;
            waiters.push(Box::pin(async move { gate.hasher().await }));
        }
        // Start each waiter so it joins the queue.
        for w in &mut waiters {
            assert!(futures_poll_once(w).await.is_none());
        }
        assert_eq!(gate.hasher().await.unwrap_err(), Refused { retry_after: 1 });
        drop(held);
        assert!(waiters.remove(0).await.is_ok());
    }

    /// Polls a future once; `Some` if it finished.
    async fn futures_poll_once<F: std::future::Future + Unpin>(f: &mut F) -> Option<F::Output> {
        std::future::poll_fn(|cx| {
            std::task::Poll::Ready(match std::pin::Pin::new(&mut *f).poll(cx) {
                std::task::Poll::Ready(v) => Some(v),
                std::task::Poll::Pending => None,
            })
        })
        .await
    }
}
