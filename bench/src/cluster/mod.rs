//! Scenario `cluster`: three hubs and one Redis on loopback (issue 20). It measures what the
//! cluster costs and how it behaves, not throughput (a 2-core machine cannot show that):
//! 1. [`joins`]: a WHEP viewer's join through a forwarding node against directly at the owner;
//! 2. [`failover`]: from `kill -9` of a room's owner until a viewer re-joining through a surviving
//!    node receives the room again (the publisher re-publishing through another survivor);
//! 3. [`idle`]: each node's coordination cost with nothing to do: Redis commands/s, CPU s/min;
//!    [`held`]: what one held room adds on Redis;
//! 4. [`spread`]: which node each of N new rooms lands on, asked at once and paced.
//!
//! Start at [`run`]; [`nodes`] starts the cluster, [`client`] signals and streams.

pub mod client;
pub mod nodes;
pub mod phases;
pub mod redis;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use phases::{failover, held, idle, joins, spread};

/// Nodes in the bench's cluster.
pub const NODES: usize = 3;
/// How long Redis is watched while the spread's rooms are held (they are let go a minute after).
pub const HELD_WINDOW: Duration = Duration::from_secs(10);
/// Between two rooms of the paced spread: longer than a node's registry write period (2 s).
pub const PACED_GAP: Duration = Duration::from_millis(2500);

