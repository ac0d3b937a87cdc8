//! Simulcast on real GStreamer test sources: the offer announces the layers, and each layer's
//! packets carry their RID. No hub here (see `tests/tests/simulcast.rs` for one).

use std::time::Duration;

use lectern_appliance::media::{
    self, DtlsCertificate, MediaSettings, SimulcastLayer, TestPattern, build_pipeline, create_offer,
};

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
