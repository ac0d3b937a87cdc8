//! The packets of a video track since its publisher's last keyframe, kept while that keyframe is
//! recent, so a viewer who starts now gets a picture at once instead of waiting for a keyframe
//! request to go up and come back.
//!
//! Only a *recent* keyframe is replayed ([`REPLAY_WINDOW`]): the replay arrives as one burst, and
//! a long burst of old frames would teach the viewer's jitter buffer a delay it then takes seconds
//! to unlearn. An older one means a keyframe request, as before. In a join storm at a lesson's
//! start the two work together: one request's keyframe serves every viewer who arrives within the
//! window after it, so the room's uplink sends fewer keyframes and students see the room sooner.
//!
//! A simulcast track is several RTP streams with their own keyframes and sequence numbers, so it
//! gets a cache per layer ([`TrackGops`]); a viewer starts on the best layer's.

use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::media::{Pt, Rid};
use str0m::rtp::ExtensionValues;

use super::simulcast::MAX_LAYERS;

/// A keyframe older than this is not replayed (about four frames at 30 fps).
pub const REPLAY_WINDOW: Duration = Duration::from_millis(150);
/// Cap on cached packets: a keyframe at 1080p and a few frames after it fit; a publisher whose
/// keyframes are bigger than this simply is not replayed.
const MAX_PACKETS: usize = 256;

/// The caches of one video track: one for a single stream (RID `None`), else one per layer.
#[derive(Debug, Default)]
pub struct TrackGops {
    streams: Vec<(Option<Rid>, GopCache)>,
}

impl TrackGops {
    /// The cache of stream `rid`, made at its first packet; `None` for a layer beyond
    /// [`MAX_LAYERS`], which the layer chooser ignores too, so it is never the best one.
    pub fn stream(&mut self, rid: Option<Rid>) -> Option<&mut GopCache> {
        let i = match self.streams.iter().position(|(r, _)| *r == rid) {
            Some(i) => i,
            None if self.streams.len() >= MAX_LAYERS => return None,
            None => {
                self.streams.push((rid, GopCache::default()));
                self.streams.len() - 1
            }
        };
        Some(&mut self.streams[i].1)
    }

    /// What to give a viewer starting now on stream `rid` (see [`GopCache::replay`]).
    pub fn replay(&self, rid: Option<Rid>, now: Instant) -> Option<&[Cached]> {
        self.streams.iter().find(|(r, _)| *r == rid).and_then(|(_, g)| g.replay(now))
    }
}

/// What the forwarder needs of a published packet to send it again (str0m's `RtpPacket` is not
/// `Clone`); the payload is shared, not copied, and of the header extensions only those that
/// travel on to subscribers are kept.
#[derive(Debug, Clone)]
pub struct Cached {
    /// Extended sequence number.
    pub seq: u64,
    pub pt: Pt,
    pub time: u32,
    pub marker: bool,
    pub ext: ExtensionValues,
    pub payload: Arc<[u8]>,
    pub received: Instant,
}

#[derive(Debug, Default)]
pub struct GopCache {
    /// RTP time of the cached keyframe: its SPS, PPS and slices share it, so a second packet
    /// that "starts a keyframe" at the same time continues the cache instead of restarting it.
    key_time: Option<u32>,
    seen_at: Option<Instant>,
    packets: Vec<Cached>,
    /// More than [`MAX_PACKETS`] since the keyframe: the cache is incomplete and not replayed.
    overflow: bool,
}

impl GopCache {
    /// Records one packet of the track (RTP time `time`) as it is forwarded; `packet` is only
    /// built when it is kept.
    pub fn observe(&mut self, time: u32, starts_keyframe: bool, now: Instant, packet: impl FnOnce() -> Cached) {
        if starts_keyframe && self.key_time != Some(time) {
            self.key_time = Some(time);
            self.seen_at = Some(now);
            self.packets.clear();
            self.overflow = false;
        }
        if self.key_time.is_none() || self.overflow {
            return;
        }
        if self.is_stale(now) {
            // Nobody will be given these: drop the payload references now rather than at the next keyframe.
            self.packets.clear();
            self.overflow = true;
            return;
        }
        if self.packets.len() == MAX_PACKETS {
            self.packets.clear();
            self.overflow = true;
            return;
        }
        self.packets.push(packet());
    }

