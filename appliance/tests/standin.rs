//! A camera or microphone that fails mid-lesson is replaced by a stand-in on the playing
//! pipeline, and the device is reopened when it is back: real GStreamer, the virtual camera
//! "unplugged" through its test hook (a plug file), no hub.

mod common;

use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use common::{drop_rtp, settles_to, watch_pad};
use gstreamer as gst;
use gstreamer::prelude::*;
use lectern_appliance::media::SourceKind;
use lectern_appliance::media::{self, MediaEvent, MediaSettings, PipelineOptions, TestPattern, build_pipeline_with};

fn small_virtual() -> MediaSettings {
    media::init().expect("GStreamer initialises");
    let mut settings = MediaSettings::virtual_sources(TestPattern::Ball);
    (settings.video.width, settings.video.height, settings.video.framerate) = (320, 240, 15);
    settings
}

fn events(pipeline: &media::Pipeline) -> Receiver<MediaEvent> {
    let (tx, rx) = std::sync::mpsc::channel();
    pipeline.watch(move |event| {
        let _ = tx.send(event);
    });
    rx
}

/// Waits for the next error and says which device it is about.
fn next_source_error(events: &Receiver<MediaEvent>) -> (Option<SourceKind>, String) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match events.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(MediaEvent::Error { element, message }) => return (media::source_of(&element), message),
            Ok(_) => continue,
            Err(_) => panic!("no error before the deadline"),
        }
    }
}

#[test]
fn an_unplugged_camera_is_replaced_by_black_and_comes_back_when_replugged() {
    let dir = tempfile::tempdir().expect("temp dir");
    let plug = dir.path().join("camera");
    std::fs::write(&plug, b"").expect("plugged in");
    let options = PipelineOptions { virtual_camera_plug: Some(plug.clone()), ..PipelineOptions::default() };
    let pipeline = build_pipeline_with(&small_virtual(), &options).expect("pipeline builds");
    drop_rtp(&pipeline);
    let events = events(&pipeline);
    // Black in limited-range YUV is Y=16; what privacy sees is what is encoded.
    let video = watch_pad(&pipeline, "video-privacy", 16);
    let audio = watch_pad(&pipeline, "audio-mute", 0);
    pipeline.play().expect("pipeline plays");
    settles_to(&video, false, "the camera's picture");

    std::fs::remove_file(&plug).expect("unplugged");
    let (kind, message) = next_source_error(&events);
    assert_eq!(kind, Some(SourceKind::Camera), "the error names the camera: {message}");
    assert!(message.contains("unplugged"), "{message}");
    pipeline.use_stand_in(SourceKind::Camera).expect("stand-in");
    settles_to(&video, true, "black frames while the camera is gone");
    settles_to(&audio, false, "the microphone goes on");

    std::fs::write(&plug, b"").expect("plugged in again");
    pipeline.reopen(SourceKind::Camera).expect("reopened");
    settles_to(&video, false, "the camera's picture after the replug");
    let errors: Vec<_> = events.try_iter().filter(|e| matches!(e, MediaEvent::Error { .. })).collect();
    assert!(errors.is_empty(), "no further errors: {errors:?}");
}

#[test]
fn a_lost_microphone_sends_silence_and_is_reopened() {
    let pipeline = build_pipeline_with(&small_virtual(), &PipelineOptions::default()).expect("pipeline builds");
    drop_rtp(&pipeline);
    let audio = watch_pad(&pipeline, "audio-mute", 0);
    let video = watch_pad(&pipeline, "video-privacy", 16);
    pipeline.play().expect("pipeline plays");
    settles_to(&audio, false, "the tone");
    pipeline.use_stand_in(SourceKind::Microphone).expect("stand-in");
    settles_to(&audio, true, "silence while the microphone is gone");
    settles_to(&video, false, "the camera goes on");
    pipeline.reopen(SourceKind::Microphone).expect("reopened");
    settles_to(&audio, false, "the tone after reopening");
}

