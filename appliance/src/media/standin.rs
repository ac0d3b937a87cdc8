//! Stand-ins for a failed camera or microphone, switched in on the playing pipeline so the
//! WHIP session and its tracks survive an unplugged device:
//!
//! ```text
//!  device part (v4l2src … │ alsasrc …) ─▶ fixed raw caps ─▶ input-selector ─▶ rest of the chain
//!  stand-in (videotestsrc black │ audiotestsrc silence) ─▶ same caps ──┘
//! ```
//!
//! Both inputs carry the same caps, so switching never renegotiates the encoder. The stand-in
//! is kept locked in `NULL` while unused (no black frames rendered for nothing); the failed
//! device is locked in `NULL` while lost, which closes it, and reopened by unlocking it. A
//! failing source pushes EOS after its error: that EOS is dropped at the source, or it would
//! end the track for good.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use gstreamer as gst;
use gstreamer::prelude::*;

use super::MediaError;
use super::SourceKind;
use super::element::{add_and_link, add_error, capsfilter, make};
use super::pipeline::Pipeline;
use super::source_kind::names;

/// Adds `device` (a source and its conversion towards `caps`), then a capsfilter to `caps`,
/// the stand-in for `kind` (its source, then `stand_in_filters`, then the same caps), a
/// selector and `rest`, and links them all. None of the elements is in the pipeline yet.
/// `stand_in_filters` is empty unless `caps` are not raw (a camera's own H.264: the black
/// stand-in is encoded to match) or the stand-in says something ("no laptop connected").
pub(super) fn join(
    pipeline: &gst::Pipeline,
    kind: SourceKind,
    device: &[gst::Element],
    caps: &gst::Caps,
    stand_in_filters: Vec<gst::Element>,
    rest: &[gst::Element],
) -> Result<(), MediaError> {
    let n = names(kind);
    let mut device = device.to_vec();
    device.push(capsfilter(n.device_caps, caps.clone())?);
    let stand_in = match kind {
        SourceKind::Camera | SourceKind::Content => {
            let src = make("videotestsrc", n.stand_in)?;
            src.set_property_from_str("pattern", "black");
            src
        }
        SourceKind::Microphone => {
            let src = make("audiotestsrc", n.stand_in)?;
            src.set_property_from_str("wave", "silence");
            src
        }
    };
    stand_in.set_property("is-live", true);
    stand_in.set_locked_state(true);
    let mut stand_in = vec![stand_in];
    stand_in.extend(stand_in_filters);
    stand_in.push(capsfilter(n.stand_in_caps, caps.clone())?);
    let selector = make("input-selector", n.selector)?;
    let mut chain = vec![selector.clone()];
    chain.extend_from_slice(rest);
    add_and_link(pipeline, &device)?;
    add_and_link(pipeline, &stand_in)?;
    add_and_link(pipeline, &chain)?;
    // The device first: the selector makes its first pad the active one.
    for part in [&device[..], &stand_in[..]] {
        // Invariant: both parts have elements (a source at least).
        let last = part.last().expect("part has elements");
        last.link(&selector).map_err(|_| MediaError::Link { from: last.name().to_string(), to: n.selector.into() })?;
    }
    if let Some(pad) = device.first().and_then(|src| src.static_pad("src")) {
        pad.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, |_, info| match info.event() {
            Some(event) if event.type_() == gst::EventType::Eos => gst::PadProbeReturn::Drop,
            _ => gst::PadProbeReturn::Ok,
        });
    }
    Ok(())
}

impl Pipeline {
    /// Replaces `kind` by its stand-in and closes the device. Idempotent; before `play` it
    /// makes the pipeline start on the stand-in (the device is never opened).
    pub fn use_stand_in(&self, kind: SourceKind) -> Result<(), MediaError> {
        let n = names(kind);
        let source = self.element(n.source)?;
        self.switch_to_stand_in(kind)?;
        source.set_locked_state(true);
        // Closing a device that already failed may report a failure of its own; it is closed.
        let _ = source.set_state(gst::State::Null);
        Ok(())
    }

