//! When each peer next needs str0m's timeout: a min-heap with lazy deletion, so the shard finds
//! the earliest deadline and the peers that are due without scanning every peer on every loop
//! turn (with a thousand subscribers per shard that scan dominated an idle turn).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

use super::peer::PeerKey;

#[derive(Debug, Default)]
pub struct Timers {
    /// (deadline, peer); an entry is stale once the peer's deadline moved or the peer is gone.
    heap: BinaryHeap<Reverse<(Instant, PeerKey)>>,
}

impl Timers {
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
