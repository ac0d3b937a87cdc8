//! Builds the return-feed pipeline: what remote students say and show, played in the room.
//! The hub fills a fixed set of receive-only m-lines (three audio slots, one video slot) and
//! switches their sources without renegotiation, so the shape below never changes during a
//! lesson; only webrtcbin's source pads appear as media first arrives.
//!
//! ```text
//!                    ┌─ (per audio pad) rtpopusdepay ─▶ opusdec ─▶ audioconvert ─▶ audioresample ─┐
//!  webrtcbin         │                                                                          ▼
//!  (recvonly ×3 audio├─ audiotestsrc is-live silence ─▶ audioconvert ─────────────────────▶ audiomixer
//!   recvonly video:  │     ─▶ S16LE 48 kHz stereo ─▶ level ─▶ alsasink (speaker) │ fakesink (headless)
//!                    │
//!                    └─ (video pad) rtph264depay ─▶ avdec_h264 │ rtpvp8depay ─▶ vp8dec
//!                          ─▶ videoconvert ─▶ queue ─▶ input-selector ─▶ videoconvert
//!                          ─▶ textoverlay (raised hands) ─▶ kmssink (autovideosink if KMS is taken) │ fakesink (headless)
//! ```
//!
//! The silent source keeps the mixer and the speaker running while nobody talks: `level` then
//! reports silence instead of going quiet, and the speaker does not click on every first word.
//! The input selector lets a new video pad (the hub switched to a student sending the other
//! codec) take over the one display.

use std::net::IpAddr;

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_webrtc as gst_webrtc;

use super::MediaError;
use super::echo::EchoProbe;
use super::element::{add_and_link, add_error, capsfilter, check_consent, gather_on, make};
use super::pipeline::Pipeline;
use super::stats::{ReturnStats, rms_channels};

/// Audio m-lines offered: the hub fills them with the loudest remote participants.
pub const AUDIO_SLOTS: usize = 3;
/// Payload types offered; the hub maps its sources onto whatever we offer.
const OPUS_PT: i32 = 111;
const H264_PT: i32 = 96;
const VP8_PT: i32 = 97;
const H264_BASELINE_PT: i32 = 98;
const WEBRTCBIN: &str = "return-webrtc";
const MIXER: &str = "return-mixer";
const SELECTOR: &str = "return-video-select";
const HANDS: &str = "return-hands";
/// Jitter buffer depth: enough for a loopback or LAN hub without making the room lag behind.
const JITTER_MS: u32 = 150;
/// How often `level` reports, in nanoseconds.
const LEVEL_INTERVAL_NS: u64 = 100_000_000;

/// Where the return feed plays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlaybackOutput {
    /// The room's speaker (ALSA device, `None` = ALSA's default) and display (KMS).
    Devices { speaker: Option<String> },
    /// No device: decoded audio is measured and video frames counted, then dropped. `--virtual`.
    Headless,
    /// Like `Headless`, but the audio is "played into the room" of a `Source::EchoRoom` with the
    /// same `channel`: the publish pipeline's microphone hears it. For echo-cancellation tests.
    EchoRoom { channel: String },
}

/// Everything `build_playback` needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaybackSettings {
    pub output: PlaybackOutput,
    /// Addresses to gather ICE candidates on, as for publishing.
    pub ice_addresses: Vec<IpAddr>,
}

/// A built return-feed pipeline and the figures it keeps for the status endpoint. Dropping it
/// brings the pipeline back to `Null` (see `Pipeline`).
pub struct Playback {
    pub pipeline: Pipeline,
    pub stats: ReturnStats,
    /// Borrowed for this feed's life; handed back (removed from the bin) on drop.
    probe: Option<EchoProbe>,
}

impl Drop for Playback {
    /// Stops the pipeline and takes the echo probe out of it, so the next return feed can use
    /// it: the publish pipeline's webrtcdsp holds on to it by name for the whole lesson.
    fn drop(&mut self) {
        self.pipeline.shutdown();
        if let Some(probe) = &self.probe
            && self.pipeline.gst_pipeline().remove(probe.element()).is_err()
        {
            tracing::warn!("echo probe could not be taken out of the old return feed");
        }
    }
}

