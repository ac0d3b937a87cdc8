//! `fanout --ramp`: the fanout scenario with more and more subscribers on one server until frame loss
//! passes 1 %, the delay grows (p50 above four times the first step's plus 10 ms; p50, since p99 on a
//! shared machine mostly measures the scheduler), a step fails to connect,
//! the generator's own core is saturated, or the time budget is spent. Reports the largest step at ≤ 1 % loss.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::compare::{self, Both, Figure, missing_note, run_both};
use crate::fanout;
use crate::sfu::Sfu;

/// Subscriber counts tried in order (up to `max_subscribers`).
const STEPS: [usize; 14] = [10, 20, 40, 60, 80, 100, 120, 160, 200, 250, 320, 400, 500, 640];
const STEP_WINDOW: Duration = Duration::from_secs(3);
/// Per server, so both fit in two minutes at the default `--max-subscribers`; a larger one asks
/// for a long run and gets [`LONG_BUDGET`].
const BUDGET: Duration = Duration::from_secs(50);
const LONG_BUDGET: Duration = Duration::from_secs(600);
pub const DEFAULT_MAX: usize = 160;
const MAX_LOSS_PCT: f64 = 1.0;
/// Above this the generator, not the server, limits what we see.
const GENERATOR_SATURATED_PCT: f64 = 95.0;

#[derive(Debug, Clone)]
pub struct Config {
    pub max_subscribers: usize,
    pub hub_bin: PathBuf,
    pub pin: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Step {
    pub subscribers: usize,
    pub frame_loss_pct: f64,
    pub delay_ms_p50: f64,
    pub delay_ms_p99: f64,
    pub us_per_pkt: f64,
    pub server_cpu_pct: f64,
    pub generator_cpu_pct: f64,
    /// See `fanout::Report::generator_busy_pct`: what tells a saturated generator.
    #[serde(default)]
    pub generator_busy_pct: f64,
    pub udp_rcvbuf_drops: u64,
    pub server_socket_drops: u64,
    pub client_socket_drops: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub scenario: String,
    pub server: String,
    pub steps: Vec<Step>,
    /// The largest step with frame loss ≤ 1 % (0 when even the first step lost more).
    pub max_subscribers_ok: usize,
    /// Server CPU at that step; `max_subscribers_ok / (server_cpu_pct / 100)` estimates subscribers per core.
    pub server_cpu_pct_at_max: f64,
    pub stopped_because: String,
}

pub type Comparison = Both<Report>;

pub fn run(cfg: &Config, janus: bool) -> anyhow::Result<Comparison> {
    run_both(&cfg.hub_bin, cfg.pin, janus, 1, |sfu, cores| run_on(sfu, cfg, cores))
}

pub fn run_on(sfu: &Sfu, cfg: &Config, cores: Option<(usize, usize)>) -> anyhow::Result<Report> {
    let t0 = Instant::now();
    let mut steps: Vec<Step> = Vec::new();
    let mut stopped_because = format!("reached --max-subscribers {}", cfg.max_subscribers);
    for n in STEPS.into_iter().filter(|&n| n <= cfg.max_subscribers) {
        let budget = if cfg.max_subscribers <= DEFAULT_MAX { BUDGET } else { LONG_BUDGET };
        if t0.elapsed() > budget {
            stopped_because = format!("time budget of {} s spent", budget.as_secs());
            break;
        }
        let mut fc = fanout::Config::new(n, STEP_WINDOW, cfg.hub_bin.clone());
        fc.pin = cfg.pin;
        let r = match fanout::run_on(sfu, &fc, cores) {
            Ok(r) => r,
            Err(e) => {
                stopped_because = format!("{n} subscribers failed: {e:#}");
                break;
            }
        };
        let step = Step {
            subscribers: n,
            frame_loss_pct: r.frame_loss_pct,
            delay_ms_p50: r.delay_ms_p50,
            delay_ms_p99: r.delay_ms_p99,
            us_per_pkt: r.us_per_pkt,
            server_cpu_pct: r.hub_cpu_pct,
            generator_cpu_pct: r.generator_cpu_pct,
            generator_busy_pct: r.generator_busy_pct,
            udp_rcvbuf_drops: r.udp_rcvbuf_drops,
            server_socket_drops: r.server_socket_drops,
            client_socket_drops: r.client_socket_drops,
        };
        let first_p50 = steps.first().map_or(step.delay_ms_p50, |s| s.delay_ms_p50);
        let why = if step.frame_loss_pct > MAX_LOSS_PCT {
            Some(format!("frame loss {:.2} % at {n}", step.frame_loss_pct))
        } else if step.delay_ms_p50 > 4.0 * first_p50 + 10.0 {
            Some(format!("delay p50 grew to {:.1} ms at {n} (first step {first_p50:.1} ms)", step.delay_ms_p50))
        } else if cores.is_some() && step.generator_busy_pct > GENERATOR_SATURATED_PCT {
            Some(format!("the generator's core is saturated ({:.0} % busy) at {n}", step.generator_busy_pct))
        } else {
            None
        };
        steps.push(step);
        if let Some(why) = why {
            stopped_because = why;
            break;
        }
    }
    let best = steps.iter().filter(|s| s.frame_loss_pct <= MAX_LOSS_PCT).max_by_key(|s| s.subscribers);
    Ok(Report {
        scenario: "fanout --ramp".into(),
        server: sfu.name().into(),
        max_subscribers_ok: best.map_or(0, |s| s.subscribers),
        server_cpu_pct_at_max: best.map_or(0.0, |s| s.server_cpu_pct),
        steps,
        stopped_because,
    })
}

fn per_core(r: &Report) -> f64 {
    if r.server_cpu_pct_at_max > 0.0 { r.max_subscribers_ok as f64 * 100.0 / r.server_cpu_pct_at_max } else { 0.0 }
}

pub fn table(c: &Comparison) -> String {
    let r = &c.lectern;
    let j = c.janus.as_ref();
    let mut context = vec![(
        "scenario",
        format!(
            "{} (1 publisher, 1.5 Mbit/s; {} s per step, ≤ {MAX_LOSS_PCT} % frame loss)",
            r.scenario,
            STEP_WINDOW.as_secs()
        ),
    )];
    for rep in std::iter::once(r).chain(j) {
        for s in &rep.steps {
            context.push((
                if rep.server == "Janus" { "  Janus step" } else { "  Lectern step" },
                format!(
                    "{:>4} subs: loss {:.2} %, delay p50/p99 {:.2}/{:.2} ms, {:.2} µs/pkt, server {:.0} %, generator busy {:.0} %, drops at server/clients {}/{}",
                    s.subscribers,
                    s.frame_loss_pct,
                    s.delay_ms_p50,
                    s.delay_ms_p99,
                    s.us_per_pkt,
                    s.server_cpu_pct,
                    s.generator_busy_pct,
                    s.server_socket_drops,
                    s.client_socket_drops
                ),
            ));
        }
        context.push((
            if rep.server == "Janus" { "  Janus stopped" } else { "  Lectern stopped" },
            rep.stopped_because.clone(),
        ));
    }
    let f = |label, l: fn(&Report) -> f64, d| Figure::new(label, l(r), j.map(l), d);
    let figures = [
        f("max subs ≤1% loss", |r| r.max_subscribers_ok as f64, 0),
        f("server CPU % there", |r| r.server_cpu_pct_at_max, 1),
        f("subs/core (estimate)", per_core, 0),
    ];
    compare::table(&context, &figures, &missing_note(c))
}
