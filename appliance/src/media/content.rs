//! The content branch: the teacher's laptop (HDMI-to-USB capture) as a second video track, sent
//! at high resolution and a low frame rate and marked `a=content:slides` (RFC 4796) so the hub
//! shows it to students as a screen share.
//!
//! ```text
//!  virtual: videotestsrc is-live white ─▶ textoverlay "slides" ─▶ timeoverlay ┐
//!  capture: v4l2src [─▶ jpegdec] ─▶ videoconvert ─▶ videoscale ─▶ videorate ────┤
//!                                                      I420,WxH,F/1 ◀──────────┘
//!    ─▶ input-selector (◀─ black "no laptop connected" while the capture is lost)
//!    ─▶ queue (leaky) ─▶ [nvvidconv] ─▶ H.264 encoder (the camera's pick)
//!    ─▶ rtph264pay ─▶ application/x-rtp,H264,pt=96,a-content=slides ─▶ webrtcbin
//! ```
//!
//! Privacy does not cover it: the button is about the room camera, and the teacher decides what
//! the laptop shows.

use gstreamer as gst;
use gstreamer::prelude::*;

use super::MediaError;
use super::SourceKind;
use super::camera_mode::CameraCodec;
use super::chain::{Chain, h264_payloader, i420_caps};
use super::element::{capsfilter, leaky_queue, make};
use super::encoder::{RateControl, named_encoder_elements};
use super::settings::{ContentSettings, Source};

/// What the stand-in says while the capture is lost.
const NO_LAPTOP: &str = "No laptop connected";

/// The content source up to fixed raw caps, and the rest of its chain up to webrtcbin.
pub(super) fn content_chain(
    source: &Source,
    content: &ContentSettings,
    virtual_plug: Option<&std::path::Path>,
) -> Result<Chain, MediaError> {
    let device = match source {
        Source::Virtual { .. } | Source::EchoRoom { .. } => {
            let src = make("videotestsrc", "content-src")?;
            src.set_property("is-live", true);
            src.set_property_from_str("pattern", "white");
            if let Some(plug) = virtual_plug {
                super::standin::unplug_with(&src, SourceKind::Content, plug.to_owned())?;
            }
            let title = make("textoverlay", "content-title")?;
            title.set_property("text", "Lectern: slides from the teacher's laptop (test picture)");
            title.set_property_from_str("valignment", "center");
            title.set_property_from_str("halignment", "center");
            title.set_property("shaded-background", false);
            title.set_property("color", 0xff20_2020u32);
            // The clock makes every frame differ, so a frozen track is visible at a glance.
            vec![src, title, make("timeoverlay", "content-clock")?]
        }
        Source::Capture { .. } => {
            let src = make("v4l2src", "content-src")?;
            src.set_property("device", &content.device);
            let mut device = vec![src];
            match &content.mode {
                Some(mode) => {
                    device.push(capsfilter("content-capture-caps", mode.caps())?);
                    if mode.codec == CameraCodec::Mjpeg {
                        device.push(make("jpegdec", "content-decode")?);
                    }
                }
                // Unprobed: raw frames, which every HDMI-to-USB capture offers (YUY2 1080p at
                // about 5 fps on USB 2, what slides need).
                None => device.push(capsfilter("content-capture-caps", gst::Caps::builder("video/x-raw").build())?),
            }
            device.extend([
                make("videoconvert", "content-convert")?,
                make("videoscale", "content-scale")?,
                make("videorate", "content-rate")?,
            ]);
            device
        }
    };
    let v = &content.video;
    let caps = i420_caps(v);
    let stand_in_text = make("textoverlay", "content-standin-text")?;
    stand_in_text.set_property("text", NO_LAPTOP);
    stand_in_text.set_property_from_str("valignment", "center");
    stand_in_text.set_property_from_str("halignment", "center");
    let mut rest = vec![leaky_queue("content-queue")?];
    rest.extend(named_encoder_elements("content", &v.encoder, v, RateControl::OnChange)?);
    rest.extend(h264_payloader("content", Some("slides"))?);
    Ok(Chain { device, caps, stand_in_filters: vec![stand_in_text], rest })
}
