//! Each subscriber's share of its link: estimates in (str0m's transport-wide CC estimate or the
//! subscriber's REMB), an [`Allocator`] per subscriber choosing the layer of each video track it
//! receives, the estimator told what to probe for, and the browser told how its picture fares
//! (`quality`). The forwarder reads each DownTrack's `target` (see `forward`).

use std::time::{Duration, Instant};

use lectern_proto::signal::{MediaKind as WireKind, QualityLevel, ServerMsg};
use lectern_proto::stats::{ParticipantStats, RoomStats, TrackStats};
use lectern_proto::{ParticipantId, Role, TrackId};
use str0m::bwe::Bitrate;
use str0m::media::{MediaKind, Rid};

use super::Room;
use super::participant::UpTrack;
use crate::sfu::allocator::{Allocation, Allocator, Layer, Priority, Target, VideoTrack};
use crate::sfu::peer::{DownState, Peer};
use crate::sfu::peer_table::PeerTable;

/// How often every subscriber's allocation is re-run.
pub const ALLOCATION_INTERVAL: Duration = Duration::from_millis(500);
/// A browser is told of a changed quality at most this often.
const QUALITY_GAP: Duration = Duration::from_secs(1);
/// While a subscriber is below its wanted quality, the desired rate given to the estimator is
/// raised by [`PROBE_NUDGE_BPS`] for one allocation every [`PROBE_NUDGE_EVERY`]: str0m starts an
/// allocation probe (at the desired rate, at most twice the estimate) only when the desired rate
/// goes up, and without probes the estimate of a link that recovered climbs by a few % a second.
/// The period is how long a lifted cap can go unnoticed (measured on the bed, docs/network.md);
/// a probe is a burst of a few packets.
const PROBE_NUDGE_EVERY: Duration = Duration::from_secs(2);
/// ... and sooner, [`PROBE_NUDGE_RISING`] after the last nudge, when the estimate grew by
/// [`PROBE_RISE`] since then: a link that opened up is probed its way up in steps of a second.
/// An estimate wobbling under a cap (str0m's 3 s average moves ±15 % there) keeps the slow pace,
/// so the probes' bursts rarely hit the capped link's queue.
const PROBE_NUDGE_RISING: Duration = Duration::from_secs(1);
const PROBE_RISE: (u64, u64) = (5, 4);
const PROBE_NUDGE_BPS: u64 = 8_000;

/// One subscriber's bandwidth state, owned by the Room.
#[derive(Debug)]
pub(super) struct SubscriberBandwidth {
    pub alloc: Allocator,
    /// The last allocation's level (for the room's stats).
    level: Option<QualityLevel>,
    /// The last `quality` sent (a browser starts out assuming good), and when.
    sent: (QualityLevel, Vec<String>),
    sent_at: Option<Instant>,
    /// (minimum, desired) last given to the estimator.
    bitrate: (u64, u64),
    /// The last nudge while below the wanted quality: when, and the estimate then.
    nudge: Option<(Instant, u64)>,
}

impl Default for SubscriberBandwidth {
    fn default() -> Self {
        Self {
            alloc: Allocator::default(),
            level: None,
            sent: (QualityLevel::Good, Vec::new()),
            sent_at: None,
            bitrate: (0, 0),
            nudge: None,
        }
    }
}

impl SubscriberBandwidth {
    /// The (minimum, desired) rates to give the estimator, if they changed. While the subscriber is
    /// below its wanted quality the desired rate is nudged up for one allocation when
    /// [`nudge_due`] says so.
    fn bitrate_for(&mut self, allocation: &Allocation, now: Instant) -> Option<(u64, u64)> {
        let below = allocation.level != QualityLevel::Good && !self.alloc.audio_only();
        let estimate = self.alloc.estimate().unwrap_or(0);
        let nudged = below && nudge_due(self.nudge, estimate, now);
        if !below {
            self.nudge = None;
        } else if nudged {
            self.nudge = Some((now, estimate));
        }
        let bitrate = (allocation.minimum_bps, allocation.desired_bps + u64::from(nudged) * PROBE_NUDGE_BPS);
        (bitrate != self.bitrate).then(|| {
            self.bitrate = bitrate;
            bitrate
        })
    }

    /// The `quality` message to send, if the level or the paused set changed and the last one is
    /// at least [`QUALITY_GAP`] old.
    fn quality_due(
        &mut self,
        level: QualityLevel,
        paused: Vec<String>,
        estimate_kbps: Option<u32>,
        now: Instant,
    ) -> Option<ServerMsg> {
        let state = (level, paused);
        if state == self.sent || self.sent_at.is_some_and(|t| now.saturating_duration_since(t) < QUALITY_GAP) {
            return None;
        }
        let msg = ServerMsg::Quality { level: state.0, estimate_kbps, paused: state.1.clone() };
        self.sent = state;
        self.sent_at = Some(now);
        Some(msg)
    }
}

