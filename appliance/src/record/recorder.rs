//! One recording of a live publish pipeline, on GStreamer: the encoded buffers are copied (by
//! reference, no copy of the data) from the live pipeline's payloader inputs into a pipeline of
//! their own, which writes them with `splitmuxsink`. No second encoder: the file carries exactly
//! what the hub receives from the top camera layer (its bitrate follows the uplink too).
//!
//! ```text
//!  live pipeline (publish)                         recording pipeline (lectern-record)
//!  video-enc ─▶ [probe] video-pay ─▶ …   ──copy──▶ appsrc ─▶ h264parse ─▶ queue ─▶ splitmuxsink
//!  opusenc   ─▶ [probe] audio-pay ─▶ …   ──copy──▶ appsrc ─▶ opusparse ─▶ queue ─┘   camera-…-%03d.mp4
//!  content   ─▶ [probe] content-pay ─▶ … ──copy──▶ appsrc ─▶ h264parse ─▶ queue ─▶ splitmuxsink
//!                                                                                    slides-…-%03d.mp4
//! ```
//!
//! The two pipelines share nothing but buffers: the `appsrc`s drop what they cannot queue rather
//! than block (`leaky-type=downstream`), so a slow or full disk stops the recording (its own bus
//! error), never the live lesson. Timestamps are rebased to the first camera keyframe, which is
//! asked for at start (`GstForceKeyUnit`), so every file starts decodable at zero.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gstreamer as gst;
use gstreamer::prelude::*;

use crate::media::{EncodedStream, Pipeline};

/// How much an `appsrc` holds before it drops (a disk stalling for a few seconds at most).
const APPSRC_MAX_BYTES: u64 = 16 * 1024 * 1024;
/// How long finishing the files (EOS through the muxers) may take when recording stops.
const FINISH_WITHIN: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("the live pipeline has no camera stream to record")]
    NoCamera,
    #[error("creating {path}: {source}")]
    Dir { path: PathBuf, source: std::io::Error },
    #[error("GStreamer element '{0}' is not available")]
    MissingElement(&'static str),
    #[error("building the recording pipeline: {0}")]
    Build(String),
    #[error("the recording pipeline would not start: {0}")]
    Start(String),
}

/// Which file a stream goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Track {
    CameraVideo,
    CameraAudio,
    Slides,
}

/// The first camera keyframe's time in the live pipeline: every stream's zero; and the wall clock
/// (unix ms) when it passed, which places each file on the lesson's timeline.
#[derive(Default)]
struct Timeline {
    base: Mutex<Option<gst::ClockTime>>,
    wall_ms: Mutex<Option<u64>>,
}

/// Beside each file, `<file>.start`: the unix ms of its first sample (the hub's `started_at`),
/// written when `splitmuxsink` opens it — the box's clock at the first keyframe plus the file's
/// running time. A sidecar rather than memory so a file found again after a reboot still says it.
pub const START_SUFFIX: &str = ".start";

/// `<file>.start`.
pub fn start_marker(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(START_SUFFIX);
    PathBuf::from(name)
}

/// The start a file's sidecar holds, if it has a readable one.
pub fn read_start(file: &Path) -> Option<u64> {
    std::fs::read_to_string(start_marker(file)).ok()?.trim().parse().ok()
}

type Taps = Arc<Mutex<Vec<(gst::Pad, gst::PadProbeId)>>>;

/// A running recording. [`Recorder::stop`] (or dropping it) finishes its files.
pub struct Recorder {
    pipeline: gst::Pipeline,
    sources: Vec<gst::Element>,
    taps: Taps,
    /// What the bus watcher saw: an error stops the recording.
    failure: Arc<Mutex<Option<String>>>,
    eos: mpsc::Receiver<()>,
    watcher: Option<std::thread::JoinHandle<()>>,
    stopping: Arc<std::sync::atomic::AtomicBool>,
    /// Fragments closed so far (complete files).
    closed: Arc<Mutex<Vec<PathBuf>>>,
    dir: PathBuf,
}

