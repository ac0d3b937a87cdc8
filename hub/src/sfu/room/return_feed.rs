//! The classroom's return feed: a fixed set of m-lines (the appliance offers, e.g., three audio and
//! one video) whose sources the hub switches without renegotiation — the loudest remote
//! participants' audio and the active speaker's video (a screen share when one is on), with a
//! keyframe on every video switch.

use std::time::{Duration, Instant};

use lectern_proto::signal::MediaKind as WireKind;
use lectern_proto::{ParticipantId, Role, TrackId};
use str0m::media::MediaKind;

use super::Room;
use crate::sfu::peer::PeerKey;
use crate::sfu::peer_table::PeerTable;

/// How often slots are re-chosen; speaker changes are held for longer than this anyway.
const EVERY: Duration = Duration::from_millis(250);

/// What a room's return feeds should carry now.
struct Choice {
    audio: Vec<(TrackId, ParticipantId)>,
    /// A remote screen share wins over any camera: it is what the class is looking at.
    screen: Option<(TrackId, ParticipantId)>,
    /// The active speaker's camera, if they have one.
    speaker_video: Option<(TrackId, ParticipantId)>,
    /// Any remote camera, for when nobody has spoken yet.
    any_video: Option<(TrackId, ParticipantId)>,
}

impl Room {
    /// Re-chooses the sources of the room's return feeds if they are due.
    pub(super) fn select_return_feeds(&mut self, peers: &mut PeerTable, now: Instant) {
        let feeds: Vec<PeerKey> =
            self.participants.values().filter(|p| p.is_return_feed()).filter_map(|p| p.subscribe).collect();
        if feeds.is_empty() || self.last_selection.is_some_and(|t| now.saturating_duration_since(t) < EVERY) {
            return;
        }
        self.last_selection = Some(now);
        let choice = choose(self, now);
        let mut switched: Vec<(TrackId, PeerKey)> = Vec::new();
        for key in feeds {
            let Some(peer) = peers.get_mut(key) else { continue };
            let current_video = peer.downs.iter().find(|d| d.kind == WireKind::Video).and_then(|d| d.source);
            let current = current_video.and_then(|t| self.tracks.get(&t).map(|u| (t, u.owner)));
            let video = choice.screen.or(choice.speaker_video).or(current).or(choice.any_video);
            // Audio: keep slots whose source is still among the loudest, refill the others.
            let mut wanted: Vec<(TrackId, ParticipantId)> = choice.audio.clone();
            for d in peer.downs.iter_mut().filter(|d| d.kind == WireKind::Audio) {
                if let Some(pos) = d.source.and_then(|s| wanted.iter().position(|(t, _)| *t == s)) {
                    wanted.remove(pos);
                } else {
                    d.source = None;
                    d.owner = None;
                }
            }
            for d in peer.downs.iter_mut().filter(|d| d.kind == WireKind::Audio && d.source.is_none()) {
                let Some((t, owner)) = wanted.first().copied() else { break };
                wanted.remove(0);
                d.source = Some(t);
                d.owner = Some(owner);
                d.rebase.switch();
            }
            if let Some(d) = peer.downs.iter_mut().find(|d| d.kind == WireKind::Video)
                && d.source != video.map(|v| v.0)
            {
                d.source = video.map(|v| v.0);
                d.owner = video.map(|v| v.1);
                d.rebase.switch();
                if let Some((t, _)) = video {
                    switched.push((t, key));
                }
            }
            peers.mark_dirty(key);
        }
        for (track, key) in switched {
            // A switched slot shows garbage until the new source's next keyframe.
            self.start_viewer(peers, track, key, now);
        }
    }
}

/// Loudest remote audio; the active speaker's camera, else any remote camera.
fn choose(room: &mut Room, now: Instant) -> Choice {
    // Only the classroom's space: while it stays in the main room, students in breakout groups are
    // not played in the room.
    let here = room.classroom.classroom_location();
    let remote = |room: &Room, owner: ParticipantId| {
        room.participants.get(&owner).is_some_and(|p| p.role() != Role::Device && room.space_of(p) == here)
    };
    let audio: Vec<(TrackId, ParticipantId)> = room
        .speakers
        .loudest(now)
        .into_iter()
        .filter_map(|t| room.tracks.get(&t).map(|u| (t, u.owner)))
        .filter(|(_, o)| remote(room, *o))
        .collect();
    let video_of = |room: &Room, who: ParticipantId| {
        room.tracks.iter().find(|(_, u)| u.owner == who && u.kind == MediaKind::Video).map(|(t, _)| (*t, who))
    };
    let speaker = room.speakers.active_speaker(now);
    let speaker_video = speaker.and_then(|p| video_of(room, p));
    let any_video = room
        .tracks
        .iter()
        .find(|(_, u)| u.kind == MediaKind::Video && remote(room, u.owner))
        .map(|(t, u)| (*t, u.owner));
    // The classroom box's own laptop is already on the room's screen: never send it back.
    let screen = room.tracks.iter().find(|(_, u)| u.screen && remote(room, u.owner)).map(|(t, u)| (*t, u.owner));
    Choice { audio, screen, speaker_video, any_video }
}
