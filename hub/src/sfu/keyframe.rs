//! Keyframe request coalescing: many subscribers asking (PLI/FIR, joins) become at most one
//! request upstream per [`MIN_INTERVAL`], and a request that arrives inside the window is not
//! lost but sent when the window ends (a late joiner must not wait for the next natural keyframe).
//!
//! Joins are treated apart from repairs: once the publisher has answered the last request with a
//! keyframe, a *new viewer* may ask again after only [`JOIN_GAP`]. Students joining one after
//! another at a lesson's start then see the picture in a tenth of a second instead of half a
//! second each, while a subscriber on a lossy link asking for repairs still gets at most one
//! keyframe per [`MIN_INTERVAL`] (each costs the publisher's uplink several frames' worth).

use std::time::{Duration, Instant};

/// At most one keyframe request to a publisher per this interval, while one is outstanding and
/// for repairs.
pub const MIN_INTERVAL: Duration = Duration::from_millis(500);
/// Between requests for joining viewers once the previous request was answered.
pub const JOIN_GAP: Duration = Duration::from_millis(100);

#[derive(Debug, Default, Clone)]
pub struct KeyframeThrottle {
    last_sent: Option<Instant>,
    /// A request is waiting; it goes up this long after `last_sent`.
    deferred: Option<Duration>,
    /// A keyframe arrived since the last request went up.
    answered: bool,
}

impl KeyframeThrottle {
    /// A subscriber wants a keyframe to repair its picture. Returns true if the request should
    /// go upstream now.
    pub fn request(&mut self, now: Instant) -> bool {
        self.ask(now, MIN_INTERVAL)
    }

    /// A new viewer (a subscriber's m-line opened, its connection came up, the return feed
    /// switched) needs a keyframe to start. Returns true if the request should go upstream now.
    pub fn request_join(&mut self, now: Instant) -> bool {
        self.ask(now, if self.answered { JOIN_GAP } else { MIN_INTERVAL })
    }

    fn ask(&mut self, now: Instant, gap: Duration) -> bool {
        match self.last_sent {
            Some(t) if now.saturating_duration_since(t) < gap => {
                self.deferred = Some(self.deferred.map_or(gap, |d| d.min(gap)));
                false
            }
            _ => {
                self.last_sent = Some(now);
                self.deferred = None;
                self.answered = false;
                true
            }
        }
    }

    /// Time passed. Returns true if a deferred request is now due upstream.
    pub fn poll(&mut self, now: Instant) -> bool {
        if self.next_deadline().is_some_and(|d| now >= d) {
            self.last_sent = Some(now);
            self.deferred = None;
            self.answered = false;
            return true;
        }
        false
    }

    /// When [`poll`](Self::poll) next has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        Some(self.last_sent? + self.deferred?)
    }

    /// A keyframe arrived from the publisher: requests still deferred are satisfied.
    pub fn keyframe_seen(&mut self) {
        self.deferred = None;
        self.answered = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn first_request_goes_upstream_at_once() {
        let mut k = KeyframeThrottle::default();
        assert!(k.request(Instant::now()));
    }

    #[test]
    fn burst_of_pli_within_window_becomes_one_request_plus_one_trailing() {
        let t0 = Instant::now();
        let mut k = KeyframeThrottle::default();
        let sent_now = (0..20).filter(|i| k.request(t0 + 10 * MS * *i)).count();
        assert_eq!(sent_now, 1, "only the first request of the burst goes straight up");
        assert_eq!(k.next_deadline(), Some(t0 + MIN_INTERVAL));
        assert!(!k.poll(t0 + 499 * MS));
        assert!(k.poll(t0 + 500 * MS), "deferred request fires when the window ends");
        assert!(!k.poll(t0 + 2000 * MS), "and only once");
        assert_eq!(k.next_deadline(), None);
    }

    #[test]
    fn requests_spaced_wider_than_window_all_go_upstream() {
        let t0 = Instant::now();
        let mut k = KeyframeThrottle::default();
        assert!(k.request(t0));
        assert!(k.request(t0 + 501 * MS));
        assert!(k.request(t0 + 1002 * MS));
    }

    #[test]
    fn keyframe_arriving_cancels_deferred_request() {
        let t0 = Instant::now();
        let mut k = KeyframeThrottle::default();
        assert!(k.request(t0));
        assert!(!k.request(t0 + 100 * MS));
        k.keyframe_seen();
        assert!(!k.poll(t0 + 600 * MS));
    }

    #[test]
    fn viewers_joining_one_after_another_wait_only_the_join_gap_once_answered() {
        let t0 = Instant::now();
        let mut k = KeyframeThrottle::default();
        assert!(k.request_join(t0));
        // Not answered yet: a second joiner is coalesced into the outstanding request.
        assert!(!k.request_join(t0 + 20 * MS));
        assert_eq!(k.next_deadline(), Some(t0 + MIN_INTERVAL));
        k.keyframe_seen();
        assert_eq!(k.next_deadline(), None, "the keyframe served the waiting joiner");
        // Answered: the next joiner asks after the short gap.
        assert!(!k.request_join(t0 + 60 * MS));
        assert_eq!(k.next_deadline(), Some(t0 + JOIN_GAP));
        assert!(k.poll(t0 + JOIN_GAP));
        k.keyframe_seen();
        assert!(k.request_join(t0 + JOIN_GAP + 150 * MS));
        // Repairs keep the long window even when answered.
        k.keyframe_seen();
        assert!(!k.request(t0 + JOIN_GAP + 300 * MS));
        assert_eq!(k.next_deadline(), Some(t0 + JOIN_GAP + 150 * MS + MIN_INTERVAL));
    }

    #[test]
    fn never_more_than_one_upstream_request_per_window_over_a_long_storm() {
        let t0 = Instant::now();
        let mut k = KeyframeThrottle::default();
        let mut sent = Vec::new();
        for i in 0..5000u64 {
            let now = t0 + MS * i as u32;
            if k.request(now) || k.poll(now) {
                sent.push(now);
            }
        }
        for w in sent.windows(2) {
            assert!(w[1] - w[0] >= MIN_INTERVAL, "{:?}", w[1] - w[0]);
        }
        assert!(sent.len() >= 9, "a storm of 5 s still yields a request per window: {}", sent.len());
    }
}
