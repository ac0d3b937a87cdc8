//! The four parts of the `cluster` scenario, each filling its fields of the [`Report`].

use std::time::{Duration, Instant};

use anyhow::Context;
use lectern_proto::Role;

use super::client::{Streaming, first_rtp, signal};
use super::nodes::Cluster;
use super::redis::node_calls;
use super::{Config, Report};
use crate::fanout::percentile;

/// A join without RTP by then counts as failed.
const JOIN_DEADLINE: Duration = Duration::from_secs(5);
/// After a kill, how long the bench keeps trying before the run counts as failed.
const RECOVERY_DEADLINE: Duration = Duration::from_secs(60);
/// How long a re-joined viewer waits for RTP before it asks again (it may have joined before
/// the publisher was back, on an owner that has no feed yet).
const VIEWER_PATIENCE: Duration = Duration::from_secs(3);

/// Redis commands and CPU while the cluster has no room: the cost of being a cluster at all
/// (registry writes, lease task, fleet values, scheduler lease).
pub fn idle(cluster: &Cluster, window: Duration, report: &mut Report) -> anyhow::Result<()> {
    let (calls0, cpu0, t0) = (cluster.redis.command_calls()?, cluster.cpu()?, Instant::now());
    std::thread::sleep(window);
    let (calls1, cpu1, secs) = (cluster.redis.command_calls()?, cluster.cpu()?, t0.elapsed().as_secs_f64());
    // The first INFO shows up in the second snapshot; the second one does not count itself.
    let ops = node_calls(&calls0, &calls1, 1);
    report.idle_s = secs;
    report.redis_ops_per_s = ops as f64 / secs;
    report.redis_ops_per_s_per_node = report.redis_ops_per_s / cluster.nodes.len() as f64;
    report.redis_commands = calls1
        .iter()
        .map(|(k, v)| {
            (k.clone(), v.saturating_sub(calls0.get(k).copied().unwrap_or(0)).saturating_sub(u64::from(k == "info")))
        })
        .filter(|(_, v)| *v > 0)
        .collect();
    report.idle_cpu_s_per_min =
        cpu0.iter().zip(&cpu1).map(|(a, b)| b.saturating_sub(*a).as_secs_f64() * 60.0 / secs).collect();
    Ok(())
}

/// Redis commands while the nodes hold rooms nobody is in (a node keeps such a room for a minute,
/// renewing its lease every second): over the idle rate, what one held room costs.
/// Returns (rooms held, commands/s per held room).
pub fn held(cluster: &Cluster, window: Duration, idle_ops_per_s: f64) -> anyhow::Result<(usize, f64)> {
    let rooms0 = held_rooms(cluster)?;
    let (calls0, t0) = (cluster.redis.command_calls()?, Instant::now());
    std::thread::sleep(window);
    let (calls1, secs) = (cluster.redis.command_calls()?, t0.elapsed().as_secs_f64());
    let rooms1 = held_rooms(cluster)?;
    // Rooms let go during the window count for half of it.
    let rooms = (rooms0 + rooms1) as f64 / 2.0;
    anyhow::ensure!(rooms > 0.0, "no room held to measure");
    let ops = node_calls(&calls0, &calls1, 1) as f64 / secs;
    Ok((rooms0.min(rooms1), (ops - idle_ops_per_s).max(0.0) / rooms))
}

/// Room leases in Redis (`lectern:room:<room>`), the scheduler's (`@scheduler`) left out.
fn held_rooms(cluster: &Cluster) -> anyhow::Result<usize> {
    let keys = cluster.redis.cli(&["KEYS", "lectern:room:*"])?;
    Ok(keys.lines().filter(|k| !k.trim().is_empty() && !k.contains('@')).count())
}

/// `rooms` new rooms, each asked of the nodes in turn by a WHEP viewer that leaves at once, `gap`
/// apart: which node placement put each on.
pub fn spread(cluster: &Cluster, prefix: &str, rooms: usize, gap: Duration) -> anyhow::Result<(Vec<usize>, usize)> {
    let (mut per_node, mut failed) = (vec![0; cluster.nodes.len()], 0);
    for i in 0..rooms {
        if i > 0 {
            std::thread::sleep(gap);
        }
        let base = &cluster.nodes[i % cluster.nodes.len()].url;
        match signal(base, "whep", &format!("{prefix}-{i}"), Role::Viewer, "spread") {
            Ok(mut s) => {
                per_node[cluster.index_of(&s.node)?] += 1;
                s.peer.hang_up();
            }
            Err(e) => {
                eprintln!("{prefix}-{i}: {e:#}");
                failed += 1;
            }
        }
    }
    Ok((per_node, failed))
}

