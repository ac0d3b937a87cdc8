//! The sans-IO uplink controller: a loss-based rate controller in the style of GCC's loss part
//! (and Galène's): heavy loss cuts at once, a clean link climbs back gently, a queue building up
//! (the round trip well above its floor) holds or cuts before the loss shows. Time comes in with
//! every report; nothing here reads a clock or touches GStreamer.
//!
//! Two facts of this uplink shape the numbers. The hub reports only every 5 s (str0m sends
//! receiver reports for a stream without RTX at its audio interval), so a cut goes straight to
//! what the reports say got through, with a margin, instead of GCC's gentler `1 − loss/2` per
//! report; and the box sends no retransmissions, so a few percent of sustained loss already
//! breaks most frames: the cut threshold is 5 %, not GCC's 10 %.
//!
//! It steers one number, the camera's *budget* (all its simulcast layers together), between the
//! sum of the floors and the sum of the configured bitrates; `Ladder::split` turns the budget into
//! per-layer rates: the lower layers (which weak students watch) keep theirs while the main picture
//! gives way down to its floor, and only then are they lowered too.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Loss above this (a fraction) cuts the budget at once.
pub const CUT_LOSS: f64 = 0.05;
/// A cut aims this far under what got through (audio, packet overhead and the next report's
/// delay all need room).
const CUT_MARGIN: f64 = 0.85;
/// Loss under this lets the budget climb (between the two it holds).
pub const CLEAN_LOSS: f64 = 0.02;
/// After a cut, reports covering the time before it are not acted on again.
pub const CUT_HOLDOFF: Duration = Duration::from_millis(1500);
/// A clean link must stay clean this long after a cut before the budget climbs.
pub const CLIMB_AFTER: Duration = Duration::from_secs(2);
/// Growth per second far below the level where loss was last seen, and near it.
const FAST_CLIMB_PER_S: f64 = 1.06;
const SLOW_CLIMB_PER_S: f64 = 1.01;
/// "Near" the link's estimated capacity (what got through at the last cut): between these shares
/// of it. Well above it, the link has evidently more room and the estimate is forgotten.
const NEAR_CONGESTION: (f64, f64) = (0.9, 1.1);
/// The level where loss was seen is forgotten after this long without a cut (the link may have
/// been freed).
const FORGET_CONGESTION: Duration = Duration::from_secs(30);
/// The least a fast climb adds per second, so a low budget does not take minutes to recover.
const MIN_CLIMB_KBPS_PER_S: f64 = 10.0;
/// A round trip this far above its floor means a queue is building: no climbing.
pub const RTT_HOLD: Duration = Duration::from_millis(60);
/// This far above its floor, the queue is long: cut as for loss, by `RTT_CUT_FACTOR`.
pub const RTT_CUT: Duration = Duration::from_millis(150);
const RTT_CUT_FACTOR: f64 = 0.85;
/// The round-trip floor is the least seen over this window.
const RTT_WINDOW: Duration = Duration::from_secs(30);
/// The longest gap between reports counted as climbing time (a stalled thread or a silent hub
/// is not a clean link); a little over the hub's 5 s report interval.
const MAX_STEP: Duration = Duration::from_secs(6);
/// A lower simulcast layer goes no lower than this share of its configured bitrate...
const LAYER_FLOOR_DIVISOR: u32 = 4;
/// ...and never under this (the configuration's own floor for a layer).
const LAYER_MIN_KBPS: u32 = lectern_common::box_config::limits::LAYER_MIN_BITRATE_KBPS;

/// The camera's layers as configured: the main picture's ceiling and floor, the lower layers'
/// bitrates (top first, as `simulcast_encodings` orders them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ladder {
    pub top_kbps: u32,
    pub top_floor_kbps: u32,
    pub lower_kbps: Vec<u32>,
}

impl Ladder {
    fn lower_floor(kbps: u32) -> u32 {
        (kbps / LAYER_FLOOR_DIVISOR).max(LAYER_MIN_KBPS).min(kbps)
    }

    /// Every layer at its configured bitrate.
    pub fn ceiling(&self) -> u32 {
        self.top_kbps.saturating_add(self.lower_kbps.iter().sum())
    }

    /// Every layer at its floor.
    pub fn floor(&self) -> u32 {
        let top = self.top_floor_kbps.min(self.top_kbps);
        top.saturating_add(self.lower_kbps.iter().map(|&k| Self::lower_floor(k)).sum())
    }

