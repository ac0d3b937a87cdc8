//! How much of a video stream a subscriber's m-line keeps for answering its NACKs: enough for a
//! few of that subscriber's round trips at the stream's packet rate, no more. str0m's cache
//! holds a record per packet sent (the payloads are shared between subscribers, but each record
//! keeps its payload alive), so the cache is, per subscriber and stream, most of the hub's
//! memory in a meeting (docs/performance.md, "Memory per participant").

use std::time::{Duration, Instant};

/// A retransmission has to arrive before the receiver's jitter buffer gives its frame up; three
/// round trips leave room for the NACK, the resend and one more try of both.
const RTTS: u32 = 3;
/// On a LAN or loopback three round trips are a few milliseconds, less than the pacer may hold a
/// packet back or a receiver wait before it asks again: below this the cache is not worth cutting.
const MIN_AGE: Duration = Duration::from_millis(250);
/// Anything older arrives after a jitter buffer gave the frame up (str0m's default is three seconds).
const MAX_AGE: Duration = Duration::from_secs(1);
/// Until a subscriber's first receiver report: str0m's own assumption.
const DEFAULT_RTT: Duration = Duration::from_millis(100);
/// Until the stream's rate is measured (a window after it starts): a high camera rate, so that a
/// stream is never under-cached; the cache only fills as far as the packets sent within its age.
const DEFAULT_BPS: u64 = 2_500_000;
/// Bytes of a typical video packet (payload and headers), to turn a bit rate into packets.
const PACKET_BYTES: u64 = 1_000;
/// A keyframe comes as a burst several times the stream's mean rate.
const HEADROOM: u64 = 2;
/// A keyframe of a low-rate stream still fits, whatever its mean rate.
const MIN_PACKETS: usize = 64;
/// A second of 1080p at a high rate (~500 packets/s) with headroom.
const MAX_PACKETS: usize = 1024;
/// Rates and round trips move slowly; resizing is checked this often, not per packet.
const RECHECK: Duration = Duration::from_secs(1);
/// The age is rounded up to a multiple of this, so that jitter in the round trip causes no resize.
const AGE_STEP: Duration = Duration::from_millis(50);

/// The limits given to str0m's retransmission cache of one stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtxBudget {
    /// At most this many packets are kept (a power of two: small rate changes resize nothing).
    pub packets: usize,
    /// Packets older than this are dropped.
    pub age: Duration,
}

/// The cache for a stream of `bps` (measured; `None`: not yet) to a subscriber `rtt` away
/// (`None`: no receiver report yet): `RTTS` round trips within [`MIN_AGE`, `MAX_AGE`], and the
/// packets sent in that time, twice, within [`MIN_PACKETS`, `MAX_PACKETS`].
pub fn budget(bps: Option<u64>, rtt: Option<Duration>) -> RtxBudget {
    let age = rtt.unwrap_or(DEFAULT_RTT).saturating_mul(RTTS).clamp(MIN_AGE, MAX_AGE);
    let step = AGE_STEP.as_millis() as u64;
    let age = Duration::from_millis((age.as_millis() as u64).div_ceil(step) * step);
    let bps = bps.unwrap_or(DEFAULT_BPS);
    let packets = bps.saturating_mul(age.as_millis() as u64).saturating_mul(HEADROOM) / (8 * PACKET_BYTES * 1000);
    let packets = usize::try_from(packets).unwrap_or(MAX_PACKETS).clamp(MIN_PACKETS, MAX_PACKETS).next_power_of_two();
    RtxBudget { packets, age }
}

/// One subscriber stream's cache sizing: what was applied and when it was last checked.
#[derive(Debug, Clone, Default)]
pub struct RtxSizing {
    applied: Option<RtxBudget>,
    checked: Option<Instant>,
}

/// What to do to the stream's cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resize {
    /// The first sizing: the cache is still str0m's default and holds nothing of ours yet.
    First(RtxBudget),
    /// New limits for a cache in use: what it holds is kept.
    Change(RtxBudget),
}

impl RtxSizing {
    /// Called per packet written; decides at most every [`RECHECK`] (and at once for the first).
    /// `inputs` gives the stream's rate and the subscriber's round trip, read only then.
    pub fn due(&mut self, now: Instant, inputs: impl FnOnce() -> (Option<u64>, Option<Duration>)) -> Option<Resize> {
        if self.checked.is_some_and(|t| now.saturating_duration_since(t) < RECHECK) {
            return None;
        }
        self.checked = Some(now);
        let (bps, rtt) = inputs();
        let next = budget(bps, rtt);
        match self.applied.replace(next) {
            None => Some(Resize::First(next)),
            Some(prev) if prev != next => Some(Resize::Change(next)),
            Some(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn a_nearby_subscriber_of_a_500_kbit_stream_keeps_a_quarter_second_and_a_keyframe() {
        let b = budget(Some(500_000), Some(ms(1)));
        assert_eq!(b.age, ms(250));
        // 62.5 packets/s × 0.25 s × 2 = 31: the floor.
        assert_eq!(b.packets, MIN_PACKETS);
    }

    #[test]
    fn the_age_follows_three_round_trips_between_the_bounds() {
        assert_eq!(budget(Some(500_000), Some(ms(120))).age, ms(400), "360 ms, rounded up to 50 ms");
        assert_eq!(budget(Some(500_000), Some(ms(200))).age, ms(600));
        assert_eq!(budget(Some(500_000), Some(ms(900))).age, MAX_AGE);
        assert_eq!(budget(Some(500_000), None).age, ms(300), "str0m's 100 ms until a report");
    }

    #[test]
    fn packets_follow_the_rate_and_the_age_within_bounds() {
        // 2.5 Mbit/s: 312.5 packets/s × 0.6 s × 2 = 375 → 512.
        assert_eq!(budget(Some(2_500_000), Some(ms(200))).packets, 512);
        // An unmeasured stream is taken to be a high-rate one.
        assert_eq!(budget(None, Some(ms(200))), budget(Some(DEFAULT_BPS), Some(ms(200))));
        assert_eq!(budget(Some(50_000_000), Some(ms(300))).packets, MAX_PACKETS);
        assert_eq!(budget(Some(0), Some(ms(300))).packets, MIN_PACKETS);
        assert_eq!(budget(Some(u64::MAX), Some(Duration::MAX)).packets, MAX_PACKETS, "no overflow");
    }

    #[test]
    fn sizing_is_first_applied_at_once_then_rechecked_at_most_every_second() {
        let t0 = Instant::now();
        let mut s = RtxSizing::default();
        let first = s.due(t0, || (None, None));
        assert_eq!(first, Some(Resize::First(budget(None, None))));

        let read = std::cell::Cell::new(0);
        let measured = || {
            read.set(read.get() + 1);
            (Some(500_000), Some(ms(1)))
        };
        assert_eq!(s.due(t0 + ms(999), measured), None, "not rechecked within a second");
        assert_eq!(read.get(), 0, "inputs not even read");
        let change = s.due(t0 + ms(1000), measured);
        assert_eq!(change, Some(Resize::Change(budget(Some(500_000), Some(ms(1))))));
        assert_eq!(s.due(t0 + ms(2000), measured), None, "unchanged: nothing to do");
        assert_eq!(read.get(), 2);
    }

    #[test]
    fn jitter_in_rate_and_round_trip_resizes_nothing() {
        assert_eq!(budget(Some(480_000), Some(ms(70))), budget(Some(520_000), Some(ms(74))));
    }
}
