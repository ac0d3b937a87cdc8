//! Glass-to-glass measurement (test hook for virtual sources): every frame of the test camera
//! is painted white during even wall-clock seconds and black during odd ones, at the moment
//! the source produces it. A viewer on the same machine (same clock) that timestamps the flips
//! it sees measures capture → encode → hub → decode → display in one number
//! (`tests/browser/measure/appliance.mjs`).

use std::time::{SystemTime, UNIX_EPOCH};

use gstreamer as gst;
use gstreamer::prelude::*;

use super::MediaError;
use super::element::add_error;

/// Limited-range luma for white and black; chroma neutral.
const WHITE: u8 = 235;
const BLACK: u8 = 16;
const NEUTRAL: u8 = 128;

pub(super) fn flash_with_wall_clock(source: &gst::Element) -> Result<(), MediaError> {
    let pad = source.static_pad("src").ok_or_else(|| add_error(&source.name()))?;
    pad.add_probe(gst::PadProbeType::BUFFER, |pad, info| {
        let luma_len = pad.current_caps().and_then(|caps| {
            let s = caps.structure(0)?;
            if s.get::<&str>("format").ok()? != "I420" {
                return None;
            }
            usize::try_from(s.get::<i32>("width").ok()? * s.get::<i32>("height").ok()?).ok()
        });
        let (Some(luma_len), Some(buffer)) = (luma_len, info.buffer_mut()) else { return gst::PadProbeReturn::Ok };
        let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let luma = if secs.is_multiple_of(2) { WHITE } else { BLACK };
        let Ok(mut map) = buffer.make_mut().map_writable() else { return gst::PadProbeReturn::Ok };
        let split = luma_len.min(map.len());
        let (y, uv) = map.split_at_mut(split);
        y.fill(luma);
        uv.fill(NEUTRAL);
        gst::PadProbeReturn::Ok
    });
    Ok(())
}
