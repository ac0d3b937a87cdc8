//! When each peer next needs str0m's timeout: a min-heap with lazy deletion, so the shard finds
//! the earliest deadline and the peers that are due without scanning every peer on every loop
//! turn (with a thousand subscribers per shard that scan dominated an idle turn). Deadlines of
//! work that may run a little late are put on a shared grid ([`Timers::align`]), so that many
//! peers' periodic work wakes the shard once, not once per peer.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use str0m::Reason;

use super::peer::PeerKey;

/// The grid lax deadlines are rounded up to: at most this late, and at most this many wake-ups
/// a second for all of them together. RTCP reports, stats, ICE and DTLS timers and the estimate's
/// update run on seconds or tens of milliseconds; 20 ms late changes nothing there.
pub const LAX_GRID: Duration = Duration::from_millis(20);

/// Whether str0m's timeout for `reason` tolerates [`LAX_GRID`] of lateness. Not: the pacer, NACK
/// and retransmission, queued sends, transport-wide feedback (the sender's estimate runs on it),
/// probes, the receive reorder buffer, and anything already due (a pending keyframe request is
/// `Feedback` at a time in the past, and stays there).
pub fn is_lax(reason: Reason) -> bool {
    matches!(
        reason,
        Reason::Stats
            | Reason::Feedback
            | Reason::Ice
            | Reason::DTLS
            | Reason::Sctp
            | Reason::Channel
            | Reason::PauseCheck
            | Reason::BweDelayControl
    )
}

#[derive(Debug, Default)]
pub struct Timers {
    /// (deadline, peer); an entry is stale once the peer's deadline moved or the peer is gone.
    heap: BinaryHeap<Reverse<(Instant, PeerKey)>>,
    /// Where the grid of [`align`](Self::align) starts: the first deadline it saw.
    anchor: Option<Instant>,
}

impl Timers {
    /// `at`, for a timeout of `reason`, rounded up to the next [`LAX_GRID`] point when the reason
    /// is lax (see [`is_lax`]); unchanged otherwise and when `at` is before the grid starts.
    pub fn align(&mut self, at: Instant, reason: Reason) -> Instant {
        let anchor = *self.anchor.get_or_insert(at);
        if !is_lax(reason) || at <= anchor {
            return at;
        }
        let grid = LAX_GRID.as_nanos();
        let since = (at - anchor).as_nanos();
        let steps = since.div_ceil(grid);
        // Far-future deadlines (str0m's "not happening") would overflow: leave them.
        u64::try_from(steps * grid).map_or(at, |ns| anchor + Duration::from_nanos(ns))
    }

    /// `key` next wants its timeout at `at`; earlier entries for it become stale.
    pub fn schedule(&mut self, key: PeerKey, at: Instant) {
        self.heap.push(Reverse((at, key)));
    }

    /// The earliest deadline still current; `current(key)` is a peer's deadline now (`None`: gone).
    pub fn next(&mut self, current: impl Fn(PeerKey) -> Option<Instant>) -> Option<Instant> {
        while let Some(Reverse((t, k))) = self.heap.peek().copied() {
            if current(k) == Some(t) {
                return Some(t);
            }
            self.heap.pop();
        }
        None
    }

    /// Moves every peer whose current deadline is at or before `now` to `due`.
    pub fn pop_due(&mut self, now: Instant, current: impl Fn(PeerKey) -> Option<Instant>, due: &mut Vec<PeerKey>) {
        while let Some(Reverse((t, k))) = self.heap.peek().copied() {
            if t > now {
                return;
            }
            self.heap.pop();
            if current(k) == Some(t) {
                due.push(k);
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::time::Duration;

    #[test]
    fn lax_deadlines_share_grid_points_and_urgent_ones_stay() {
        let t0 = Instant::now();
        let ms = Duration::from_millis(1);
        let mut timers = Timers::default();
        assert_eq!(timers.align(t0, Reason::Stats), t0, "the first deadline starts the grid");
        // RTCP reports and stats of different peers, 1..19 ms apart: one wake-up at 20 ms.
        for d in [1, 7, 19, 20] {
            assert_eq!(timers.align(t0 + d * ms, Reason::Feedback), t0 + 20 * ms);
            assert_eq!(timers.align(t0 + d * ms, Reason::Stats), t0 + 20 * ms);
        }
        assert_eq!(timers.align(t0 + 21 * ms, Reason::BweDelayControl), t0 + 40 * ms);
        // Never earlier, at most one grid step later.
        for us in (0..100_000).step_by(777) {
            let at = t0 + Duration::from_micros(us);
            let aligned = timers.align(at, Reason::Ice);
            assert!(aligned >= at && aligned - at < LAX_GRID, "{us} µs -> {:?}", aligned - at);
        }
        // Media and feedback the sender estimates from are not delayed; nor is what is already due.
        for reason in [Reason::Nack, Reason::Twcc, Reason::SendStream, Reason::Pacer(str0m::PacerReason::Handle)] {
            assert_eq!(timers.align(t0 + 3 * ms, reason), t0 + 3 * ms, "{reason:?}");
        }
        assert_eq!(timers.align(t0 - 5 * ms, Reason::Feedback), t0 - 5 * ms);
    }

    #[test]
    fn earliest_current_deadline_wins_and_stale_entries_are_skipped() {
        let t0 = Instant::now();
        let ms = Duration::from_millis(1);
        let mut timers = Timers::default();
        let mut deadlines = HashMap::new();
        for (k, d) in [(1, 30), (2, 10), (3, 20)] {
            deadlines.insert(PeerKey(k), t0 + d * ms);
            timers.schedule(PeerKey(k), t0 + d * ms);
        }
        // Peer 2 was polled again and now wants 40 ms; peer 3 left.
        deadlines.insert(PeerKey(2), t0 + 40 * ms);
        timers.schedule(PeerKey(2), t0 + 40 * ms);
        deadlines.remove(&PeerKey(3));
        let current = |k| deadlines.get(&k).copied();
        assert_eq!(timers.next(current), Some(t0 + 30 * ms));
        let mut due = Vec::new();
        timers.pop_due(t0 + 35 * ms, current, &mut due);
        assert_eq!(due, vec![PeerKey(1)]);
        timers.pop_due(t0 + 100 * ms, current, &mut due);
        assert_eq!(due, vec![PeerKey(1), PeerKey(2)]);
        assert!(timers.is_empty());
    }
}
