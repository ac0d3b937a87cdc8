//! `hub.url` as a list (issue 20): for sites whose hubs have no load balancer or DNS round robin
//! in front, the box tries the URLs in order and sticks to the last one that worked. The WHIP
//! client, the return feed and the control channel share one [`HubList`], so they move together:
//! whichever finds the current hub unreachable (refused, timed out, 5xx such as a draining node's
//! 503) moves everyone to the next.

use std::sync::atomic::{AtomicUsize, Ordering};

/// The hubs a box may call, and which one it calls now.
#[derive(Debug)]
pub struct HubList {
    urls: Vec<String>,
    current: AtomicUsize,
}

impl HubList {
    /// `urls` is validated, non-empty and without duplicates ([`crate::config::validate`]); an
    /// empty list is still safe here (it behaves as one empty URL, which every request refuses).
    pub fn new(urls: Vec<String>) -> Self {
        let urls = if urls.is_empty() { vec![String::new()] } else { urls };
        Self { urls, current: AtomicUsize::new(0) }
    }

    /// The hub to call now.
    pub fn current(&self) -> &str {
        &self.urls[self.index()]
    }

    /// Index of the hub to call now in [`urls`](Self::urls).
    pub fn index(&self) -> usize {
        self.current.load(Ordering::Relaxed) % self.urls.len()
    }

    pub fn urls(&self) -> &[String] {
        &self.urls
    }

    /// The hub at `index` failed to answer: if it is still the current one, move on to the next
    /// (another caller may have moved already; then nothing changes). Returns the hub to call now.
    pub fn failed(&self, index: usize) -> usize {
        let next = (index + 1) % self.urls.len();
        let _ = self.current.compare_exchange(index, next, Ordering::Relaxed, Ordering::Relaxed);
        self.index()
    }

    /// The hub at `index` answered: stick to it.
    pub fn worked(&self, index: usize) {
        self.current.store(index % self.urls.len(), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list() -> HubList {
        HubList::new(vec!["http://a".into(), "http://b".into(), "http://c".into()])
    }

    #[test]
    fn a_failure_moves_to_the_next_and_wraps_around() {
        let hubs = list();
        assert_eq!(hubs.current(), "http://a");
        assert_eq!(hubs.failed(0), 1);
        assert_eq!(hubs.current(), "http://b");
        hubs.failed(1);
        hubs.failed(2);
        assert_eq!(hubs.current(), "http://a");
    }

    #[test]
    fn a_stale_failure_does_not_move_a_list_that_already_moved() {
        let hubs = list();
        hubs.failed(0);
        // The return feed also saw hub a fail, after the publisher moved to b: stay on b.
        assert_eq!(hubs.failed(0), 1);
        assert_eq!(hubs.current(), "http://b");
    }

    #[test]
    fn the_box_sticks_to_the_hub_that_worked() {
        let hubs = list();
        hubs.failed(0);
        hubs.worked(1);
        assert_eq!(hubs.current(), "http://b");
        hubs.worked(2);
        assert_eq!(hubs.current(), "http://c");
    }
}