impl Recorder {
    /// Starts recording `live` into `dir` (created if needed), one file per kind and
    /// `fragment` of time; names begin with `prefix` (e.g. the start in unix ms) so a restarted
    /// recording of the same lesson never overwrites the last one's files.
    pub fn start(live: &Pipeline, dir: &Path, prefix: &str, fragment: Duration) -> Result<Self, RecordError> {
        let camera = live.encoded_pad(EncodedStream::Camera).ok_or(RecordError::NoCamera)?;
        std::fs::create_dir_all(dir).map_err(|source| RecordError::Dir { path: dir.to_owned(), source })?;
        let pipeline = gst::Pipeline::with_name("lectern-record");
        let fragment_ns = u64::try_from(fragment.as_nanos()).unwrap_or(u64::MAX);
        let camera_mux =
            splitmux(&pipeline, "rec-camera-mux", &dir.join(format!("{prefix}-camera-%03d.mp4")), fragment_ns)?;
        let mut streams = vec![(
            Track::CameraVideo,
            camera.clone(),
            branch(&pipeline, "rec-camera-video", "h264parse", &camera_mux, "video")?,
        )];
        if let Some(audio) = live.encoded_pad(EncodedStream::Audio) {
            streams.push((
                Track::CameraAudio,
                audio,
                branch(&pipeline, "rec-camera-audio", "opusparse", &camera_mux, "audio_%u")?,
            ));
        }
        if let Some(slides) = live.encoded_pad(EncodedStream::Slides) {
            let mux =
                splitmux(&pipeline, "rec-slides-mux", &dir.join(format!("{prefix}-slides-%03d.mp4")), fragment_ns)?;
            streams.push((Track::Slides, slides, branch(&pipeline, "rec-slides-video", "h264parse", &mux, "video")?));
        }
        let (failure, closed) = (Arc::new(Mutex::new(None)), Arc::new(Mutex::new(Vec::new())));
        let taps: Taps = Arc::default();
        let stopping = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (eos_tx, eos) = mpsc::channel();
        let timeline = Arc::new(Timeline::default());
        let watcher = watch_bus(
            &pipeline,
            Bus {
                taps: Arc::clone(&taps),
                failure: Arc::clone(&failure),
                closed: Arc::clone(&closed),
                stopping: Arc::clone(&stopping),
                timeline: Arc::clone(&timeline),
                eos: eos_tx,
            },
        )?;
        pipeline.set_state(gst::State::Playing).map_err(|e| {
            let _ = pipeline.set_state(gst::State::Null);
            RecordError::Start(e.to_string())
        })?;
        let sources: Vec<gst::Element> = streams.iter().map(|(_, _, src)| src.clone()).collect();
        for (track, pad, src) in streams {
            let id = tap(&pad, track, src, Arc::clone(&timeline));
            if let Some(id) = id {
                lock(&taps).push((pad.clone(), id));
            }
            if matches!(track, Track::CameraVideo | Track::Slides) {
                ask_keyframe(&pad);
            }
        }
        tracing::info!(dir = %dir.display(), prefix, "recording started");
        Ok(Self {
            pipeline,
            sources,
            taps,
            failure,
            eos,
            watcher: Some(watcher),
            stopping,
            closed,
            dir: dir.to_owned(),
        })
    }

    /// Why the recording stopped by itself (a full disk, a write error), if it did.
    pub fn failure(&self) -> Option<String> {
        lock(&self.failure).clone()
    }

