//! Simulcast: a publisher sends one video m-line as several RTP streams (layers), told apart by
//! their RID. Each subscriber receives one layer at a time; which one is decided here, without
//! IO and with time passed in.
//!
//! - [`LayerChooser`] (one per published track) watches what arrives and names the *best* layer:
//!   the one with the most bytes per second among those that arrived within [`STALE`]. RIDs are
//!   only names (`f`/`h`/`q`, `0`/`1`/`2`…), so the ranking comes from the bitrate. A layer that
//!   stops for [`STALE`] loses its place, and wins it back once it sends clearly more again.
//! - [`DownLayer`] (one per DownTrack) is what its subscriber receives now. It moves to the layer
//!   it is asked for only at that layer's keyframe (a decoder cannot start elsewhere); until then
//!   the old layer keeps flowing. The forwarder then re-bases time and sequence numbers
//!   (`TimeRebase::switch`) and asks the publisher for the keyframe it waits for.
//!
//! A viewer that starts while the best layer's last keyframe is recent starts from that layer's
//! cached keyframe (`gop`), like a viewer of a single-stream track.
//!
//! Which layer a subscriber *wants* is the allocator's choice (see `allocator`), from the layers
//! that flow ([`LayerChooser::flowing`]) and their measured rates ([`RateMeter`]); without an
//! estimate it wants the best.

use std::time::{Duration, Instant};

use lectern_proto::TrackId;
use str0m::media::Rid;

/// A layer with no packet for this long is not flowing (a stalled encoder, a congested uplink).
pub const STALE: Duration = Duration::from_secs(1);
/// Layers of one track that are tracked (and get a GOP cache, see `gop`).
pub const MAX_LAYERS: usize = 4;
/// Bytes are counted over windows of this length.
const WINDOW: Duration = Duration::from_millis(500);
/// Another layer takes the best place only with this much more (numerator, denominator): keyframe
/// bursts and still pictures must not make the choice flap between layers of similar rate.
const MARGIN: (u64, u64) = (5, 4);

#[derive(Debug, Clone, Default)]
pub struct LayerChooser {
    layers: Vec<LayerStat>,
    best: Option<Rid>,
}

#[derive(Debug, Clone)]
struct LayerStat {
    rid: Rid,
    last_seen: Instant,
    window_start: Instant,
    /// Bytes in the current window.
    bytes: u64,
    /// Bytes in the last complete window.
    last_window: u64,
    meter: RateMeter,
}

/// A stream's bit rate, smoothed over [`WINDOW`]s so that a keyframe burst does not look like a
/// new rate (what the allocator compares with a subscriber's estimate).
#[derive(Debug, Clone, Default)]
pub struct RateMeter {
    window_start: Option<Instant>,
    bytes: u64,
    /// Smoothed, bits per second; 0 before the first full window.
    bps: u64,
    last_seen: Option<Instant>,
}

impl RateMeter {
    /// `bytes` (on the wire, roughly) arrived.
    pub fn observe(&mut self, bytes: usize, now: Instant) {
        if !self.flowing(now) {
            *self = Self::default(); // back after a pause: the old rate says nothing about now
        }
        let start = *self.window_start.get_or_insert(now);
        let elapsed = now.saturating_duration_since(start);
        if elapsed >= WINDOW {
            let ms = elapsed.as_millis().max(1) as u64;
            let rate = self.bytes.saturating_mul(8_000) / ms;
            // A quarter of each new window: a 2 s GOP's keyframe moves the rate by little.
            self.bps = if self.bps == 0 { rate } else { (self.bps * 3 + rate) / 4 };
            self.bytes = 0;
            self.window_start = Some(now);
        }
        self.bytes += bytes as u64;
        self.last_seen = Some(now);
    }

    fn flowing(&self, now: Instant) -> bool {
        self.last_seen.is_some_and(|t| now.saturating_duration_since(t) < STALE)
    }

