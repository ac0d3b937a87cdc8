//! The panel's switches as pipeline controls that take effect on a playing pipeline without
//! renegotiation: mute makes `volume` send silence, privacy makes `videobalance` paint every
//! frame black. Both keep the streams flowing, so the hub and browsers see no track change
//! and un-muting is instant. The camera and microphone stay open; a lesson that should not
//! capture at all ends (go-live button), which tears the pipeline down.

use gstreamer as gst;
use gstreamer::prelude::*;

use super::element::make;
use super::pipeline::Pipeline;
use super::{Controls, MediaError};

const MUTE: &str = "audio-mute";
const PRIVACY: &str = "video-privacy";

impl Pipeline {
    pub fn set_muted(&self, muted: bool) -> Result<(), MediaError> {
        let volume = self.control_element(MUTE, "mute")?;
        volume.set_property("mute", muted);
        Ok(())
    }

    /// With a camera's own H.264 passed through there is no raw picture to paint: the black
    /// stand-in covers the camera instead (see `standin`).
    pub fn set_privacy(&self, privacy: bool) -> Result<(), MediaError> {
        if self.passes_through() {
            return self.cover_camera(privacy);
        }
        let balance = self.control_element(PRIVACY, "privacy")?;
        apply_privacy(&balance, privacy);
        Ok(())
    }

    pub fn apply_controls(&self, controls: Controls) -> Result<(), MediaError> {
        self.set_muted(controls.muted)?;
        self.set_privacy(controls.privacy)
    }

    fn control_element(&self, element: &'static str, control: &'static str) -> Result<gst::Element, MediaError> {
        self.gst_pipeline().by_name(element).ok_or(MediaError::NoControl { element, control })
    }
}

pub(super) fn mute_filter(muted: bool) -> Result<gst::Element, MediaError> {
    let volume = make("volume", MUTE)?;
    volume.set_property("mute", muted);
    Ok(volume)
}

/// At its neutral settings videobalance passes buffers through untouched, so privacy costs
/// nothing while it is off.
pub(super) fn privacy_filter(privacy: bool) -> Result<gst::Element, MediaError> {
    let balance = make("videobalance", PRIVACY)?;
    apply_privacy(&balance, privacy);
    Ok(balance)
}

/// Contrast and saturation 0 map every pixel to Y=16, U=V=128: video black.
fn apply_privacy(balance: &gst::Element, privacy: bool) {
    let level = if privacy { 0.0f64 } else { 1.0 };
    balance.set_property("brightness", 0.0f64);
    balance.set_property("contrast", level);
    balance.set_property("saturation", level);
}