    /// Files finished so far (each fragment as it closes).
    pub fn closed_files(&self) -> Vec<PathBuf> {
        lock(&self.closed).clone()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Stops taking buffers, finishes the files (the muxers write their indexes) and lets the
    /// recording pipeline go. Returns every file written.
    pub fn stop(mut self) -> Vec<PathBuf> {
        self.finish();
        self.closed_files()
    }

    fn finish(&mut self) {
        untap(&self.taps);
        if self.failure().is_none() {
            for src in &self.sources {
                let _ = src.emit_by_name::<gst::FlowReturn>("end-of-stream", &[]);
            }
            if self.eos.recv_timeout(FINISH_WITHIN).is_err() {
                tracing::warn!("the recording's files did not finish in time; the last fragment may be cut short");
            }
        }
        self.stopping.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = self.pipeline.set_state(gst::State::Null);
        if let Some(w) = self.watcher.take() {
            let _ = w.join();
        }
        tracing::info!(dir = %self.dir.display(), files = lock(&self.closed).len(), "recording stopped");
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if self.watcher.is_some() {
            self.finish();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn make(factory: &'static str, name: &str) -> Result<gst::Element, RecordError> {
    gst::ElementFactory::make(factory).name(name).build().map_err(|_| RecordError::MissingElement(factory))
}

/// `splitmuxsink` (mp4mux) writing `location`, a new file every `fragment_ns`.
fn splitmux(
    pipeline: &gst::Pipeline,
    name: &str,
    location: &Path,
    fragment_ns: u64,
) -> Result<gst::Element, RecordError> {
    let mux = make("splitmuxsink", name)?;
    mux.set_property("location", location.to_string_lossy().as_ref());
    mux.set_property("max-size-time", fragment_ns);
    pipeline.add(&mux).map_err(|e| RecordError::Build(format!("{name}: {e}")))?;
    Ok(mux)
}

/// appsrc ─▶ parser ─▶ queue ─▶ `mux`'s `pad` (request); returns the appsrc.
fn branch(
    pipeline: &gst::Pipeline,
    name: &str,
    parser: &'static str,
    mux: &gst::Element,
    pad: &str,
) -> Result<gst::Element, RecordError> {
    let src = make("appsrc", name)?;
    src.set_property_from_str("format", "time");
    src.set_property("is-live", true);
    src.set_property("do-timestamp", false);
    src.set_property("block", false);
    src.set_property("max-bytes", APPSRC_MAX_BYTES);
    src.set_property_from_str("leaky-type", "downstream");
    let parse = make(parser, &format!("{name}-parse"))?;
    let queue = make("queue", &format!("{name}-queue"))?;
    let build = |e: String| RecordError::Build(format!("{name}: {e}"));
    pipeline.add_many([&src, &parse, &queue]).map_err(|e| build(e.to_string()))?;
    gst::Element::link_many([&src, &parse, &queue]).map_err(|e| build(e.to_string()))?;
    let sink = mux.request_pad_simple(pad).ok_or_else(|| build(format!("no {pad} pad on the muxer")))?;
    let src_pad = queue.static_pad("src").ok_or_else(|| build("queue without src".into()))?;
    src_pad.link(&sink).map_err(|e| build(e.to_string()))?;
    Ok(src)
}

/// Copies what enters the live payloader into `src`, on the recording's timeline.
fn tap(pad: &gst::Pad, track: Track, src: gst::Element, timeline: Arc<Timeline>) -> Option<gst::PadProbeId> {
    use std::sync::atomic::{AtomicBool, Ordering};
    let (caps_set, started) = (AtomicBool::new(false), AtomicBool::new(false));
    pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
        let Some(buffer) = info.buffer() else { return gst::PadProbeReturn::Ok };
        // Each stream on the live pipeline's running time (an encoder may shift its timestamps,
        // x264enc by 1000 h, and says so in its segment).
        let Some(pts) = running_time(pad, buffer.pts()) else { return gst::PadProbeReturn::Ok };
        let dts = buffer.dts().zip(buffer.pts()).and_then(|(d, p)| (pts + d).checked_sub(p));
        let keyframe = !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT);
        let base = {
            let mut base = lock(&timeline.base);
            match (track, *base) {
                (Track::CameraVideo, None) if keyframe => {
                    *lock(&timeline.wall_ms) = Some(lectern_common::time::unix_ms());
                    *base.insert(pts)
                }
                (_, None) => return gst::PadProbeReturn::Ok,
                (_, Some(b)) => b,
            }
        };
        // Video starts at a keyframe, so each file decodes from its first frame.
        if track != Track::CameraAudio && !started.load(Ordering::Relaxed) && !keyframe {
            return gst::PadProbeReturn::Ok;
        }
        let Some(rebased) = pts.checked_sub(base) else { return gst::PadProbeReturn::Ok };
        started.store(true, Ordering::Relaxed);
        if !caps_set.swap(true, Ordering::Relaxed)
            && let Some(caps) = pad.current_caps()
        {
            src.set_property("caps", &caps);
        }
        let mut copy = buffer.copy();
        {
            let c = copy.make_mut();
            c.set_pts(rebased);
            c.set_dts(dts.and_then(|d| d.checked_sub(base)));
        }
        // A full queue drops (leaky); a finished recording refuses: either way the live path goes on.
        let _ = src.emit_by_name::<gst::FlowReturn>("push-buffer", &[&copy]);
        gst::PadProbeReturn::Ok
    })
}

/// `ts` on `pad`'s running time (its sticky segment's), `None` outside the segment.
fn running_time(pad: &gst::Pad, ts: Option<gst::ClockTime>) -> Option<gst::ClockTime> {
    let ts = ts?;
    let event = pad.sticky_event::<gst::event::Segment>(0)?;
    let segment = event.segment().downcast_ref::<gst::ClockTime>()?;
    segment.to_running_time(ts)
}

fn untap(taps: &Taps) {
    for (pad, id) in lock(taps).drain(..) {
        pad.remove_probe(id);
    }
}

/// Asks the encoder upstream of `pad` for a keyframe now, so the recording does not wait for the
/// next one (the keyframe interval).
fn ask_keyframe(pad: &gst::Pad) {
    let s = gst::Structure::builder("GstForceKeyUnit").field("all-headers", true).build();
    if !pad.push_event(gst::event::CustomUpstream::new(s)) {
        tracing::debug!(pad = %pad.name(), "keyframe request not handled; the recording starts at the next keyframe");
    }
}

/// A thread on the recording's bus: closed fragments are noted; an error (a full disk) stops the
/// recording there (the live pipeline is not touched); end of stream is signalled to `stop`.
/// What the bus thread shares with the recorder.
struct Bus {
    taps: Taps,
    failure: Arc<Mutex<Option<String>>>,
    closed: Arc<Mutex<Vec<PathBuf>>>,
    stopping: Arc<std::sync::atomic::AtomicBool>,
    timeline: Arc<Timeline>,
    eos: mpsc::Sender<()>,
}

/// A fragment opened at `running` (its first sample, on the recording's timeline): its sidecar
/// says when that was on the box's clock.
fn note_start(location: &str, running: gst::ClockTime, timeline: &Timeline) {
    let Some(wall) = *lock(&timeline.wall_ms) else { return };
    let start = wall.saturating_add(running.mseconds());
    if let Err(e) = std::fs::write(start_marker(Path::new(location)), start.to_string()) {
        tracing::warn!(file = %location, %e, "could not note where the file starts; the hub will line it up at the lesson's start");
    }
}

fn watch_bus(pipeline: &gst::Pipeline, shared: Bus) -> Result<std::thread::JoinHandle<()>, RecordError> {
    let Bus { taps, failure, closed, stopping, timeline, eos } = shared;
    let bus = pipeline.bus().ok_or_else(|| RecordError::Build("the recording pipeline has no bus".into()))?;
    let weak = pipeline.downgrade();
    std::thread::Builder::new()
        .name("record-bus".into())
        .spawn(move || {
            while !stopping.load(std::sync::atomic::Ordering::SeqCst) {
                let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(200)) else { continue };
                match msg.view() {
                    gst::MessageView::Error(err) => {
                        let element = msg.src().map(|s| s.name().to_string()).unwrap_or_default();
                        let reason = format!("{element}: {}", err.error());
                        tracing::error!(%reason, "recording failed: it stops, the lesson goes on");
                        untap(&taps);
                        lock(&failure).get_or_insert(reason);
                        if let Some(p) = weak.upgrade() {
                            let _ = p.set_state(gst::State::Null);
                        }
                        let _ = eos.send(());
                        return;
                    }
                    gst::MessageView::Eos(_) => {
                        let _ = eos.send(());
                    }
                    gst::MessageView::Element(e) => {
                        if let Some(s) = e.structure().filter(|s| s.name() == "splitmuxsink-fragment-opened")
                            && let (Ok(location), Ok(running)) =
                                (s.get::<String>("location"), s.get::<gst::ClockTime>("running-time"))
                        {
                            note_start(&location, running, &timeline);
                            continue;
                        }
                        let Some(s) = e.structure().filter(|s| s.name() == "splitmuxsink-fragment-closed") else {
                            continue;
                        };
                        if let Ok(location) = s.get::<String>("location") {
                            tracing::info!(file = %location, "recording fragment closed");
                            lock(&closed).push(PathBuf::from(location));
                        }
                    }
                    _ => {}
                }
            }
        })
        .map_err(|e| RecordError::Build(format!("starting the recording's bus thread: {e}")))
}
