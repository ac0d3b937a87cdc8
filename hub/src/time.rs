//! Time as the sans-IO cores take it: one reading of both clocks, made by an IO shell and passed in.
//! The shard, the rooms and the classroom never read a clock themselves, so tests drive them on
//! simulated time.

use std::time::{Duration, Instant};

/// One instant on both clocks: `mono` for deadlines and rates, `unix_ms` for what is recorded
/// (attendance, chat, sessions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    pub mono: Instant,
    /// Milliseconds since the Unix epoch.
    pub unix_ms: u64,
}

impl Now {
    /// Reads both clocks. Only IO shells call this.
    pub fn read() -> Self {
        Self { mono: Instant::now(), unix_ms: lectern_common::time::unix_ms() }
    }

    /// Seconds since the Unix epoch (what the store records sessions in).
    pub fn unix_secs(self) -> u64 {
        self.unix_ms / 1000
    }

    /// The same reading moved on by `d` on both clocks (simulated time in tests).
    pub fn after(self, d: Duration) -> Self {
        Self { mono: self.mono + d, unix_ms: self.unix_ms + d.as_millis() as u64 }
    }
}