/// Whether the desired rate is to be nudged now, given the last nudge (when, at which estimate).
fn nudge_due(last: Option<(Instant, u64)>, estimate: u64, now: Instant) -> bool {
    let Some((at, then)) = last else { return true };
    let since = now.saturating_duration_since(at);
    since >= PROBE_NUDGE_EVERY || (since >= PROBE_NUDGE_RISING && estimate * PROBE_RISE.1 >= then * PROBE_RISE.0)
}

/// Sets each video DownTrack's target; returns the tracks that resume after a pause (they restart
/// from a keyframe, see `start_viewer`).
fn apply_targets(
    peer: &mut Peer,
    targets: &[(TrackId, Target)],
    videos: &[VideoTrack],
    estimate_kbps: Option<u32>,
) -> Vec<TrackId> {
    let mut resumed = Vec::new();
    let pid = peer.participant;
    for (track, target) in targets {
        let layers = videos.iter().find(|v| v.track == *track).map_or(&[][..], |v| &v.layers[..]);
        for d in peer.downs.iter_mut().filter(|d| d.source == Some(*track) && d.kind == WireKind::Video) {
            if d.target == *target {
                continue;
            }
            tracing::debug!(participant = %pid, %track, from = ?d.target, to = ?target, estimate = ?estimate_kbps, "layer allocation");
            let was_paused = d.target == Target::Paused;
            d.target = *target;
            if *target == Target::Paused {
                // It restarts at a keyframe: of the layer then wanted, or (one stream) the GOP cache.
                d.layer.reset();
            } else if steps_down(layers, d.layer.receiving(*track), *target) {
                // The link is short: the layer it receives stops at once instead of flowing on
                // until the lower one's keyframe (asked for now), which would fill the queue the
                // estimate just found and drive it further down (measured on the bed: estimates
                // of 120-170 kbit/s on a 600 kbit/s link). A frozen picture for a round trip
                // and an encoder's keyframe is the cheaper loss.
                d.layer.reset();
            } else if was_paused {
                d.rebase.switch();
                resumed.push(*track);
            }
        }
    }
    resumed
}

/// Whether `target` is a lower layer than `receiving`, both flowing (a layer that stopped
/// flowing costs the link nothing).
fn steps_down(layers: &[Layer], receiving: Option<Rid>, target: Target) -> bool {
    let Target::Layer(Some(to)) = target else { return false };
    let rank = |rid: Rid| layers.iter().position(|l| l.rid == Some(rid));
    matches!((receiving.and_then(rank), rank(to)), (Some(from), Some(to)) if to < from)
}

/// The mids of `peer`'s video m-lines that are paused now.
fn paused_mids(peer: &Peer) -> Vec<String> {
    peer.downs
        .iter()
        .filter(|d| d.kind == WireKind::Video && d.target == Target::Paused)
        .filter_map(|d| match d.state {
            DownState::Open(m) => Some(m.to_string()),
            _ => None,
        })
        .collect()
}

impl Room {
    /// A new estimate of the link towards participant `pid`.
    pub(super) fn on_estimate(&mut self, pid: ParticipantId, bps: u64, remb: bool, now: Instant) {
        let b = self.bandwidth.entry(pid).or_default();
        tracing::trace!(participant = %pid, bps, remb, "estimate");
        if remb {
            b.alloc.set_remb(bps);
        } else {
            b.alloc.set_twcc(bps);
        }
        self.next_allocation.get_or_insert(now);
    }

    /// The participant's "audio only" toggle; applied at once.
    pub fn set_audio_only(&mut self, peers: &mut PeerTable, pid: ParticipantId, on: bool, now: Instant) {
        if !self.participants.contains_key(&pid) {
            return;
        }
        self.bandwidth.entry(pid).or_default().alloc.set_audio_only(on);
        self.allocate_for(peers, pid, now);
    }

    /// Re-runs every subscriber's allocation when it is due.
    pub(super) fn allocate_due(&mut self, peers: &mut PeerTable, now: Instant) {
        if self.next_allocation.is_none_or(|t| now < t) {
            return;
        }
        self.bandwidth.retain(|pid, _| self.participants.contains_key(pid));
        let pids: Vec<ParticipantId> = self.bandwidth.keys().copied().collect();
        for pid in pids {
            self.allocate_for(peers, pid, now);
        }
        self.next_allocation = (!self.bandwidth.is_empty()).then_some(now + ALLOCATION_INTERVAL);
    }

