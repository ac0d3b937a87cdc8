//! Per-subscriber bandwidth allocation: which layer of each video track a subscriber receives,
//! given the hub's estimate of what its link carries. Sans-IO, time passed in; the Room owns one
//! [`Allocator`] per subscriber and feeds it the estimate and the tracks' measured layer rates.
//!
//! Audio is reserved first and never touched. Then the video tracks in [`Priority`] order (slides
//! or screen share, the room camera, other participants' cameras) each get the best layer that
//! fits what is left, walking from the lowest layer up, with hysteresis:
//! - down at once, as soon as the current layer no longer fits;
//! - up only after the budget exceeded the new layer's rate by [`UP_HEADROOM`] for [`UP_HOLD`]
//!   without a break; every layer's hold is timed at once, so a link that recovered goes straight
//!   to the best layer that held (320 to 1280 wide in one switch, not two 3 s waits);
//! - below the lowest layer the track is paused for this subscriber and resumes like an upgrade.
//!
//! The chosen layer is only a target: the forwarder switches at that layer's next keyframe.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use lectern_proto::TrackId;
use lectern_proto::signal::QualityLevel;
use str0m::media::Rid;

/// Reserved per audio track the subscriber receives (Opus at a voice rate plus RTP/SRTP overhead).
pub const AUDIO_RESERVE_BPS: u64 = 48_000;
/// An upgrade needs the budget to exceed the next layer's rate by this factor (numerator, denominator).
pub const UP_HEADROOM: (u64, u64) = (6, 5);
/// ... for this long without a break.
pub const UP_HOLD: Duration = Duration::from_secs(3);
/// A track on its lowest layer is paused only once the budget stayed below that layer this long:
/// a congestion controller's estimate dips briefly after each overuse, and a pause costs a freeze
/// and a keyframe to resume.
pub const PAUSE_HOLD: Duration = Duration::from_secs(4);
/// Estimates are clamped to this range: forged or absurd feedback (a REMB of 0 or 10 Gbit/s) only
/// moves its own subscriber between "everything paused" and "everything at the top".
pub const MAX_ESTIMATE_BPS: u64 = 100_000_000;

/// Who gets bandwidth first (higher first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Priority {
    /// Another participant's camera.
    Camera,
    /// The classroom box's camera.
    RoomCamera,
    /// Slides or a screen share: text must stay readable.
    Slides,
}

/// One flowing layer of a track with its measured rate. A single-stream track has one, `rid: None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layer {
    pub rid: Option<Rid>,
    pub bps: u64,
}

/// A video track the subscriber receives: its layers, lowest rate first.
#[derive(Debug, Clone)]
pub struct VideoTrack {
    pub track: TrackId,
    pub priority: Priority,
    pub layers: Vec<Layer>,
}

/// What the subscriber should receive of one track.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Target {
    /// Nothing measured to choose from (no estimate yet, no layer flowing): the track's best.
    #[default]
    Best,
    /// This layer (`None`: the only stream of a single-stream track).
    Layer(Option<Rid>),
    /// Nothing: the link cannot carry even the lowest layer, or the user chose audio only.
    Paused,
}

/// The outcome of one [`Allocator::allocate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allocation {
    /// Per track, in the order given.
    pub targets: Vec<(TrackId, Target)>,
    pub level: QualityLevel,
    /// What the subscriber would take at full quality, with the upgrade headroom (drives the
    /// estimator's probing).
    pub desired_bps: u64,
    /// The rate to sustain with padding (str0m pads up to it, never beyond the estimate) so the
    /// estimate can grow: the desired rate while any track can step up (a recovered link then
    /// climbs straight towards the top, which the allocator can jump to), 0 when none can.
    pub minimum_bps: u64,
}

#[derive(Debug, Default)]
pub struct Allocator {
    twcc: Option<u64>,
    remb: Option<u64>,
    audio_only: bool,
    tracks: BTreeMap<TrackId, TrackState>,
}

#[derive(Debug, Clone, Default)]
struct TrackState {
    target: Target,
    /// The layers above the current one that fit with headroom now, each with since when it has
    /// without a break (keyed by RID: a layer's place in the rate order may change).
    fits: Vec<(Option<Rid>, Instant)>,
    /// The layer this track was on when that layer stopped flowing: it is taken back as soon as
    /// it returns and fits, since the link was not what moved the track off it.
    lost: Option<Option<Rid>>,
    /// Since when the lowest layer, which this track is on, has not fitted.
    short_since: Option<Instant>,
}

