//! The uplink adaptation as the status endpoint shows it (`uplink` in `GET /status`).

use serde::Serialize;

use super::controller::Reason;

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct UplinkStatus {
    /// Whether the camera's bitrate follows the hub's reports (`video.adapt_bitrate`, and a
    /// camera this box encodes); `false` outside lessons too.
    pub enabled: bool,
    /// The camera sends less than configured because of the uplink.
    pub adapting: bool,
    /// Why the rate last moved or held: `clean`, `loss` (over 5 % lost), `queue` (the round trip
    /// well over its floor) or `hold` (some loss, or just after a cut).
    pub reason: Option<Reason>,
    /// The camera's total bitrate now (all simulcast layers), kbit/s.
    pub target_kbps: Option<u32>,
    /// Each layer's encoder bitrate now, main picture first, kbit/s.
    pub layers_kbps: Vec<u32>,
    /// The bounds of `target_kbps`: every layer at its floor, every layer as configured.
    pub min_kbps: Option<u32>,
    pub max_kbps: Option<u32>,
    /// The least round trip to the hub lately, the yardstick for a queue building up.
    pub rtt_floor_ms: Option<u64>,
    /// Keyframe requests (RTCP PLI + FIR) the hub sent this session.
    pub keyframe_requests: u64,
}
