//! Whether one more WHIP/WHEP session may be opened. Each `POST` builds a peer connection on a
//! media shard, so a leaked or scripted token must not be able to ask for hundreds:
//!
//! - `POST`s per token *and* client address (a viewer link shared by a portal serves many
//!   addresses, each with its own budget): [`POSTS`];
//! - sessions open at once per token, flow and client address: [`MAX_OPEN`] (a classroom box holds
//!   a WHIP publish and a WHEP return feed, and overlaps an old and a new one while it reconnects);
//! - a shared guest link is many people, possibly a whole class behind one school NAT: it gets
//!   [`SHARED_POSTS`] and [`MAX_OPEN_SHARED`] instead;
//! - requests with a token that does not verify, per client address: [`BAD_TOKENS`], so guessing
//!   costs the guesser, not the hub.
//!
//! Time is an input; the HTTP handler owns the clock and the lock.

use std::net::IpAddr;

use crate::classroom::{Rate, RateLimiter, ip_key};

/// `POST`s per token and client: 10 at once, then one every 6 s.
pub const POSTS: Rate = Rate { burst: 10, every_ms: 6_000 };
/// Sessions open at once per token, flow and client.
pub const MAX_OPEN: usize = 4;
/// `POST`s per shared guest link and client: a class of 60 at once, then two a second.
pub const SHARED_POSTS: Rate = Rate { burst: 60, every_ms: 500 };
/// Sessions open at once per shared guest link, flow and client.
pub const MAX_OPEN_SHARED: usize = 200;
/// Refused tokens per client address: 20 at once, then one every 3 s.
pub const BAD_TOKENS: Rate = Rate { burst: 20, every_ms: 3_000 };
/// Candidates one session may trickle in all (a client has a handful per network interface).
pub const MAX_TRICKLED: usize = 64;

/// Why a session may not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Too many `POST`s lately; try again in this many seconds.
    TooFast { retry_after: u64 },
    /// [`MAX_OPEN`] sessions are open already.
    TooMany,
}

#[derive(Debug)]
pub struct Admission {
    posts: RateLimiter<(String, IpAddr)>,
    shared_posts: RateLimiter<(String, IpAddr)>,
    bad_tokens: RateLimiter<IpAddr>,
}

impl Default for Admission {
    fn default() -> Self {
        Self {
            posts: RateLimiter::new(POSTS),
            shared_posts: RateLimiter::new(SHARED_POSTS),
            bad_tokens: RateLimiter::new(BAD_TOKENS),
        }
    }
}

/// Whose token opens the session: one person's (or box's), or a link shared by many.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    Personal,
    Shared,
}

impl Holder {
    /// How many sessions of one flow this holder may have open from one client.
    pub fn max_open(self) -> usize {
        match self {
            Holder::Personal => MAX_OPEN,
            Holder::Shared => MAX_OPEN_SHARED,
        }
    }
}

impl Admission {
    /// A `POST` with token `jti` from `client`, which has `open` sessions of this flow open with it.
    /// A refusal takes nothing from the budget.
    pub fn post(&mut self, jti: &str, holder: Holder, client: IpAddr, open: usize, now_ms: u64) -> Result<(), Refusal> {
        if open >= holder.max_open() {
            return Err(Refusal::TooMany);
        }
        let (limiter, rate) = match holder {
            Holder::Personal => (&mut self.posts, POSTS),
            Holder::Shared => (&mut self.shared_posts, SHARED_POSTS),
        };
        if !limiter.try_acquire(&(jti.to_owned(), ip_key(client)), now_ms) {
            return Err(Refusal::TooFast { retry_after: rate.every_ms.div_ceil(1000) });
        }
        Ok(())
    }

    /// A request from `client` whose token did not verify: `false` once it has sent too many.
    pub fn bad_token(&mut self, client: IpAddr, now_ms: u64) -> bool {
        self.bad_tokens.try_acquire(&ip_key(client), now_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_token_gets_a_burst_of_posts_then_one_every_six_seconds_per_client() {
        let mut a = Admission::default();
        let client = ip("198.51.100.1");
        let post = |a: &mut Admission, jti, client, now| a.post(jti, Holder::Personal, client, 0, now);
        assert!((0..10).all(|_| post(&mut a, "box", client, 0).is_ok()));
        assert_eq!(post(&mut a, "box", client, 0), Err(Refusal::TooFast { retry_after: 6 }));
        assert_eq!(post(&mut a, "box", client, 6_000), Ok(()));
        // The same token from another address, and another token, have their own budgets.
        assert_eq!(post(&mut a, "box", ip("198.51.100.2"), 0), Ok(()));
        assert_eq!(post(&mut a, "viewer", client, 0), Ok(()));
    }

    #[test]
    fn open_sessions_are_capped_before_the_budget_is_touched() {
        let mut a = Admission::default();
        let client = ip("2001:db8::1");
        assert_eq!(a.post("box", Holder::Personal, client, MAX_OPEN, 0), Err(Refusal::TooMany));
        // The refusal cost nothing.
        assert!((0..10).all(|_| a.post("box", Holder::Personal, client, MAX_OPEN - 1, 0).is_ok()));
        // Another address of the same /64 is the same client.
        assert!(a.post("box", Holder::Personal, ip("2001:db8::2"), 0, 0).is_err());
    }

    #[test]
    fn a_class_behind_one_nat_can_all_open_a_shared_link() {
        let mut a = Admission::default();
        let school = ip("203.0.113.80");
        assert!((0..60).all(|open| a.post("link", Holder::Shared, school, open, 0).is_ok()));
        assert!(a.post("link", Holder::Shared, school, 60, 0).is_err(), "then two a second");
        assert!(a.post("link", Holder::Shared, school, 60, 500).is_ok());
        assert_eq!(a.post("link", Holder::Shared, school, MAX_OPEN_SHARED, 60_000), Err(Refusal::TooMany));
    }

    #[test]
    fn bad_tokens_are_limited_per_address() {
        let mut a = Admission::default();
        assert!((0..20).all(|_| a.bad_token(ip("203.0.113.1"), 0)));
        assert!(!a.bad_token(ip("203.0.113.1"), 0));
        assert!(a.bad_token(ip("203.0.113.2"), 0));
        assert!(a.bad_token(ip("203.0.113.1"), 3_000));
    }
}