    fn allocate_for(&mut self, peers: &mut PeerTable, pid: ParticipantId, now: Instant) {
        let Some(key) = self.participants.get(&pid).filter(|p| !p.is_return_feed()).and_then(|p| p.subscribe) else {
            return;
        };
        let Some(peer) = peers.get(key) else { return };
        let (audio, videos) = self.received_tracks(peer, now);
        let browser = self.participants.get(&pid).is_some_and(|p| p.is_browser());
        let Some(b) = self.bandwidth.get_mut(&pid) else { return };
        let allocation = b.alloc.allocate(now, audio, &videos);
        tracing::trace!(participant = %pid, estimate = ?b.alloc.estimate(), ?videos, ?allocation, "allocated");
        b.level = Some(allocation.level);
        let estimate_kbps = b.alloc.estimate().map(|e| u32::try_from(e / 1000).unwrap_or(u32::MAX));
        let bitrate = b.bitrate_for(&allocation, now);
        let Some(peer) = peers.get_mut(key) else { return };
        if let Some((minimum, desired)) = bitrate {
            peer.rtc.bwe().set_bitrate(Bitrate::bps(minimum), Bitrate::bps(desired));
        }
        let resumed = apply_targets(peer, &allocation.targets, &videos, estimate_kbps);
        let quality = browser.then(|| b.quality_due(allocation.level, paused_mids(peer), estimate_kbps, now)).flatten();
        if let Some(msg) = quality {
            tracing::info!(participant = %pid, ?msg, "quality");
            self.signal(pid, msg);
        }
        peers.mark_dirty(key);
        for track in resumed {
            self.start_viewer(peers, track, key, now);
        }
    }

    /// What subscriber `peer` receives: how many audio tracks, and its video tracks with their
    /// priority and measured layers.
    fn received_tracks(&self, peer: &Peer, now: Instant) -> (usize, Vec<VideoTrack>) {
        let (mut audio, mut videos) = (0, Vec::new());
        for d in peer.downs.iter().filter(|d| matches!(d.state, DownState::Open(_))) {
            let Some((track, up)) = d.source.and_then(|t| self.tracks.get(&t).map(|up| (t, up))) else { continue };
            match d.kind {
                WireKind::Audio => audio += 1,
                WireKind::Video => {
                    videos.push(VideoTrack { track, priority: self.priority(up), layers: layers_of(up, now) })
                }
            }
        }
        (audio, videos)
    }

    /// Slides and screen shares first, then the classroom box's camera, then everyone else's.
    fn priority(&self, up: &UpTrack) -> Priority {
        if up.screen {
            Priority::Slides
        } else if self.participants.get(&up.owner).is_some_and(|p| p.role() == Role::Device) {
            Priority::RoomCamera
        } else {
            Priority::Camera
        }
    }
}

/// The flowing layers of a video track, lowest rate first: its simulcast layers, or its one stream.
fn layers_of(up: &UpTrack, now: Instant) -> Vec<Layer> {
    if up.kind != MediaKind::Video {
        return Vec::new();
    }
    let layers: Vec<Layer> =
        up.layers.flowing(now).into_iter().map(|(rid, bps)| Layer { rid: Some(rid), bps }).collect();
    if !layers.is_empty() {
        return layers;
    }
    up.rate.bps(now).map(|bps| vec![Layer { rid: None, bps }]).unwrap_or_default()
}

