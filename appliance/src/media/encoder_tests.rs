use std::cell::RefCell;
use std::collections::HashMap;

use super::*;

/// A machine described in a table: absent, present-but-broken or working encoders.
#[derive(Default)]
struct FakeRegistry {
    present: HashMap<&'static str, Result<(), &'static str>>,
    started: RefCell<Vec<String>>,
}

impl FakeRegistry {
    fn with(mut self, factory: &'static str, outcome: Result<(), &'static str>) -> Self {
        self.present.insert(factory, outcome);
        self
    }
}

impl EncoderRegistry for FakeRegistry {
    fn is_available(&self, factory: &str) -> bool {
        self.present.contains_key(factory)
    }

    fn test_start(&self, factory: &str) -> Result<(), String> {
        self.started.borrow_mut().push(factory.to_owned());
        self.present.get(factory).copied().unwrap_or(Err("absent")).map_err(str::to_owned)
    }
}

fn ladder() -> Vec<String> {
    crate::config::DEFAULT_ENCODERS.iter().map(|e| (*e).to_owned()).collect()
}

#[test]
fn without_hardware_encoders_the_ladder_falls_through_to_x264() {
    let registry = FakeRegistry::default().with("x264enc", Ok(())).with("openh264enc", Ok(()));
    let choice = choose_encoder(&registry, &ladder()).expect("an encoder");
    assert_eq!(choice.encoder, "x264enc");
    let skipped: Vec<_> = choice.skipped.iter().map(|s| (s.encoder.as_str(), s.reason.as_str())).collect();
    assert_eq!(
        skipped,
        [("v4l2h264enc", "not installed"), ("nvv4l2h264enc", "not installed"), ("vaapih264enc", "not installed")]
    );
    assert_eq!(*registry.started.borrow(), ["x264enc"], "absent encoders are not test-started");
}

#[test]
fn hardware_that_fails_to_start_is_skipped_with_its_reason() {
    let registry = FakeRegistry::default()
        .with("v4l2h264enc", Err("failed to start: Device '/dev/video11' is busy"))
        .with("vaapih264enc", Err("no frame within 5.0s"))
        .with("x264enc", Ok(()));
    let choice = choose_encoder(&registry, &ladder()).expect("an encoder");
    assert_eq!(choice.encoder, "x264enc");
    assert_eq!(choice.skipped[0].reason, "failed to start: Device '/dev/video11' is busy");
    assert_eq!(choice.skipped[2].reason, "no frame within 5.0s");
    assert_eq!(*registry.started.borrow(), ["v4l2h264enc", "vaapih264enc", "x264enc"]);
}

#[test]
fn working_hardware_wins() {
    let registry = FakeRegistry::default().with("nvv4l2h264enc", Ok(())).with("x264enc", Ok(()));
    let choice = choose_encoder(&registry, &ladder()).expect("an encoder");
    assert_eq!(choice.encoder, "nvv4l2h264enc");
    assert_eq!(choice.skipped.len(), 1);
}

#[test]
fn no_working_encoder_names_every_candidate() {
    let registry = FakeRegistry::default().with("x264enc", Err("broken"));
    let err = choose_encoder(&registry, &["v4l2h264enc".to_owned(), "x264enc".to_owned()]).expect_err("none");
    assert_eq!(err.to_string(), "no H.264 encoder works: tried v4l2h264enc (not installed), x264enc (broken)");
}

#[test]
fn the_real_registry_starts_x264_and_skips_missing_hardware() {
    super::super::init().expect("GStreamer initialises");
    let choice = choose_encoder(&GstEncoderRegistry::default(), &["nosuchh264enc".to_owned(), "x264enc".to_owned()])
        .expect("x264enc works on this machine");
    assert_eq!(choice.encoder, "x264enc");
    assert_eq!(choice.skipped, [Skipped { encoder: "nosuchh264enc".into(), reason: "not installed".into() }]);
}

#[test]
fn the_real_registry_test_starts_software_encoders() {
    super::super::init().expect("GStreamer initialises");
    let registry = GstEncoderRegistry { deadline: Duration::from_secs(5) };
    assert!(registry.test_start("openh264enc").is_ok(), "openh264enc is the last rung and works here");
    assert!(registry.test_start("nosuchh264enc").is_err());
}

#[test]
fn encoder_properties_follow_the_settings() {
    super::super::init().expect("GStreamer initialises");
    let video = VideoSettings { bitrate_kbps: 800, framerate: 25, keyframe_interval_s: 3, ..VideoSettings::default() };
    let x264 = &encoder_elements("x264enc", &video).expect("x264enc")[0];
    assert_eq!(x264.property::<u32>("bitrate"), 800);
    assert_eq!(x264.property::<u32>("key-int-max"), 75);
    let openh264 = &encoder_elements("openh264enc", &video).expect("openh264enc")[0];
    assert_eq!(openh264.property::<u32>("bitrate"), 800_000);
    assert_eq!(openh264.property::<u32>("gop-size"), 75);
}

#[test]
fn a_playing_x264_encoder_takes_a_new_bitrate() {
    crate::media::init().unwrap();
    let pipeline = gst::parse::launch(
        "videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=10/1 \
         ! x264enc name=video-enc bitrate=1500 tune=zerolatency speed-preset=ultrafast ! fakesink",
    )
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let (result, _, _) = pipeline.state(gst::ClockTime::from_seconds(10));
    result.unwrap();
    assert!(super::set_live_bitrate(&pipeline, 800));
    let enc = pipeline.by_name("video-enc").unwrap();
    assert_eq!(enc.property::<u32>("bitrate"), 800);
    pipeline.set_state(gst::State::Null).unwrap();
    let other = gst::Pipeline::new();
    assert!(!super::set_live_bitrate(&other, 800), "no encoder: not applied");
}