    /// Per-layer bitrates (top first) for `budget`: the main picture gives way first, down to its
    /// floor; then the lower layers shrink alike towards theirs. Clamped to floor..=ceiling.
    pub fn split(&self, budget: u32) -> Vec<u32> {
        let budget = budget.clamp(self.floor(), self.ceiling());
        let lower: u32 = self.lower_kbps.iter().sum();
        let top_floor = self.top_floor_kbps.min(self.top_kbps);
        let top_share = budget.saturating_sub(lower);
        if top_share >= top_floor {
            return std::iter::once(top_share.min(self.top_kbps)).chain(self.lower_kbps.iter().copied()).collect();
        }
        let floors: Vec<u32> = self.lower_kbps.iter().map(|&k| Self::lower_floor(k)).collect();
        let (floor_sum, room) = (floors.iter().sum::<u32>(), lower - floors.iter().sum::<u32>());
        let spare = budget.saturating_sub(top_floor).saturating_sub(floor_sum);
        let share = if room == 0 { 0.0 } else { f64::from(spare) / f64::from(room) };
        let scaled = self.lower_kbps.iter().zip(&floors).map(|(&k, &f)| f + (f64::from(k - f) * share).round() as u32);
        std::iter::once(top_floor).chain(scaled).collect()
    }
}

/// What the hub's latest receiver reports say. `loss` is `None` when no new report arrived since
/// the previous sample (then nothing is decided on loss).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Feedback {
    /// Fraction lost (0–1), worst stream, of the reports that arrived since the last sample.
    pub loss: Option<f64>,
    pub rtt: Option<Duration>,
}

/// Why the budget last moved (or did not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// At the configured bitrate, or climbing back without trouble.
    Clean,
    /// Cut for loss over `CUT_LOSS` (5 %).
    Loss,
    /// Cut or held for a round trip well over its floor.
    Queue,
    /// Loss between the thresholds, or just after a cut: holding.
    Hold,
}

#[derive(Debug, Clone)]
pub struct Controller {
    ladder: Ladder,
    budget: f64,
    /// When the last new report arrived: climbing is paced by the time reports cover.
    last_report: Option<Instant>,
    last_cut: Option<Instant>,
    /// The link's capacity as estimated at the last cut (what got through), while remembered.
    congested_at: Option<f64>,
    /// The budget just before the last cut.
    cut_from: f64,
    /// The last time loss and round trip were both clean.
    clean_since: Option<Instant>,
    rtts: VecDeque<(Instant, Duration)>,
    reason: Reason,
}

impl Controller {
    /// Starts at the ceiling: the encoders start at their configured rates.
    pub fn new(ladder: Ladder) -> Self {
        let budget = f64::from(ladder.ceiling());
        Self {
            ladder,
            budget,
            last_report: None,
            last_cut: None,
            congested_at: None,
            cut_from: budget,
            clean_since: None,
            rtts: VecDeque::new(),
            reason: Reason::Clean,
        }
    }

    /// A pushed configuration: new bounds, the budget kept where it is inside them.
    pub fn set_ladder(&mut self, ladder: Ladder) {
        let (floor, ceiling) = (f64::from(ladder.floor()), f64::from(ladder.ceiling()));
        self.budget = self.budget.clamp(floor, ceiling);
        self.ladder = ladder;
    }

    pub fn ladder(&self) -> &Ladder {
        &self.ladder
    }

    /// The camera's total bitrate now, kbit/s.
    pub fn budget_kbps(&self) -> u32 {
        self.budget.round() as u32
    }

    /// Per-layer bitrates now, top first.
    pub fn layers_kbps(&self) -> Vec<u32> {
        self.ladder.split(self.budget_kbps())
    }

    /// Whether the budget is below the configured bitrates.
    pub fn adapting(&self) -> bool {
        self.budget_kbps() < self.ladder.ceiling()
    }

    pub fn reason(&self) -> Reason {
        self.reason
    }

    /// The least round trip seen lately, the yardstick for "a queue is building".
    pub fn rtt_floor(&self) -> Option<Duration> {
        self.rtts.iter().map(|&(_, r)| r).min()
    }

