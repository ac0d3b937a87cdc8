//! How fast one `/rtc` connection may send. Every message reaches the room's shard, and some fan
//! out to everyone (`setMuted`, hands) or renegotiate every subscriber (`publishOffer`): one
//! student's script must not be able to flood the room. Budgets per connection, time as an input:
//! all messages 20 a second (burst 100); `setMuted` and hands 2 a second; `publishOffer` one per
//! 2 s. A message over budget is dropped; a connection that keeps going past its budget
//! ([`STRIKES`] drops in a row) is closed.

use crate::classroom::{Rate, RateLimiter};

/// Every message of a connection.
const ALL: Rate = Rate { burst: 100, every_ms: 50 };
/// Mute toggles and hands: each goes to everyone in the room.
const FAN_OUT: Rate = Rate { burst: 10, every_ms: 500 };
/// Publish offers: each renegotiates every subscriber of the room.
const OFFERS: Rate = Rate { burst: 5, every_ms: 2_000 };
/// Drops in a row after which the connection is closed.
pub const STRIKES: u32 = 100;

/// What kind of budget a message draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `setMuted`, `raiseHand`, `lowerHand`.
    FanOut,
    PublishOffer,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Go,
    /// Over budget: dropped without an answer (an answer per message would be a flood too).
    Drop,
    /// Over budget for too long: close the connection.
    Close,
}

#[derive(Debug)]
pub struct Pace {
    all: RateLimiter<()>,
    fan_out: RateLimiter<()>,
    offers: RateLimiter<()>,
    strikes: u32,
}

impl Default for Pace {
    fn default() -> Self {
        Self {
            all: RateLimiter::new(ALL),
            fan_out: RateLimiter::new(FAN_OUT),
            offers: RateLimiter::new(OFFERS),
            strikes: 0,
        }
    }
}

impl Pace {
    /// A message of `kind` arrived at `now_ms`.
    pub fn check(&mut self, kind: Kind, now_ms: u64) -> Verdict {
        let own = match kind {
            Kind::FanOut => Some(&mut self.fan_out),
            Kind::PublishOffer => Some(&mut self.offers),
            Kind::Other => None,
        };
        // The kind's budget first: a refusal there must not spend the connection's.
        let ok = own.is_none_or(|l| l.try_acquire(&(), now_ms)) && self.all.try_acquire(&(), now_ms);
        if ok {
            self.strikes = 0;
            return Verdict::Go;
        }
        self.strikes += 1;
        if self.strikes >= STRIKES { Verdict::Close } else { Verdict::Drop }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mute_toggles_are_paced_at_two_a_second_and_other_messages_still_pass() {
        let mut p = Pace::default();
        assert!((0..10).all(|_| p.check(Kind::FanOut, 0) == Verdict::Go), "a burst of 10");
        assert_eq!(p.check(Kind::FanOut, 0), Verdict::Drop);
        assert_eq!(p.check(Kind::Other, 0), Verdict::Go, "a chat message is not a mute toggle");
        assert_eq!(p.check(Kind::FanOut, 500), Verdict::Go, "one more every 500 ms");
        assert_eq!(p.check(Kind::FanOut, 500), Verdict::Drop);
    }

    #[test]
    fn publish_offers_one_per_two_seconds_after_a_few() {
        let mut p = Pace::default();
        assert!((0..5).all(|_| p.check(Kind::PublishOffer, 0) == Verdict::Go));
        assert_eq!(p.check(Kind::PublishOffer, 1_999), Verdict::Drop);
        assert_eq!(p.check(Kind::PublishOffer, 2_000), Verdict::Go);
    }

    #[test]
    fn a_connection_that_keeps_flooding_is_closed_and_one_that_stops_is_not() {
        let mut p = Pace::default();
        assert!((0..100).all(|_| p.check(Kind::Other, 0) == Verdict::Go), "a burst of 100");
        let verdicts: Vec<Verdict> = (0..STRIKES).map(|_| p.check(Kind::Other, 0)).collect();
        assert!(verdicts[..STRIKES as usize - 1].iter().all(|v| *v == Verdict::Drop));
        assert_eq!(verdicts.last(), Some(&Verdict::Close));
        let mut q = Pace::default();
        for _ in 0..150 {
            q.check(Kind::Other, 0);
        }
        assert_eq!(q.check(Kind::Other, 1_000), Verdict::Go, "refilled: the strikes start again");
        assert_eq!(q.strikes, 0);
    }
}
