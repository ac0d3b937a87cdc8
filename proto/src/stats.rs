//! `GET /api/rooms/{room}/stats` (teacher token of the room): per participant, what the hub
//! estimates its link carries and which layer of each video track it receives. Read by the
//! teacher's people list and the admin's device page.

use serde::{Deserialize, Serialize};

use crate::signal::{MediaKind, QualityLevel};
use crate::{ParticipantId, Role};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomStats {
    pub participants: Vec<ParticipantStats>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParticipantStats {
    pub participant_id: ParticipantId,
    pub name: String,
    pub role: Role,
    /// The hub's estimate of the link towards this participant; `null` before one exists.
    pub estimate_kbps: Option<u32>,
    /// How its allocation serves it (what its page's indicator shows): `good` (every video on the
    /// layer it wants), `reduced` (a lower layer somewhere), `audioOnly` (all video paused, by the
    /// link or by choice, see `audioOnly`); `null` before its first allocation.
    pub level: Option<QualityLevel>,
    /// The participant switched "audio only" on.
    pub audio_only: bool,
    /// Video tracks not sent to it now.
    pub paused: u32,
    /// Packets lost towards it, in percent, from its last receiver reports (0 when none came).
    pub loss_pct: f32,
    pub tracks: Vec<TrackStats>,
}

/// One track the participant receives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrackStats {
    pub mid: String,
    /// The publisher.
    pub from: ParticipantId,
    pub kind: MediaKind,
    /// The simulcast layer received now (`null`: a single-stream track, or none yet).
    pub rid: Option<String>,
    /// The layer the allocator chose (`null`: the track's best, or a single stream).
    pub target_rid: Option<String>,
    pub paused: bool,
}
