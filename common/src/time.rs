//! Wall-clock time, for what leaves the process (tokens, exports, telemetry). Anything that
//! decides *when* something happens takes its time as an input instead.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (0 if the clock is set before 1970).
pub fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Seconds since the Unix epoch (0 if the clock is set before 1970).
pub fn unix_secs() -> u64 {
    unix_ms() / 1000
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_clock_is_after_this_code_was_written() {
        // 2025-01-01T00:00:00Z
        assert!(super::unix_ms() > 1_735_689_600_000);
        assert_eq!(super::unix_secs(), super::unix_ms() / 1000);
    }
}
