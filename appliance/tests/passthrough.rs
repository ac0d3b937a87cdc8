//! Camera modes. A camera that encodes H.264 itself is passed through: no encoder on the
//! camera's path. No camera here, so the camera side is only built; its stand-in (encoded
//! black, used while the camera is lost or covered for privacy) really plays.

mod common;

use std::time::Duration;

use gstreamer::prelude::*;
use lectern_appliance::media::{
    self, CameraCodec, CameraMode, MediaSettings, MediaStats, PipelineOptions, Source, TestPattern,
    build_pipeline_with, create_offer,
};

fn h264_camera() -> (MediaSettings, PipelineOptions) {
    media::init().expect("GStreamer initialises");
    let mut settings = MediaSettings::virtual_sources(TestPattern::Smpte);
    settings.source = Source::Capture { camera: "/dev/video-none".into(), mic: Some("hw:9".into()) };
    (settings.video.width, settings.video.height, settings.video.framerate) = (320, 240, 15);
    let mode = CameraMode { codec: CameraCodec::H264, width: 320, height: 240, fps: 15 };
    (settings, PipelineOptions { camera_mode: Some(mode), ..PipelineOptions::default() })
}

#[test]
fn the_cameras_h264_goes_to_the_payloader_without_an_encoder() {
    let (settings, options) = h264_camera();
    let pipeline = build_pipeline_with(&settings, &options).expect("builds without opening the camera");
    assert!(pipeline.passes_through());
    let bin = pipeline.gst_pipeline();
    let caps = bin.by_name("video-camera-caps").expect("camera caps").property::<gstreamer::Caps>("caps");
    assert_eq!(caps.structure(0).map(|s| s.name().as_str()), Some("video/x-h264"), "{caps}");
    // Follow the camera's path downstream: parser, selector, payloader, and nothing that encodes.
    let mut element = bin.by_name("video-src").expect("camera source");
    let mut path = Vec::new();
    while let Some(next) = element.static_pad("src").and_then(|p| p.peer()).and_then(|p| p.parent_element()) {
        path.push(next.factory().map(|f| f.name().to_string()).unwrap_or_default());
        if next.name() == "video-pay" {
            break;
        }
        element = next;
    }
    assert_eq!(path, ["capsfilter", "capsfilter", "input-selector", "h264parse", "rtph264pay"]);
    assert!(bin.by_name("video-privacy").is_none(), "no raw picture to paint in pass-through");
}

#[test]
fn a_lost_pass_through_camera_sends_encoded_black_and_privacy_works() {
    let (settings, mut options) = h264_camera();
    options.camera_lost = true;
    let pipeline = build_pipeline_with(&settings, &options).expect("builds");
    common::drop_rtp(&pipeline);
    let stats = MediaStats::attach(pipeline.gst_pipeline()).expect("frames are counted at the payloader");
    options_mic_lost(&pipeline);
    pipeline.play().expect("plays on the stand-in");
    // Polled with a deadline: the counter has no notification of its own.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while stats.totals().0 < 5 {
        assert!(std::time::Instant::now() < deadline, "no encoded stand-in frames reached the payloader");
        std::thread::sleep(Duration::from_millis(50));
    }
    pipeline.set_privacy(true).expect("privacy covers the camera with the stand-in");
}

/// The test's "microphone" (hw:9) does not exist either.
fn options_mic_lost(pipeline: &media::Pipeline) {
    pipeline.use_stand_in(lectern_appliance::media::SourceKind::Microphone).expect("silent stand-in");
}

#[test]
fn the_offer_of_a_pass_through_pipeline_has_h264() {
    let (settings, mut options) = h264_camera();
    options.camera_lost = true;
    options.mic_lost = true;
    let pipeline = build_pipeline_with(&settings, &options).expect("builds");
    pipeline.play().expect("plays on the stand-ins");
    let offer = create_offer(pipeline.webrtcbin(), Duration::from_secs(10)).expect("offer");
    assert!(offer.contains("H264/90000") && offer.contains("packetization-mode=1"), "{offer}");
    assert!(offer.contains("profile-level-id=42"), "a baseline profile browsers decode:\n{offer}");
}

#[test]
fn an_mjpeg_camera_is_opened_in_mjpeg_and_decoded_before_scaling() {
    let (settings, mut options) = h264_camera();
    options.camera_mode = Some(CameraMode { codec: CameraCodec::Mjpeg, width: 640, height: 480, fps: 30 });
    let pipeline = build_pipeline_with(&settings, &options).expect("builds without opening the camera");
    assert!(!pipeline.passes_through());
    let bin = pipeline.gst_pipeline();
    let caps = bin.by_name("video-camera-caps").expect("camera caps").property::<gstreamer::Caps>("caps");
    assert_eq!(caps.structure(0).map(|s| s.name().as_str()), Some("image/jpeg"), "{caps}");
    let next = |name: &str| {
        bin.by_name(name)
            .and_then(|e| e.static_pad("src"))
            .and_then(|p| p.peer())
            .and_then(|p| p.parent_element())
            .map(|e| e.name().to_string())
    };
    assert_eq!(next("video-camera-caps").as_deref(), Some("video-camera-decode"));
    assert_eq!(next("video-camera-decode").as_deref(), Some("video-camera-convert"));
    assert!(bin.by_name("video-privacy").is_some(), "decoded pictures can be painted black");
}