#[test]
fn a_camera_missing_at_start_is_never_opened_and_the_offer_still_has_video() {
    let dir = tempfile::tempdir().expect("temp dir");
    let plug = dir.path().join("camera");
    let options =
        PipelineOptions { camera_lost: true, virtual_camera_plug: Some(plug.clone()), ..PipelineOptions::default() };
    let pipeline = build_pipeline_with(&small_virtual(), &options).expect("pipeline builds");
    let events = events(&pipeline);
    let video = watch_pad(&pipeline, "video-privacy", 16);
    pipeline.play().expect("pipeline plays");
    settles_to(&video, true, "black from the first frame");
    let offer = media::create_offer(pipeline.webrtcbin(), Duration::from_secs(10)).expect("offer");
    assert!(offer.contains("m=video") && offer.contains("m=audio"), "both tracks offered:\n{offer}");
    let errors: Vec<_> = events.try_iter().filter(|e| matches!(e, MediaEvent::Error { .. })).collect();
    assert!(errors.is_empty(), "the missing camera was never opened: {errors:?}");
}

#[test]
fn a_microphone_that_will_not_open_is_named_and_its_stand_in_plays() {
    let mut settings = small_virtual();
    settings.source = media::Source::Capture { camera: "/dev/video-none".into(), mic: Some("hw:97,0".into()) };
    let options = PipelineOptions { camera_lost: true, ..PipelineOptions::default() };
    let pipeline = build_pipeline_with(&settings, &options).expect("pipeline builds");
    match pipeline.play() {
        Err(media::MediaError::SourceFailed { kind: SourceKind::Microphone, .. }) => {}
        other => panic!("expected the microphone to be named: {other:?}"),
    }
    let options = PipelineOptions { camera_lost: true, mic_lost: true, ..PipelineOptions::default() };
    let pipeline = build_pipeline_with(&settings, &options).expect("pipeline builds");
    drop_rtp(&pipeline);
    let audio = watch_pad(&pipeline, "audio-mute", 0);
    pipeline.play().expect("plays on both stand-ins");
    settles_to(&audio, true, "silence instead of the microphone");
}

/// What the content track's selector passes on: the capture's part or its stand-in's (none until
/// the first buffer reaches it).
fn content_input(pipeline: &media::Pipeline) -> Option<String> {
    let selector = pipeline.gst_pipeline().by_name("content-select").expect("content selector");
    let pad = selector.property::<Option<gst::Pad>>("active-pad")?;
    pad.peer().and_then(|p| p.parent_element()).map(|e| e.name().to_string())
}

/// Waits (10 s at most) until the content selector passes on `expected`'s output.
fn content_input_becomes(pipeline: &media::Pipeline, expected: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while content_input(pipeline).as_deref() != Some(expected) {
        assert!(Instant::now() < deadline, "content input is {:?}, not {expected}", content_input(pipeline));
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn an_unplugged_laptop_is_replaced_while_the_camera_and_microphone_go_on() {
    let dir = tempfile::tempdir().expect("temp dir");
    let plug = dir.path().join("laptop");
    std::fs::write(&plug, b"").expect("plugged in");
    let mut settings = small_virtual();
    let video = media::VideoSettings { width: 640, height: 360, framerate: 5, ..media::VideoSettings::default() };
    settings.content = Some(media::ContentSettings { device: "virtual".into(), video, mode: None });
    let options = PipelineOptions { virtual_content_plug: Some(plug.clone()), ..PipelineOptions::default() };
    let pipeline = build_pipeline_with(&settings, &options).expect("pipeline builds");
    drop_rtp(&pipeline);
    let events = events(&pipeline);
    let camera = watch_pad(&pipeline, "video-privacy", 16);
    let audio = watch_pad(&pipeline, "audio-mute", 0);
    pipeline.play().expect("pipeline plays");
    content_input_becomes(&pipeline, "content-device-caps");

    std::fs::remove_file(&plug).expect("unplugged");
    let (kind, message) = next_source_error(&events);
    assert_eq!(kind, Some(SourceKind::Content), "the error names the content source: {message}");
    assert!(message.contains("content unplugged"), "{message}");
    pipeline.use_stand_in(SourceKind::Content).expect("stand-in");
    content_input_becomes(&pipeline, "content-standin-caps");
    settles_to(&camera, false, "the camera goes on");
    settles_to(&audio, false, "the microphone goes on");

    std::fs::write(&plug, b"").expect("plugged in again");
    pipeline.reopen(SourceKind::Content).expect("reopened");
    content_input_becomes(&pipeline, "content-device-caps");
    settles_to(&camera, false, "the camera still goes on");
}