impl Playback {
    /// Shows `text` (raised hands) over the return feed's video; empty hides it.
    pub fn set_overlay(&self, text: &str) -> Result<(), MediaError> {
        let overlay = self.pipeline.gst_pipeline().by_name(HANDS).ok_or_else(|| add_error(HANDS))?;
        overlay.set_property("text", overlay_markup(text));
        Ok(())
    }
}

/// textoverlay reads its text as Pango markup; the names in it are typed by participants, so
/// `<span size="99999">` or a stray `&` must show as written, not restyle or blank the overlay.
fn overlay_markup(text: &str) -> String {
    gstreamer::glib::markup_escape_text(text).to_string()
}

/// Builds (but does not start) the pipeline drawn in the module comment, without echo probe.
pub fn build_playback(settings: &PlaybackSettings) -> Result<Playback, MediaError> {
    build(settings, None)
}

/// Like `build_playback`, with the speaker's audio through `probe`, so the publish pipeline's
/// webrtcdsp can cancel it (see `echo`). The probe plays in one return feed at a time.
pub fn build_playback_with_echo(settings: &PlaybackSettings, probe: &EchoProbe) -> Result<Playback, MediaError> {
    if probe.element().parent().is_some() {
        return Err(MediaError::InvalidSettings("the echo probe still plays in another return feed".to_owned()));
    }
    build(settings, Some(probe))
}

fn build(settings: &PlaybackSettings, probe: Option<&EchoProbe>) -> Result<Playback, MediaError> {
    let pipeline = gst::Pipeline::with_name("lectern-return");
    let webrtcbin = make("webrtcbin", WEBRTCBIN)?;
    webrtcbin.set_property_from_str("bundle-policy", "max-bundle");
    webrtcbin.set_property("latency", JITTER_MS);
    check_consent(&webrtcbin);
    gather_on(&webrtcbin, &settings.ice_addresses);
    pipeline.add(&webrtcbin).map_err(|_| add_error(WEBRTCBIN))?;
    add_transceivers(&webrtcbin)?;

    let stats = ReturnStats::default();
    let headless = !matches!(settings.output, PlaybackOutput::Devices { .. });
    let mut audio = audio_output(&settings.output)?;
    if let Some(probe) = probe {
        // Last before the sink: what it sees is what the room hears, its latency included.
        let sink = audio.pop();
        audio.extend(super::echo::probe_chain(probe)?);
        audio.extend(sink);
    }
    add_and_link(&pipeline, &audio)?;
    let video = video_output(&settings.output)?;
    add_and_link(&pipeline, &video)?;
    count_frames(&video[0], &stats)?;

    let weak = pipeline.downgrade();
    let on_pad_stats = stats.clone();
    webrtcbin.connect_pad_added(move |_, pad| {
        if pad.direction() != gst::PadDirection::Src {
            return;
        }
        let Some(pipeline) = weak.upgrade() else { return };
        if let Err(err) = on_media_pad(&pipeline, pad, &on_pad_stats, headless) {
            // Nothing can be returned from a signal: the bus error ends this feed and the
            // supervisor tries again later.
            tracing::warn!(%err, pad = %pad.name(), "return feed stream not playable");
            let message =
                gst::message::Error::builder(gst::CoreError::Negotiation, &err.to_string()).src(&pipeline).build();
            let _ = pipeline.post_message(message);
        }
    });

    let weak = pipeline.downgrade();
    let level_stats = stats.clone();
    let other = Box::new(move |msg: &gst::Message| match msg.view() {
        gst::MessageView::Element(element) => {
            if let Some(s) = element.structure().filter(|s| s.name() == "level") {
                level_stats.set_audio_level(&rms_channels(s));
            }
        }
        // A stream that arrives after PLAYING adds jitter-buffer latency the sinks do not know
        // about yet; without a recalculation its audio reaches the mixer late and is dropped.
        // Not on this (streaming) thread: `recalculate_latency` queries the whole pipeline.
        gst::MessageView::Latency(_) => {
            if let Some(pipeline) = weak.upgrade() {
                pipeline.call_async(|p| {
                    if p.recalculate_latency().is_err() {
                        tracing::debug!("return feed latency recalculation failed");
                    }
                });
            }
        }
        _ => {}
    });
    let pipeline = Pipeline::assemble(pipeline, webrtcbin, Some(other));
    Ok(Playback { pipeline, stats, probe: probe.cloned() })
}

