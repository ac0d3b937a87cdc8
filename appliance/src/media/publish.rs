//! Builds the publishing pipeline: the room's camera, microphone and laptop towards webrtcbin.
//! Running it is `Pipeline`'s job, SDP is `negotiate`'s.
//!
//! ```text
//!  virtual: videotestsrc is-live ─▶ timeoverlay ──────────────┐
//!  capture: v4l2src ─▶ videoconvert ─▶ videoscale ─▶ videorate ┤
//!                                     I420,WxH,F/1 ◀───────────┘
//!    ─▶ input-selector (◀─ black stand-in while the camera is lost, see `standin`)
//!    ─▶ videobalance (privacy: black) ─▶ videoconvert ─▶ video/x-raw,WxH,F/1 ─▶ queue
//!    ─▶ [nvvidconv] ─▶ H.264 encoder (the ladder's pick) ─▶ video/x-h264,constrained-baseline
//!    ─▶ rtph264pay ─▶ application/x-rtp,H264,pt=96 ──────────────────────────┐
//!    (with `video.simulcast` layers: a tee after video/x-raw,WxH, then per   │
//!     layer videoscale ─▶ encoder ─▶ rtph264pay rid=…, merged by rtpfunnel ──┤
//!     on the same m-line: see `simulcast`)                                   │
//!                                                                            ▼
//!                                                        webrtcbin (max-bundle, sendonly)
//!                                                                            ▲
//!    audiotestsrc is-live sine 440 Hz │ alsasrc │ appsrc (echo-test room)       │
//!    [─▶ S16LE 48 kHz ─▶ webrtcdsp (AEC against the EchoProbe, NS, AGC)]       │
//!    ─▶ audioconvert ─▶ audioresample ─▶ S16LE 48 kHz mono                     │
//!    ─▶ input-selector (◀─ silent stand-in while the microphone is lost)       │
//!    ─▶ volume (mute) ─▶ level ─▶ queue ─▶ opusenc ─▶ rtpopuspay               │
//!    ─▶ application/x-rtp,OPUS,pt=111 ─────────────────────────────────────────┘
//!
//!  [content] (the laptop's HDMI capture, `a=content:slides`): see `content` ─▶ webrtcbin
//! ```
//!
//! `level` measures what is sent (after processing and mute): `Pipeline::mic_level`.

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_webrtc as gst_webrtc;

use super::MediaError;
use super::SourceKind;
use super::camera_mode::{CameraCodec, CameraMode};
use super::chain::{AUDIO_PT, Chain, VIDEO_PT, i420_caps, video_payloader};
use super::controls;
use super::echo::EchoProbe;
use super::element::{add_error, capsfilter, check_consent, gather_on, leaky_queue, make};
use super::encoder::encoder_elements;
use super::pipeline::{CAMERA_PARSE, MessageHook, Pipeline};
use super::settings::{AudioProcessing, MediaSettings, Source, VideoSettings};
use super::simulcast;
use super::standin;
use super::stats::{AudioLevel, rms_channels};

/// Name of the webrtcbin inside the pipeline.
const WEBRTCBIN: &str = "webrtc";
/// The `level` on the sent audio.
const MIC_LEVEL: &str = "audio-level";
/// How often the sent audio's level is reported, in nanoseconds.
const MIC_LEVEL_INTERVAL_NS: u64 = 100_000_000;

/// What a publish pipeline needs besides `MediaSettings`; the runner decides it per pipeline.
#[derive(Clone, Default)]
pub struct PipelineOptions {
    /// Echo cancellation against what this probe hears played (when `settings.audio.aec` and
    /// the source is a room). Without one AEC stays off. It must outlive the pipeline's run.
    pub echo: Option<EchoProbe>,
    /// Devices known to be gone: the pipeline starts on their stand-ins and never opens them.
    pub camera_lost: bool,
    pub mic_lost: bool,
    pub content_lost: bool,
    /// Test hook for virtual sources: the test camera is "plugged in" only while this file
    /// exists (see `standin::unplug_with`).
    pub virtual_camera_plug: Option<std::path::PathBuf>,
    /// The same for the virtual content source (the teacher's laptop).
    pub virtual_content_plug: Option<std::path::PathBuf>,
    /// The camera mode chosen from its probed formats (`choose_mode`); `None` lets `v4l2src`
    /// negotiate raw video. Ignored for virtual sources.
    pub camera_mode: Option<CameraMode>,
    /// Measurement hook for virtual sources: frames flip white/black with the wall clock's
    /// seconds (see `flash`).
    pub flash: bool,
}