    /// Takes one sample of the hub's feedback; returns the new per-layer rates when they changed.
    pub fn handle_feedback(&mut self, feedback: Feedback, now: Instant) -> Option<Vec<u32>> {
        let before = self.layers_kbps();
        let mut step = Duration::ZERO;
        if feedback.loss.is_some() {
            step = self.last_report.map_or(Duration::from_secs(1), |t| now.saturating_duration_since(t)).min(MAX_STEP);
            self.last_report = Some(now);
        }
        let queue = self.queue_delay(feedback.rtt, now);
        if self.last_cut.is_some_and(|t| now.saturating_duration_since(t) > FORGET_CONGESTION) {
            self.congested_at = None;
        }
        let holding_off = self.last_cut.is_some_and(|t| now.saturating_duration_since(t) < CUT_HOLDOFF);
        let (floor, ceiling) = (f64::from(self.ladder.floor()), f64::from(self.ladder.ceiling()));
        match feedback.loss {
            Some(loss) if loss > CUT_LOSS => {
                let through = 1.0 - loss.min(1.0);
                // A report that began before the congestion understates the loss; a full queue
                // says it is still there.
                let queued = if queue >= RTT_CUT { RTT_CUT_FACTOR } else { 1.0 };
                if holding_off {
                    // Another stream's report, mostly about the time before the last cut: judged
                    // against the budget it covered, so acting on it twice changes nothing.
                    let target = self.cut_from * through * CUT_MARGIN * queued;
                    if target < self.budget {
                        self.budget = target;
                        let capacity = self.cut_from * through;
                        self.congested_at = Some(self.congested_at.map_or(capacity, |c| c.min(capacity)));
                    }
                } else {
                    self.cut(through * CUT_MARGIN * queued, through, now);
                }
                self.reason = Reason::Loss;
            }
            _ if queue >= RTT_CUT && !holding_off => {
                self.cut(RTT_CUT_FACTOR, 1.0, now);
                self.reason = Reason::Queue;
            }
            Some(loss) if loss < CLEAN_LOSS && queue < RTT_HOLD => {
                let clean_since = *self.clean_since.get_or_insert(now);
                let settled = now.saturating_duration_since(clean_since) >= CLIMB_AFTER
                    || self.last_cut.is_none_or(|t| now.saturating_duration_since(t) >= CLIMB_AFTER);
                if settled && self.budget < ceiling {
                    self.climb(step);
                }
                self.reason = if settled { Reason::Clean } else { Reason::Hold };
            }
            // No new report: nothing learnt, nothing changes.
            None if queue < RTT_HOLD => {}
            _ => {
                self.clean_since = None;
                self.reason = if queue >= RTT_HOLD { Reason::Queue } else { Reason::Hold };
            }
        }
        self.budget = self.budget.clamp(floor, ceiling);
        let after = self.layers_kbps();
        (after != before).then_some(after)
    }

    /// How far the round trip is above its recent floor (zero when unknown).
    fn queue_delay(&mut self, rtt: Option<Duration>, now: Instant) -> Duration {
        let Some(rtt) = rtt.filter(|r| !r.is_zero()) else { return Duration::ZERO };
        while self.rtts.front().is_some_and(|&(t, _)| now.saturating_duration_since(t) > RTT_WINDOW) {
            self.rtts.pop_front();
        }
        self.rtts.push_back((now, rtt));
        rtt.saturating_sub(self.rtt_floor().unwrap_or(rtt))
    }

    /// Cuts to `factor` of the budget; `capacity` is the share of it that got through (the
    /// link's estimate, remembered so the climb slows down before reaching it again).
    fn cut(&mut self, factor: f64, capacity: f64, now: Instant) {
        // Cuts that only bump into the floor say nothing about where the link congests.
        if self.budget > f64::from(self.ladder.floor()) + 1.0 {
            self.congested_at = Some(self.budget * capacity);
        }
        self.cut_from = self.budget;
        self.budget *= factor;
        self.last_cut = Some(now);
        self.clean_since = None;
    }

    /// Fast up to just under the estimated capacity, slowly through it, fast again well past it
    /// (the link was freed).
    fn climb(&mut self, step: Duration) {
        let (low, high) = NEAR_CONGESTION;
        if self.congested_at.is_some_and(|c| self.budget > high * c) {
            self.congested_at = None;
        }
        let secs = step.as_secs_f64();
        let slow = self.budget * SLOW_CLIMB_PER_S.powf(secs);
        let fast = (self.budget * FAST_CLIMB_PER_S.powf(secs)).max(self.budget + MIN_CLIMB_KBPS_PER_S * secs);
        self.budget = match self.congested_at {
            Some(c) if self.budget >= low * c => slow,
            Some(c) => fast.min(low * c).max(slow),
            None => fast,
        };
    }
}

#[cfg(test)]
#[path = "controller_tests.rs"]
mod tests;
