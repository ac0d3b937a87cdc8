//! Exponential backoff with "equal jitter": after `n` consecutive failures the delay lies in
//! `[d/2, d]` with `d = min(initial · 2^n, max)`. Half is certain (no hammering), half random (a
//! fleet that lost its hub together does not come back together).

use std::time::Duration;

use rand::Rng;

/// The delay after `failures` consecutive failures. Pure but for the draw from `rng`.
pub fn equal_jitter(initial: Duration, max: Duration, failures: u32, rng: &mut impl Rng) -> Duration {
    let ceiling = initial.saturating_mul(1u32 << failures.min(31)).min(max);
    jittered(ceiling, rng)
}

fn jittered(ceiling: Duration, rng: &mut impl Rng) -> Duration {
    let half = ceiling / 2;
    let jitter_ms = rng.random_range(0..=u64::try_from(half.as_millis()).unwrap_or(u64::MAX));
    half + Duration::from_millis(jitter_ms)
}

/// A failure counter with its delays.
pub struct Backoff<R> {
    initial: Duration,
    max: Duration,
    failures: u32,
    rng: R,
}

impl<R: Rng> Backoff<R> {
    pub fn new(initial: Duration, max: Duration, rng: R) -> Self {
        Self { initial, max, failures: 0, rng }
    }

    /// The delay before the next attempt; each call counts one more failure.
    pub fn next_delay(&mut self) -> Duration {
        let delay = equal_jitter(self.initial, self.max, self.failures, &mut self.rng);
        self.failures = self.failures.saturating_add(1);
        delay
    }

    /// For a refusal that will not go away by itself (bad token, unsupported URL): the longest wait.
    pub fn longest(&mut self) -> Duration {
        self.failures = self.failures.saturating_add(1);
        jittered(self.max, &mut self.rng)
    }

    /// A connection that held up: the next failure starts from the shortest delay again.
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    pub fn max(&self) -> Duration {
        self.max
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    #[test]
    fn delays_double_within_equal_jitter_up_to_the_cap() {
        let (initial, max) = (Duration::from_millis(500), Duration::from_secs(30));
        let mut backoff = Backoff::new(initial, max, StdRng::seed_from_u64(7));
        for n in 0..12u32 {
            let ceiling = (initial * 2u32.pow(n)).min(max);
            let d = backoff.next_delay();
            assert!(d >= ceiling / 2 && d <= ceiling, "failure {n}: {d:?} not in [{:?}, {ceiling:?}]", ceiling / 2);
        }
        backoff.reset();
        assert!(backoff.next_delay() <= initial);
        let longest = backoff.longest();
        assert!(longest >= max / 2 && longest <= max);
    }

    #[test]
    fn huge_failure_counts_do_not_overflow() {
        let mut rng = StdRng::seed_from_u64(1);
        let d = equal_jitter(Duration::from_secs(1), Duration::from_secs(7), u32::MAX, &mut rng);
        assert!(d <= Duration::from_secs(7));
    }
}
