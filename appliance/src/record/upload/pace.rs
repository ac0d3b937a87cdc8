//! The upload's bandwidth cap (`[recording] upload_kbps`) as a token bucket, decided without a
//! clock of its own: given the time and how many bytes are about to go, how long to wait first.
//! The burst is small (a quarter second of the rate), so the uplink never sees more than the cap
//! for long and a live lesson's media keep their share.

use std::time::{Duration, Instant};

/// How much the bucket holds, in seconds of the rate.
const BURST_SECS: f64 = 0.25;

pub struct Pace {
    /// Bytes per second; `None`: no cap.
    rate: Option<f64>,
    /// Bytes that may go now (negative: owed).
    tokens: f64,
    last: Option<Instant>,
}

impl Pace {
    /// `kbps` kbit/s; 0 is no cap.
    pub fn new(kbps: u32) -> Self {
        let rate = (kbps > 0).then(|| f64::from(kbps) * 1000.0 / 8.0);
        Self { rate, tokens: 0.0, last: None }
    }

    /// `bytes` are about to be sent at `now`: how long to wait before sending them.
    pub fn delay(&mut self, now: Instant, bytes: usize) -> Duration {
        let Some(rate) = self.rate else { return Duration::ZERO };
        let burst = rate * BURST_SECS;
        let elapsed = self.last.map_or(BURST_SECS, |t| now.saturating_duration_since(t).as_secs_f64());
        self.last = Some(now);
        self.tokens = (self.tokens + elapsed * rate).min(burst) - bytes as f64;
        if self.tokens >= 0.0 { Duration::ZERO } else { Duration::from_secs_f64(-self.tokens / rate) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends `total` bytes in `piece`s, waiting as told; returns the time it took.
    fn send(pace: &mut Pace, total: usize, piece: usize) -> Duration {
        let start = Instant::now();
        let mut now = start;
        let mut sent = 0;
        while sent < total {
            now += pace.delay(now, piece);
            sent += piece;
        }
        now - start
    }

    #[test]
    fn the_cap_holds_over_a_long_send() {
        // 800 kbit/s = 100 kB/s: 1 MB takes about 10 s, less the first quarter second's burst.
        let took = send(&mut Pace::new(800), 1_000_000, 16 * 1024);
        assert!(took >= Duration::from_millis(9_600) && took <= Duration::from_millis(10_100), "{took:?}");
    }

    #[test]
    fn without_a_cap_nothing_waits() {
        assert_eq!(send(&mut Pace::new(0), 10_000_000, 64 * 1024), Duration::ZERO);
    }

    #[test]
    fn an_idle_pause_does_not_save_up_more_than_the_burst() {
        let mut pace = Pace::new(800);
        let t0 = Instant::now();
        pace.delay(t0, 1);
        // A minute idle: only a quarter second's worth (25 kB) goes at once.
        let later = t0 + Duration::from_secs(60);
        assert_eq!(pace.delay(later, 25_000), Duration::ZERO);
        assert!(pace.delay(later, 50_000) >= Duration::from_millis(490));
    }
}
