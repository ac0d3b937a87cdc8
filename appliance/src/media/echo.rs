//! Echo cancellation across the two pipelines: the room microphone's `webrtcdsp` (publish
//! pipeline) and the `webrtcechoprobe` in front of the speaker (return-feed pipeline).
//!
//! What gst-plugins-bad's webrtcdsp needs, read from its source (1.22):
//! - The probe is found by *name* in a process-wide list when the dsp starts (READY → PAUSED),
//!   not through the pipeline: it must exist before the publish pipeline plays, and one dsp
//!   holds it at a time. The return feed comes and goes during a lesson, so the probe cannot be
//!   born with it: `EchoProbe` is made once per runner and moves from one return-feed pipeline
//!   to the next (the dsp keeps reading it while no feed plays and just sees no far-end sound).
//! - Timestamps do not have to agree: the dsp runs `delay-agnostic` (it estimates the
//!   speaker-to-microphone delay from the signals), so the return feed keeps its own pipeline,
//!   clock and lifecycle. Pairing by running time (the default) needs both pipelines on one
//!   clock and base time, and even then cancelled almost nothing in our measurements.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use gstreamer as gst;
use gstreamer::prelude::*;

use super::MediaError;
use super::element::make;

/// The probe and the microphone's webrtcdsp both run mono at 48 kHz: the far end is voices.
pub(super) const PROBE_CHANNELS: i32 = 1;

/// Probe names are unique per process so two runners (or parallel tests) never share one.
static NEXT_PROBE: AtomicU32 = AtomicU32::new(0);

/// The `webrtcechoprobe` the speaker's audio passes through. Cheap to clone (one element).
#[derive(Clone)]
pub struct EchoProbe {
    element: gst::Element,
}

impl EchoProbe {
    pub fn new() -> Result<Self, MediaError> {
        let n = NEXT_PROBE.fetch_add(1, Ordering::Relaxed);
        let element = make("webrtcechoprobe", &format!("lectern-echo-probe-{n}"))?;
        Ok(Self { element })
    }

    /// What webrtcdsp's `probe` property must say.
    pub fn name(&self) -> String {
        self.element.name().to_string()
    }

    pub(super) fn element(&self) -> &gst::Element {
        &self.element
    }
}

/// What goes in front of the speaker when a probe listens: mono (see `PROBE_CHANNELS`), then
/// the probe. The room hears the return feed in mono, which for voices loses nothing.
pub(super) fn probe_chain(probe: &EchoProbe) -> Result<Vec<gst::Element>, MediaError> {
    let mono = gst::Caps::builder("audio/x-raw")
        .field("format", "S16LE")
        .field("layout", "interleaved")
        .field("rate", 48_000i32)
        .field("channels", PROBE_CHANNELS)
        .build();
    Ok(vec![
        make("audioconvert", "return-echo-convert")?,
        super::element::capsfilter("return-echo-caps", mono)?,
        probe.element().clone(),
    ])
}

/// Simulated rooms for echo tests (`Source::EchoRoom`, `PlaybackOutput::EchoRoom`): channel
/// name → the microphone (an `appsrc`) that hears that room's speaker.
///
/// Not `interaudiosink`/`interaudiosrc`: they drop and pad audio whenever the two sides'
/// timing wobbles, and an echo path that keeps changing is one no canceller converges on (we
/// measured it failing under load). Here every played sample reaches the microphone, in order,
/// when the speaker renders it: the only thing a real room adds is attenuation and reverb.
static ROOMS: Mutex<Vec<(String, gst::glib::WeakRef<gst::Element>)>> = Mutex::new(Vec::new());

/// The microphone of simulated room `channel`.
pub(super) fn room_microphone(channel: &str) -> Result<gst::Element, MediaError> {
    let mic = make("appsrc", "audio-src")?;
    mic.set_property("is-live", true);
    mic.set_property("do-timestamp", true);
    mic.set_property_from_str("format", "time");
    // Its caps are the speaker's, set with the first sound it hears.
    let mut rooms = ROOMS.lock().unwrap_or_else(|p| p.into_inner());
    rooms.retain(|(name, mic)| name != channel && mic.upgrade().is_some());
    rooms.push((channel.to_owned(), mic.downgrade()));
    Ok(mic)
}

/// The speaker of simulated room `channel`: renders in real time and hands every buffer, as
/// it is played, to that room's microphone.
pub(super) fn room_speaker(channel: &str, name: &str) -> Result<gst::Element, MediaError> {
    let speaker = make("fakesink", name)?;
    speaker.set_property("sync", true);
    speaker.set_property("signal-handoffs", true);
    let channel = channel.to_owned();
    speaker.connect("handoff", false, move |args| {
        let buffer = args.get(1).and_then(|v| v.get::<gst::Buffer>().ok())?;
        let caps = args.get(2).and_then(|v| v.get::<gst::Pad>().ok()).and_then(|pad| pad.current_caps())?;
        let mic = ROOMS
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|(name, _)| *name == channel)
            .and_then(|(_, mic)| mic.upgrade())?;
        if mic.property::<Option<gst::Caps>>("caps").as_ref() != Some(&caps) {
            mic.set_property("caps", &caps);
        }
        let mut heard = buffer.copy();
        // The microphone stamps what it hears with its own clock.
        let heard_mut = heard.make_mut();
        heard_mut.set_pts(gst::ClockTime::NONE);
        heard_mut.set_dts(gst::ClockTime::NONE);
        // A microphone not playing (yet, or any more) refuses the buffer: the room is deaf then.
        let _ = mic.emit_by_name::<gst::FlowReturn>("push-buffer", &[&heard]);
        None
    });
    Ok(speaker)
}