impl Room {
    /// Per admitted participant: link estimate, layers received, pauses, loss.
    pub fn stats(&self, peers: &PeerTable) -> RoomStats {
        let participants = self
            .participants
            .values()
            .map(|p| {
                let b = self.bandwidth.get(&p.id());
                let peer = p.subscribe.and_then(|k| peers.get(k));
                let tracks: Vec<TrackStats> = peer
                    .map(|peer| {
                        peer.downs
                            .iter()
                            .filter_map(|d| {
                                let (DownState::Open(mid), Some(track), Some(from)) = (d.state, d.source, d.owner)
                                else {
                                    return None;
                                };
                                let target_rid = match d.target {
                                    Target::Layer(Some(r)) => Some(r.to_string()),
                                    _ => None,
                                };
                                Some(TrackStats {
                                    mid: mid.to_string(),
                                    from,
                                    kind: d.kind,
                                    rid: d.layer.receiving(track).map(|r| r.to_string()),
                                    target_rid,
                                    paused: d.target == Target::Paused,
                                })
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                ParticipantStats {
                    participant_id: p.id(),
                    name: p.ident.name.clone(),
                    role: p.role(),
                    estimate_kbps: b
                        .and_then(|b| b.alloc.estimate())
                        .map(|e| u32::try_from(e / 1000).unwrap_or(u32::MAX)),
                    level: b.and_then(|b| b.level),
                    audio_only: b.is_some_and(|b| b.alloc.audio_only()),
                    paused: tracks.iter().filter(|t| t.paused).count() as u32,
                    loss_pct: peer.and_then(|p| p.loss).map_or(0.0, |l| (l * 1000.0).round() / 10.0),
                    tracks,
                }
            })
            .collect();
        RoomStats { participants }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn only_a_switch_to_a_lower_flowing_layer_steps_down() {
        let rid = |r: &str| Rid::from(r);
        let layers: Vec<Layer> =
            ["q", "h", "f"].iter().enumerate().map(|(i, r)| Layer { rid: Some(rid(r)), bps: 150_000 << i }).collect();
        let to = |r: &str| Target::Layer(Some(rid(r)));
        assert!(steps_down(&layers, Some(rid("f")), to("q")));
        assert!(steps_down(&layers, Some(rid("h")), to("q")));
        assert!(!steps_down(&layers, Some(rid("q")), to("f")), "up waits for the keyframe on the old layer");
        assert!(!steps_down(&layers, None, to("q")), "nothing received yet");
        assert!(!steps_down(&layers[..2], Some(rid("f")), to("q")), "its layer stopped flowing: nothing to stop");
        assert!(!steps_down(&layers, Some(rid("f")), Target::Paused), "a pause is handled as such");
        assert!(!steps_down(&layers, Some(rid("f")), Target::Layer(None)));
    }

    fn reduced() -> Allocation {
        Allocation { targets: Vec::new(), level: QualityLevel::Reduced, desired_bps: 1_900_000, minimum_bps: 800_000 }
    }

    /// Runs `bitrate_for` every allocation interval for `span` with the estimate `kbps(t)`; returns
    /// the times (ms from `t0`) at which the desired rate went up (str0m's allocation probes).
    fn nudges(b: &mut SubscriberBandwidth, t0: Instant, span: Duration, kbps: impl Fn(Duration) -> u64) -> Vec<u128> {
        let (mut ups, mut desired, mut t) = (Vec::new(), b.bitrate.1, Duration::ZERO);
        while t <= span {
            b.alloc.set_twcc(kbps(t) * 1000);
            if let Some((_, d)) = b.bitrate_for(&reduced(), t0 + t) {
                if d > desired {
                    ups.push(t.as_millis());
                }
                desired = d;
            }
            t += ALLOCATION_INTERVAL;
        }
        ups
    }

    #[test]
    fn a_flat_estimate_below_the_wanted_quality_is_probed_every_two_seconds() {
        let mut b = SubscriberBandwidth::default();
        assert_eq!(nudges(&mut b, Instant::now(), Duration::from_secs(7), |_| 540), vec![0, 2000, 4000, 6000]);
        // An estimate wobbling under a cap is flat too.
        let mut b = SubscriberBandwidth::default();
        let wobble = |t: Duration| if t.as_millis().is_multiple_of(1000) { 470 } else { 560 };
        assert_eq!(nudges(&mut b, Instant::now(), Duration::from_secs(7), wobble), vec![0, 2000, 4000, 6000]);
    }

    #[test]
    fn a_rising_estimate_is_probed_every_second() {
        let mut b = SubscriberBandwidth::default();
        let t0 = Instant::now();
        // Flat under a cap for 6 s, then the link opens and the estimate grows 30 % a second.
        let ups = nudges(&mut b, t0, Duration::from_secs(10), |t| {
            let s = t.as_millis() as u64;
            if s < 6000 { 540 } else { 540 * 13u64.pow((s - 5000) as u32 / 1000) / 10u64.pow((s - 5000) as u32 / 1000) }
        });
        assert_eq!(ups, vec![0, 2000, 4000, 6000, 7000, 8000, 9000, 10000]);
    }

    #[test]
    fn no_nudge_at_the_wanted_quality_or_in_audio_only() {
        let t0 = Instant::now();
        let mut b = SubscriberBandwidth::default();
        b.alloc.set_twcc(3_000_000);
        let good = Allocation { level: QualityLevel::Good, minimum_bps: 0, ..reduced() };
        assert_eq!(b.bitrate_for(&good, t0), Some((0, 1_900_000)));
        assert_eq!(b.bitrate_for(&good, t0 + 10 * ALLOCATION_INTERVAL), None, "unchanged: nothing to tell str0m");
        b.alloc.set_audio_only(true);
        let audio_only = Allocation { level: QualityLevel::AudioOnly, desired_bps: 48_000, ..good };
        assert_eq!(b.bitrate_for(&audio_only, t0 + 20 * ALLOCATION_INTERVAL), Some((0, 48_000)));
        assert_eq!(b.bitrate_for(&audio_only, t0 + 20 * ALLOCATION_INTERVAL + 6000 * MS), None);
    }
}