#[derive(Debug, Clone)]
pub struct Config {
    /// Kill-9 recoveries to measure.
    pub runs: usize,
    /// New rooms placed for the spread.
    pub rooms: usize,
    /// Viewer joins per path (direct, forwarded).
    pub joins: usize,
    /// The quiet window for the idle overhead.
    pub idle: Duration,
    pub hub_bin: PathBuf,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Report {
    pub scenario: String,
    pub nodes: usize,
    /// Joins per path; each figure below over the joins that succeeded.
    pub joins: usize,
    pub direct_answer_ms_p50: f64,
    pub direct_answer_ms_p95: f64,
    pub forwarded_answer_ms_p50: f64,
    pub forwarded_answer_ms_p95: f64,
    pub direct_first_rtp_ms_p50: f64,
    pub direct_first_rtp_ms_p95: f64,
    pub forwarded_first_rtp_ms_p50: f64,
    pub forwarded_first_rtp_ms_p95: f64,
    /// Forwarded p95 less direct p95, from POST to first RTP (the target: ≤ 20 ms).
    pub added_first_rtp_ms_p95: f64,
    /// Forwarded p95 less direct p95, from POST to the answer: the forward's own cost.
    pub added_answer_ms_p95: f64,
    pub failed_joins: usize,
    pub runs: usize,
    /// Each run's kill → first RTP at the re-joined viewer, in ms.
    pub recovery_ms: Vec<f64>,
    pub recovery_ms_p50: f64,
    pub recovery_ms_p95: f64,
    pub failed_recoveries: usize,
    pub idle_s: f64,
    /// Commands the nodes sent to Redis per second, all nodes together, and per node.
    pub redis_ops_per_s: f64,
    pub redis_ops_per_s_per_node: f64,
    /// The same window's commands by name.
    pub redis_commands: BTreeMap<String, u64>,
    /// Rooms held (leased, nobody in them) while the per-room cost was measured.
    pub held_rooms: usize,
    /// Redis commands per second one held room adds (its lease renewal), over the idle rate.
    pub redis_ops_per_s_per_room: f64,
    /// Each idle node's CPU seconds per minute, in node order.
    pub idle_cpu_s_per_min: Vec<f64>,
    pub rooms: usize,
    /// Rooms placed on each node (by the answers' `Lectern-Node`), in node order, when they are
    /// asked for one right after another (a timetable's 8:00).
    pub rooms_per_node_burst: Vec<usize>,
    /// The same when each room comes [`PACED_GAP`] after the last (the nodes' load records, written
    /// every 2 s, have caught up).
    pub rooms_per_node_paced: Vec<usize>,
    pub failed_placements: usize,
}

/// Starts the cluster and runs the four parts, quiet one first (nothing placed yet).
pub fn run(cfg: &Config) -> anyhow::Result<Report> {
    let mut cluster = nodes::Cluster::start(&cfg.hub_bin, NODES)?;
    let mut report = Report { scenario: "cluster".into(), nodes: NODES, ..Report::default() };
    idle(&cluster, cfg.idle, &mut report)?;
    let (burst, failed_burst) = spread(&cluster, "burst", cfg.rooms, Duration::ZERO)?;
    let (paced, failed_paced) = spread(&cluster, "paced", cfg.rooms, PACED_GAP)?;
    report.rooms = cfg.rooms;
    report.rooms_per_node_burst = burst;
    report.rooms_per_node_paced = paced;
    report.failed_placements = failed_burst + failed_paced;
    // The rooms just placed are held for a minute with nobody in them.
    let (rooms, per_room) = held(&cluster, HELD_WINDOW.min(cfg.idle), report.redis_ops_per_s)?;
    report.held_rooms = rooms;
    report.redis_ops_per_s_per_room = per_room;
    joins(&cluster, cfg, &mut report)?;
    failover(&mut cluster, cfg, &mut report)?;
    Ok(report)
}

pub fn table(r: &Report) -> String {
    let mut out = String::new();
    let mut line = |label: &str, value: String| out.push_str(&format!("{label:<44} {value}\n"));
    line("scenario", format!("cluster ({} hubs + redis-server on loopback, each hub its own SQLite)", r.nodes));
    line(
        "join: POST → answer ms p50 / p95, direct",
        format!("{:.1} / {:.1}", r.direct_answer_ms_p50, r.direct_answer_ms_p95),
    );
    line(
        "join: POST → answer ms p50 / p95, forwarded",
        format!("{:.1} / {:.1}", r.forwarded_answer_ms_p50, r.forwarded_answer_ms_p95),
    );
    line(
        "join: POST → first RTP ms p50 / p95, direct",
        format!("{:.1} / {:.1}", r.direct_first_rtp_ms_p50, r.direct_first_rtp_ms_p95),
    );
    line(
        "join: POST → first RTP ms p50 / p95, forwarded",
        format!("{:.1} / {:.1}", r.forwarded_first_rtp_ms_p50, r.forwarded_first_rtp_ms_p95),
    );
    line(
        "join: added p95 ms, answer / first RTP",
        format!("{:.1} / {:.1} (target ≤ 20)", r.added_answer_ms_p95, r.added_first_rtp_ms_p95),
    );
    line("join: joins per path / failed", format!("{} / {}", r.joins, r.failed_joins));
    let each: Vec<String> = r.recovery_ms.iter().map(|m| format!("{:.0}", m)).collect();
    line(
        "kill -9 → media at a re-joined viewer, ms",
        format!(
            "p50 {:.0} p95 {:.0} ({} runs: {}; failed {})",
            r.recovery_ms_p50,
            r.recovery_ms_p95,
            r.runs,
            each.join(", "),
            r.failed_recoveries
        ),
    );
    line(
        "idle: Redis commands/s, all / per node",
        format!("{:.1} / {:.1} (over {:.0} s)", r.redis_ops_per_s, r.redis_ops_per_s_per_node, r.idle_s),
    );
    line(
        "held rooms: Redis commands/s per room",
        format!("{:.2} (over the idle rate, {} rooms held)", r.redis_ops_per_s_per_room, r.held_rooms),
    );
    let cmds: Vec<String> = r.redis_commands.iter().map(|(k, v)| format!("{k} {v}")).collect();
    line("idle: Redis commands by name", cmds.join(", "));
    let cpu: Vec<String> = r.idle_cpu_s_per_min.iter().map(|c| format!("{c:.2}")).collect();
    line("idle: CPU s per minute, each node", cpu.join(" / "));
    let counts = |v: &[usize]| v.iter().map(usize::to_string).collect::<Vec<_>>().join(" / ");
    line("rooms per node, asked at once", format!("{} ({} rooms)", counts(&r.rooms_per_node_burst), r.rooms));
    line(
        "rooms per node, one every 2.5 s",
        format!("{} ({} rooms; {} placements failed)", counts(&r.rooms_per_node_paced), r.rooms, r.failed_placements),
    );
    out
}
