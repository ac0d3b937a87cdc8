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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::SimulcastLayer;

    #[test]
    fn the_ladder_follows_the_video_settings_lower_layers_largest_first() {
        let mut video = VideoSettings { bitrate_kbps: 1500, ..VideoSettings::default() };
        assert_eq!(ladder(&video), None, "no floor: the bitrate stays fixed");
        video.min_bitrate_kbps = Some(375);
        assert_eq!(ladder(&video), Some(Ladder { top_kbps: 1500, top_floor_kbps: 375, lower_kbps: vec![] }));
        video.simulcast = vec![
            SimulcastLayer { width: 320, height: 180, bitrate_kbps: 150 },
            SimulcastLayer { width: 640, height: 360, bitrate_kbps: 500 },
        ];
        let l = ladder(&video).expect("adapting");
        assert_eq!(l.lower_kbps, [500, 150], "the order of the encoders (video-enc-h, video-enc-q)");
        video.min_bitrate_kbps = Some(9000);
        assert_eq!(ladder(&video).map(|l| l.top_floor_kbps), Some(1500), "a floor never above the bitrate");
    }
}
