//! A built pipeline around its webrtcbin (`Pipeline`): playing, shutting down, and its bus turned
//! into `MediaEvent`s. What goes into one is the builders' job: `publish` (the room) and
//! `playback` (the return feed); `standin` and `controls` add methods for devices and buttons.

use std::sync::{Arc, Mutex, OnceLock};

use gstreamer as gst;
use gstreamer::prelude::*;

use super::MediaError;
use super::source_kind::source_of;
use super::stats::AudioLevel;
use super::watch::{self, MediaEvent};

/// The parser on a camera's own H.264 (pass-through only).
pub(super) const CAMERA_PARSE: &str = "video-camera-parse";

/// A built pipeline. Dropping it (or `shutdown`) always brings GStreamer back to `Null`, so
/// the camera and microphone are released however the session ended.
pub struct Pipeline {
    pipeline: gst::Pipeline,
    webrtcbin: gst::Element,
    bus: Arc<BusShared>,
    /// The sent audio's level (publish pipelines only).
    mic_level: Option<AudioLevel>,
}

/// An encoded stream of the publish pipeline (see [`Pipeline::encoded_pad`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodedStream {
    Camera,
    Audio,
    Slides,
}

/// Sees the bus messages `BusShared` does not turn into events (element messages such as
/// `level`, latency changes). Runs on GStreamer's threads: hand over, never block.
pub(super) type MessageHook = Box<dyn Fn(&gst::Message) + Send + Sync>;

/// State shared with the bus sync handler, which runs on GStreamer's threads.
#[derive(Default)]
pub(super) struct BusShared {
    /// The first error's element and message (the cause; later ones are consequences).
    last_error: Mutex<Option<(String, String)>>,
    pub(super) listener: OnceLock<Box<dyn Fn(MediaEvent) + Send + Sync>>,
    other: Option<MessageHook>,
}

impl Pipeline {
    /// Wraps a built pipeline around its webrtcbin and takes over its bus: errors and EOS
    /// become `MediaEvent`s, everything else goes to `other`, and nothing is queued.
    pub(super) fn assemble(pipeline: gst::Pipeline, webrtcbin: gst::Element, other: Option<MessageHook>) -> Self {
        let bus = Arc::new(BusShared { other, ..BusShared::default() });
        let handler_state = Arc::clone(&bus);
        // Invariant: a pipeline always has a bus.
        pipeline.bus().expect("pipeline has a bus").set_sync_handler(move |_, msg| {
            handler_state.on_message(msg);
            // Dropped here so nothing queues up on a bus nobody pops during a long lesson.
            gst::BusSyncReply::Drop
        });
        Self { pipeline, webrtcbin, bus, mic_level: None }
    }

    pub fn webrtcbin(&self) -> &gst::Element {
        &self.webrtcbin
    }

    pub fn gst_pipeline(&self) -> &gst::Pipeline {
        &self.pipeline
    }

    /// The level of the audio sent to the hub (after echo cancellation and mute), reported ten
    /// times a second while playing. `None` for return-feed pipelines.
    pub fn mic_level(&self) -> Option<&AudioLevel> {
        self.mic_level.as_ref()
    }

    /// Where an encoded stream enters its payloader (the top camera layer's H.264, the room's
    /// Opus, the laptop's H.264), for the box's recorder to tap without a second encoder
    /// (`crate::record`). `None` if the pipeline has no such stream.
    pub fn encoded_pad(&self, stream: EncodedStream) -> Option<gst::Pad> {
        let payloader = match stream {
            EncodedStream::Camera => "video-pay",
            EncodedStream::Audio => "audio-pay",
            EncodedStream::Slides => "content-pay",
        };
        self.pipeline.by_name(payloader)?.static_pad("sink")
    }

    /// Whether the camera's own H.264 goes out without re-encoding.
    pub fn passes_through(&self) -> bool {
        self.pipeline.by_name(CAMERA_PARSE).is_some()
    }

    /// Sets what `mic_level` reports (the publish builder's `level` element).
    pub(super) fn with_mic_level(mut self, level: AudioLevel) -> Self {
        self.mic_level = Some(level);
        self
    }

    /// Delivers the pipeline's events to `listener` from now on: webrtcbin's connection states
    /// and the bus's errors and end of stream. Only the first listener counts. The listener runs
    /// on GStreamer's threads: hand the event over (e.g. on a channel), never block.
    pub fn watch(&self, listener: impl Fn(MediaEvent) + Send + Sync + Clone + 'static) {
        watch::connect_states(&self.webrtcbin, listener.clone());
        if self.bus.listener.set(Box::new(listener)).is_err() {
            tracing::warn!("pipeline already watched; the new bus listener is ignored");
        }
    }

    /// Starts capture. Errors carry the first bus error; a device that would not open is a
    /// `SourceFailed` naming it.
    pub fn play(&self) -> Result<(), MediaError> {
        match self.pipeline.set_state(gst::State::Playing) {
            Ok(_) => Ok(()),
            Err(_) => {
                let error = self.bus.last_error();
                self.shutdown();
                let (element, detail) =
                    error.unwrap_or_else(|| (String::new(), "no error reported on the bus".to_owned()));
                match source_of(&element) {
                    // A camera or microphone that will not open is the device's problem, not the
                    // lesson's: the runner starts again with its stand-in.
                    Some(kind) => Err(MediaError::SourceFailed { kind, detail }),
                    None => Err(MediaError::StateChange { state: "PLAYING", detail }),
                }
            }
        }
    }

    /// Brings the pipeline to `Null`. Idempotent.
    pub fn shutdown(&self) {
        if let Err(err) = self.pipeline.set_state(gst::State::Null) {
            tracing::warn!(%err, "pipeline did not go to NULL cleanly");
        }
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl BusShared {
    fn last_error(&self) -> Option<(String, String)> {
        self.last_error.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn on_message(&self, msg: &gst::Message) {
        let event = match msg.view() {
            gst::MessageView::Error(err) => {
                let element = msg.src().map(|s| s.name().to_string()).unwrap_or_else(|| "pipeline".to_owned());
                let message = format!("{element}: {}", err.error());
                tracing::debug!(debug = ?err.debug(), "{message}");
                self.last_error
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get_or_insert_with(|| (element.clone(), message.clone()));
                MediaEvent::Error { element, message }
            }
            gst::MessageView::Eos(_) => MediaEvent::EndOfStream,
            _ => {
                if let Some(other) = &self.other {
                    other(msg);
                }
                return;
            }
        };
        if let Some(listener) = self.listener.get() {
            listener(event);
        }
    }
}
