//! The return-feed pipeline on real GStreamer, headless: no hub, no devices.

use std::time::Duration;

use gstreamer as gst;
use gstreamer::prelude::*;
use lectern_appliance::media::{
    self, AUDIO_SLOTS, DtlsCertificate, PlaybackOutput, PlaybackSettings, build_playback, create_offer,
};

fn headless() -> PlaybackSettings {
    media::init().expect("GStreamer initialises");
    PlaybackSettings { output: PlaybackOutput::Headless, ice_addresses: vec![[127, 0, 0, 1].into()] }
}

#[test]
fn headless_playback_plays_and_offers_three_audio_slots_and_one_video_slot() {
    let playback = build_playback(&headless()).expect("playback builds");
    playback.pipeline.play().expect("playback plays");
    let (result, state, _) = playback.pipeline.gst_pipeline().state(gst::ClockTime::from_seconds(10));
    assert!(result.is_ok(), "state change: {result:?}");
    assert_eq!(state, gst::State::Playing, "PLAYING without any stream from the hub yet");

    let certificate = DtlsCertificate::generate().expect("certificate");
    certificate.install(playback.pipeline.webrtcbin()).expect("certificate installed");
    let offer = create_offer(playback.pipeline.webrtcbin(), Duration::from_secs(10)).expect("offer");
    let offer = certificate.with_fingerprint(&offer);
    let count = |prefix: &str| offer.lines().filter(|l| l.starts_with(prefix)).count();
    let has = |needle: &str| offer.lines().any(|l| l.contains(needle));
    assert_eq!(count("m=audio"), AUDIO_SLOTS, "audio slots:\n{offer}");
    assert_eq!(count("m=video"), 1, "one video slot:\n{offer}");
    assert_eq!(count("a=recvonly"), AUDIO_SLOTS + 1, "every slot receives only:\n{offer}");
    assert!(has("OPUS/48000/2"), "opus:\n{offer}");
    assert!(has("H264/90000") && has("VP8/90000"), "video offers H.264 and VP8:\n{offer}");
    assert!(has("profile-level-id=42e01f") && has("profile-level-id=42001f"), "both H.264 profiles:\n{offer}");
    assert!(has("nack pli"), "keyframe requests negotiated:\n{offer}");
    assert!(has("a=group:BUNDLE") && has("a=candidate:"), "bundled, with candidates:\n{offer}");
    assert!(has(certificate.fingerprint()), "offer names our ECDSA certificate:\n{offer}");
}

#[test]
fn silence_is_measured_and_no_video_is_counted_before_a_student_shows_up() {
    let playback = build_playback(&headless()).expect("playback builds");
    let (tx, rx) = std::sync::mpsc::channel();
    let sink = playback.pipeline.gst_pipeline().by_name("return-speaker").expect("audio sink");
    sink.static_pad("sink").expect("sink pad").add_probe(gst::PadProbeType::BUFFER, move |_, _| {
        let _ = tx.send(());
        gst::PadProbeReturn::Ok
    });
    playback.pipeline.play().expect("playback plays");
    rx.recv_timeout(Duration::from_secs(5)).expect("the speaker gets (silent) audio while nobody talks");
    assert_eq!(playback.stats.audio_level_db(), None, "silence has no level");
    assert_eq!((playback.stats.video_frames(), playback.stats.video_codec()), (0, None));
}

#[test]
fn dropping_playback_returns_it_to_null() {
    let playback = build_playback(&headless()).expect("playback builds");
    playback.pipeline.play().expect("playback plays");
    let inner = playback.pipeline.gst_pipeline().clone();
    drop(playback);
    assert_eq!(inner.current_state(), gst::State::Null);
}