    /// Starts `kind`'s stand-in (it idles locked until needed) and makes it the selector's input.
    fn switch_to_stand_in(&self, kind: SourceKind) -> Result<(), MediaError> {
        let n = names(kind);
        let (stand_in, selector) = (self.element(n.stand_in)?, self.element(n.selector)?);
        stand_in.set_locked_state(false);
        if stand_in.sync_state_with_parent().is_err() {
            return Err(MediaError::StateChange {
                state: "PLAYING",
                detail: format!("'{}' did not start", n.stand_in),
            });
        }
        selector.set_property("active-pad", selector_pad(&self.element(n.stand_in_caps)?)?);
        Ok(())
    }

    /// Covers the camera with the stand-in while it stays open, or uncovers it: privacy when the
    /// camera's H.264 is passed through and there are no raw frames to paint black.
    pub(super) fn cover_camera(&self, cover: bool) -> Result<(), MediaError> {
        let n = names(SourceKind::Camera);
        if cover {
            self.switch_to_stand_in(SourceKind::Camera)?;
        } else {
            let (stand_in, selector) = (self.element(n.stand_in)?, self.element(n.selector)?);
            selector.set_property("active-pad", selector_pad(&self.element(n.device_caps)?)?);
            stand_in.set_locked_state(true);
            let _ = stand_in.set_state(gst::State::Null);
        }
        Ok(())
    }

    /// Reopens `kind`'s device and switches back to it. When it fails to open, its error
    /// arrives on the bus like any other (and the stand-in goes on until then).
    pub fn reopen(&self, kind: SourceKind) -> Result<(), MediaError> {
        let n = names(kind);
        let (source, stand_in, selector) =
            (self.element(n.source)?, self.element(n.stand_in)?, self.element(n.selector)?);
        source.set_locked_state(false);
        if source.sync_state_with_parent().is_err() {
            source.set_locked_state(true);
            let _ = source.set_state(gst::State::Null);
            return Err(MediaError::StateChange { state: "PLAYING", detail: format!("'{}' did not reopen", n.source) });
        }
        selector.set_property("active-pad", selector_pad(&self.element(n.device_caps)?)?);
        stand_in.set_locked_state(true);
        let _ = stand_in.set_state(gst::State::Null);
        Ok(())
    }

    fn element(&self, name: &str) -> Result<gst::Element, MediaError> {
        self.gst_pipeline().by_name(name).ok_or_else(|| add_error(name))
    }
}

/// The selector pad `last` (the end of a part) feeds.
fn selector_pad(last: &gst::Element) -> Result<gst::Pad, MediaError> {
    last.static_pad("src").and_then(|pad| pad.peer()).ok_or_else(|| add_error(&last.name()))
}

/// Test hook for `--virtual`: the test camera behaves as if plugged in only while `plug` (a
/// file) exists. When the file goes, the source fails like an unplugged V4L2 camera (an error
/// on the bus, no more frames); reopened while it exists, it streams again. This lets a test
/// take the box through unplug and replug without a camera.
pub(super) fn unplug_with(source: &gst::Element, kind: SourceKind, plug: PathBuf) -> Result<(), MediaError> {
    let pad = source.static_pad("src").ok_or_else(|| add_error(&source.name()))?;
    let failed = Arc::new(AtomicBool::new(false));
    pad.add_probe(gst::PadProbeType::BUFFER, move |pad, _| {
        if plug.exists() {
            failed.store(false, Ordering::Relaxed);
            return gst::PadProbeReturn::Ok;
        }
        if !failed.swap(true, Ordering::Relaxed)
            && let Some(element) = pad.parent_element()
        {
            let text = format!("{} unplugged ({} is gone)", kind.name(), plug.display());
            let error = gst::message::Error::builder(gst::ResourceError::NotFound, &text).src(&element).build();
            let _ = element.post_message(error);
        }
        gst::PadProbeReturn::Drop
    });
    Ok(())
}
