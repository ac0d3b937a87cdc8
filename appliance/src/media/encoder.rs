//! The encoder ladder: walk a preference list of H.264 encoders and take the first that really
//! encodes, then tune it. "Really" matters: `vaapih264enc` or `v4l2h264enc` can be registered
//! on a box whose driver then refuses to open, so each candidate encodes a few test frames first.
//!
//! The choice goes through `EncoderRegistry`, so tests can describe a box without hardware.

use std::time::Duration;

use gstreamer as gst;
use gstreamer::prelude::*;

use super::MediaError;
use super::element::{capsfilter, make};
use super::settings::VideoSettings;

/// How long a candidate may take to produce its first encoded frame. Hardware encoders open
/// their device and allocate buffers on the first frame; a second is plenty for all of them.
pub const DEFAULT_TEST_DEADLINE: Duration = Duration::from_secs(5);
const TEST_FRAMES: i32 = 30;
const FIRST_OUTPUT: &str = "lectern-encoder-output";

/// What the ladder needs to know about the machine.
pub trait EncoderRegistry {
    /// Whether an element factory of this name is registered.
    fn is_available(&self, factory: &str) -> bool;
    /// Encodes a few test frames with `factory`; `Err` says why it did not work.
    fn test_start(&self, factory: &str) -> Result<(), String>;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub encoder: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncoderChoice {
    pub encoder: String,
    /// The candidates before it, and why each was passed over.
    pub skipped: Vec<Skipped>,
}

/// The first encoder of `ladder` that is registered and starts.
pub fn choose_encoder(registry: &dyn EncoderRegistry, ladder: &[String]) -> Result<EncoderChoice, MediaError> {
    let mut skipped = Vec::new();
    for encoder in ladder {
        let outcome =
            if registry.is_available(encoder) { registry.test_start(encoder) } else { Err("not installed".to_owned()) };
        match outcome {
            Ok(()) => return Ok(EncoderChoice { encoder: encoder.clone(), skipped }),
            Err(reason) => skipped.push(Skipped { encoder: encoder.clone(), reason }),
        }
    }
    let tried = skipped.iter().map(|s| format!("{} ({})", s.encoder, s.reason)).collect::<Vec<_>>().join(", ");
    Err(MediaError::NoEncoder { tried })
}

/// The real registry: GStreamer's, with a test pipeline per candidate.
#[derive(Debug, Clone, Copy)]
pub struct GstEncoderRegistry {
    pub deadline: Duration,
}

impl Default for GstEncoderRegistry {
    fn default() -> Self {
        Self { deadline: DEFAULT_TEST_DEADLINE }
    }
}

impl EncoderRegistry for GstEncoderRegistry {
    fn is_available(&self, factory: &str) -> bool {
        gst::ElementFactory::find(factory).is_some()
    }

    fn test_start(&self, factory: &str) -> Result<(), String> {
        let pipeline = test_pipeline(factory).map_err(|e| e.to_string())?;
        let result = run_until_first_output(&pipeline, self.deadline);
        let _ = pipeline.set_state(gst::State::Null);
        result
    }
}

/// `videotestsrc num-buffers=30 ! 320x240 ! videoconvert ! [upload] ! ENCODER ! constrained-baseline ! fakesink`
fn test_pipeline(factory: &str) -> Result<gst::Pipeline, MediaError> {
    let video = VideoSettings { width: 320, height: 240, bitrate_kbps: 300, ..VideoSettings::default() };
    let pipeline = gst::Pipeline::with_name(&format!("lectern-encoder-test-{factory}"));
    let src = make("videotestsrc", "test-src")?;
    src.set_property("num-buffers", TEST_FRAMES);
    let raw = gst::Caps::builder("video/x-raw").field("width", 320i32).field("height", 240i32).build();
    let mut chain = vec![src, capsfilter("test-raw", raw)?, make("videoconvert", "test-convert")?];
    chain.extend(encoder_elements(factory, &video)?);
    chain.push(make("fakesink", "test-sink")?);
    let link_error =
        |a: &gst::Element, b: &gst::Element| MediaError::Link { from: a.name().into(), to: b.name().into() };
    for element in &chain {
        pipeline.add(element).map_err(|_| link_error(element, pipeline.upcast_ref()))?;
    }
    for pair in chain.windows(2) {
        pair[0].link(&pair[1]).map_err(|_| link_error(&pair[0], &pair[1]))?;
    }
    if let Some(pad) = pipeline.by_name("video-enc").and_then(|enc| enc.static_pad("src")) {
        pad.add_probe(gst::PadProbeType::BUFFER, |pad, _| {
            if let Some(element) = pad.parent_element() {
                let msg = gst::message::Application::new(gst::Structure::new_empty(FIRST_OUTPUT));
                let _ = element.post_message(msg);
            }
            gst::PadProbeReturn::Remove
        });
    }
    Ok(pipeline)
}

fn run_until_first_output(pipeline: &gst::Pipeline, deadline: Duration) -> Result<(), String> {
    // Invariant: a pipeline always has a bus.
    let bus = pipeline.bus().expect("pipeline has a bus");
    let started = pipeline.set_state(gst::State::Playing);
    let wanted = [gst::MessageType::Error, gst::MessageType::Application, gst::MessageType::Eos];
    let timeout = gst::ClockTime::from_nseconds(u64::try_from(deadline.as_nanos()).unwrap_or(u64::MAX));
    match bus.timed_pop_filtered(timeout, &wanted) {
        Some(msg) => match msg.view() {
            gst::MessageView::Application(app) if app.structure().is_some_and(|s| s.name() == FIRST_OUTPUT) => Ok(()),
            gst::MessageView::Error(err) => Err(format!("failed to start: {}", err.error())),
            _ => Err("ended without producing a frame".to_owned()),
        },
        None if started.is_err() => Err("could not go to PLAYING".to_owned()),
        None => Err(format!("no frame within {:.1}s", deadline.as_secs_f64())),
    }
}

/// The encoder, tuned, with what it needs around it: an upload element before it where it
/// only takes device memory, and caps after it that pin the profile browsers decode.
pub(super) fn encoder_elements(factory: &str, video: &VideoSettings) -> Result<Vec<gst::Element>, MediaError> {
    named_encoder_elements("video", factory, video, RateControl::Constant)
}

/// How an encoder spends its bitrate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateControl {
    /// The configured rate, picture after picture: a camera's motion needs it, and the uplink
    /// adaptation and the hub's layer choice count on a steady rate.
    Constant,
    /// Quality first, the configured rate only as a ceiling: a slide that does not change costs
    /// next to nothing, a new slide up to the ceiling for a moment. The hub's allocator then sees
    /// slides at what they really cost (≈ 130 kbit/s for the test picture at 1080p5 instead of
    /// 580 with `Constant`), so a 600 kbit/s student gets them at full size beside a small camera.
    OnChange,
}