    /// The rate now; `None` if nothing arrived within [`STALE`] or no window is complete yet.
    pub fn bps(&self, now: Instant) -> Option<u64> {
        self.flowing(now).then_some(self.bps).filter(|b| *b > 0)
    }
}

impl LayerStat {
    fn new(rid: Rid, now: Instant) -> Self {
        Self { rid, last_seen: now, window_start: now, bytes: 0, last_window: 0, meter: RateMeter::default() }
    }

    /// The current window counts as soon as it beats the last: a layer that starts (or comes
    /// back) is judged without waiting for a full window.
    fn score(&self) -> u64 {
        self.bytes.max(self.last_window)
    }

    fn flowing(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.last_seen) < STALE
    }
}

impl LayerChooser {
    /// A packet of `bytes` arrived on layer `rid`. Returns the best layer now.
    pub fn observe(&mut self, rid: Rid, bytes: usize, now: Instant) -> Rid {
        let stat = match self.layers.iter_mut().position(|l| l.rid == rid) {
            Some(i) => &mut self.layers[i],
            // Browsers send three layers and the box four at most: a publisher announcing more
            // gets its extra ones ignored rather than a longer scan per packet.
            None if self.layers.len() >= MAX_LAYERS => return self.best.unwrap_or(rid),
            None => {
                tracing::info!(%rid, "simulcast layer arriving");
                self.layers.push(LayerStat::new(rid, now));
                // Invariant: just pushed.
                self.layers.last_mut().expect("layer just added")
            }
        };
        if !stat.flowing(now) {
            // Back after a pause: its old rate says nothing about now.
            *stat = LayerStat::new(rid, now);
        }
        if now.saturating_duration_since(stat.window_start) >= WINDOW {
            stat.last_window = stat.bytes;
            stat.bytes = 0;
            stat.window_start = now;
        }
        stat.bytes += bytes as u64;
        stat.last_seen = now;
        stat.meter.observe(bytes, now);
        let best = self.choose(now);
        self.best = Some(best);
        best
    }

    /// The best layer as of the last packet; `None` before any arrived.
    pub fn best(&self) -> Option<Rid> {
        self.best
    }

    /// Layer `rid`'s measured rate (bits per second); `None` if not flowing or not measured yet.
    pub fn bps(&self, rid: Rid, now: Instant) -> Option<u64> {
        self.layers.iter().find(|l| l.rid == rid && l.flowing(now))?.meter.bps(now)
    }

    /// The layers flowing now with their measured rates (bits per second), lowest first.
    pub fn flowing(&self, now: Instant) -> Vec<(Rid, u64)> {
        let mut layers: Vec<(Rid, u64)> =
            self.layers.iter().filter_map(|l| Some((l.rid, l.meter.bps(now).filter(|_| l.flowing(now))?))).collect();
        layers.sort_by_key(|(_, bps)| *bps);
        layers
    }

    fn choose(&self, now: Instant) -> Rid {
        let flowing = || self.layers.iter().filter(|l| l.flowing(now));
        // Invariant: called right after a packet, so at least that layer is flowing.
        let top = flowing().max_by_key(|l| l.score()).expect("the layer just seen is flowing");
        let current = self.best.and_then(|b| flowing().find(|l| l.rid == b));
        match current {
            Some(c) if top.score() * MARGIN.1 <= c.score() * MARGIN.0 => c.rid,
            _ => top.rid,
        }
    }
}

/// What to do with one packet for one subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Forward,
    /// Forward, and it starts a new layer: re-base time and sequence numbers first.
    Switch,
    Skip,
}

/// The layer one subscriber receives of a simulcast track.
#[derive(Debug, Clone, Copy, Default)]
pub struct DownLayer {
    /// The track and layer forwarded now. The track is kept because a return-feed slot changes
    /// its source, and the same RID on another track is another stream.
    current: Option<(TrackId, Rid)>,
    /// The layer a keyframe was last asked for, so it is asked once per switch, not per packet.
    asked: Option<(TrackId, Rid)>,
}

