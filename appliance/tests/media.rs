//! Real GStreamer on test sources: no camera, no hub.

mod common;

use common::{settles_to, watch_pad};

use std::time::Duration;

use gstreamer as gst;
use gstreamer::prelude::*;
use lectern_appliance::media::{
    self, ContentSettings, DtlsCertificate, InboundMonitor, MediaError, MediaSettings, TestPattern, VideoSettings,
    build_pipeline, create_offer,
};

fn settings() -> MediaSettings {
    media::init().expect("GStreamer initialises");
    MediaSettings::virtual_sources(TestPattern::Ball)
}

#[test]
fn virtual_pipeline_plays_and_offers_h264_and_opus_with_candidates() {
    let pipeline = build_pipeline(&settings()).expect("pipeline builds");
    pipeline.play().expect("pipeline plays");
    let (result, state, _) = pipeline.gst_pipeline().state(gst::ClockTime::from_seconds(10));
    assert!(result.is_ok(), "state change: {result:?}");
    assert_eq!(state, gst::State::Playing);

    let certificate = DtlsCertificate::generate().expect("certificate");
    certificate.install(pipeline.webrtcbin()).expect("certificate installed");
    let offer = create_offer(pipeline.webrtcbin(), Duration::from_secs(10)).expect("offer");
    let offer = certificate.with_fingerprint(&offer);
    let has = |needle: &str| offer.lines().any(|l| l.contains(needle));
    assert!(has("m=video") && has("a=rtpmap:96 H264/90000"), "no H264 m-line:\n{offer}");
    assert!(has("m=audio") && has("a=rtpmap:111 OPUS/48000/2"), "no opus m-line:\n{offer}");
    assert!(has("packetization-mode=1"), "browsers need packetization-mode=1:\n{offer}");
    assert!(has("a=sendonly"), "transceivers are send-only:\n{offer}");
    assert!(has("a=group:BUNDLE"), "max-bundle:\n{offer}");
    assert!(has("a=candidate:"), "gathered candidates are in the offer:\n{offer}");
    assert!(has(certificate.fingerprint()), "offer names our ECDSA certificate:\n{offer}");
    assert!(InboundMonitor::attach(pipeline.webrtcbin()).is_some(), "the ICE source is found once the offer is set");
    assert!(is_constrained_baseline(&offer), "Chromium decodes constrained baseline:\n{offer}");
}

#[test]
fn missing_encoder_is_named_in_the_error() {
    let mut settings = settings();
    settings.video.encoder = "nosuchh264enc".to_owned();
    let err = build_pipeline(&settings).err().expect("build fails");
    assert!(matches!(&err, MediaError::MissingElement { element, .. } if element == "nosuchh264enc"));
    assert!(err.to_string().contains("'nosuchh264enc' not available"), "{err}");
}

#[test]
fn dropping_a_playing_pipeline_returns_it_to_null() {
    let pipeline = build_pipeline(&settings()).expect("pipeline builds");
    pipeline.play().expect("pipeline plays");
    let inner = pipeline.gst_pipeline().clone();
    drop(pipeline);
    assert_eq!(inner.current_state(), gst::State::Null);
}

/// profile_idc 0x42 with constraint_set1 (what libwebrtc calls constrained baseline).
fn is_constrained_baseline(offer: &str) -> bool {
    let Some((_, rest)) = offer.split_once("profile-level-id=") else {
        return false;
    };
    let hex = |range| rest.get(range).and_then(|s| u8::from_str_radix(s, 16).ok());
    matches!((hex(0..2), hex(2..4)), (Some(0x42), Some(c)) if c & 0x40 != 0)
}

#[test]
fn mute_and_privacy_toggle_on_a_playing_pipeline() {
    let mut settings = settings();
    settings.video.width = 320;
    settings.video.height = 240;
    let pipeline = build_pipeline(&settings).expect("pipeline builds");
    let (events_tx, events) = std::sync::mpsc::channel();
    pipeline.watch(move |event| {
        let _ = events_tx.send(event);
    });
    // Black in limited-range YUV is Y=16; silence is all-zero samples.
    let video = watch_pad(&pipeline, "video-privacy", 16);
    let audio = watch_pad(&pipeline, "audio-mute", 0);
    pipeline.play().expect("pipeline plays");

    settles_to(&video, false, "picture before privacy");
    settles_to(&audio, false, "tone before mute");
    pipeline.set_privacy(true).expect("privacy on");
    pipeline.set_muted(true).expect("mute on");
    settles_to(&video, true, "privacy sends black frames");
    settles_to(&audio, true, "mute sends silence");
    pipeline.set_privacy(false).expect("privacy off");
    pipeline.set_muted(false).expect("mute off");
    settles_to(&video, false, "picture after privacy");
    settles_to(&audio, false, "tone after mute");

    let errors: Vec<_> = events.try_iter().filter(|e| matches!(e, media::MediaEvent::Error { .. })).collect();
    assert!(errors.is_empty(), "no pipeline errors: {errors:?}");
}

#[test]
fn controls_in_the_settings_apply_from_the_first_frame() {
    let mut settings = settings();
    settings.controls = media::Controls { muted: true, privacy: true };
    let pipeline = build_pipeline(&settings).expect("pipeline builds");
    let audio = watch_pad(&pipeline, "audio-mute", 0);
    pipeline.play().expect("pipeline plays");
    assert_eq!(audio.recv_timeout(Duration::from_secs(10)).ok(), Some(true), "the first audio buffer is silent");
}

