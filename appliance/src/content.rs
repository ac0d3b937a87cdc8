//! The `[content]` configuration turned into what the pipeline sends: the laptop capture's name
//! resolved to its device and opened in a mode it offers. At start-up and when the hub pushes a
//! configuration; a capture that is not plugged in yet is no error (the track starts on its
//! "no laptop connected" stand-in and the device is looked for again).

use crate::config::ContentConfig;
use crate::media::{self, CameraCodec, CameraMode, ContentSettings, VideoSettings};
use crate::probe;

/// How often the slides track sends a keyframe unasked. Slides rarely change, and a 1080p
/// keyframe of a text slide costs 25–150 kB: every 2 s (the camera's) that alone would be up to
/// 600 kbit/s, a weak student's whole link. Joiners do not wait for it (the hub replays the last
/// group of pictures) and a lost one is asked for (the hub lets at most one request per 2 s through).
pub const SLIDES_KEYFRAME_INTERVAL_S: u32 = 10;

/// `capture`: a real device (not `--virtual`), so its name is resolved and its formats probed.
/// The encoder is the camera's; the keyframe interval the camera's or `SLIDES_KEYFRAME_INTERVAL_S`,
/// whichever is longer.
pub fn content_settings(c: &ContentConfig, keyframe_interval_s: u32, encoder: &str, capture: bool) -> ContentSettings {
    let video = VideoSettings {
        width: c.width,
        height: c.height,
        framerate: c.framerate,
        bitrate_kbps: c.bitrate_kbps,
        keyframe_interval_s: keyframe_interval_s.max(SLIDES_KEYFRAME_INTERVAL_S),
        encoder: encoder.to_owned(),
        // Slides are one picture for everyone: a student on a weak link gets them at a low frame rate, not smaller.
        simulcast: Vec::new(),
        // Slides spend bits only when they change (`RateControl::OnChange`): they are not what
        // congests an uplink.
        min_bitrate_kbps: None,
    };
    if !capture {
        return ContentSettings { device: c.device.clone(), video, mode: None };
    }
    let device = probe::resolve_camera(&c.device).unwrap_or_else(|err| {
        tracing::warn!(%err, device = c.device, "content.device: the laptop capture is not there (yet)");
        c.device.clone()
    });
    let mode = capture_mode(&device, &video);
    ContentSettings { device, video, mode }
}

/// Its own H.264 is never passed through (the content branch always encodes), so only raw and
/// MJPEG modes count.
fn capture_mode(device: &str, v: &VideoSettings) -> Option<CameraMode> {
    let caps = probe::camera_caps(device)?;
    let formats: Vec<_> = media::camera_formats(&caps).into_iter().filter(|f| f.codec != CameraCodec::H264).collect();
    let mode = media::choose_mode(&formats, v.width, v.height, v.framerate);
    tracing::info!(device, ?mode, "content capture mode");
    mode
}
