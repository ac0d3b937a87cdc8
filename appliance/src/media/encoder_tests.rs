use std::cell::RefCell;
use std::collections::HashMap;

use gstreamer::glib;

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

#[test]
fn slides_encoders_spend_on_change_with_the_bitrate_as_ceiling() {
    super::super::init().expect("GStreamer initialises");
    let video = VideoSettings { bitrate_kbps: 1500, framerate: 5, keyframe_interval_s: 10, ..VideoSettings::default() };
    let x264 = &named_encoder_elements("content", "x264enc", &video, RateControl::OnChange).expect("x264enc")[0];
    assert_eq!(x264.property_value("pass").get::<&glib::EnumValue>().map(|v| v.nick()).ok(), Some("qual"));
    assert_eq!(x264.property::<u32>("bitrate"), 1500, "the ceiling");
    assert_eq!(x264.property::<u32>("key-int-max"), 50);
    let camera = &encoder_elements("x264enc", &video).expect("x264enc")[0];
    assert_eq!(camera.property_value("pass").get::<&glib::EnumValue>().map(|v| v.nick()).ok(), Some("cbr"));
    let openh264 =
        &named_encoder_elements("content", "openh264enc", &video, RateControl::OnChange).expect("openh264")[0];
    assert_eq!(
        openh264.property_value("rate-control").get::<&glib::EnumValue>().map(|v| v.nick()).ok(),
        Some("quality")
    );
}

/// Bytes out of `rate`'s x264 for 10 s of a still 1080p5 slide with a clock on it (what the
/// virtual box sends), a keyframe every `keyframe_interval_s`.
fn still_slide_bytes(rate: RateControl, keyframe_interval_s: u32) -> u64 {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    let video = VideoSettings {
        width: 1920,
        height: 1080,
        bitrate_kbps: 1500,
        framerate: 5,
        keyframe_interval_s,
        ..VideoSettings::default()
    };
    let pipeline = gst::Pipeline::new();
    let make = |factory: &str| gst::ElementFactory::make(factory).build().expect(factory);
    let src = gst::ElementFactory::make("videotestsrc").property_from_str("pattern", "white").build().unwrap();
    src.set_property("num-buffers", 50i32);
    let caps = gst::Caps::builder("video/x-raw")
        .field("width", 1920i32)
        .field("height", 1080i32)
        .field("framerate", gst::Fraction::new(5, 1))
        .build();
    let filter = gst::ElementFactory::make("capsfilter").property("caps", caps).build().unwrap();
    let text = make("textoverlay");
    text.set_property("text", "Slide 1: what a teacher's laptop shows");
    let mut chain: Vec<gst::Element> = vec![src, filter, text, make("timeoverlay"), make("videoconvert")];
    chain.extend(named_encoder_elements("content", "x264enc", &video, rate).expect("x264enc"));
    let sink = gst::ElementFactory::make("fakesink").property("signal-handoffs", true).build().unwrap();
    let bytes = Arc::new(AtomicU64::new(0));
    let counted = bytes.clone();
    sink.connect("handoff", false, move |args| {
        let buffer = args[1].get::<gst::Buffer>().expect("a buffer");
        counted.fetch_add(buffer.size() as u64, Ordering::Relaxed);
        None
    });
    chain.push(sink);
    pipeline.add_many(&chain).unwrap();
    gst::Element::link_many(&chain).unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    let msg =
        bus.timed_pop_filtered(gst::ClockTime::from_seconds(120), &[gst::MessageType::Eos, gst::MessageType::Error]);
    pipeline.set_state(gst::State::Null).unwrap();
    assert!(matches!(msg.as_ref().map(|m| m.view()), Some(gst::MessageView::Eos(_))), "{msg:?}");
    bytes.load(Ordering::Relaxed)
}

#[test]
fn a_still_slide_costs_a_fraction_of_what_it_did() {
    super::super::init().expect("GStreamer initialises");
    // Before: the camera's constant rate and its keyframe every 2 s. Now: quality first, a keyframe
    // every SLIDES_KEYFRAME_INTERVAL_S (10 s). Measured here for scale: 720 kB and 165 kB in 10 s.
    let before = still_slide_bytes(RateControl::Constant, 2);
    let now = still_slide_bytes(RateControl::OnChange, crate::content::SLIDES_KEYFRAME_INTERVAL_S);
    assert!(now * 2 < before, "now {now} B vs before {before} B");
    assert!(now < 1_500_000 / 8 * 10 / 4, "{now} B in 10 s is over a quarter of the 1500 kbit/s ceiling");
}
