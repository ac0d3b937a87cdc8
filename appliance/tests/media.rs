//! Real GStreamer on test sources: no camera, no hub.

use std::time::Duration;

use gstreamer as gst;
use gstreamer::prelude::*;
use lectern_appliance::media::{
    self, DtlsCertificate, InboundMonitor, MediaError, MediaSettings, TestPattern, build_pipeline, create_offer,
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
