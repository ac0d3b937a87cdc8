//! The fanout scenario runs end to end against the real debug hub: media reaches every subscriber and
//! the report is well-formed. Speed is never asserted here; docs/performance.md holds the figures.

use std::path::{Path, PathBuf};
use std::time::Duration;

use lectern_bench::fanout::{self, Config};
use lectern_bench::{churn, join, meeting, ramp, rooms};

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
        // Measured once with no server between publisher and subscriber, shared by both columns.
        assert!(report.floor_ms_p50 > 0.0 && report.floor_ms_p50 <= report.floor_ms_p99, "{report:?}");
    }
    assert_eq!((c.lectern.floor_ms_p50, c.lectern.floor_ms_p99), (janus.floor_ms_p50, janus.floor_ms_p99));
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
        "floor_ms_p50",
        "floor_ms_p99",
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
    assert!(table.contains("server adds p99 ms"), "the table says what the server adds to the delay");
}

#[test]
fn join_measures_first_packet_and_keyframe_on_both_servers() {
    let cfg = join::Config { joins: 3, hub_bin: hub_bin(), pin: false };
    let c = join::run(&cfg, true).expect("scenario runs");
    let janus = c.janus.as_ref().unwrap_or_else(|| panic!("Janus ran: {:?}", c.janus_missing));
    for r in [&c.lectern, janus] {
        assert_eq!(r.failed, 0, "every joiner got a keyframe: {r:?}");
        assert!(r.first_rtp_ms_p50 > 0.0 && r.first_rtp_ms_p50 <= r.first_rtp_ms_p95, "{r:?}");
        assert!(r.first_keyframe_ms_p50 >= r.first_rtp_ms_p50 || r.first_keyframe_ms_p95 > 0.0, "{r:?}");
    }
    let json = serde_json::to_value(&c).unwrap();
    let back: join::Comparison = serde_json::from_value(json).expect("the report reads back");
    assert!(join::table(&back).contains("first keyframe ms p95"));
}

#[test]
fn churn_reports_footprints_before_and_after_on_both_servers() {
    let cfg = churn::Config { concurrent: 2, cycles: 6, hub_bin: hub_bin(), pin: false };
    let c = churn::run(&cfg, true).expect("scenario runs");
    let janus = c.janus.as_ref().unwrap_or_else(|| panic!("Janus ran: {:?}", c.janus_missing));
    for r in [&c.lectern, janus] {
        assert_eq!(r.failed, 0, "every cycle got media: {r:?}");
        assert!(r.baseline.rss_kib > 0 && r.baseline.fds > 0 && r.baseline.tasks > 0, "{r:?}");
        assert!(r.after.rss_kib > 0 && r.after.fds > 0 && r.after.tasks > 0, "{r:?}");
    }
    let json = serde_json::to_value(&c).unwrap();
    assert!(json["lectern"]["after"].get("fds").is_some(), "{json}");
    let back: churn::Comparison = serde_json::from_value(json).expect("the report reads back");
    assert!(churn::table(&back).contains("threads after"));
}

#[test]
fn ramp_reports_the_largest_step_within_the_loss_limit() {
    let cfg = ramp::Config { max_subscribers: 10, hub_bin: hub_bin(), pin: false, until_loss: false };
    let c = ramp::run(&cfg, true).expect("scenario runs");
    let janus = c.janus.as_ref().unwrap_or_else(|| panic!("Janus ran: {:?}", c.janus_missing));
    for r in [&c.lectern, janus] {
        assert_eq!(r.steps.len(), 1, "one step of 10 subscribers: {r:?}");
        assert_eq!(r.steps[0].subscribers, 10);
        assert!(!r.stopped_because.is_empty());
    }
    let json = serde_json::to_value(&c).unwrap();
    let back: ramp::Comparison = serde_json::from_value(json).expect("the report reads back");
    assert!(ramp::table(&back).contains("max subs ≤1% loss"));
}

#[test]
fn meeting_delivers_everyone_to_everyone_on_both_servers() {
    let cfg = meeting::Config {
        participants: 3,
        rooms: 1,
        duration: Duration::from_secs(2),
        video_kbit_s: 300,
        hub_bin: hub_bin(),
        pin: false,
    };
    let c = meeting::run(&cfg, true).expect("scenario runs");
    let janus = c.janus.as_ref().unwrap_or_else(|| panic!("Janus ran: {:?}", c.janus_missing));
    for r in [&c.lectern, janus] {
        assert!(r.packets_forwarded > 0, "media flowed: {r:?}");
        assert!(r.frame_loss_pct < 100.0, "frames arrived: {r:?}");
        assert!(r.delay_ms_p50 <= r.delay_ms_p99, "{r:?}");
    }
    let json = serde_json::to_value(&c).unwrap();
    assert_eq!(json["lectern"]["participants"], 3);
    let back: meeting::Comparison = serde_json::from_value(json).expect("the report reads back");
    assert!(meeting::table(&back).contains("µs/pkt"));
}

#[test]
fn rooms_forward_within_each_room_and_measure_idle_rooms_on_both_servers() {
    let cfg = rooms::Config {
        rooms: 2,
        participants: 2,
        duration: Duration::from_secs(2),
        video_kbit_s: 300,
        idle_participants: 3,
        idle_duration: Duration::from_secs(2),
        hub_bin: hub_bin(),
        pin: false,
    };
    let report = rooms::run(&cfg, true).expect("scenario runs");
    let c = &report.active;
    let janus = c.janus.as_ref().unwrap_or_else(|| panic!("Janus ran: {:?}", c.janus_missing));
    for r in [&c.lectern, janus] {
        assert_eq!((r.scenario.as_str(), r.rooms, r.participants), ("rooms", 2, 2), "{r:?}");
        assert!(r.packets_forwarded > 0, "media flowed: {r:?}");
        assert!(r.server_wakeups_per_s > 0.0, "a forwarding server wakes: {r:?}");
        assert!(r.frame_loss_pct < 100.0, "frames arrived in every room: {r:?}");
        assert!(r.delay_ms_p50 <= r.delay_ms_p99, "{r:?}");
    }
    let idle = report.idle.as_ref().expect("the idle figure was asked for");
    let idle_janus = idle.janus.as_ref().unwrap_or_else(|| panic!("Janus ran idle: {:?}", idle.janus_missing));
    for r in [&idle.lectern, idle_janus] {
        // 3 participants in rooms of 2: two rooms, four connected.
        assert_eq!((r.rooms, r.participants), (2, 2), "{r:?}");
        assert!(r.window_s >= 2.0 && r.cpu_pct.is_finite() && r.cpu_pct >= 0.0, "{r:?}");
    }
    let json = serde_json::to_value(&report).unwrap();
    for key in ["cpu_pct", "wakeups_per_s", "cpu_us_per_participant_s", "datagrams_per_s", "rss_per_participant_kib"] {
        assert!(json["idle"]["lectern"].get(key).is_some(), "idle report has {key}: {json}");
    }
    assert_eq!(json["active"]["lectern"]["rooms"], 2);
    let back: rooms::Report = serde_json::from_value(json).expect("the report reads back");
    let table = rooms::table(&back);
    assert!(table.contains("µs/pkt") && table.contains("idle CPU % of a core"), "{table}");
}
