//! Who the classroom should hear and see: the loudest few audio tracks and one active speaker,
//! from RFC 6464 audio levels. Smoothed and with hysteresis, so the room display does not flicker
//! between two students talking over each other. Pure: levels and time are inputs.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use lectern_proto::{ParticipantId, TrackId};

/// How many audio tracks the return feed mixes (the appliance plays them all).
pub const AUDIO_SLOTS: usize = 3;
/// A new active speaker must have led for this long before the video switches.
pub const SWITCH_HOLD: Duration = Duration::from_millis(1500);
/// A track with no level report for this long counts as silent.
const STALE: Duration = Duration::from_millis(1000);
/// Weight of the newest sample in the moving average (per packet, ~50 per second).
const SMOOTHING: f32 = 0.08;
/// Level below which a track is not "speaking" at all (RFC 6464: 127 = silence, in -dBov).
const SILENCE_DBOV: f32 = 70.0;

#[derive(Debug, Clone)]
struct Loudness {
    owner: ParticipantId,
    /// Smoothed loudness, 0 (silent) to 127 (loudest): 127 - dBov.
    level: f32,
    last_seen: Instant,
}

#[derive(Debug, Default)]
pub struct SpeakerSelector {
    tracks: HashMap<TrackId, Loudness>,
    active: Option<ParticipantId>,
    /// The challenger for `active` and since when it has led.
    leading: Option<(ParticipantId, Instant)>,
}

impl SpeakerSelector {
    /// An audio packet of `track` (owned by `owner`) carried an RFC 6464 level in dBov as str0m
    /// reports it: 0 is the loudest, -127 silence (the sign is ignored).
    pub fn observe(&mut self, track: TrackId, owner: ParticipantId, level_dbov: i8, now: Instant) {
        let loud = 127.0 - f32::from(i16::from(level_dbov).abs().min(127));
        let e = self.tracks.entry(track).or_insert(Loudness { owner, level: 0.0, last_seen: now });
        e.level += SMOOTHING * (loud - e.level);
        e.last_seen = now;
    }

    pub fn remove_track(&mut self, track: TrackId) {
        self.tracks.remove(&track);
    }

    pub fn remove_participant(&mut self, who: ParticipantId) {
        self.tracks.retain(|_, l| l.owner != who);
        if self.active == Some(who) {
            self.active = None;
        }
        if self.leading.is_some_and(|(p, _)| p == who) {
            self.leading = None;
        }
    }

    fn current(&self, now: Instant) -> impl Iterator<Item = (TrackId, &Loudness)> {
        self.tracks
            .iter()
            .filter(move |(_, l)| now.saturating_duration_since(l.last_seen) < STALE)
            .map(|(t, l)| (*t, l))
    }

    /// The loudest tracks now, loudest first, at most `AUDIO_SLOTS`, silent ones left out.
    pub fn loudest(&self, now: Instant) -> Vec<TrackId> {
        let mut v: Vec<(TrackId, f32)> =
            self.current(now).filter(|(_, l)| l.level > 127.0 - SILENCE_DBOV).map(|(t, l)| (t, l.level)).collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        v.into_iter().take(AUDIO_SLOTS).map(|(t, _)| t).collect()
    }

    /// Updates and returns the active speaker; it changes only after a challenger led for [`SWITCH_HOLD`].
    pub fn active_speaker(&mut self, now: Instant) -> Option<ParticipantId> {
        let top = self.loudest(now).first().and_then(|t| self.tracks.get(t)).map(|l| l.owner);
        match (top, self.active) {
            (None, _) => self.leading = None,
            (Some(p), None) => {
                self.active = Some(p);
                self.leading = None;
            }
            (Some(p), Some(a)) if p == a => self.leading = None,
            (Some(p), Some(_)) => match self.leading {
                Some((q, since)) if q == p => {
                    if now.saturating_duration_since(since) >= SWITCH_HOLD {
                        self.active = Some(p);
                        self.leading = None;
                    }
                }
                _ => self.leading = Some((p, now)),
            },
        }
        self.active
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// Feeds 20 ms packets for `dur` with the given (track, owner, dBov) speakers.
    fn talk(s: &mut SpeakerSelector, t0: Instant, dur: Duration, speakers: &[(u64, u64, i8)]) -> Instant {
        let mut now = t0;
        while now < t0 + dur {
            for &(t, p, db) in speakers {
                s.observe(TrackId(t), ParticipantId(p), db, now);
            }
            s.active_speaker(now);
            now += 20 * MS;
        }
        now
    }

    #[test]
    fn loudest_three_are_chosen_and_silence_is_left_out() {
        let mut s = SpeakerSelector::default();
        let t0 = Instant::now();
        let now = talk(&mut s, t0, 2000 * MS, &[(1, 1, 10), (2, 2, 30), (3, 3, 20), (4, 4, 40), (5, 5, 127)]);
        assert_eq!(s.loudest(now), vec![TrackId(1), TrackId(3), TrackId(2)]);
    }

    #[test]
    fn active_speaker_switches_only_after_the_hold_time() {
        let mut s = SpeakerSelector::default();
        let t0 = Instant::now();
        let now = talk(&mut s, t0, 2000 * MS, &[(1, 1, 20), (2, 2, 60)]);
        assert_eq!(s.active_speaker(now), Some(ParticipantId(1)));
        // Student 2 gets louder: a short burst does not switch the video.
        let now = talk(&mut s, now, 800 * MS, &[(1, 1, 60), (2, 2, 10)]);
        assert_eq!(s.active_speaker(now), Some(ParticipantId(1)), "no switch within the hold time");
        let now = talk(&mut s, now, 2000 * MS, &[(1, 1, 60), (2, 2, 10)]);
        assert_eq!(s.active_speaker(now), Some(ParticipantId(2)));
    }

    #[test]
    fn a_speaker_who_leaves_is_forgotten_and_stale_tracks_fall_silent() {
        let mut s = SpeakerSelector::default();
        let t0 = Instant::now();
        let now = talk(&mut s, t0, 1000 * MS, &[(1, 1, 10), (2, 2, 30)]);
        s.remove_participant(ParticipantId(1));
        assert_eq!(s.loudest(now), vec![TrackId(2)]);
        assert_eq!(s.active_speaker(now), Some(ParticipantId(2)));
        assert!(s.loudest(now + 2000 * MS).is_empty(), "no reports for 2 s: silent");
    }
}
