//! Simulcast on real GStreamer test sources: the offer announces the layers, and each layer's
//! packets carry their RID. No hub here (see `tests/tests/simulcast.rs` for one).

use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_rtp as gst_rtp;

use lectern_appliance::media::{
    self, DtlsCertificate, MediaSettings, SimulcastLayer, TestPattern, build_pipeline, create_offer,
};

/// The id the appliance gives the RID header extension in its offer.
const RID_EXT_ID: u8 = 10;

/// 640x360 on top with one 320x180 layer below, both small enough for a loaded test machine.
fn two_layers() -> MediaSettings {
    media::init().expect("GStreamer initialises");
    let mut settings = MediaSettings::virtual_sources(TestPattern::Ball);
    settings.video.width = 640;
    settings.video.height = 360;
    settings.video.bitrate_kbps = 400;
    settings.video.simulcast = vec![SimulcastLayer { width: 320, height: 180, bitrate_kbps: 120 }];
    settings
}

#[test]
fn two_layer_offer_has_one_video_mline_with_rids_and_simulcast() {
    let pipeline = build_pipeline(&two_layers()).expect("pipeline builds");
    pipeline.play().expect("pipeline plays");
    let certificate = DtlsCertificate::generate().expect("certificate");
    certificate.install(pipeline.webrtcbin()).expect("certificate installed");
    let offer = create_offer(pipeline.webrtcbin(), Duration::from_secs(20)).expect("offer");
    println!("{offer}");
    let has = |needle: &str| offer.lines().any(|l| l.trim_end() == needle || l.starts_with(needle));
    assert_eq!(offer.lines().filter(|l| l.starts_with("m=video")).count(), 1, "one video m-line:\n{offer}");
    assert!(has("a=rid:f send") && has("a=rid:h send"), "a rid per layer:\n{offer}");
    assert!(has("a=simulcast:send f;h"), "the layers, top first:\n{offer}");
    assert!(
        offer
            .lines()
            .any(|l| l.starts_with("a=extmap:") && l.contains("urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id")),
        "the RID header extension:\n{offer}"
    );
}

#[test]
fn each_layer_sends_its_own_ssrc_with_its_rid_in_the_packets() {
    let pipeline = build_pipeline(&two_layers()).expect("pipeline builds");
    let (tx, rx) = std::sync::mpsc::channel();
    for name in ["video-rtp-caps", "video-rtp-caps-h"] {
        let pad = pipeline.gst_pipeline().by_name(name).and_then(|e| e.static_pad("src")).expect("layer's RTP caps");
        let tx = tx.clone();
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if let Some(buffer) = info.buffer() {
                let rtp = gst_rtp::RTPBuffer::from_buffer_readable(buffer).expect("an RTP packet");
                let rid = rtp.extension_onebyte_header(RID_EXT_ID, 0).map(|r| String::from_utf8_lossy(r).into_owned());
                let _ = tx.send((name, rtp.ssrc(), rid));
            }
            gst::PadProbeReturn::Ok
        });
        // No hub: webrtcbin holds its input until negotiated, which would stall the layers behind
        // the first packet that reaches it. No packet goes further than the layers here.
        pad.add_probe(gst::PadProbeType::BUFFER, |_, _| gst::PadProbeReturn::Drop);
    }
    pipeline.play().expect("pipeline plays");
    let mut seen = std::collections::BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while seen.len() < 2 {
        let left = deadline.saturating_duration_since(Instant::now());
        let (name, ssrc, rid) = rx.recv_timeout(left).expect("packets from both layers before the deadline");
        seen.insert(name, (ssrc, rid));
    }
    let (top, low) = (&seen["video-rtp-caps"], &seen["video-rtp-caps-h"]);
    assert_eq!(top.1.as_deref(), Some("f"), "top layer's RID");
    assert_eq!(low.1.as_deref(), Some("h"), "lower layer's RID");
    assert_ne!(top.0, low.0, "one SSRC per layer");
}

#[test]
fn live_bitrate_changes_reach_the_top_layer_and_leave_the_lower_one() {
    let pipeline = build_pipeline(&two_layers()).expect("pipeline builds");
    let bitrate = |name: &str| pipeline.gst_pipeline().by_name(name).expect("encoder").property::<u32>("bitrate");
    assert_eq!((bitrate("video-enc"), bitrate("video-enc-h")), (400, 120), "each layer starts at its own bitrate");
    assert!(media::set_live_bitrate(pipeline.gst_pipeline(), 600));
    assert_eq!((bitrate("video-enc"), bitrate("video-enc-h")), (600, 120));
}
