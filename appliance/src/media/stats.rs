//! Counts encoded video frames and bytes, for the status endpoint's fps and bitrate, and what
//! the return feed delivers (decoded frames, audio level, codec).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use gstreamer as gst;
use gstreamer::prelude::*;

#[derive(Clone, Default)]
pub struct MediaStats {
    frames: Arc<AtomicU64>,
    bytes: Arc<AtomicU64>,
}

impl MediaStats {
    /// Watches the payloader's input: encoded frames, from our encoder or from a camera that
    /// encodes itself. `None` if the pipeline has no `video-pay`.
    pub fn attach(pipeline: &gst::Pipeline) -> Option<Self> {
        let pad = pipeline.by_name("video-pay")?.static_pad("sink")?;
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

/// Below this RMS (dBFS) the room hears nothing worth reporting: `level` says -inf or a huge
/// negative number for digital silence.
const SILENCE_DB: f64 = -120.0;

/// What the return feed delivered, for the status endpoint. Cheap to clone; GStreamer's
/// threads update it (frame probe, `level` messages).
#[derive(Clone, Default)]
pub struct ReturnStats(Arc<ReturnCounters>);

#[derive(Default)]
struct ReturnCounters {
    video_frames: AtomicU64,
    /// Latest RMS in dBFS, loudest channel; `None` while silent or before the first report.
    audio_level_db: Mutex<Option<f64>>,
    video_codec: Mutex<Option<&'static str>>,
}

impl ReturnStats {
    /// Decoded video frames shown (or, headless, counted) since the feed started.
    pub fn video_frames(&self) -> u64 {
        self.0.video_frames.load(Ordering::Relaxed)
    }

    pub fn audio_level_db(&self) -> Option<f64> {
        *self.0.audio_level_db.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `H264` or `VP8`: what the hub is forwarding in the video slot.
    pub fn video_codec(&self) -> Option<&'static str> {
        *self.0.video_codec.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn count_frame(&self) {
        self.0.video_frames.fetch_add(1, Ordering::Relaxed);
    }

    /// Takes one `level` report (RMS per channel, dBFS).
    pub(super) fn set_audio_level(&self, rms_per_channel: &[f64]) {
        *self.0.audio_level_db.lock().unwrap_or_else(|p| p.into_inner()) = loudest_channel_db(rms_per_channel);
    }

    pub(super) fn set_video_codec(&self, codec: &'static str) {
        *self.0.video_codec.lock().unwrap_or_else(|p| p.into_inner()) = Some(codec);
    }
}

/// The level of an audio stream from `level` messages: the latest report, and every report for
/// whoever subscribed (tests average them). Cheap to clone; GStreamer's threads report.
#[derive(Clone, Default)]
pub struct AudioLevel(Arc<Mutex<LevelInner>>);

#[derive(Default)]
struct LevelInner {
    latest: Option<f64>,
    subscribers: Vec<std::sync::mpsc::Sender<Option<f64>>>,
}

impl AudioLevel {
    /// Latest RMS in dBFS, loudest channel; `None` while silent or before the first report.
    pub fn latest_db(&self) -> Option<f64> {
        self.lock().latest
    }

    /// Every report from now on (dBFS, `None` for silence), until the receiver is dropped.
    pub fn subscribe(&self) -> std::sync::mpsc::Receiver<Option<f64>> {
        let (tx, rx) = std::sync::mpsc::channel();
        self.lock().subscribers.push(tx);
        rx
    }

    pub(super) fn report(&self, rms_per_channel: &[f64]) {
        let db = loudest_channel_db(rms_per_channel);
        let mut inner = self.lock();
        inner.latest = db;
        inner.subscribers.retain(|tx| tx.send(db).is_ok());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LevelInner> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The loudest channel's RMS, or `None` for silence (including -inf and NaN).
fn loudest_channel_db(rms_per_channel: &[f64]) -> Option<f64> {
    rms_per_channel.iter().copied().filter(|db| db.is_finite() && *db > SILENCE_DB).reduce(f64::max)
}

/// The `rms` field of a `level` message: one dB value per channel.
pub(super) fn rms_channels(s: &gst::StructureRef) -> Vec<f64> {
    s.get::<gst::glib::ValueArray>("rms")
        .map(|values| values.iter().filter_map(|v| v.get::<f64>().ok()).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loudest_channel_counts_and_silence_is_none() {
        assert_eq!(loudest_channel_db(&[-30.5, -12.0]), Some(-12.0));
        assert_eq!(loudest_channel_db(&[f64::NEG_INFINITY, -40.0]), Some(-40.0));
        assert_eq!(loudest_channel_db(&[f64::NEG_INFINITY, f64::NAN]), None);
        assert_eq!(loudest_channel_db(&[-700.0]), None, "digital silence as level reports it");
        assert_eq!(loudest_channel_db(&[]), None);
    }

    #[test]
    fn audio_level_keeps_the_latest_and_tells_subscribers() {
        let level = AudioLevel::default();
        let rx = level.subscribe();
        level.report(&[-30.0]);
        level.report(&[f64::NEG_INFINITY]);
        assert_eq!(level.latest_db(), None);
        assert_eq!(rx.try_iter().collect::<Vec<_>>(), [Some(-30.0), None]);
        drop(rx);
        level.report(&[-10.0]);
        assert_eq!(level.latest_db(), Some(-10.0), "a gone subscriber does not stop reports");
    }

    #[test]
    fn return_stats_keep_the_latest_report() {
        let stats = ReturnStats::default();
        assert_eq!((stats.video_frames(), stats.audio_level_db(), stats.video_codec()), (0, None, None));
        stats.count_frame();
        stats.count_frame();
        stats.set_audio_level(&[-20.0, -25.0]);
        stats.set_video_codec("VP8");
        assert_eq!((stats.video_frames(), stats.audio_level_db(), stats.video_codec()), (2, Some(-20.0), Some("VP8")));
        stats.set_audio_level(&[f64::NEG_INFINITY, f64::NEG_INFINITY]);
        assert_eq!(stats.audio_level_db(), None, "silence replaces the last level");
    }
}