/// Three Opus slots and one video slot that accepts H.264 or VP8 (Chromium's and Firefox's
/// default): the hub forwards a student's video only if its codec was offered. H.264 comes in
/// both profiles browsers send, constrained baseline (42e01f) and baseline (42001f): the hub
/// (str0m) matches profiles exactly and, for one we did not offer, writes its own payload type,
/// which webrtcbin cannot map and drops.
fn add_transceivers(webrtcbin: &gst::Element) -> Result<(), MediaError> {
    let opus = gst::Caps::builder("application/x-rtp")
        .field("media", "audio")
        .field("encoding-name", "OPUS")
        .field("payload", OPUS_PT)
        .field("clock-rate", 48_000i32)
        .field("encoding-params", "2")
        .build();
    let rtp_video = |name: &str, pt: i32| {
        gst::Structure::builder("application/x-rtp")
            .field("media", "video")
            .field("encoding-name", name)
            .field("payload", pt)
            .field("clock-rate", 90_000i32)
            // Keyframe requests reach the student's browser through the hub after a loss.
            .field("rtcp-fb-nack-pli", true)
            .field("rtcp-fb-ccm-fir", true)
    };
    let mut video = gst::Caps::new_empty();
    {
        // Invariant: a freshly created caps has one owner, so it is writable.
        let caps = video.get_mut().expect("new caps are writable");
        for (pt, profile) in [(H264_PT, "42e01f"), (H264_BASELINE_PT, "42001f")] {
            caps.append_structure(
                rtp_video("H264", pt)
                    .field("packetization-mode", "1")
                    .field("profile-level-id", profile)
                    .field("level-asymmetry-allowed", "1")
                    .build(),
            );
        }
        caps.append_structure(rtp_video("VP8", VP8_PT).build());
    }
    let slots = std::iter::repeat_n(&opus, AUDIO_SLOTS).chain(std::iter::once(&video));
    for caps in slots {
        let transceiver = webrtcbin.emit_by_name::<Option<gst_webrtc::WebRTCRTPTransceiver>>(
            "add-transceiver",
            &[&gst_webrtc::WebRTCRTPTransceiverDirection::Recvonly, caps],
        );
        if transceiver.is_none() {
            return Err(MediaError::Negotiation { step: "add-transceiver", detail: caps.to_string() });
        }
    }
    Ok(())
}

/// Silence → mixer → fixed format → level → speaker. The mixer's other inputs come per pad.
fn audio_output(output: &PlaybackOutput) -> Result<Vec<gst::Element>, MediaError> {
    let silence = make("audiotestsrc", "return-silence")?;
    silence.set_property("is-live", true);
    silence.set_property_from_str("wave", "silence");
    let mixer = make("audiomixer", MIXER)?;
    let caps = gst::Caps::builder("audio/x-raw")
        .field("format", "S16LE")
        .field("rate", 48_000i32)
        .field("channels", 2i32)
        .build();
    let level = make("level", "return-level")?;
    level.set_property("post-messages", true);
    level.set_property("interval", LEVEL_INTERVAL_NS);
    let sink = match output {
        PlaybackOutput::Devices { speaker } => {
            let sink = make("alsasink", "return-speaker")?;
            if let Some(device) = speaker {
                sink.set_property("device", device);
            }
            sink
        }
        PlaybackOutput::Headless => make("fakesink", "return-speaker")?,
        PlaybackOutput::EchoRoom { channel } => super::echo::room_speaker(channel, "return-speaker")?,
    };
    Ok(vec![
        silence,
        make("audioconvert", "return-silence-convert")?,
        mixer,
        capsfilter("return-audio-caps", caps)?,
        level,
        make("queue", "return-audio-queue")?,
        sink,
    ])
}