    /// The packets to give a viewer starting now, oldest first, keyframe first; `None` if the
    /// last keyframe is too old (or was never seen, or did not fit).
    pub fn replay(&self, now: Instant) -> Option<&[Cached]> {
        if self.overflow || self.is_stale(now) || self.packets.is_empty() {
            return None;
        }
        Some(&self.packets)
    }

    fn is_stale(&self, now: Instant) -> bool {
        self.seen_at.is_none_or(|t| now.saturating_duration_since(t) > REPLAY_WINDOW)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// Feeds packet `seq` at RTP time `time` to the cache.
    fn feed(g: &mut GopCache, seq: u64, time: u32, key: bool, now: Instant) {
        let packet = || Cached {
            seq,
            pt: Pt::new_with_value(96),
            time,
            marker: false,
            ext: ExtensionValues::default(),
            payload: Arc::from(vec![seq as u8]),
            received: now,
        };
        g.observe(time, key, now, packet);
    }

    #[test]
    fn nothing_to_replay_before_a_keyframe() {
        let t0 = Instant::now();
        let mut g = GopCache::default();
        feed(&mut g, 1, 0, false, t0);
        assert!(g.replay(t0).is_none());
    }

    #[test]
    fn replays_the_keyframe_and_what_followed_while_recent() {
        let t0 = Instant::now();
        let mut g = GopCache::default();
        feed(&mut g, 1, 0, false, t0);
        feed(&mut g, 2, 3000, true, t0); // SPS/PPS
        feed(&mut g, 3, 3000, true, t0); // the IDR slice, same frame: not a restart
        feed(&mut g, 4, 6000, false, t0 + 33 * MS);
        let seqs: Vec<u64> = g.replay(t0 + 100 * MS).unwrap().iter().map(|p| p.seq).collect();
        assert_eq!(seqs, [2, 3, 4]);
        assert!(g.replay(t0 + REPLAY_WINDOW + MS).is_none(), "too old to replay");
    }

    #[test]
    fn a_new_keyframe_restarts_the_cache() {
        let t0 = Instant::now();
        let mut g = GopCache::default();
        feed(&mut g, 1, 0, true, t0);
        feed(&mut g, 2, 3000, false, t0);
        feed(&mut g, 3, 6000, true, t0 + 1000 * MS);
        let seqs: Vec<u64> = g.replay(t0 + 1000 * MS).unwrap().iter().map(|p| p.seq).collect();
        assert_eq!(seqs, [3]);
    }

    #[test]
    fn each_layer_of_a_track_has_its_own_cache() {
        let t0 = Instant::now();
        let (f, h) = (Some(Rid::from("f")), Some(Rid::from("h")));
        let mut gops = TrackGops::default();
        feed(gops.stream(f).unwrap(), 10, 3000, true, t0);
        feed(gops.stream(h).unwrap(), 500, 3000, false, t0);
        feed(gops.stream(f).unwrap(), 11, 6000, false, t0);
        let seqs: Vec<u64> = gops.replay(f, t0).unwrap().iter().map(|p| p.seq).collect();
        assert_eq!(seqs, [10, 11], "the other layer's packets are not mixed in");
        assert!(gops.replay(h, t0).is_none(), "h has had no keyframe");
        assert!(gops.replay(None, t0).is_none());
        for r in ["q", "x"] {
            gops.stream(Some(Rid::from(r)));
        }
        assert!(gops.stream(Some(Rid::from("y"))).is_none(), "a fifth stream gets no cache");
    }

    #[test]
    fn stale_or_oversized_caches_hold_nothing() {
        let t0 = Instant::now();
        let mut g = GopCache::default();
        feed(&mut g, 1, 0, true, t0);
        feed(&mut g, 2, 3000, false, t0 + 200 * MS);
        assert!(g.packets.is_empty(), "packets after the window are not kept");
        assert!(g.replay(t0 + 200 * MS).is_none());

        let mut g = GopCache::default();
        feed(&mut g, 0, 0, true, t0);
        for s in 1..=MAX_PACKETS as u64 {
            feed(&mut g, s, 0, false, t0);
        }
        assert!(g.replay(t0).is_none(), "an incomplete keyframe is never replayed");
        assert!(g.packets.is_empty());
    }
}
