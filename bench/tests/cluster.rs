//! `lectern-bench cluster` end to end with tiny parameters: three real debug hubs and a real
//! redis-server (Debian's, installed by `scripts/deps.sh --test`) on loopback. Every part yields
//! figures and nothing fails; speed is never asserted (docs/performance.md holds the figures).

use std::path::{Path, PathBuf};
use std::time::Duration;

use lectern_bench::cluster::{self, Config};

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
fn cluster_scenario_forwards_joins_recovers_from_kill_9_and_counts_coordination() {
    let cfg = Config { runs: 1, rooms: 3, joins: 2, idle: Duration::from_secs(2), hub_bin: hub_bin() };
    let r = cluster::run(&cfg).expect("scenario runs");

    assert_eq!(r.failed_joins, 0, "every viewer, direct or forwarded, was answered by the owner and got RTP: {r:?}");
    for (answer, rtp) in
        [(r.direct_answer_ms_p50, r.direct_first_rtp_ms_p50), (r.forwarded_answer_ms_p50, r.forwarded_first_rtp_ms_p50)]
    {
        assert!(answer > 0.0 && answer <= rtp, "an answer comes before the first RTP: {r:?}");
    }
    assert_eq!((r.runs, r.failed_recoveries, r.recovery_ms.len()), (1, 0, 1), "the room came back: {r:?}");
    assert!(r.recovery_ms_p50 > 0.0);

    assert!(r.redis_ops_per_s > 0.0, "idle nodes still renew their registry records: {r:?}");
    assert!(!r.redis_commands.contains_key("info"), "the bench's own INFO is not counted: {r:?}");
    assert_eq!(r.idle_cpu_s_per_min.len(), cluster::NODES);
    assert!(r.held_rooms > 0, "the spread's rooms were held while Redis was watched: {r:?}");

    assert_eq!(r.failed_placements, 0);
    for spread in [&r.rooms_per_node_burst, &r.rooms_per_node_paced] {
        assert_eq!(spread.len(), cluster::NODES);
        assert_eq!(spread.iter().sum::<usize>(), cfg.rooms, "every room landed on one of the nodes: {r:?}");
    }
    let table = cluster::table(&r);
    assert!(table.contains("kill -9") && table.contains("forwarded"), "{table}");
}
