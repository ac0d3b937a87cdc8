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
fn fanout_reaches_every_subscriber_on_both_servers_and_reports_figures() {
    let mut cfg = Config::new(3, Duration::from_secs(2), hub_bin());
    // Pinning would move the whole test process onto one core.
    cfg.pin = false;
    let c = fanout::run(&cfg, true).expect("scenario runs");
    let janus = c.janus.as_ref().unwrap_or_else(|| panic!("Janus ran: {:?}", c.janus_missing));

    for report in [&c.lectern, janus] {
        assert!(report.frames_sent > 0, "the publisher sent frames in the window");
        assert!(report.frames_received_min > 0, "every subscriber received frames: {report:?}");
        assert!(report.packets_forwarded > 0, "subscribers counted RTP packets");
        assert!(report.delay_ms_p50 <= report.delay_ms_p99);
    }
    assert_eq!((c.lectern.server.as_str(), janus.server.as_str()), ("Lectern", "Janus"));

    let json = serde_json::to_value(&c).unwrap();
    for key in [
        "scenario",
        "server",
        "subscribers",
        "window_s",
        "packets_forwarded",
        "hub_cpu_s",
        "us_per_pkt",
        "us_per_mbit",
        "frames_sent",
        "frames_received_min",
        "frame_loss_pct",
        "delay_ms_p50",
        "delay_ms_p99",
        "rss_before_kib",
        "rss_after_kib",
        "rss_per_subscriber_kib",
    ] {
        assert!(json["lectern"].get(key).is_some(), "report has {key}: {json}");
        assert!(json["janus"].get(key).is_some(), "Janus report has {key}: {json}");
    }
    assert_eq!(json["lectern"]["subscribers"], 3);
    let back: fanout::Comparison = serde_json::from_value(json).expect("the report reads back");
    let table = fanout::table(&back);
    assert!(table.contains("µs/pkt"), "the table labels the per-packet cost");
    assert!(table.contains("Lectern/Janus"), "the table has a ratio column");
}
