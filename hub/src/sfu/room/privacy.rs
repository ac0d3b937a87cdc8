//! The lesson's view mode. With the policy's `studentsSeeEachOther` off ("students see only the
//! teacher and the room"), a student's or viewer's browser is never offered another student's
//! camera, and one already flowing is withdrawn when a teacher switches the mode mid-lesson.
//! Teachers and the room display still get every camera; audio and a shared screen reach everyone.
//!
//! Breakout groups partition the room the same way: a track reaches a subscriber only when both are
//! in the same space (a group, or the main room), whatever its kind. Moving someone is this module
//! re-run ([`Room::follow_view_mode`]): their subscribe connection is renegotiated, never replaced.

use std::time::Instant;

use lectern_proto::breakout::GroupId;
use lectern_proto::{ParticipantId, Role, TrackId};
use str0m::media::MediaKind;

use super::Room;
use super::participant::{Participant, UpTrack};
use super::subscription::stop_downs;
use crate::sfu::peer::DownState;
use crate::sfu::peer_table::PeerTable;

impl Room {
    /// Whether the view mode keeps `up` from reaching `sub`.
    pub(super) fn hidden_from(&self, sub: &Participant, up: &UpTrack) -> bool {
        if self.participants.get(&up.owner).is_some_and(|owner| self.space_of(owner) != self.space_of(sub)) {
            return true; // in different breakout spaces
        }
        if self.classroom.policy().students_see_each_other || up.kind != MediaKind::Video || up.screen {
            return false;
        }
        let student_camera = self.participants.get(&up.owner).is_some_and(|p| p.role() == Role::Student);
        student_camera && sub.id() != up.owner && matches!(sub.role(), Role::Student | Role::Viewer)
    }

    /// Which space a participant is in: a breakout group, or the main room (`None`). The classroom
    /// box's own connections (its WHIP publish, its return feed) are the physical classroom.
    pub(super) fn space_of(&self, p: &Participant) -> Option<GroupId> {
        if p.role() == Role::Device || p.is_return_feed() {
            self.classroom.classroom_location()
        } else {
            self.classroom.location_of(p.id())
        }
    }

    /// The view mode or the breakout groups may have changed: each browser gets exactly the
    /// tracks it now may receive.
    pub(super) fn follow_view_mode(&mut self, peers: &mut PeerTable, now: Instant) {
        let subscribers: Vec<ParticipantId> =
            self.participants.values().filter(|p| p.is_browser() && p.role().can_subscribe()).map(|p| p.id()).collect();
        for sub in subscribers {
            let Some(participant) = self.participants.get(&sub) else { continue };
            let (hidden, shown): (Vec<TrackId>, Vec<TrackId>) = self
                .tracks
                .iter()
                .filter(|(_, up)| up.owner != sub)
                .map(|(id, up)| (*id, self.hidden_from(participant, up)))
                .fold((Vec::new(), Vec::new()), |(mut h, mut s), (id, hide)| {
                    if hide {
                        h.push(id)
                    } else {
                        s.push(id)
                    }
                    (h, s)
                });
            let key = participant.subscribe;
            let flowing: Vec<TrackId> = key
                .and_then(|k| peers.get(k))
                .map(|peer| {
                    peer.downs
                        .iter()
                        .filter(|d| !matches!(d.state, DownState::ToStop(_) | DownState::Stopping(_)))
                        .filter_map(|d| d.source)
                        .collect()
                })
                .unwrap_or_default();
            let withdraw: Vec<TrackId> = hidden.into_iter().filter(|t| flowing.contains(t)).collect();
            if let Some(k) = key
                && !withdraw.is_empty()
            {
                tracing::info!(room = %self.id, participant = %sub, tracks = withdraw.len(), "view mode: cameras withdrawn");
                stop_downs(peers, k, &withdraw);
            }
            for track in shown.into_iter().filter(|t| !flowing.contains(t)) {
                self.add_down(peers, sub, track, now);
            }
        }
    }
}