impl Allocator {
    /// The send-side (transport-wide CC) estimate towards this subscriber.
    pub fn set_twcc(&mut self, bps: u64) {
        self.twcc = Some(bps.min(MAX_ESTIMATE_BPS));
    }

    /// The subscriber's own REMB (clients without transport-wide CC).
    pub fn set_remb(&mut self, bps: u64) {
        self.remb = Some(bps.min(MAX_ESTIMATE_BPS));
    }

    /// The estimate in use: the lower of the two kinds when both are known.
    pub fn estimate(&self) -> Option<u64> {
        match (self.twcc, self.remb) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The user's "my connection is poor: audio only" toggle. Switched off, every track starts
    /// again as if new (what fits, at least its lowest layer until the pause hold): the user asked
    /// for video, and an estimate that idled with audio only is no reason to keep it paused.
    pub fn set_audio_only(&mut self, on: bool) {
        if self.audio_only && !on {
            self.tracks.clear();
        }
        self.audio_only = on;
    }

    pub fn audio_only(&self) -> bool {
        self.audio_only
    }

    /// Chooses a target per video track. `audio_tracks` is how many audio tracks are reserved for.
    pub fn allocate(&mut self, now: Instant, audio_tracks: usize, tracks: &[VideoTrack]) -> Allocation {
        self.tracks.retain(|t, _| tracks.iter().any(|v| v.track == *t));
        let reserve = AUDIO_RESERVE_BPS * audio_tracks as u64;
        let top = |v: &VideoTrack| v.layers.last().map_or(0, |l| l.bps);
        // The estimate has to exceed a layer's rate by the headroom before the layer is taken.
        let headroom = |bps: u64| bps * UP_HEADROOM.0 / UP_HEADROOM.1;
        let desired_bps = headroom(reserve + tracks.iter().map(top).sum::<u64>());
        let mut targets: Vec<(TrackId, Target)> = tracks.iter().map(|v| (v.track, Target::Best)).collect();
        let estimate = self.estimate();
        if self.audio_only || estimate.is_none() {
            let fill = if self.audio_only { Target::Paused } else { Target::Best };
            for (t, target) in &mut targets {
                *target = fill;
                self.tracks.insert(*t, TrackState { target: fill, ..TrackState::default() });
            }
            let level =
                if self.audio_only && !tracks.is_empty() { QualityLevel::AudioOnly } else { QualityLevel::Good };
            let desired_bps = if self.audio_only { reserve } else { desired_bps };
            return Allocation { targets, level, desired_bps, minimum_bps: 0 };
        }
        let mut budget = estimate.unwrap_or(0).saturating_sub(reserve);
        let mut order: Vec<usize> = (0..tracks.len()).collect();
        // Stable: tracks of equal priority keep the order given.
        order.sort_by_key(|i| std::cmp::Reverse(tracks[*i].priority));
        let (mut reduced, mut paused) = (false, 0);
        for i in order {
            let v = &tracks[i];
            if v.layers.is_empty() {
                self.tracks.insert(v.track, TrackState::default());
                continue; // nothing flowing to measure: its best (whatever arrives), nothing reserved
            }
            let state = self.tracks.remove(&v.track);
            let (index, next_state) = choose(&v.layers, state, budget, now);
            targets[i].1 = next_state.target;
            self.tracks.insert(v.track, next_state);
            let used = index.map_or(0, |x| v.layers[x].bps);
            budget = budget.saturating_sub(used);
            let next = index.map_or(Some(0), |x| (x + 1 < v.layers.len()).then_some(x + 1));
            reduced |= next.is_some();
            paused += usize::from(index.is_none());
        }
        let measured = tracks.iter().filter(|v| !v.layers.is_empty()).count();
        let level = if measured > 0 && paused == measured {
            QualityLevel::AudioOnly
        } else if reduced {
            QualityLevel::Reduced
        } else {
            QualityLevel::Good
        };
        // Nothing to step up to (every track on its top layer, or audio only): no padding, which
        // would only spend the subscriber's link while a still picture sends little.
        let minimum_bps = if reduced { desired_bps } else { 0 };
        Allocation { targets, level, desired_bps, minimum_bps }
    }
}

fn target_of(layers: &[Layer], index: Option<usize>) -> Target {
    match index {
        _ if layers.is_empty() => Target::Best,
        Some(i) => Target::Layer(layers[i].rid),
        None => Target::Paused,
    }
}

/// The layer index (`None`: paused) for one track with `budget` left, and its new state.
fn choose(layers: &[Layer], state: Option<TrackState>, budget: u64, now: Instant) -> (Option<usize>, TrackState) {
    let best_fit = layers.iter().rposition(|l| l.bps <= budget);
    let fresh = |index: Option<usize>, lost| {
        (index, TrackState { target: target_of(layers, index), fits: Vec::new(), lost, short_since: None })
    };
    let current = match state.as_ref().map(|s| s.target) {
        Some(Target::Layer(rid)) => match layers.iter().position(|l| l.rid == rid) {
            Some(i) => Some(i),
            // Its layer stopped flowing (not the link's doing): what fits, and straight back to
            // that layer when it returns and fits.
            None => return fresh(best_fit, Some(rid)),
        },
        Some(Target::Paused) => None,
        // New to this subscriber (or no estimate until now): what fits, without waiting; if nothing
        // does, the lowest layer until the pause hold says otherwise (a first estimate is rough).
        None | Some(Target::Best) if best_fit.is_some() => return fresh(best_fit, None),
        None | Some(Target::Best) => Some(0),
    };
    let state = state.unwrap_or_default();
    let lost = state.lost;
    if let Some(c) = current
        && layers[c].bps > budget
    {
        if best_fit.is_some() {
            return fresh(best_fit, None); // down at once
        }
        // Nothing fits: down to the lowest layer at once, paused only once that lasted.
        let since = state.short_since.filter(|_| c == 0).unwrap_or(now);
        if now.saturating_duration_since(since) >= PAUSE_HOLD {
            return fresh(None, None);
        }
        let lowest = Some(0);
        let held = TrackState { target: target_of(layers, lowest), short_since: Some(since), ..TrackState::default() };
        return (lowest, held);
    }
    // The layers above the current one that fit with headroom, each since when it has.
    let above = current.map_or(0, |c| c + 1);
    let fits: Vec<(Option<Rid>, Instant)> = layers[above.min(layers.len())..]
        .iter()
        .filter(|l| l.bps * UP_HEADROOM.0 <= budget * UP_HEADROOM.1)
        .map(|l| {
            let since = state.fits.iter().find(|(rid, _)| *rid == l.rid).map_or(now, |(_, t)| *t);
            (l.rid, since)
        })
        .collect();
    // The best layer that held long enough, or the lost one back as soon as it fits.
    let up = layers.iter().enumerate().skip(above).rev().find(|(_, l)| {
        fits.iter().any(|(rid, since)| {
            *rid == l.rid && (lost == Some(l.rid) || now.saturating_duration_since(*since) >= UP_HOLD)
        })
    });
    match up {
        Some((i, _)) => {
            // The layers above the new one keep the time they have held.
            let fits = fits.into_iter().filter(|(rid, _)| layers[i + 1..].iter().any(|l| l.rid == *rid)).collect();
            (Some(i), TrackState { target: target_of(layers, Some(i)), fits, lost: None, short_since: None })
        }
        None => (current, TrackState { target: target_of(layers, current), fits, lost, short_since: None }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);
    const MS: Duration = Duration::from_millis(1);
    const CAM: TrackId = TrackId(1);
    const SLIDES: TrackId = TrackId(2);

    fn layers(rates: &[(&str, u64)]) -> Vec<Layer> {
        rates.iter().map(|(r, k)| Layer { rid: Some(Rid::from(*r)), bps: k * 1000 }).collect()
    }

    /// The room camera in three layers: 150, 500 and 1500 kbit/s.
    fn camera() -> VideoTrack {
        VideoTrack {
            track: CAM,
            priority: Priority::RoomCamera,
            layers: layers(&[("q", 150), ("h", 500), ("f", 1500)]),
        }
    }

    fn slides(kbps: u64) -> VideoTrack {
        VideoTrack { track: SLIDES, priority: Priority::Slides, layers: vec![Layer { rid: None, bps: kbps * 1000 }] }
    }

    fn layer(r: &str) -> Target {
        Target::Layer(Some(Rid::from(r)))
    }

    /// Runs the allocator every 500 ms from `from` for `span` at `kbps`; returns the last allocation.
    fn run(a: &mut Allocator, from: Instant, span: Duration, kbps: u64, tracks: &[VideoTrack]) -> Allocation {
        a.set_twcc(kbps * 1000);
        let mut last = a.allocate(from, 1, tracks);
        let mut t = Duration::ZERO;
        while t < span {
            t += 500 * MS;
            last = a.allocate(from + t, 1, tracks);
        }
        last
    }

    #[test]
    fn without_an_estimate_every_track_gets_its_best() {
        let mut a = Allocator::default();
        let got = a.allocate(Instant::now(), 1, &[camera()]);
        assert_eq!(got.targets, vec![(CAM, Target::Best)]);
        assert_eq!(got.level, QualityLevel::Good);
    }

    #[test]
    fn a_link_that_fits_everything_gets_every_top_layer() {
        let mut a = Allocator::default();
        let got = run(&mut a, Instant::now(), S, 5000, &[camera(), slides(300)]);
        assert_eq!(got.targets, vec![(CAM, layer("f")), (SLIDES, Target::Layer(None))]);
        assert_eq!(got.level, QualityLevel::Good);
        assert_eq!(got.desired_bps, (48_000 + 1_500_000 + 300_000) * 6 / 5, "with the upgrade headroom");
        assert_eq!(got.minimum_bps, 0, "nothing left to step up to: no padding");
    }

    #[test]
    fn a_falling_estimate_moves_down_at_once() {
        let t0 = Instant::now();
        let mut a = Allocator::default();
        run(&mut a, t0, S, 5000, &[camera()]);
        a.set_twcc(600_000);
        let got = a.allocate(t0 + S + MS, 1, &[camera()]);
        assert_eq!(got.targets, vec![(CAM, layer("h"))], "no waiting on the way down");
        assert_eq!(got.level, QualityLevel::Reduced);
    }

    #[test]
    fn up_only_after_three_seconds_with_twenty_percent_headroom() {
        let t0 = Instant::now();
        let mut a = Allocator::default();
        assert_eq!(run(&mut a, t0, S, 600, &[camera()]).targets, vec![(CAM, layer("h"))]);
        // 1500 kbit/s plus the audio reserve fits, but without 20 % headroom: stays down for good.
        let t1 = t0 + 2 * S;
        assert_eq!(run(&mut a, t1, 10 * S, 1600, &[camera()]).targets, vec![(CAM, layer("h"))]);
        // With headroom (1.2 × 1500 + 48): up only once it has held for 3 s.
        let t2 = t1 + 11 * S;
        assert_eq!(run(&mut a, t2, 2500 * MS, 1900, &[camera()]).targets, vec![(CAM, layer("h"))]);
        assert_eq!(a.allocate(t2 + 3 * S, 1, &[camera()]).targets, vec![(CAM, layer("f"))]);
    }

    #[test]
    fn a_link_that_recovered_goes_straight_to_the_best_layer_that_held() {
        let t0 = Instant::now();
        let mut a = Allocator::default();
        assert_eq!(run(&mut a, t0, S, 400, &[camera()]).targets, vec![(CAM, layer("q"))]);
        // The cap lifts: the estimate fits 640 wide at once and 1280 wide a second later.
        let t1 = t0 + 2 * S;
        assert_eq!(run(&mut a, t1, 500 * MS, 800, &[camera()]).targets, vec![(CAM, layer("q"))]);
        assert_eq!(
            run(&mut a, t1 + S, 1500 * MS, 2500, &[camera()]).targets,
            vec![(CAM, layer("q"))],
            "nothing held 3 s"
        );
        let got = a.allocate(t1 + 3 * S, 1, &[camera()]);
        assert_eq!(got.targets, vec![(CAM, layer("h"))], "640 wide held 3 s, 1280 wide only 2 s");
        assert_eq!(run(&mut a, t1 + 3500 * MS, Duration::ZERO, 2500, &[camera()]).targets, vec![(CAM, layer("h"))]);
        let got = a.allocate(t1 + 4 * S, 1, &[camera()]);
        assert_eq!(got.targets, vec![(CAM, layer("f"))], "1280's hold ran on through the switch to 640");
        // From the lowest layer straight to the top when both held: one switch, one keyframe.
        let mut b = Allocator::default();
        run(&mut b, t0, S, 400, &[camera()]);
        let got = run(&mut b, t0 + 2 * S, 2500 * MS, 2500, &[camera()]);
        assert_eq!(got.targets, vec![(CAM, layer("q"))]);
        assert_eq!(b.allocate(t0 + 5 * S, 1, &[camera()]).targets, vec![(CAM, layer("f"))]);
    }

    #[test]
    fn a_dip_restarts_the_hold_of_the_layers_it_no_longer_fits() {
        let t0 = Instant::now();
        let mut a = Allocator::default();
        run(&mut a, t0, S, 400, &[camera()]);
        let t1 = t0 + 2 * S;
        run(&mut a, t1, 2500 * MS, 2500, &[camera()]);
        // A dip that still fits 640 wide with headroom, not 1280: 640's hold runs on, 1280's restarts.
        run(&mut a, t1 + 2600 * MS, Duration::ZERO, 1000, &[camera()]);
        assert_eq!(a.allocate(t1 + 3 * S, 1, &[camera()]).targets, vec![(CAM, layer("h"))]);
        assert_eq!(run(&mut a, t1 + 3500 * MS, 2500 * MS, 2500, &[camera()]).targets, vec![(CAM, layer("h"))]);
        assert_eq!(a.allocate(t1 + 6500 * MS, 1, &[camera()]).targets, vec![(CAM, layer("f"))]);
    }

    #[test]
    fn an_estimate_hovering_at_the_threshold_does_not_flap() {
        let t0 = Instant::now();
        let mut a = Allocator::default();
        run(&mut a, t0, S, 600, &[camera()]);
        // Above the upgrade threshold for 2.5 s, then a dip, again and again: never up.
        let mut t = t0 + 2 * S;
        for _ in 0..10 {
            assert_eq!(run(&mut a, t, 2500 * MS, 1900, &[camera()]).targets, vec![(CAM, layer("h"))]);
            t += 3 * S;
            assert_eq!(run(&mut a, t, Duration::ZERO, 1700, &[camera()]).targets, vec![(CAM, layer("h"))]);
            t += 500 * MS;
        }
        // And a layer that fits stays while the estimate wobbles above it.
        let mut switches = 0;
        let mut last = layer("h");
        for i in 0..40u32 {
            let kbps = if i % 2 == 0 { 560 } else { 1700 };
            let got = run(&mut a, t + i * 500 * MS, Duration::ZERO, kbps, &[camera()]).targets[0].1;
            switches += usize::from(got != last);
            last = got;
        }
        assert_eq!(switches, 0);
    }

    #[test]
    fn below_the_lowest_layer_the_video_pauses_and_resumes_when_it_fits_again() {
        let t0 = Instant::now();
        let mut a = Allocator::default();
        let got = run(&mut a, t0, S, 150, &[camera()]);
        assert_eq!(got.targets, vec![(CAM, layer("q"))], "a first estimate is rough: the lowest layer, held");
        let got = run(&mut a, t0 + 1500 * MS, 3 * S, 150, &[camera()]);
        assert_eq!(got.targets, vec![(CAM, Target::Paused)], "150 kbit/s minus audio cannot carry 150 for 4 s");
        assert_eq!(got.level, QualityLevel::AudioOnly);
        assert_eq!(got.minimum_bps, got.desired_bps, "padding to grow the estimate (never beyond it)");
        let t1 = t0 + 2 * S;
        assert_eq!(run(&mut a, t1, 2 * S, 400, &[camera()]).targets, vec![(CAM, Target::Paused)], "not yet");
        assert_eq!(run(&mut a, t1 + 2 * S, 1500 * MS, 400, &[camera()]).targets, vec![(CAM, layer("q"))]);
    }

    #[test]
    fn a_short_dip_below_the_lowest_layer_does_not_pause_a_longer_one_does() {
        let t0 = Instant::now();
        let mut a = Allocator::default();
        assert_eq!(run(&mut a, t0, S, 600, &[camera()]).targets, vec![(CAM, layer("h"))]);
        let dip = t0 + 2 * S;
        assert_eq!(
            run(&mut a, dip, 3500 * MS, 100, &[camera()]).targets,
            vec![(CAM, layer("q"))],
            "lowest layer, held"
        );
        assert_eq!(run(&mut a, dip + 4 * S, Duration::ZERO, 600, &[camera()]).targets, vec![(CAM, layer("q"))]);
        let long = dip + 5 * S;
        assert_eq!(run(&mut a, long, 3500 * MS, 100, &[camera()]).targets, vec![(CAM, layer("q"))]);
        assert_eq!(a.allocate(long + 4 * S, 1, &[camera()]).targets, vec![(CAM, Target::Paused)], "4 s below: paused");
    }

    #[test]
    fn slides_are_kept_before_the_camera() {
        let t0 = Instant::now();
        let mut a = Allocator::default();
        // Camera first in the list; slides still served first.
        let got = run(&mut a, t0, S, 700, &[camera(), slides(400)]);
        assert_eq!(got.targets, vec![(CAM, layer("q")), (SLIDES, Target::Layer(None))]);
        let got = run(&mut a, t0 + 2 * S, 5 * S, 450, &[camera(), slides(400)]);
        assert_eq!(got.targets, vec![(CAM, Target::Paused), (SLIDES, Target::Layer(None))]);
        assert_eq!(got.level, QualityLevel::Reduced, "the slides still show");
    }

    #[test]
    fn the_audio_only_toggle_pauses_all_video_until_switched_off() {
        let t0 = Instant::now();
        let mut a = Allocator::default();
        run(&mut a, t0, S, 5000, &[camera(), slides(400)]);
        a.set_audio_only(true);
        let got = a.allocate(t0 + 2 * S, 1, &[camera(), slides(400)]);
        assert_eq!(got.targets, vec![(CAM, Target::Paused), (SLIDES, Target::Paused)]);
        assert_eq!(got.level, QualityLevel::AudioOnly);
        assert_eq!(got.desired_bps, 48_000, "no probing for video nobody wants");
        a.set_audio_only(false);
        // Back at once, even on an estimate that idled low meanwhile (the lowest layer, held).
        a.set_twcc(200_000);
        let got = a.allocate(t0 + 3 * S, 1, &[camera(), slides(400)]);
        assert_eq!(got.targets, vec![(CAM, layer("q")), (SLIDES, Target::Layer(None))]);
        let got = run(&mut a, t0 + 3 * S, 3 * S, 5000, &[camera(), slides(400)]);
        assert_eq!(got.targets[1], (SLIDES, Target::Layer(None)));
        assert_ne!(got.targets[0].1, Target::Paused);
    }

    #[test]
    fn a_track_with_nothing_flowing_keeps_its_best_and_reserves_nothing() {
        let silent = VideoTrack { track: TrackId(3), priority: Priority::Slides, layers: Vec::new() };
        let mut a = Allocator::default();
        let got = run(&mut a, Instant::now(), S, 700, &[silent, camera()]);
        assert_eq!(got.targets, vec![(TrackId(3), Target::Best), (CAM, layer("h"))]);
    }

    #[test]
    fn a_layer_that_stopped_flowing_is_taken_back_when_it_returns_and_fits() {
        let t0 = Instant::now();
        let mut a = Allocator::default();
        assert_eq!(run(&mut a, t0, S, 5000, &[camera()]).targets, vec![(CAM, layer("f"))]);
        let mut two = camera();
        two.layers.pop();
        assert_eq!(run(&mut a, t0 + 2 * S, S, 5000, &[two.clone()]).targets, vec![(CAM, layer("h"))]);
        assert_eq!(a.allocate(t0 + 3 * S + MS, 1, &[camera()]).targets, vec![(CAM, layer("f"))], "no 3 s wait");
        // Lost to the link instead: the usual wait.
        run(&mut a, t0 + 4 * S, Duration::ZERO, 700, &[camera()]);
        assert_eq!(run(&mut a, t0 + 5 * S, 2 * S, 5000, &[camera()]).targets, vec![(CAM, layer("h"))]);
    }

    #[test]
    fn absurd_estimates_are_clamped() {
        let mut a = Allocator::default();
        a.set_remb(10_000_000_000);
        assert_eq!(a.estimate(), Some(MAX_ESTIMATE_BPS));
        a.set_remb(0);
        let t0 = Instant::now();
        a.allocate(t0, 1, &[camera()]);
        let got = a.allocate(t0 + PAUSE_HOLD, 1, &[camera()]);
        assert_eq!(got.targets, vec![(CAM, Target::Paused)]);
        a.set_twcc(3_000_000);
        assert_eq!(a.estimate(), Some(0), "the lower of both kinds");
    }
}
