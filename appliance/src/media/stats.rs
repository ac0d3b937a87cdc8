//! Counts encoded video frames and bytes, for the status endpoint's fps and bitrate.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use gstreamer as gst;
use gstreamer::prelude::*;

use super::Pipeline;

#[derive(Clone, Default)]
pub struct MediaStats {
    frames: Arc<AtomicU64>,
    bytes: Arc<AtomicU64>,
}

impl MediaStats {
    /// Watches the encoder's output. `None` if the pipeline has no `video-enc`.
    pub fn attach(pipeline: &Pipeline) -> Option<Self> {
        let pad = pipeline.gst_pipeline().by_name("video-enc")?.static_pad("src")?;
        let stats = Self::default();
        let counter = stats.clone();
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if let Some(buffer) = info.buffer() {
                counter.frames.fetch_add(1, Ordering::Relaxed);
                counter.bytes.fetch_add(buffer.size() as u64, Ordering::Relaxed);
            }
            gst::PadProbeReturn::Ok
        });
        Some(stats)
    }

    /// Frames and bytes since `attach`.
    pub fn totals(&self) -> (u64, u64) {
        (self.frames.load(Ordering::Relaxed), self.bytes.load(Ordering::Relaxed))
    }
}