/// `encoder_elements` with element names starting `prefix-` (`content-enc`), for a second
/// encoder in the same pipeline.
pub(super) fn named_encoder_elements(
    prefix: &str,
    factory: &str,
    video: &VideoSettings,
    rate: RateControl,
) -> Result<Vec<gst::Element>, MediaError> {
    let mut chain = Vec::new();
    if factory == "nvv4l2h264enc" {
        // Jetson's encoder reads NVMM buffers only; nvvidconv copies system memory into them.
        chain.push(make("nvvidconv", &format!("{prefix}-upload"))?);
    }
    let enc = make(factory, &format!("{prefix}-enc"))?;
    configure(&enc, factory, video, rate);
    chain.push(enc);
    chain.push(capsfilter(&format!("{prefix}-h264-caps"), output_caps(factory, video))?);
    Ok(chain)
}

fn output_caps(factory: &str, video: &VideoSettings) -> gst::Caps {
    let caps = gst::Caps::builder("video/x-h264").field("profile", "constrained-baseline");
    if factory == "v4l2h264enc" {
        // The Pi's encoder fails to negotiate unless the level is fixed; 4 covers 1080p30,
        // 4.2 (its maximum) 1080p60.
        let macroblocks_per_s =
            u64::from(video.width.div_ceil(16) * video.height.div_ceil(16)) * u64::from(video.framerate);
        return caps.field("level", if macroblocks_per_s <= 245_760 { "4" } else { "4.2" }).build();
    }
    caps.build()
}

/// Changes the bitrate of the running encoder in `pipeline`, for encoders that take it while
/// playing. `false` when there is none or it cannot (the next pipeline gets the new figure).
pub fn set_live_bitrate(pipeline: &gst::Pipeline, kbps: u32) -> bool {
    pipeline.by_name("video-enc").is_some_and(|enc| set_encoder_bitrate(&enc, kbps))
}

/// Changes a playing encoder's bitrate in its own vocabulary; `false` for an encoder that cannot.
/// x264enc, vaapih264enc and openh264enc reconfigure their rate control on the next frame (no
/// keyframe); v4l2h264enc passes a changed `extra-controls` to the open device at once.
pub(super) fn set_encoder_bitrate(enc: &gst::Element, kbps: u32) -> bool {
    let Some(factory) = enc.factory().map(|f| f.name().to_string()) else { return false };
    let bps = u64::from(kbps) * 1000;
    let value = match factory.as_str() {
        "x264enc" | "vaapih264enc" => kbps.to_string(),
        "openh264enc" | "nvv4l2h264enc" => bps.to_string(),
        "v4l2h264enc" => {
            // The other controls stay as `configure` set them: the whole structure is replaced.
            let Ok(Some(mut controls)) = enc.property_value("extra-controls").get::<Option<gst::Structure>>() else {
                return false;
            };
            controls.set("video_bitrate", i32::try_from(bps).unwrap_or(i32::MAX));
            enc.set_property("extra-controls", controls);
            return true;
        }
        _ => return false,
    };
    set_property(enc, "bitrate", &value);
    true
}

