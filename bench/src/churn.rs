//! Scenario `churn`: while the fanout publisher streams, K subscribers join, wait for media, leave and
//! join again, `cycles` times in all. The server's RSS, open file descriptors and threads after a
//! warm-up round are compared with the same after the last cycle: what a leak would show.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use crate::compare::{self, Both, Figure, missing_note, run_both};
use crate::fanout::{self, Shared, start_publisher};
use crate::frame::is_rtp;
use crate::sfu::Sfu;

/// A cycle without RTP by then counts as failed.
const MEDIA_DEADLINE: Duration = Duration::from_secs(5);
/// How long the server may take to close what departed subscribers held.
const SETTLE_DEADLINE: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct Config {
    /// Subscribers churning at the same time.
    pub concurrent: usize,
    /// Join/leave cycles in all.
    pub cycles: usize,
    pub hub_bin: PathBuf,
    pub pin: bool,
}

/// RSS, descriptors and threads of the server at one moment.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct Footprint {
    pub rss_kib: u64,
    pub fds: usize,
    pub tasks: usize,
}

impl Footprint {
    pub fn of(pid: u32) -> anyhow::Result<Self> {
        let count = |what: &str| -> anyhow::Result<usize> {
            Ok(std::fs::read_dir(format!("/proc/{pid}/{what}")).with_context(|| format!("/proc/{pid}/{what}"))?.count())
        };
        Ok(Self { rss_kib: crate::hub::rss_kib(pid)?, fds: count("fd")?, tasks: count("task")? })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub scenario: String,
    pub server: String,
    pub concurrent: usize,
    pub cycles: usize,
    /// Cycles whose subscriber never got RTP (or was refused).
    pub failed: usize,
    pub elapsed_s: f64,
    /// With the publisher only, before any subscriber.
    pub idle: Footprint,
    /// After one warm-up round of `concurrent` cycles: the baseline.
    pub baseline: Footprint,
    /// After the last cycle, once descriptors and threads settled (or the settle deadline passed).
    pub after: Footprint,
    pub rss_growth_kib: i64,
    /// What the descriptors opened since the baseline point at (`readlink /proc/<pid>/fd/N`).
    pub fds_added: Vec<String>,
}

pub type Comparison = Both<Report>;

pub fn run(cfg: &Config, janus: bool) -> anyhow::Result<Comparison> {
    run_both(&cfg.hub_bin, cfg.pin, janus, 1, |sfu, _| run_on(sfu, cfg))
}

pub fn run_on(sfu: &Sfu, cfg: &Config) -> anyhow::Result<Report> {
    if cfg.concurrent == 0 || cfg.cycles == 0 {
        bail!("at least one subscriber and one cycle");
    }
    let shared = Shared::new();
    let result = churn(sfu, cfg, &shared);
    shared.stop.store(true, Ordering::SeqCst);
    result
}

fn churn(sfu: &Sfu, cfg: &Config, shared: &Arc<Shared>) -> anyhow::Result<Report> {
    let media = fanout::Config::new(1, Duration::ZERO, cfg.hub_bin.clone());
    let (publisher, feed) = start_publisher(sfu, &media, shared)?;
    let idle = Footprint::of(sfu.pid())?;
    let warm_failed = cycles(sfu, feed, cfg.concurrent, cfg.concurrent);
    let baseline = steady(sfu.pid())?;
    let fds_before = fd_targets(sfu.pid());
    let t0 = Instant::now();
    let failed = cycles(sfu, feed, cfg.concurrent, cfg.cycles);
    let elapsed = t0.elapsed();
    let after = settle(sfu.pid(), baseline)?;
    shared.stop.store(true, Ordering::SeqCst);
    publisher.join().map_err(|_| anyhow::anyhow!("publisher thread panicked"))??;
    if warm_failed == cfg.concurrent {
        bail!("no subscriber of the warm-up round got media");
    }
    Ok(Report {
        scenario: "churn".into(),
        server: sfu.name().into(),
        concurrent: cfg.concurrent,
        cycles: cfg.cycles,
        failed,
        elapsed_s: elapsed.as_secs_f64(),
        idle,
        baseline,
        after,
        rss_growth_kib: after.rss_kib as i64 - baseline.rss_kib as i64,
        fds_added: fd_targets(sfu.pid()).into_iter().filter(|t| !fds_before.contains(t)).collect(),
    })
}

/// `fd number -> target` of every open descriptor, as `N: target` strings.
fn fd_targets(pid: u32) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { return Vec::new() };
    let mut v: Vec<String> = dir
        .filter_map(Result::ok)
        .filter_map(|e| {
            Some(format!("{}: {}", e.file_name().to_string_lossy(), std::fs::read_link(e.path()).ok()?.display()))
        })
        .collect();
    v.sort();
    v
}