/// Builds (but does not start) the publishing pipeline described in the module drawing,
/// without echo cancellation.
pub fn build_pipeline(settings: &MediaSettings) -> Result<Pipeline, MediaError> {
    build_pipeline_with(settings, &PipelineOptions::default())
}

pub fn build_pipeline_with(settings: &MediaSettings, options: &PipelineOptions) -> Result<Pipeline, MediaError> {
    validate(&settings.video)?;
    let pipeline = gst::Pipeline::with_name("lectern-publish");
    let webrtcbin = make("webrtcbin", WEBRTCBIN)?;
    webrtcbin.set_property_from_str("bundle-policy", "max-bundle");
    check_consent(&webrtcbin);
    gather_on(&webrtcbin, &settings.ice_addresses);
    pipeline.add(&webrtcbin).map_err(|_| add_error("webrtcbin"))?;

    let mut chains = vec![
        (SourceKind::Camera, video_chain(settings, options)?),
        (SourceKind::Microphone, audio_chain(settings, options.echo.as_ref())?),
    ];
    if let Some(content) = &settings.content {
        validate(&content.video)?;
        let plug = options.virtual_content_plug.as_deref();
        chains.push((SourceKind::Content, super::content::content_chain(&settings.source, content, plug)?));
    }
    for (kind, chain) in chains {
        standin::join(&pipeline, kind, &chain.device, &chain.caps, chain.stand_in_filters, &chain.rest)?;
        // Invariant: `rest` is never empty (it ends in an RTP capsfilter, or the simulcast tee).
        let last = chain.rest.last().expect("chain has elements");
        let funnel = match kind {
            SourceKind::Camera => simulcast::fan_out(&pipeline, &settings.video)?,
            SourceKind::Microphone | SourceKind::Content => None,
        };
        link_sendonly(funnel.as_ref().unwrap_or(last), &webrtcbin)?;
        if let Some(funnel) = &funnel {
            simulcast::announce(funnel, &settings.video, VIDEO_PT as i32)?;
        }
    }

    let mic_level = AudioLevel::default();
    let on_level = mic_level.clone();
    let hook: MessageHook = Box::new(move |msg| {
        if let gst::MessageView::Element(element) = msg.view()
            && msg.src().is_some_and(|src| src.name() == MIC_LEVEL)
            && let Some(s) = element.structure().filter(|s| s.name() == "level")
        {
            on_level.report(&rms_channels(s));
        }
    });
    let pipeline = Pipeline::assemble(pipeline, webrtcbin, Some(hook)).with_mic_level(mic_level);
    let lost = [
        (SourceKind::Camera, options.camera_lost),
        (SourceKind::Microphone, options.mic_lost),
        (SourceKind::Content, options.content_lost && settings.content.is_some()),
    ];
    for (kind, lost) in lost {
        if lost {
            pipeline.use_stand_in(kind)?;
        }
    }
    Ok(pipeline)
}

/// The same limits as the configuration (`box_config::limits`): settings built by hand (tests, the
/// bench) are held to what a configuration file could say.
fn validate(video: &VideoSettings) -> Result<(), MediaError> {
    use lectern_common::box_config::limits;
    let ok = limits::WIDTH.contains(&video.width)
        && limits::HEIGHT.contains(&video.height)
        && limits::FRAMERATE.contains(&video.framerate)
        && limits::BITRATE_KBPS.contains(&video.bitrate_kbps)
        && limits::KEYFRAME_INTERVAL_S.contains(&video.keyframe_interval_s);
    if ok {
        Ok(())
    } else {
        Err(MediaError::InvalidSettings(format!(
            "{}x{} at {} fps, {} kbit/s, a keyframe every {} s is out of range",
            video.width, video.height, video.framerate, video.bitrate_kbps, video.keyframe_interval_s
        )))
    }
}