/// Selector → convert → display. Starts unfed, so the sink must not wait to preroll: with
/// `async` it would hold the whole pipeline out of PLAYING until a student shows up.
fn video_output(output: &PlaybackOutput) -> Result<Vec<gst::Element>, MediaError> {
    let sink = match output {
        PlaybackOutput::Devices { .. } => display_sink()?,
        PlaybackOutput::Headless | PlaybackOutput::EchoRoom { .. } => {
            let sink = make("fakesink", "return-display")?;
            sink.set_property("sync", false);
            sink
        }
    };
    // autovideosink (a bin) has no `async` of its own; it only chooses the sink, and the feed's
    // pipeline is live, so it does not hold PLAYING back either. Setting a missing property panics.
    if sink.find_property("async").is_some() {
        sink.set_property("async", false);
    }
    let hands = make("textoverlay", HANDS)?;
    // Top left, on a shaded band: readable over any picture from the back of the room.
    hands.set_property_from_str("valignment", "top");
    hands.set_property_from_str("halignment", "left");
    hands.set_property("shaded-background", true);
    hands.set_property("font-desc", "Sans Bold 28");
    Ok(vec![make("input-selector", SELECTOR)?, make("videoconvert", "return-display-convert")?, hands, sink])
}

/// KMS straight to the room's screen; when something else holds the display (a desktop
/// session on a laptop), whatever `autovideosink` finds.
fn display_sink() -> Result<gst::Element, MediaError> {
    if let Ok(kms) = make("kmssink", "return-display") {
        if kms.set_state(gst::State::Ready).is_ok() {
            let _ = kms.set_state(gst::State::Null);
            return Ok(kms);
        }
        let _ = kms.set_state(gst::State::Null);
        tracing::info!("kmssink cannot open the display; trying autovideosink");
    }
    // Without a desktop session autovideosink probes every sink it knows, and on Debian 12 one of
    // them crashed the process (SIGSEGV) on a machine with neither KMS nor X/Wayland. Nothing
    // can be shown there anyway: the feed still plays its sound and counts its frames.
    let desktop = ["DISPLAY", "WAYLAND_DISPLAY"].iter().any(|v| std::env::var_os(v).is_some_and(|d| !d.is_empty()));
    if !desktop {
        tracing::warn!("no display (no KMS, no DISPLAY/WAYLAND_DISPLAY): the return feed's video is not shown");
        let sink = make("fakesink", "return-display")?;
        sink.set_property("sync", false);
        return Ok(sink);
    }
    make("autovideosink", "return-display")
}

/// Counts decoded frames leaving the selector: what the room's screen is shown.
fn count_frames(selector: &gst::Element, stats: &ReturnStats) -> Result<(), MediaError> {
    let pad = selector.static_pad("src").ok_or_else(|| add_error(SELECTOR))?;
    let stats = stats.clone();
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
        stats.count_frame();
        gst::PadProbeReturn::Ok
    });
    Ok(())
}

/// A new source pad on webrtcbin: one slot's stream started. Builds its depay/decode branch
/// from the pad's caps and plugs it into the mixer or the selector. Runs on a streaming thread.
fn on_media_pad(
    pipeline: &gst::Pipeline,
    pad: &gst::Pad,
    stats: &ReturnStats,
    headless: bool,
) -> Result<(), MediaError> {
    let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
    let structure = caps.structure(0);
    let media = structure.and_then(|s| s.get::<&str>("media").ok()).unwrap_or("");
    let encoding = structure.and_then(|s| s.get::<&str>("encoding-name").ok()).unwrap_or("").to_ascii_uppercase();
    let id = pad.name().replace('_', "-");
    let (branch, target) = match (media, encoding.as_str()) {
        ("audio", "OPUS") => (audio_branch(&id)?, request_pad(pipeline, MIXER)?),
        ("video", codec @ ("H264" | "VP8")) => {
            let branch = video_branch(&id, codec, headless)?;
            stats.set_video_codec(if codec == "H264" { "H264" } else { "VP8" });
            (branch, request_pad(pipeline, SELECTOR)?)
        }
        _ => {
            // Something the offer did not ask for: swallow it rather than fail the feed.
            tracing::warn!(%caps, "unexpected stream in the return feed; discarding it");
            let discard = make("fakesink", &format!("return-discard-{id}"))?;
            // Joining a playing pipeline: waiting to preroll would take the pipeline out of PLAYING.
            discard.set_property("async", false);
            (vec![discard], None)
        }
    };
    plug(pipeline, pad, &branch, target.as_ref())?;
    if media == "video"
        && let Some(target) = target
    {
        // The newest stream is the one the hub switched to.
        if let Some(selector) = pipeline.by_name(SELECTOR) {
            selector.set_property("active-pad", &target);
        }
    }
    tracing::info!(%media, %encoding, pad = %pad.name(), "return feed stream started");
    Ok(())
}

