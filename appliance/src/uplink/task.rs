//! The IO around the controller: once a second, ask the publishing webrtcbin for its statistics
//! (bounded wait), hand the new reports to the controller, set the encoders' bitrates it chooses
//! and show them on the status board. A thread of its own per publishing session, so neither
//! GStreamer's streaming threads nor the runner's loop wait on a stats query.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use gstreamer as gst;

use super::controller::{Controller, Ladder};
use super::feedback::FeedbackReader;
use super::status::UplinkStatus;
use crate::loss::LossMeter;
use crate::status::StatusBoard;

/// How often the hub's reports are read (it sends about one per second per stream).
pub const PERIOD: Duration = Duration::from_secs(1);

/// The controller and what it needs to judge one stats reply: separable from the thread, so
/// tests feed it synthetic replies.
#[derive(Debug)]
pub struct Adapter {
    reader: FeedbackReader,
    controller: Controller,
    keyframe_requests: u64,
    reports: u64,
}

impl Adapter {
    pub fn new(ladder: Ladder) -> Self {
        Self {
            reader: FeedbackReader::default(),
            controller: Controller::new(ladder),
            keyframe_requests: 0,
            reports: 0,
        }
    }

    pub fn set_ladder(&mut self, ladder: Ladder) {
        self.controller.set_ladder(ladder);
    }

    /// One stats reply (`None`: none in time); the per-layer rates when they changed.
    pub fn step(&mut self, stats: Option<&gst::StructureRef>, now: Instant) -> Option<Vec<u32>> {
        let reading = stats.map(|s| self.reader.read(s)).unwrap_or_default();
        self.keyframe_requests = self.keyframe_requests.max(reading.keyframe_requests);
        let changed = self.controller.handle_feedback(reading.feedback, now);
        if let Some(loss) = reading.feedback.loss {
            self.reports += 1;
            tracing::debug!(
                loss_percent = (loss * 1000.0).round() / 10.0,
                rtt_ms = reading.feedback.rtt.map(|r| r.as_millis() as u64),
                target_kbps = self.controller.budget_kbps(),
                reason = ?self.controller.reason(),
                keyframe_requests = self.keyframe_requests,
                nacks = reading.nacks,
                "uplink: hub report"
            );
        }
        changed
    }

    pub fn status(&self) -> UplinkStatus {
        UplinkStatus {
            enabled: true,
            adapting: self.controller.adapting(),
            reason: Some(self.controller.reason()),
            target_kbps: Some(self.controller.budget_kbps()),
            layers_kbps: self.controller.layers_kbps(),
            min_kbps: Some(self.controller.ladder().floor()),
            max_kbps: Some(self.controller.ladder().ceiling()),
            rtt_floor_ms: self.controller.rtt_floor().map(|r| r.as_millis() as u64),
            keyframe_requests: self.keyframe_requests,
            reports: self.reports,
        }
    }
}

/// The running adaptation of one publishing session; dropping it stops the thread.
pub struct UplinkTask {
    ladders: Sender<Ladder>,
    /// Set on drop, so a tick still in flight does not write a finished session's figures.
    stopped: Arc<AtomicBool>,
}

impl Drop for UplinkTask {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::Release);
    }
}

impl UplinkTask {
    /// Starts adapting `pipeline`'s camera encoders within `ladder`, reading the hub's reports
    /// through `meter`. `apply` sets the layers' bitrates (top first) and says whether it could.
    pub fn spawn(
        ladder: Ladder,
        meter: LossMeter,
        board: StatusBoard,
        apply: impl Fn(&[u32]) -> bool + Send + 'static,
    ) -> std::io::Result<Self> {
        let (ladders, updates) = mpsc::channel::<Ladder>();
        let stopped = Arc::new(AtomicBool::new(false));
        let done = Arc::clone(&stopped);
        let mut adapter = Adapter::new(ladder);
        board.update(|s| s.uplink = adapter.status());
        std::thread::Builder::new().name("uplink".to_owned()).spawn(move || {
            let mut warned = false;
            loop {
                match updates.recv_timeout(PERIOD) {
                    Ok(ladder) => {
                        adapter.set_ladder(ladder);
                        let layers = adapter.status().layers_kbps;
                        apply_layers(&apply, &layers, &mut warned);
                    }
                    Err(RecvTimeoutError::Timeout) => {
                        let stats = meter.stats();
                        // The session may have ended during the query (the meter may even show
                        // the next session's webrtcbin by now).
                        if done.load(Ordering::Acquire) {
                            return;
                        }
                        if let Some(layers) = adapter.step(stats.as_deref(), Instant::now()) {
                            let s = adapter.status();
                            tracing::info!(
                                target_kbps = s.target_kbps,
                                layers_kbps = ?layers,
                                reason = ?s.reason,
                                keyframe_requests = s.keyframe_requests,
                                "uplink: camera bitrate changed"
                            );
                            apply_layers(&apply, &layers, &mut warned);
                        }
                    }
                    Err(RecvTimeoutError::Disconnected) => return,
                }
                if done.load(Ordering::Acquire) {
                    return;
                }
                board.update(|s| s.uplink = adapter.status());
            }
        })?;
        Ok(Self { ladders, stopped })
    }

    /// New bounds from a pushed configuration.
    pub fn set_ladder(&self, ladder: Ladder) {
        // The thread only ends when this handle is dropped.
        let _ = self.ladders.send(ladder);
    }
}

fn apply_layers(apply: &impl Fn(&[u32]) -> bool, layers: &[u32], warned: &mut bool) {
    if !apply(layers) && !*warned {
        *warned = true;
        tracing::warn!(
            "uplink: this encoder cannot change its bitrate while playing; the camera keeps its configured rate"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::feedback::tests::stats;
    use super::*;

    #[test]
    fn a_synthetic_report_sequence_cuts_holds_and_recovers() {
        crate::media::init().unwrap();
        let ladder = Ladder { top_kbps: 1500, top_floor_kbps: 375, lower_kbps: vec![500, 150] };
        let (mut adapter, start) = (Adapter::new(ladder), Instant::now());
        let at = |s: u64| start + Duration::from_secs(s);
        assert_eq!(adapter.step(Some(&stats(1, 0.0, 0, 0.03, 0)), at(1)), None, "clean: full rates");
        let cut = adapter.step(Some(&stats(1, 0.2, 300, 0.03, 1)), at(2)).expect("heavy loss cuts");
        assert_eq!(cut, [812, 500, 150]);
        assert_eq!(adapter.step(Some(&stats(1, 0.2, 300, 0.03, 1)), at(3)), None, "the same report: no second cut");
        assert_eq!(adapter.step(None, at(4)), None, "no reply in time: nothing changes");
        let status = adapter.status();
        assert!(status.adapting);
        assert_eq!((status.target_kbps, status.keyframe_requests), (Some(1462), 2));
        let mut lost = 300;
        for s in 5..60 {
            lost += 1; // a new report each second, clean
            adapter.step(Some(&stats(1, 0.0, lost, 0.03, 1)), at(s));
        }
        assert!(!adapter.status().adapting, "back to the configured rates: {:?}", adapter.status());
    }
}