fn video_chain(settings: &MediaSettings, options: &PipelineOptions) -> Result<Chain, MediaError> {
    let mut device = Vec::new();
    match &settings.source {
        Source::Virtual { pattern } | Source::EchoRoom { pattern, .. } => {
            let src = make("videotestsrc", "video-src")?;
            src.set_property("is-live", true);
            src.set_property_from_str("pattern", pattern.nick());
            if let Some(plug) = &options.virtual_camera_plug {
                super::standin::unplug_with(&src, SourceKind::Camera, plug.clone())?;
            }
            if options.flash {
                // I420 so the painter knows where the luma plane ends.
                src.set_property_from_str("pattern", "black");
                super::flash::flash_with_wall_clock(&src)?;
            }
            device.push(src);
            device.push(make("timeoverlay", "video-clock")?);
        }
        Source::Capture { camera, .. } => {
            let src = make("v4l2src", "video-src")?;
            src.set_property("device", camera);
            device.push(src);
            if let Some(mode) = &options.camera_mode {
                device.push(capsfilter("video-camera-caps", mode.caps())?);
                if mode.passes_through() {
                    if !settings.video.simulcast.is_empty() {
                        tracing::warn!(
                            "the camera encodes H.264 itself, which cannot be simulcast; publishing one layer"
                        );
                    }
                    return passthrough_chain(device, &settings.video);
                }
                if mode.codec == CameraCodec::Mjpeg {
                    device.push(make("jpegdec", "video-camera-decode")?);
                }
            }
            device.push(make("videoconvert", "video-camera-convert")?);
            device.push(make("videoscale", "video-scale")?);
            device.push(make("videorate", "video-rate")?);
        }
    }
    let v = &settings.video;
    // The camera and its black stand-in meet in this format, so switching never renegotiates.
    let caps = i420_caps(v);
    let (width, height) = (i32::try_from(v.width).unwrap_or(i32::MAX), i32::try_from(v.height).unwrap_or(i32::MAX));
    let framerate = gst::Fraction::new(i32::try_from(v.framerate).unwrap_or(30), 1);
    let raw = gst::Caps::builder("video/x-raw")
        .field("width", width)
        .field("height", height)
        .field("framerate", framerate)
        .build();
    let mut rest = vec![
        controls::privacy_filter(settings.controls.privacy)?,
        make("videoconvert", "video-convert")?,
        capsfilter("video-raw-caps", raw)?,
    ];
    if v.simulcast.is_empty() {
        rest.push(leaky_queue("video-queue")?);
        rest.extend(encoder_elements(&v.encoder, v)?);
        rest.extend(video_payloader()?);
    } else {
        // Each layer encodes on its own branch from here (see `simulcast`).
        rest.push(make("tee", simulcast::TEE)?);
    }
    Ok(Chain { device, caps, stand_in_filters: Vec::new(), rest })
}

/// A camera's own H.264 straight to the payloader: no decode, no encoder, no copy of the
/// picture. Its black stand-in is encoded by the ladder's encoder to the same stream format.
///
/// ```text
///  v4l2src ─▶ video/x-h264,WxH,F ─▶ byte-stream/au ─▶ input-selector ─▶ h264parse ─▶ rtph264pay
///  videotestsrc black ─▶ I420,WxH,F ─▶ encoder ─────────┘
/// ```
fn passthrough_chain(device: Vec<gst::Element>, v: &VideoSettings) -> Result<Chain, MediaError> {
    let caps =
        gst::Caps::builder("video/x-h264").field("stream-format", "byte-stream").field("alignment", "au").build();
    let mut stand_in_filters = vec![capsfilter("video-standin-raw", i420_caps(v))?];
    stand_in_filters.extend(encoder_elements(&v.encoder, v)?);
    // One parser after the selector, straight before the payloader: it hands the payloader
    // caps with the stream's profile and level, from which the offer's profile-level-id comes.
    // A parser per branch in front of the selector left the offer without its H.264 fmtp in
    // some runs. It also repeats SPS/PPS before every keyframe, so a late subscriber, or the
    // switch to the stand-in and back, decodes from the next keyframe on.
    let parse = make("h264parse", CAMERA_PARSE)?;
    parse.set_property("config-interval", -1i32);
    let mut rest = vec![parse];
    rest.extend(video_payloader()?);
    Ok(Chain { device, caps, stand_in_filters, rest })
}