impl DownLayer {
    /// A packet of `track`'s layer `rid` (starting a keyframe or not); `wanted` is the layer this
    /// subscriber should receive.
    pub fn on_packet(&mut self, track: TrackId, rid: Rid, wanted: Rid, keyframe: bool) -> Verdict {
        if self.receiving(track) == Some(rid) {
            return Verdict::Forward;
        }
        if rid == wanted && keyframe {
            self.current = Some((track, rid));
            return Verdict::Switch;
        }
        Verdict::Skip
    }

    /// The subscriber was given layer `rid`'s cached keyframe (see `gop`): it receives that layer
    /// from here on, as if it had switched at that keyframe.
    pub fn start_on(&mut self, track: TrackId, rid: Rid) {
        self.current = Some((track, rid));
    }

    /// Forgets the layer forwarded (its track was paused for this subscriber): forwarding starts
    /// again only at a keyframe of the layer then wanted.
    pub fn reset(&mut self) {
        *self = Self::default();
    }

    /// Whether the publisher must be asked for a keyframe on `wanted`: true once each time this
    /// subscriber starts waiting for a layer it does not receive.
    pub fn needs_keyframe(&mut self, track: TrackId, wanted: Rid) -> bool {
        if self.receiving(track) == Some(wanted) || self.asked == Some((track, wanted)) {
            return false;
        }
        self.asked = Some((track, wanted));
        true
    }