/// Sets bitrate, keyframe interval and low-latency options in each encoder's own vocabulary.
fn configure(enc: &gst::Element, factory: &str, video: &VideoSettings, rate: RateControl) {
    for (name, value) in encoder_properties(factory, video, rate) {
        set_property(enc, name, &value);
    }
}

/// `configure`'s properties, as strings in each encoder's own vocabulary.
fn encoder_properties(factory: &str, video: &VideoSettings, rate: RateControl) -> Vec<(&'static str, String)> {
    let kbps = video.bitrate_kbps.to_string();
    let bps = (u64::from(video.bitrate_kbps) * 1000).to_string();
    let gop = (video.keyframe_interval_s.max(1) * video.framerate.max(1)).to_string();
    let on_change = rate == RateControl::OnChange;
    match factory {
        "x264enc" => {
            let mut props = vec![
                ("tune", "zerolatency".into()),
                ("speed-preset", "ultrafast".into()),
                ("bitrate", kbps),
                ("key-int-max", gop),
            ];
            if on_change {
                // Constant quality (CRF 23, text stays sharp); `bitrate` becomes the VBV ceiling.
                props.extend([("pass", "qual".into()), ("quantizer", SLIDES_CRF.to_string())]);
            }
            props
        }
        "openh264enc" => vec![
            ("rate-control", if on_change { "quality" } else { "bitrate" }.into()),
            ("complexity", "low".into()),
            ("bitrate", bps),
            ("gop-size", gop),
        ],
        "vaapih264enc" => {
            vec![
                ("rate-control", if on_change { "vbr" } else { "cbr" }.into()),
                ("bitrate", kbps),
                ("keyframe-period", gop),
            ]
        }
        "v4l2h264enc" => {
            // video_bitrate_mode: 0 variable, 1 constant.
            let mode = u8::from(!on_change);
            let controls = format!(
                "controls,video_bitrate_mode={mode},video_bitrate={bps},h264_i_frame_period={gop},repeat_sequence_header=1"
            );
            vec![("extra-controls", controls)]
        }
        "nvv4l2h264enc" => vec![
            // control-rate: 0 variable, 1 constant.
            ("control-rate", if on_change { "0" } else { "1" }.into()),
            ("bitrate", bps.clone()),
            ("peak-bitrate", bps),
            ("iframeinterval", gop.clone()),
            ("idrinterval", gop),
            ("profile", "0".into()),
            ("insert-sps-pps", "true".into()),
            ("maxperf-enable", "true".into()),
        ],
        other => {
            tracing::warn!(encoder = other, "unknown encoder: bitrate and keyframe interval left at its defaults");
            Vec::new()
        }
    }
}

/// x264's constant-quality factor for slides: lower is sharper and dearer.
const SLIDES_CRF: u32 = 23;

/// Sets a property from its string form, or warns: encoder versions differ in what they have,
/// and a missing knob should cost quality, not the lesson (glib panics on a bad `set_property`).
fn set_property(element: &gst::Element, name: &str, value: &str) {
    let factory = element.factory().map(|f| f.name().to_string()).unwrap_or_default();
    let Some(pspec) = element.find_property(name).filter(|p| p.flags().contains(gst::glib::ParamFlags::WRITABLE))
    else {
        tracing::warn!(element = %factory, property = name, "no such writable property; left at its default");
        return;
    };
    match gst::glib::Value::deserialize(value, pspec.value_type()) {
        Ok(v) if in_range(&pspec, &v) => element.set_property_from_value(name, &v),
        _ => tracing::warn!(element = %factory, property = name, value, "value not accepted; left at its default"),
    }
}

fn in_range(pspec: &gst::glib::ParamSpec, value: &gst::glib::Value) -> bool {
    use gst::glib::{ParamSpecInt, ParamSpecInt64, ParamSpecUInt, ParamSpecUInt64};
    if let Some(p) = pspec.downcast_ref::<ParamSpecUInt>() {
        return value.get::<u32>().is_ok_and(|v| (p.minimum()..=p.maximum()).contains(&v));
    }
    if let Some(p) = pspec.downcast_ref::<ParamSpecInt>() {
        return value.get::<i32>().is_ok_and(|v| (p.minimum()..=p.maximum()).contains(&v));
    }
    if let Some(p) = pspec.downcast_ref::<ParamSpecUInt64>() {
        return value.get::<u64>().is_ok_and(|v| (p.minimum()..=p.maximum()).contains(&v));
    }
    if let Some(p) = pspec.downcast_ref::<ParamSpecInt64>() {
        return value.get::<i64>().is_ok_and(|v| (p.minimum()..=p.maximum()).contains(&v));
    }
    true
}

#[cfg(test)]
#[path = "encoder_tests.rs"]
mod tests;
