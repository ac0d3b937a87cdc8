//! What a source's branch towards webrtcbin is made of: its `Chain` of elements, the raw format a
//! source and its stand-in meet in, and the H.264 payloader every video track ends with.

use gstreamer as gst;
use gstreamer::prelude::*;

use super::MediaError;
use super::element::{capsfilter, make};
use super::settings::VideoSettings;

/// Payload types the hub and browsers expect; they are fixed so SDP stays predictable.
pub(super) const VIDEO_PT: u32 = 96;
pub(super) const AUDIO_PT: u32 = 111;

/// I420 at `v`'s size and frame rate: where a source and its stand-in meet.
pub(super) fn i420_caps(v: &VideoSettings) -> gst::Caps {
    gst::Caps::builder("video/x-raw")
        .field("format", "I420")
        .field("width", i32::try_from(v.width).unwrap_or(i32::MAX))
        .field("height", i32::try_from(v.height).unwrap_or(i32::MAX))
        .field("framerate", gst::Fraction::new(i32::try_from(v.framerate).unwrap_or(30), 1))
        .build()
}

pub(super) fn video_payloader() -> Result<Vec<gst::Element>, MediaError> {
    h264_payloader("video", None)
}

/// `rtph264pay` and its RTP caps, named `<name>-pay` and `<name>-rtp-caps`, on [`VIDEO_PT`]. The
/// content track shares it: str0m (the hub) keeps one payload type per codec configuration for a
/// whole session, so a second number for the same H.264 was read as another codec (VP8) and
/// browsers received undecodable frames; the m-lines' own SSRCs and mids tell the tracks apart.
/// `content` marks the m-line `a=content:<content>` (RFC 4796): GstSDP turns caps fields named
/// `a-<attribute>` into SDP attributes.
pub(super) fn h264_payloader(name: &str, content: Option<&str>) -> Result<Vec<gst::Element>, MediaError> {
    let pay = make("rtph264pay", &format!("{name}-pay"))?;
    pay.set_property("config-interval", -1i32);
    pay.set_property_from_str("aggregate-mode", "zero-latency");
    pay.set_property("pt", VIDEO_PT);
    let mut rtp = gst::Caps::builder("application/x-rtp")
        .field("media", "video")
        .field("encoding-name", "H264")
        .field("payload", VIDEO_PT as i32)
        .field("clock-rate", 90_000i32);
    if let Some(content) = content {
        rtp = rtp.field("a-content", content);
    }
    Ok(vec![pay, capsfilter(&format!("{name}-rtp-caps"), rtp.build())?])
}

/// A source's own elements (up to fixed raw caps, where its stand-in joins) and the rest of
/// its chain up to webrtcbin.
pub(super) struct Chain {
    pub(super) device: Vec<gst::Element>,
    pub(super) caps: gst::Caps,
    /// Between the stand-in's source and `caps` (see `standin::join`).
    pub(super) stand_in_filters: Vec<gst::Element>,
    pub(super) rest: Vec<gst::Element>,
}