    /// The layer of `track` forwarded now.
    pub fn receiving(&self, track: TrackId) -> Option<Rid> {
        self.current.filter(|(t, _)| *t == track).map(|(_, r)| r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);
    const TRACK: TrackId = TrackId(1);

    fn rid(s: &str) -> Rid {
        Rid::from(s)
    }

    /// Feeds `layers` (rid, bytes per 10 ms) from `from` for `span`; returns the best at the end.
    fn feed(c: &mut LayerChooser, from: Instant, span: Duration, layers: &[(&str, usize)]) -> Rid {
        let mut best = None;
        let steps = (span.as_millis() / 10) as u32;
        for i in 0..steps {
            for (r, bytes) in layers {
                best = Some(c.observe(rid(r), *bytes, from + 10 * MS * i));
            }
        }
        best.expect("fed at least one packet")
    }

    #[test]
    fn the_layer_with_the_highest_rate_is_best_once_both_flow() {
        let t0 = Instant::now();
        let mut c = LayerChooser::default();
        // The small layer's packets arrive first.
        assert_eq!(c.observe(rid("h"), 300, t0), rid("h"));
        assert_eq!(feed(&mut c, t0, 1000 * MS, &[("h", 300), ("f", 1200)]), rid("f"));
    }

    #[test]
    fn falls_back_after_the_top_layer_stops_for_a_second_and_goes_back_up_when_it_returns() {
        let t0 = Instant::now();
        let mut c = LayerChooser::default();
        assert_eq!(feed(&mut c, t0, 2000 * MS, &[("h", 300), ("f", 1200)]), rid("f"));
        // The top layer stops; the small one keeps coming.
        let stop = t0 + 2000 * MS;
        assert_eq!(feed(&mut c, stop, 900 * MS, &[("h", 300)]), rid("f"), "a short gap is not a stop");
        assert_eq!(feed(&mut c, stop + 900 * MS, 300 * MS, &[("h", 300)]), rid("h"), "gone for 1 s: fall back");
        // It comes back: best again once it clearly sends more.
        let back = stop + 1200 * MS;
        assert_eq!(c.observe(rid("f"), 1200, back), rid("h"), "one packet is not a layer yet");
        assert_eq!(feed(&mut c, back, 500 * MS, &[("h", 300), ("f", 1200)]), rid("f"));
    }

    #[test]
    fn layers_of_similar_rate_do_not_flap() {
        let t0 = Instant::now();
        let mut c = LayerChooser::default();
        assert_eq!(feed(&mut c, t0, 1000 * MS, &[("f", 1000), ("h", 900)]), rid("f"));
        // The other layer edges ahead for a while, within the margin.
        assert_eq!(feed(&mut c, t0 + 1000 * MS, 2000 * MS, &[("f", 1000), ("h", 1100)]), rid("f"));
    }

    #[test]
    fn a_subscriber_switches_layers_only_at_a_keyframe_of_the_wanted_one() {
        let (f, h) = (rid("f"), rid("h"));
        let mut d = DownLayer::default();
        assert_eq!(d.on_packet(TRACK, h, h, false), Verdict::Skip, "a decoder cannot start mid-picture");
        assert!(d.needs_keyframe(TRACK, h));
        assert!(!d.needs_keyframe(TRACK, h), "asked once per switch");
        assert_eq!(d.on_packet(TRACK, h, h, true), Verdict::Switch);
        assert_eq!(d.on_packet(TRACK, h, h, false), Verdict::Forward);
        assert_eq!(d.on_packet(TRACK, f, h, true), Verdict::Skip, "not the wanted layer");
        // The top layer becomes wanted: the old one flows until the new one's keyframe.
        assert!(d.needs_keyframe(TRACK, f));
        assert_eq!(d.on_packet(TRACK, f, f, false), Verdict::Skip);
        assert_eq!(d.on_packet(TRACK, h, f, false), Verdict::Forward, "still receiving h meanwhile");
        assert_eq!(d.on_packet(TRACK, f, f, true), Verdict::Switch);
        assert_eq!(d.on_packet(TRACK, h, f, true), Verdict::Skip, "h is no longer sent to it");
        assert_eq!(d.receiving(TRACK), Some(f));
        assert!(!d.needs_keyframe(TRACK, f));
    }

    #[test]
    fn the_same_rid_on_another_track_is_a_new_stream() {
        let f = rid("f");
        let mut d = DownLayer::default();
        assert_eq!(d.on_packet(TRACK, f, f, true), Verdict::Switch);
        assert_eq!(d.on_packet(TrackId(2), f, f, false), Verdict::Skip, "waits for the other track's keyframe");
        assert_eq!(d.on_packet(TrackId(2), f, f, true), Verdict::Switch);
    }

    #[test]
    fn flowing_layers_come_lowest_rate_first_with_their_measured_rates() {
        let t0 = Instant::now();
        let mut c = LayerChooser::default();
        // 1200 and 300 bytes per 10 ms: 960 and 240 kbit/s.
        feed(&mut c, t0, 3000 * MS, &[("f", 1200), ("h", 300)]);
        let now = t0 + 2990 * MS;
        let layers = c.flowing(now);
        assert_eq!(layers.iter().map(|l| l.0).collect::<Vec<_>>(), vec![rid("h"), rid("f")]);
        assert!((230_000..=250_000).contains(&layers[0].1), "{layers:?}");
        assert!((930_000..=990_000).contains(&layers[1].1), "{layers:?}");
        assert!(c.flowing(now + STALE).is_empty(), "nothing flows after a second of silence");
    }

    #[test]
    fn a_keyframe_burst_moves_the_measured_rate_by_little() {
        let t0 = Instant::now();
        let mut m = RateMeter::default();
        for i in 0..300u32 {
            // 100 kbit/s, and a 25 kB keyframe every 2 s (at 1 s and 3 s).
            let extra = if i % 200 == 100 { 25_000 } else { 0 };
            m.observe(125 + extra, t0 + 10 * MS * i);
        }
        let bps = m.bps(t0 + 2990 * MS).expect("flowing");
        assert!(bps < 300_000, "{bps}");
    }

    #[test]
    fn layers_beyond_the_cap_are_ignored() {
        let t0 = Instant::now();
        let mut c = LayerChooser::default();
        for (i, name) in ["a", "b", "c", "d"].iter().enumerate() {
            c.observe(rid(name), 100 * (i + 1), t0);
        }
        assert_eq!(c.observe(rid("e"), 100_000, t0), rid("d"), "a fifth layer is not tracked");
        assert_eq!(c.layers.len(), MAX_LAYERS);
    }
}
