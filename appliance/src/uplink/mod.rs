//! The box adapts to its uplink: GStreamer 1.22's webrtcbin does not act on the hub's RTCP
//! feedback itself, so this reads the hub's receiver reports (loss, round trip) from webrtcbin's
//! statistics once a second and lowers or raises the camera encoders' bitrates within the
//! configured bounds. Start with `controller` (the sans-IO decision), then `task` (the thread).

pub mod controller;
mod feedback;
mod status;
mod task;

pub use controller::{Controller, Feedback, Ladder, Reason};
pub use feedback::{FeedbackReader, Reading};
pub use status::UplinkStatus;
pub use task::{Adapter, PERIOD, UplinkTask};

use crate::media::{VideoSettings, simulcast_encodings};

/// The camera's bounds for `video`; `None` when its bitrate is not to follow the uplink.
pub fn ladder(video: &VideoSettings) -> Option<Ladder> {
    let floor = video.min_bitrate_kbps?;
    let lower_kbps = simulcast_encodings(video).iter().skip(1).map(|e| e.bitrate_kbps).collect();
    Some(Ladder { top_kbps: video.bitrate_kbps, top_floor_kbps: floor.min(video.bitrate_kbps), lower_kbps })
}