fn audio_branch(id: &str) -> Result<Vec<gst::Element>, MediaError> {
    Ok(vec![
        make("rtpopusdepay", &format!("return-audio-depay-{id}"))?,
        make("opusdec", &format!("return-audio-dec-{id}"))?,
        make("audioconvert", &format!("return-audio-convert-{id}"))?,
        make("audioresample", &format!("return-audio-resample-{id}"))?,
    ])
}

fn video_branch(id: &str, codec: &str, headless: bool) -> Result<Vec<gst::Element>, MediaError> {
    let (depay, decoder) = match codec {
        "H264" => ("rtph264depay", "avdec_h264"),
        _ => ("rtpvp8depay", "vp8dec"),
    };
    let depay = make(depay, &format!("return-video-depay-{id}"))?;
    if depay.find_property("request-keyframe").is_some() {
        // Ask for a keyframe (PLI through the hub) after a loss instead of showing smears.
        depay.set_property("request-keyframe", true);
    }
    let queue = make("queue", &format!("return-video-queue-{id}"))?;
    if headless {
        // Frames are only counted: never hold the decoder back.
        queue.set_property_from_str("leaky", "downstream");
    }
    Ok(vec![
        depay,
        make(decoder, &format!("return-video-dec-{id}"))?,
        make("videoconvert", &format!("return-video-convert-{id}"))?,
        queue,
    ])
}

fn request_pad(pipeline: &gst::Pipeline, element: &str) -> Result<Option<gst::Pad>, MediaError> {
    let target = pipeline.by_name(element).ok_or_else(|| add_error(element))?;
    target.request_pad_simple("sink_%u").map(Some).ok_or_else(|| add_error(element))
}

/// Adds `branch` to the running pipeline, links `pad → branch → target`, and starts it from
/// the sink end so no element receives data before it can take it.
fn plug(
    pipeline: &gst::Pipeline,
    pad: &gst::Pad,
    branch: &[gst::Element],
    target: Option<&gst::Pad>,
) -> Result<(), MediaError> {
    add_and_link_in(pipeline, branch)?;
    // Invariant: every branch has at least one element.
    let (first, last) = (&branch[0], &branch[branch.len() - 1]);
    if let Some(target) = target {
        let link_err = || MediaError::Link { from: last.name().to_string(), to: target.name().to_string() };
        last.static_pad("src").ok_or_else(link_err)?.link(target).map_err(|_| link_err())?;
    }
    for element in branch.iter().rev() {
        element.sync_state_with_parent().map_err(|_| MediaError::StateChange {
            state: "PLAYING",
            detail: format!("'{}' did not start", element.name()),
        })?;
    }
    let link_err = || MediaError::Link { from: pad.name().to_string(), to: first.name().to_string() };
    let sink = first.static_pad("sink").ok_or_else(link_err)?;
    pad.link(&sink).map_err(|_| link_err())?;
    Ok(())
}

fn add_and_link_in(pipeline: &gst::Pipeline, branch: &[gst::Element]) -> Result<(), MediaError> {
    if branch.is_empty() {
        return Err(MediaError::Link { from: "(empty branch)".to_owned(), to: "pipeline".to_owned() });
    }
    add_and_link(pipeline, branch)
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_in_the_overlay_cannot_carry_markup() {
        let shown = super::overlay_markup("Hands up: <span size=\"99999\">Ada</span> & Bob");
        assert_eq!(shown, "Hands up: &lt;span size=&quot;99999&quot;&gt;Ada&lt;/span&gt; &amp; Bob");
        assert_eq!(super::overlay_markup("Hands up: Ada, Bob"), "Hands up: Ada, Bob");
    }
}