/// Waits until descriptors and threads stop changing (same for 200 ms) or the deadline passes.
pub(crate) fn steady(pid: u32) -> anyhow::Result<Footprint> {
    let deadline = Instant::now() + SETTLE_DEADLINE;
    let mut last = Footprint::of(pid)?;
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let now = Footprint::of(pid)?;
        if (now.fds == last.fds && now.tasks == last.tasks) || Instant::now() > deadline {
            return Ok(now);
        }
        last = now;
    }
}

/// Waits until descriptors and threads are back to `target`'s (or the deadline), then reads the footprint.
pub(crate) fn settle(pid: u32, target: Footprint) -> anyhow::Result<Footprint> {
    let deadline = Instant::now() + SETTLE_DEADLINE;
    loop {
        let now = Footprint::of(pid)?;
        if (now.fds <= target.fds && now.tasks <= target.tasks) || Instant::now() > deadline {
            return Ok(now);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `total` join/leave cycles on `concurrent` threads; returns how many failed.
fn cycles(sfu: &Sfu, feed: u64, concurrent: usize, total: usize) -> usize {
    let next = AtomicUsize::new(0);
    let failed = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..concurrent {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= total {
                        break;
                    }
                    if one_cycle(sfu, feed, i).is_err() {
                        failed.fetch_add(1, Ordering::SeqCst);
                    }
                }
            });
        }
    });
    failed.into_inner()
}

/// Join, wait for the first RTP packet, leave.
fn one_cycle(sfu: &Sfu, feed: u64, i: usize) -> anyhow::Result<()> {
    let mut peer = sfu.subscriber(&format!("churn{i}"), feed)?;
    let deadline = Instant::now() + MEDIA_DEADLINE;
    let mut got = false;
    while !got && Instant::now() < deadline {
        let step = peer.drive((Instant::now() + Duration::from_millis(20)).min(deadline), |_| {}, |d| got |= is_rtp(d));
        if let Err(e) = step {
            peer.hang_up();
            return Err(e);
        }
    }
    peer.hang_up();
    if got { Ok(()) } else { bail!("no RTP") }
}

pub fn table(c: &Comparison) -> String {
    let r = &c.lectern;
    let j = c.janus.as_ref();
    let context = [(
        "scenario",
        format!(
            "{} ({} subscribers at a time, {} join/leave cycles, 1 publisher streaming)",
            r.scenario, r.concurrent, r.cycles
        ),
    )];
    let f = |label, l: fn(&Report) -> f64, d| Figure::new(label, l(r), j.map(l), d);
    let figures = [
        f("cycles/s", |r| r.cycles as f64 / r.elapsed_s, 1),
        f("failed cycles", |r| r.failed as f64, 0),
        f("RSS idle KiB", |r| r.idle.rss_kib as f64, 0),
        f("RSS baseline KiB", |r| r.baseline.rss_kib as f64, 0),
        f("RSS after KiB", |r| r.after.rss_kib as f64, 0),
        f("RSS growth KiB", |r| r.rss_growth_kib as f64, 0),
        f("fds baseline", |r| r.baseline.fds as f64, 0),
        f("fds after", |r| r.after.fds as f64, 0),
        f("threads baseline", |r| r.baseline.tasks as f64, 0),
        f("threads after", |r| r.after.tasks as f64, 0),
    ];
    let mut notes = missing_note(c);
    for rep in std::iter::once(r).chain(j).filter(|r| !r.fds_added.is_empty()) {
        notes.push(format!("{} descriptors opened since the baseline: {}", rep.server, rep.fds_added.join(", ")));
    }
    compare::table(&context, &figures, &notes)
}
