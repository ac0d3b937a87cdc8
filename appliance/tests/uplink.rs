//! The uplink adaptation's lever on real GStreamer: the camera's x264 encoders (main picture and a
//! simulcast layer) take new bitrates while playing, and what they encode follows. No hub here:
//! the controller's decisions are unit-tested on simulated time (`uplink::controller`).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer::prelude::*;

use lectern_appliance::media::{self, MediaSettings, SimulcastLayer, TestPattern, build_pipeline, set_layer_bitrates};

/// Encoded (presentation time, bytes) of the main picture.
type Log = Arc<Mutex<Vec<(Duration, usize)>>>;

/// Waits until the main picture's encoder has output a frame at or after `pts`.
fn wait_for_pts(log: &Log, pts: Duration, deadline: Duration) {
    let start = Instant::now();
    loop {
        let last = log.lock().unwrap().last().map(|&(t, _)| t);
        if last.is_some_and(|t| t >= pts) {
            return;
        }
        assert!(start.elapsed() < deadline, "no encoded frame at {pts:?} within {deadline:?} (last {last:?})");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// kbit/s encoded between `from` and `to` (stream time).
fn rate_kbps(log: &Log, from: Duration, to: Duration) -> f64 {
    let bytes: usize = log.lock().unwrap().iter().filter(|&&(t, _)| t >= from && t < to).map(|&(_, b)| b).sum();
    bytes as f64 * 8.0 / 1000.0 / (to - from).as_secs_f64()
}

#[test]
fn the_camera_encoders_take_new_bitrates_while_playing_and_the_byte_rate_follows() {
    media::init().expect("GStreamer initialises");
    let mut settings = MediaSettings::virtual_sources(TestPattern::Ball);
    (settings.video.width, settings.video.height, settings.video.bitrate_kbps) = (640, 360, 1200);
    settings.video.simulcast = vec![SimulcastLayer { width: 320, height: 180, bitrate_kbps: 300 }];
    let pipeline = build_pipeline(&settings).expect("pipeline builds");
    let gst_pipeline = pipeline.gst_pipeline().clone();
    // Noise cannot be compressed: the encoder spends all the bitrate it is given.
    let src = gst_pipeline.by_name("video-src").expect("the virtual camera");
    src.set_property_from_str("pattern", "snow");
    let log: Log = Arc::default();
    let enc = gst_pipeline.by_name("video-enc").expect("the main picture's encoder");
    let sink = Arc::clone(&log);
    enc.static_pad("src").expect("encoder output").add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        if let Some(buffer) = info.buffer()
            && let Some(pts) = buffer.pts()
        {
            sink.lock().unwrap().push((Duration::from_nanos(pts.nseconds()), buffer.size()));
        }
        gst::PadProbeReturn::Ok
    });
    // No hub: webrtcbin holds its input until negotiated, which would stall the encoders behind
    // the first packet that reaches it. No packet goes further than the layers here.
    for name in ["video-rtp-caps", "video-rtp-caps-h"] {
        let pad = gst_pipeline.by_name(name).and_then(|e| e.static_pad("src")).expect("a layer's RTP caps");
        pad.add_probe(gst::PadProbeType::BUFFER, |_, _| gst::PadProbeReturn::Drop);
    }
    pipeline.play().expect("pipeline plays");

    wait_for_pts(&log, Duration::ZERO, Duration::from_secs(60));
    // Stream time starts where the live source joined the clock: measure from the first frame.
    let first = log.lock().unwrap()[0].0;
    wait_for_pts(&log, first + Duration::from_secs(4), Duration::from_secs(60));
    assert!(set_layer_bitrates(&gst_pipeline, &[250, 100]), "x264enc takes a bitrate while playing");
    let changed_at = log.lock().unwrap().last().map(|&(t, _)| t).expect("frames");
    assert_eq!(enc.property::<u32>("bitrate"), 250);
    let layer = gst_pipeline.by_name("video-enc-h").expect("the layer's encoder");
    assert_eq!(layer.property::<u32>("bitrate"), 100);
    wait_for_pts(&log, changed_at + Duration::from_secs(4), Duration::from_secs(60));

    let before = rate_kbps(&log, first + Duration::from_secs(1), changed_at);
    // The rate control settles within a second or so (its VBV buffer).
    let after = rate_kbps(&log, changed_at + Duration::from_millis(1500), changed_at + Duration::from_secs(4));
    pipeline.shutdown();
    println!("main picture: {before:.0} kbit/s at 1200, {after:.0} kbit/s at 250");
    assert!(before > 700.0, "noise at 1200 kbit/s encodes near it: {before:.0}");
    assert!(
        after < 450.0 && after < before / 2.0,
        "the byte rate follows the new bitrate: {after:.0} after {before:.0}"
    );
}

#[test]
fn setting_bitrates_says_when_it_cannot() {
    media::init().expect("GStreamer initialises");
    let empty = gst::Pipeline::new();
    assert!(!set_layer_bitrates(&empty, &[500]), "no encoder");
    let mut settings = MediaSettings::virtual_sources(TestPattern::Ball);
    settings.video.simulcast = vec![SimulcastLayer { width: 320, height: 180, bitrate_kbps: 150 }];
    let pipeline = build_pipeline(&settings).expect("pipeline builds");
    assert!(!set_layer_bitrates(pipeline.gst_pipeline(), &[500, 100, 50]), "a third layer that does not exist");
    assert!(!set_layer_bitrates(pipeline.gst_pipeline(), &[]), "nothing to set");
    pipeline.shutdown();
}