#[test]
fn capture_with_audio_processing_builds_a_dsp_stage() {
    let mut settings = settings();
    settings.source = media::Source::Capture { camera: "/dev/video-none".into(), mic: Some("hw:9".into()) };
    settings.audio = media::AudioProcessing { aec: true, ns: true, agc: false };
    let pipeline = build_pipeline(&settings).expect("builds without opening devices");
    let dsp = pipeline.gst_pipeline().by_name("audio-dsp").expect("webrtcdsp in the chain");
    assert!(!dsp.property::<bool>("echo-cancel"), "no echo probe, no echo cancellation");
    assert!(dsp.property::<bool>("noise-suppression") && !dsp.property::<bool>("gain-control"));

    let probe = media::EchoProbe::new().expect("webrtcechoprobe exists");
    let options = media::PipelineOptions { echo: Some(probe.clone()), ..Default::default() };
    let pipeline = media::build_pipeline_with(&settings, &options).expect("builds with the probe");
    let dsp = pipeline.gst_pipeline().by_name("audio-dsp").expect("webrtcdsp in the chain");
    assert!(dsp.property::<bool>("echo-cancel"), "AEC against the probe");
    assert_eq!(dsp.property::<String>("probe"), probe.name());
}

#[test]
fn test_tones_are_sent_without_audio_processing_even_with_a_probe() {
    let mut settings = settings();
    settings.audio = media::AudioProcessing { aec: true, ns: true, agc: true };
    let probe = media::EchoProbe::new().expect("webrtcechoprobe exists");
    let options = media::PipelineOptions { echo: Some(probe), ..Default::default() };
    let pipeline = media::build_pipeline_with(&settings, &options).expect("builds");
    assert!(pipeline.gst_pipeline().by_name("audio-dsp").is_none(), "a sine tone has nothing to clean");
}

/// The offer's m-line sections (`m=` up to the next `m=`).
fn m_sections(offer: &str) -> Vec<String> {
    let mut sections: Vec<String> = Vec::new();
    for line in offer.lines() {
        if line.starts_with("m=") {
            sections.push(String::new());
        }
        if let Some(section) = sections.last_mut() {
            section.push_str(line);
            section.push('\n');
        }
    }
    sections
}

#[test]
fn content_is_a_second_video_m_line_marked_as_slides() {
    let mut settings = settings();
    let mut video = VideoSettings { width: 1280, height: 720, framerate: 5, ..VideoSettings::default() };
    video.bitrate_kbps = 800;
    settings.content = Some(ContentSettings { device: "virtual".into(), video, mode: None });
    let pipeline = build_pipeline(&settings).expect("pipeline builds");
    pipeline.play().expect("pipeline plays");
    let offer = create_offer(pipeline.webrtcbin(), Duration::from_secs(10)).expect("offer");
    let sections = m_sections(&offer);
    let videos: Vec<&String> = sections.iter().filter(|s| s.starts_with("m=video")).collect();
    assert_eq!(videos.len(), 2, "camera and content:\n{offer}");
    let marked: Vec<&&String> = videos.iter().filter(|s| s.lines().any(|l| l == "a=content:slides")).collect();
    assert_eq!(marked.len(), 1, "exactly the content m-line says a=content:slides:\n{offer}");
    let content = marked[0];
    assert!(content.contains("a=sendonly") && content.contains("H264/90000"), "H.264, send-only:\n{content}");
    assert!(content.contains("packetization-mode=1"), "browsers need packetization-mode=1:\n{content}");
    assert!(is_constrained_baseline(content), "Chromium decodes constrained baseline:\n{content}");
    assert!(sections.iter().any(|s| s.starts_with("m=audio")), "the microphone is still there:\n{offer}");
}

#[test]
fn a_capture_in_mjpeg_is_opened_in_its_mode_and_decoded_before_the_content_encoder() {
    let mut settings = settings();
    settings.source = media::Source::Capture { camera: "/dev/video-none".into(), mic: Some("hw:9".into()) };
    let video = VideoSettings { width: 1920, height: 1080, framerate: 5, ..VideoSettings::default() };
    let mode = media::CameraMode { codec: media::CameraCodec::Mjpeg, width: 1920, height: 1080, fps: 5 };
    settings.content = Some(ContentSettings { device: "/dev/video-hdmi".into(), video, mode: Some(mode) });
    let pipeline = build_pipeline(&settings).expect("builds without opening devices");
    let src = pipeline.gst_pipeline().by_name("content-src").expect("the content capture");
    assert_eq!(src.property::<String>("device"), "/dev/video-hdmi");
    let caps = pipeline.gst_pipeline().by_name("content-capture-caps").expect("its mode").property::<gst::Caps>("caps");
    assert_eq!(caps.structure(0).map(|s| s.name().to_string()).as_deref(), Some("image/jpeg"));
    assert!(pipeline.gst_pipeline().by_name("content-decode").is_some(), "jpegdec before the encoder");
    assert!(pipeline.gst_pipeline().by_name("content-enc").is_some(), "its own encoder");
}
