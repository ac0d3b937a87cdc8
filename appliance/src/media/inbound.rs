//! Remembers when the last packet from the hub arrived, so a hub that vanished (restart,
//! crash, network cut) is noticed even though GStreamer 1.22's ICE never declares it failed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer::prelude::*;

/// Cheap to clone; the pad probe on the ICE source updates it from GStreamer's thread.
#[derive(Clone)]
pub struct InboundMonitor {
    epoch: Instant,
    /// Milliseconds after `epoch` of the last packet, plus one (0 = nothing yet).
    last: Arc<AtomicU64>,
}

impl InboundMonitor {
    /// Watches every `nicesrc` inside webrtcbin (one with max-bundle). Call after the local
    /// description is set, when webrtcbin has created its transports. Returns `None` if it has none.
    pub fn attach(webrtcbin: &gst::Element) -> Option<Self> {
        let bin = webrtcbin.downcast_ref::<gst::Bin>()?;
        let monitor = Self { epoch: Instant::now(), last: Arc::new(AtomicU64::new(0)) };
        let mut attached = 0;
        for element in bin.iterate_all_by_element_factory_name("nicesrc").into_iter().flatten() {
            let Some(pad) = element.static_pad("src") else { continue };
            let probe = monitor.clone();
            pad.add_probe(gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST, move |_, _| {
                probe.mark();
                gst::PadProbeReturn::Ok
            });
            attached += 1;
        }
        (attached > 0).then_some(monitor)
    }

    /// When the latest packet arrived, if any did.
    pub fn last_inbound(&self) -> Option<Instant> {
        match self.last.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(self.epoch + Duration::from_millis(ms - 1)),
        }
    }

    fn mark(&self) {
        let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX - 1);
        self.last.store(ms + 1, Ordering::Relaxed);
    }
}
