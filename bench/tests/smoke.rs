//! The fanout scenario runs end to end against the real debug hub: media reaches every subscriber and
//! the report is well-formed. Speed is never asserted here; docs/performance.md holds the figures.

use std::path::{Path, PathBuf};
use std::time::Duration;

use lectern_bench::fanout::{self, Config};

/// The debug hub, where `cargo build --workspace --bins` (or `cargo test --workspace`) puts it.
fn hub_bin() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let path = target.join("debug").join("lectern-hub");
    assert!(path.exists(), "{} is missing: run `cargo build -p lectern-hub` first", path.display());
    path
}

#[test]
fn fanout_reaches_every_subscriber_and_reports_figures() {
    let mut cfg = Config::new(3, Duration::from_secs(3), hub_bin());
    // Pinning would move the whole test process onto one core.
    cfg.pin = false;
    let report = fanout::run(&cfg).expect("scenario runs");

    assert!(report.frames_sent > 0, "the publisher sent frames in the window");
    assert!(report.frames_received_min > 0, "every subscriber received frames: {report:?}");
    assert!(report.packets_forwarded > 0, "subscribers counted RTP packets");

    let json = serde_json::to_value(&report).unwrap();
    for key in [
        "scenario",
        "subscribers",
        "window_s",
        "packets_forwarded",
        "hub_cpu_s",
        "us_per_pkt",
        "frames_sent",
        "frames_received_min",
        "frame_loss_pct",
        "delay_ms_p50",
        "delay_ms_p99",
        "rss_before_kib",
        "rss_after_kib",
        "rss_per_subscriber_kib",
    ] {
        assert!(json.get(key).is_some(), "report has {key}: {json}");
    }
    assert_eq!(json["subscribers"], 3);
    let back: fanout::Report = serde_json::from_value(json).expect("the report reads back");
    assert!(back.delay_ms_p50 <= back.delay_ms_p99);
    assert!(fanout::table(&back).contains("µs/pkt"), "the table labels the per-packet cost");
}
