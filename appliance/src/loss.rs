//! Packet loss on the way to the hub, for the status endpoint and the fleet view: the hub's RTCP
//! receiver reports, read from webrtcbin's statistics (`remote-inbound-rtp`: the fraction of our
//! packets the hub says it lost in its last report interval). The worst of audio and video.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use gstreamer as gst;
use gstreamer::prelude::*;

/// A stats query that takes longer than this is skipped (the figure shows as unknown).
const STATS_TIMEOUT: Duration = Duration::from_millis(500);

/// The publishing webrtcbin, while there is one. Cheap to clone.
#[derive(Clone, Default)]
pub struct LossMeter {
    webrtcbin: Arc<Mutex<Option<gst::Element>>>,
}

impl LossMeter {
    fn slot(&self) -> std::sync::MutexGuard<'_, Option<gst::Element>> {
        self.webrtcbin.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn attach(&self, webrtcbin: &gst::Element) {
        *self.slot() = Some(webrtcbin.clone());
    }

    pub fn detach(&self) {
        *self.slot() = None;
    }

    /// Percent lost per the hub's latest reports; `None` when not publishing or not reported yet.
    pub fn percent(&self) -> Option<f64> {
        let stats = self.stats()?;
        worst_fraction_lost(&stats).map(|f| (f * 1000.0).round() / 10.0)
    }

    /// webrtcbin's whole statistics reply; `None` when not publishing or not answered in time.
    /// Blocks up to `STATS_TIMEOUT`: never call it on a streaming thread.
    pub fn stats(&self) -> Option<gst::Structure> {
        let webrtcbin = self.slot().clone()?;
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let promise = gst::Promise::with_change_func(move |reply| {
            let stats = reply.ok().flatten().map(|s| s.to_owned());
            let _ = tx.try_send(stats);
        });
        webrtcbin.emit_by_name::<()>("get-stats", &[&None::<gst::Pad>, &promise]);
        rx.recv_timeout(STATS_TIMEOUT).ok().flatten()
    }
}

/// The largest `fraction-lost` (0–1) among the report's per-stream entries.
fn worst_fraction_lost(stats: &gst::StructureRef) -> Option<f64> {
    stats
        .iter()
        .filter_map(|(_, value)| value.get::<gst::Structure>().ok())
        .filter_map(|s| s.get::<f64>("fraction-lost").ok())
        .filter(|f| f.is_finite())
        .map(|f| f.clamp(0.0, 1.0))
        .reduce(f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_stream_counts_and_other_entries_are_ignored() {
        crate::media::init().unwrap();
        let video = gst::Structure::builder("remote-inbound-rtp").field("fraction-lost", 0.02f64).build();
        let audio = gst::Structure::builder("remote-inbound-rtp").field("fraction-lost", 0.005f64).build();
        let transport = gst::Structure::builder("transport").field("bytes-sent", 10u64).build();
        let stats = gst::Structure::builder("application/x-webrtc-stats")
            .field("rtp-remote-inbound-stream-stats_1", video)
            .field("rtp-remote-inbound-stream-stats_2", audio)
            .field("transport-stats", transport)
            .build();
        assert_eq!(worst_fraction_lost(&stats), Some(0.02));
        let none = gst::Structure::builder("application/x-webrtc-stats").build();
        assert_eq!(worst_fraction_lost(&none), None);
        assert_eq!(LossMeter::default().percent(), None, "not publishing: unknown");
    }
}
