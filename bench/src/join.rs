//! Scenario `join`: while the fanout publisher streams, new subscribers join one after another; each
//! one's time from the signalling request to its first RTP packet and to its first complete keyframe.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use str0m::Event;

use crate::compare::{self, Both, Figure, missing_note, run_both};
use crate::fanout::{self, Shared, percentile, start_publisher};
use crate::frame::{is_idr, is_rtp};
use crate::sfu::Sfu;

/// A join that has no keyframe by then counts as failed.
const JOIN_DEADLINE: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct Config {
    pub joins: usize,
    pub hub_bin: PathBuf,
    pub pin: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub scenario: String,
    pub server: String,
    pub joins: usize,
    /// Joins without a keyframe within the deadline (or refused).
    pub failed: usize,
    pub first_rtp_ms_p50: f64,
    pub first_rtp_ms_p95: f64,
    pub first_keyframe_ms_p50: f64,
    pub first_keyframe_ms_p95: f64,
}

pub type Comparison = Both<Report>;

pub fn run(cfg: &Config, janus: bool) -> anyhow::Result<Comparison> {
    run_both(&cfg.hub_bin, cfg.pin, janus, 1, |sfu, _| run_on(sfu, cfg))
}

/// Joins `cfg.joins` subscribers one at a time against a streaming publisher.
pub fn run_on(sfu: &Sfu, cfg: &Config) -> anyhow::Result<Report> {
    let shared = Shared::new();
    let result = joins(sfu, cfg, &shared);
    shared.stop.store(true, std::sync::atomic::Ordering::SeqCst);
    result
}

fn joins(sfu: &Sfu, cfg: &Config, shared: &std::sync::Arc<Shared>) -> anyhow::Result<Report> {
    let media = fanout::Config::new(1, Duration::ZERO, cfg.hub_bin.clone());
    let (publisher, feed) = start_publisher(sfu, &media, shared)?;
    let (mut rtp, mut key, mut failed) = (Vec::new(), Vec::new(), 0);
    for i in 0..cfg.joins {
        match join_once(sfu, feed, i) {
            Ok((r, k)) => {
                rtp.push(r.as_nanos() as u64);
                key.push(k.as_nanos() as u64);
            }
            Err(_) => failed += 1,
        }
    }
    shared.stop.store(true, std::sync::atomic::Ordering::SeqCst);
    publisher.join().map_err(|_| anyhow::anyhow!("publisher thread panicked"))??;
    rtp.sort_unstable();
    key.sort_unstable();
    Ok(Report {
        scenario: "join".into(),
        server: sfu.name().into(),
        joins: cfg.joins,
        failed,
        first_rtp_ms_p50: percentile(&rtp, 50.0),
        first_rtp_ms_p95: percentile(&rtp, 95.0),
        first_keyframe_ms_p50: percentile(&key, 50.0),
        first_keyframe_ms_p95: percentile(&key, 95.0),
    })
}

/// One subscriber: (request → first RTP datagram, request → first IDR frame), then it leaves.
fn join_once(sfu: &Sfu, feed: u64, i: usize) -> anyhow::Result<(Duration, Duration)> {
    let t0 = Instant::now();
    let mut peer = sfu.subscriber(&format!("joiner{i}"), feed)?;
    let deadline = t0 + JOIN_DEADLINE;
    let (mut first_rtp, mut first_key) = (None, None);
    while first_key.is_none() && Instant::now() < deadline {
        let step = peer.drive(
            (Instant::now() + Duration::from_millis(20)).min(deadline),
            |e| {
                if let Event::MediaData(d) = e
                    && first_key.is_none()
                    && is_idr(&d.data)
                {
                    first_key = Some(t0.elapsed());
                }
            },
            |d| {
                if first_rtp.is_none() && is_rtp(d) {
                    first_rtp = Some(t0.elapsed());
                }
            },
        );
        if let Err(e) = step {
            peer.hang_up();
            return Err(e);
        }
    }
    peer.hang_up();
    Ok((first_rtp.context("no RTP")?, first_key.context("no keyframe")?))
}

pub fn table(c: &Comparison) -> String {
    let r = &c.lectern;
    let j = c.janus.as_ref();
    let context = [(
        "scenario",
        format!("{} ({} subscribers join one after another, 1 publisher streaming)", r.scenario, r.joins),
    )];
    let f = |label, l: fn(&Report) -> f64, d| Figure::new(label, l(r), j.map(l), d);
    let figures = [
        f("first RTP ms p50", |r| r.first_rtp_ms_p50, 1),
        f("first RTP ms p95", |r| r.first_rtp_ms_p95, 1),
        f("first keyframe ms p50", |r| r.first_keyframe_ms_p50, 1),
        f("first keyframe ms p95", |r| r.first_keyframe_ms_p95, 1),
        f("failed joins", |r| r.failed as f64, 0),
    ];
    compare::table(&context, &figures, &missing_note(c))
}