/// A publisher streams one room; viewers join one after another, alternately at the owner and at
/// one of the other nodes (which forwards), so both paths see the same load.
pub fn joins(cluster: &Cluster, cfg: &Config, report: &mut Report) -> anyhow::Result<()> {
    let room = "join-bench";
    let publisher = Streaming::start(&cluster.nodes[0].url, room, &cfg.hub_bin).context("the join room's publisher")?;
    let owner = cluster.index_of(&publisher.node)?;
    let others: Vec<usize> = (0..cluster.nodes.len()).filter(|&i| i != owner).collect();
    let (mut direct, mut forwarded) = ((Vec::new(), Vec::new()), (Vec::new(), Vec::new()));
    for i in 0..2 * cfg.joins {
        let (at, into) =
            if i % 2 == 0 { (owner, &mut direct) } else { (others[(i / 2) % others.len()], &mut forwarded) };
        match join_once(&cluster.nodes[at].url, room, i, &publisher.node) {
            Ok((answered, rtp)) => {
                into.0.push(answered.as_nanos() as u64);
                into.1.push(rtp.as_nanos() as u64);
            }
            Err(e) => {
                eprintln!("join {i} at {}: {e:#}", cluster.nodes[at].url);
                report.failed_joins += 1;
            }
        }
    }
    drop(publisher);
    for v in [&mut direct.0, &mut direct.1, &mut forwarded.0, &mut forwarded.1] {
        v.sort_unstable();
    }
    report.joins = cfg.joins;
    report.direct_answer_ms_p50 = percentile(&direct.0, 50.0);
    report.direct_answer_ms_p95 = percentile(&direct.0, 95.0);
    report.forwarded_answer_ms_p50 = percentile(&forwarded.0, 50.0);
    report.forwarded_answer_ms_p95 = percentile(&forwarded.0, 95.0);
    report.direct_first_rtp_ms_p50 = percentile(&direct.1, 50.0);
    report.direct_first_rtp_ms_p95 = percentile(&direct.1, 95.0);
    report.forwarded_first_rtp_ms_p50 = percentile(&forwarded.1, 50.0);
    report.forwarded_first_rtp_ms_p95 = percentile(&forwarded.1, 95.0);
    report.added_first_rtp_ms_p95 = report.forwarded_first_rtp_ms_p95 - report.direct_first_rtp_ms_p95;
    report.added_answer_ms_p95 = report.forwarded_answer_ms_p95 - report.direct_answer_ms_p95;
    Ok(())
}

/// One viewer at `base`: (POST → answer, POST → first RTP); the answer must name `owner`.
fn join_once(base: &str, room: &str, i: usize, owner: &str) -> anyhow::Result<(Duration, Duration)> {
    let t0 = Instant::now();
    let mut s = signal(base, "whep", room, Role::Viewer, &format!("joiner{i}"))?;
    anyhow::ensure!(s.node == owner, "answered by {} instead of the owner {owner}", s.node);
    let got = first_rtp(&mut s.peer, t0 + JOIN_DEADLINE);
    let rtp = t0.elapsed();
    s.peer.hang_up();
    anyhow::ensure!(got?, "no RTP within {JOIN_DEADLINE:?}");
    Ok((s.answered, rtp))
}

/// `cfg.runs` times: a room streams, its owner is killed (-9), the publisher publishes again through
/// one surviving node and a viewer joins through the other until RTP reaches it; the killed node is
/// restarted before the next run.
pub fn failover(cluster: &mut Cluster, cfg: &Config, report: &mut Report) -> anyhow::Result<()> {
    let mut times = Vec::new();
    for run in 0..cfg.runs {
        match failover_once(cluster, cfg, run) {
            Ok(t) => times.push(t.as_nanos() as u64),
            Err(e) => {
                eprintln!("failover run {run}: {e:#}");
                report.failed_recoveries += 1;
            }
        }
        for i in 0..cluster.nodes.len() {
            if cluster.nodes[i].hub.is_none() {
                cluster.start_node(i)?;
            }
        }
        cluster.wait_registered()?;
    }
    report.runs = cfg.runs;
    report.recovery_ms = times.iter().map(|&t| t as f64 / 1e6).collect();
    times.sort_unstable();
    report.recovery_ms_p50 = percentile(&times, 50.0);
    report.recovery_ms_p95 = percentile(&times, 95.0);
    Ok(())
}

fn failover_once(cluster: &mut Cluster, cfg: &Config, run: usize) -> anyhow::Result<Duration> {
    let room = format!("failover-{run}");
    let n = cluster.nodes.len();
    let publisher = Streaming::start(&cluster.nodes[run % n].url, &room, &cfg.hub_bin)?;
    let owner = cluster.index_of(&publisher.node)?;
    let survivors: Vec<usize> = (0..n).filter(|&i| i != owner).collect();
    let (via_pub, via_view) =
        (cluster.nodes[survivors[0]].url.clone(), cluster.nodes[survivors[1 % survivors.len()]].url.clone());
    // The room works before the kill: a viewer through a survivor receives it.
    let mut before = signal(&via_view, "whep", &room, Role::Viewer, "before")?;
    let ok = first_rtp(&mut before.peer, Instant::now() + JOIN_DEADLINE);
    before.peer.hang_up();
    anyhow::ensure!(ok?, "no media before the kill");

    let killed = Instant::now();
    cluster.kill(owner)?;
    publisher.abandon();
    let deadline = killed + RECOVERY_DEADLINE;
    let _republished = retry(deadline, "publishing again", || Streaming::start(&via_pub, &room, &cfg.hub_bin))?;
    retry(deadline, "a re-joined viewer receiving media", || {
        let mut s = signal(&via_view, "whep", &room, Role::Viewer, "after")?;
        let got = first_rtp(&mut s.peer, (Instant::now() + VIEWER_PATIENCE).min(deadline));
        // Taken before the hang-up's DELETE, which is not part of the recovery.
        let back = killed.elapsed();
        s.peer.hang_up();
        anyhow::ensure!(got?, "no RTP within {VIEWER_PATIENCE:?}");
        Ok(back)
    })
}

/// Calls `f` every 200 ms until it succeeds or `deadline` passes (then the last error).
fn retry<T>(deadline: Instant, what: &str, mut f: impl FnMut() -> anyhow::Result<T>) -> anyhow::Result<T> {
    loop {
        match f() {
            Ok(v) => return Ok(v),
            Err(e) if Instant::now() > deadline => return Err(e.context(format!("gave up {what}"))),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}