fn audio_chain(settings: &MediaSettings, probe: Option<&EchoProbe>) -> Result<Chain, MediaError> {
    let src = match &settings.source {
        Source::Virtual { .. } => {
            let src = make("audiotestsrc", "audio-src")?;
            src.set_property("is-live", true);
            src.set_property_from_str("wave", "sine");
            src.set_property("freq", 440.0f64);
            src.set_property("volume", 0.3f64);
            src
        }
        Source::Capture { mic, .. } => {
            let src = make("alsasrc", "audio-src")?;
            if let Some(device) = mic {
                src.set_property("device", device);
            }
            src
        }
        Source::EchoRoom { channel, .. } => super::echo::room_microphone(channel)?,
    };
    let mut device = vec![src];
    if settings.source.hears_a_room() && settings.audio.any() {
        device.extend(audio_processing(settings.audio, probe)?);
    }
    device.extend([make("audioconvert", "audio-convert")?, make("audioresample", "audio-resample")?]);
    // Mono: a room microphone is one voice channel, and the silent stand-in must match it.
    let caps = gst::Caps::builder("audio/x-raw")
        .field("format", "S16LE")
        .field("layout", "interleaved")
        .field("rate", 48_000i32)
        .field("channels", 1i32)
        .build();
    let pay = make("rtpopuspay", "audio-pay")?;
    pay.set_property("pt", AUDIO_PT);
    let rtp = gst::Caps::builder("application/x-rtp")
        .field("media", "audio")
        .field("encoding-name", "OPUS")
        .field("payload", AUDIO_PT as i32)
        .field("clock-rate", 48_000i32)
        .build();
    let level = make("level", MIC_LEVEL)?;
    level.set_property("post-messages", true);
    level.set_property("interval", MIC_LEVEL_INTERVAL_NS);
    let rest = vec![
        controls::mute_filter(settings.controls.muted)?,
        level,
        make("queue", "audio-queue")?,
        make("opusenc", "audio-enc")?,
        pay,
        capsfilter("audio-rtp-caps", rtp)?,
    ];
    Ok(Chain { device, caps, stand_in_filters: Vec::new(), rest })
}

/// webrtcdsp wants interleaved S16 at one of its rates; 48 kHz is also what Opus encodes and
/// what the return feed plays (the probe's rate must match the dsp's).
fn audio_processing(audio: AudioProcessing, probe: Option<&EchoProbe>) -> Result<Vec<gst::Element>, MediaError> {
    let dsp = make("webrtcdsp", "audio-dsp")?;
    // Echo cancellation without its probe makes webrtcdsp refuse to start: without one the
    // microphone is still cleaned (NS, AGC), just not of the speaker's sound.
    let aec = match probe {
        Some(probe) if audio.aec => {
            dsp.set_property("probe", probe.name());
            true
        }
        _ => {
            if audio.aec {
                tracing::warn!("echo cancellation is on but there is no echo probe; off for this pipeline");
            }
            false
        }
    };
    dsp.set_property("echo-cancel", aec);
    // The canceller finds the speaker-to-microphone delay itself instead of from timestamps.
    // Measured here: pairing by timestamps left the echo within 2 dB even in one pipeline
    // (webrtc-audio-processing 0.3); delay-agnostic removes it, and it does not need the two
    // pipelines to share a clock.
    dsp.set_property("delay-agnostic", aec);
    dsp.set_property("noise-suppression", audio.ns);
    dsp.set_property("gain-control", audio.agc);
    // Mono, like the echo probe (see `echo::PROBE_CHANNELS`): webrtcdsp sizes the far end from
    // the probe only if the probe already has caps when the microphone starts, which it does
    // not when the return feed starts later; with equal formats the order cannot matter.
    let caps = gst::Caps::builder("audio/x-raw")
        .field("format", "S16LE")
        .field("rate", 48_000i32)
        .field("channels", super::echo::PROBE_CHANNELS)
        .build();
    Ok(vec![
        make("audioconvert", "audio-dsp-convert")?,
        make("audioresample", "audio-dsp-resample")?,
        capsfilter("audio-dsp-caps", caps)?,
        dsp,
    ])
}

/// Links an RTP branch to a new webrtcbin sink pad and makes its transceiver send-only:
/// the appliance never receives on its publish connection.
fn link_sendonly(last: &gst::Element, webrtcbin: &gst::Element) -> Result<(), MediaError> {
    let link_err = || MediaError::Link { from: last.name().to_string(), to: WEBRTCBIN.to_owned() };
    let sink = webrtcbin.request_pad_simple("sink_%u").ok_or_else(link_err)?;
    let src = last.static_pad("src").ok_or_else(link_err)?;
    src.link(&sink).map_err(|_| link_err())?;
    let transceiver = sink.property::<gst_webrtc::WebRTCRTPTransceiver>("transceiver");
    transceiver.set_property("direction", gst_webrtc::WebRTCRTPTransceiverDirection::Sendonly);
    Ok(())
}
