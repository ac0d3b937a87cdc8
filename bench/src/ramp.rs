//! `fanout --ramp`: the fanout scenario with more and more subscribers on one server until frame loss
//! passes 1 %, the delay grows (p50 above four times the first step's plus 10 ms; p50, since p99 on a
//! shared machine mostly measures the scheduler), a step fails to connect,
//! the generator's own core is saturated, or the time budget is spent. Reports the largest step at ≤ 1 % loss.
//!
//! A server whose core is saturated (≥ 98 % of it) counts as losing: it no longer keeps up, its
//! backlog grows, and loss follows once its socket buffer is full (at 1.5 Mbit/s in, 4 MiB last about
//! 20 s, longer than a step).
//!
//! With `--until-loss` a grown delay is only noted and the ramp goes on to where loss starts; then
//! one more step runs at 80 % of that load, for the delay the hub adds there.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::compare::{self, Both, Figure, missing_note, run_both};
use crate::fanout;
use crate::sfu::Sfu;

/// Subscriber counts tried in order (up to `max_subscribers`).
const STEPS: [usize; 16] = [10, 20, 40, 60, 80, 100, 120, 160, 200, 250, 320, 400, 500, 640, 800, 1000];
const STEP_WINDOW: Duration = Duration::from_secs(3);
/// Per server, so both fit in two minutes at the default `--max-subscribers`; a larger one asks
/// for a long run and gets [`LONG_BUDGET`].
const BUDGET: Duration = Duration::from_secs(50);
const LONG_BUDGET: Duration = Duration::from_secs(600);
pub const DEFAULT_MAX: usize = 160;
const MAX_LOSS_PCT: f64 = 1.0;
/// Above this the generator, not the server, limits what we see.
const GENERATOR_SATURATED_PCT: f64 = 95.0;
/// At this share of its core a server no longer keeps up (see the module doc).
const SERVER_SATURATED_PCT: f64 = 98.0;

/// Loss beyond the limit, or a server that no longer keeps up.
fn overloaded(s: &Step) -> bool {
    s.frame_loss_pct > MAX_LOSS_PCT || s.server_cpu_pct >= SERVER_SATURATED_PCT
}

#[derive(Debug, Clone)]
pub struct Config {
    pub max_subscribers: usize,
    pub hub_bin: PathBuf,
    pub pin: bool,
    /// Go on past a grown delay, to where loss starts, then measure at 80 % of that load.
    pub until_loss: bool,
}

/// Where loss starts is this share of the load the delay is measured at (the 80 %).
const LOAD_SHARE: f64 = 0.8;

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
    /// The largest step with frame loss ≤ 1 % and the server below saturation (0 when even the
    /// first step was overloaded).
    pub max_subscribers_ok: usize,
    /// Server CPU at that step; `max_subscribers_ok / (server_cpu_pct / 100)` estimates subscribers per core.
    pub server_cpu_pct_at_max: f64,
    pub stopped_because: String,
    /// With `until_loss`: when the delay grew, though the ramp went on.
    #[serde(default)]
    pub delay_grew: Option<String>,
    /// With `until_loss` and an overloaded step: a step at 80 % of that many subscribers.
    #[serde(default)]
    pub at_80pct_of_loss: Option<Step>,
}

pub type Comparison = Both<Report>;

pub fn run(cfg: &Config, janus: bool) -> anyhow::Result<Comparison> {
    run_both(&cfg.hub_bin, cfg.pin, janus, 1, |sfu, cores| run_on(sfu, cfg, cores))
}

pub fn run_on(sfu: &Sfu, cfg: &Config, cores: Option<(usize, usize)>) -> anyhow::Result<Report> {
    let t0 = Instant::now();
    let mut steps: Vec<Step> = Vec::new();
    let mut stopped_because = format!("reached --max-subscribers {}", cfg.max_subscribers);
    let mut delay_grew = None;
    for n in STEPS.into_iter().filter(|&n| n <= cfg.max_subscribers) {
        let budget = if cfg.max_subscribers <= DEFAULT_MAX { BUDGET } else { LONG_BUDGET };
        if t0.elapsed() > budget {
            stopped_because = format!("time budget of {} s spent", budget.as_secs());
            break;
        }
        let step = match run_step(sfu, cfg, n, cores) {
            Ok(s) => s,
            Err(e) => {
                stopped_because = format!("{n} subscribers failed: {e:#}");
                break;
            }
        };
        let first_p50 = steps.first().map_or(step.delay_ms_p50, |s| s.delay_ms_p50);
        let grew = (step.delay_ms_p50 > 4.0 * first_p50 + 10.0)
            .then(|| format!("delay p50 grew to {:.1} ms at {n} (first step {first_p50:.1} ms)", step.delay_ms_p50));
        if cfg.until_loss && delay_grew.is_none() {
            delay_grew = grew.clone();
        }
        let why = if step.frame_loss_pct > MAX_LOSS_PCT {
            Some(format!("frame loss {:.2} % at {n}", step.frame_loss_pct))
        } else if step.server_cpu_pct >= SERVER_SATURATED_PCT {
            Some(format!("the server's core is saturated ({:.0} %) at {n}", step.server_cpu_pct))
        } else if let Some(grew) = grew.filter(|_| !cfg.until_loss) {
            Some(grew)
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
    let best = steps.iter().filter(|s| !overloaded(s)).max_by_key(|s| s.subscribers);
    let lossy = steps.iter().find(|s| overloaded(s)).map(|s| s.subscribers);
    let at_80pct_of_loss = match lossy.filter(|_| cfg.until_loss) {
        Some(n) => {
            let n80 = ((n as f64 * LOAD_SHARE).round() as usize).max(1);
            match run_step(sfu, cfg, n80, cores) {
                Ok(s) => Some(s),
                Err(e) => {
                    stopped_because.push_str(&format!("; the step at 80 % ({n80}) failed: {e:#}"));
                    None
                }
            }
        }
        None => None,
    };
    Ok(Report {
        scenario: "fanout --ramp".into(),
        server: sfu.name().into(),
        max_subscribers_ok: best.map_or(0, |s| s.subscribers),
        server_cpu_pct_at_max: best.map_or(0.0, |s| s.server_cpu_pct),
        steps,
        stopped_because,
        delay_grew,
        at_80pct_of_loss,
    })
}

fn run_step(sfu: &Sfu, cfg: &Config, n: usize, cores: Option<(usize, usize)>) -> anyhow::Result<Step> {
    let mut fc = fanout::Config::new(n, STEP_WINDOW, cfg.hub_bin.clone());
    fc.pin = cfg.pin;
    let r = fanout::run_on(sfu, &fc, cores)?;
    Ok(Step {
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
    })
}

fn per_core(r: &Report) -> f64 {
    if r.server_cpu_pct_at_max > 0.0 { r.max_subscribers_ok as f64 * 100.0 / r.server_cpu_pct_at_max } else { 0.0 }
}

fn step_line(s: &Step) -> String {
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
    )
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
        let who = |what: &'static str| -> &'static str {
            match (rep.server == "Janus", what) {
                (true, "step") => "  Janus step",
                (true, _) => "  Janus at 80 %",
                (false, "step") => "  Lectern step",
                (false, _) => "  Lectern at 80 %",
            }
        };
        for s in &rep.steps {
            context.push((who("step"), step_line(s)));
        }
        if let Some(s) = &rep.at_80pct_of_loss {
            context.push((who("80"), step_line(s)));
        }
        context.push((
            if rep.server == "Janus" { "  Janus stopped" } else { "  Lectern stopped" },
            rep.stopped_because.clone(),
        ));
        if let Some(grew) = &rep.delay_grew {
            context.push((if rep.server == "Janus" { "  Janus delay" } else { "  Lectern delay" }, grew.clone()));
        }
    }
    let f = |label, l: fn(&Report) -> f64, d| Figure::new(label, l(r), j.map(l), d);
    let mut figures = vec![
        f("max subs ≤1% loss", |r| r.max_subscribers_ok as f64, 0),
        f("server CPU % there", |r| r.server_cpu_pct_at_max, 1),
        f("subs/core (estimate)", per_core, 0),
    ];
    // Only an `--until-loss` ramp that found the limit has the step at 80 % of it.
    if let Some(l80) = &r.at_80pct_of_loss {
        let j80 = j.and_then(|j| j.at_80pct_of_loss.as_ref());
        figures.push(Figure::new("80% of loss: subs", l80.subscribers as f64, j80.map(|s| s.subscribers as f64), 0));
        figures.push(Figure::new("80% of loss: p99 ms", l80.delay_ms_p99, j80.map(|s| s.delay_ms_p99), 2));
    }
    compare::table(&context, &figures, &missing_note(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(loss: f64, cpu: f64) -> Step {
        Step {
            subscribers: 10,
            frame_loss_pct: loss,
            delay_ms_p50: 1.0,
            delay_ms_p99: 2.0,
            us_per_pkt: 5.0,
            server_cpu_pct: cpu,
            generator_cpu_pct: 100.0,
            generator_busy_pct: 10.0,
            udp_rcvbuf_drops: 0,
            server_socket_drops: 0,
            client_socket_drops: 0,
        }
    }

    fn report(server: &str, steps: Vec<Step>, at_80: Option<Step>) -> Report {
        Report {
            scenario: "fanout --ramp".into(),
            server: server.into(),
            max_subscribers_ok: 10,
            server_cpu_pct_at_max: 50.0,
            steps,
            stopped_because: "the server's core is saturated (99 %) at 10".into(),
            delay_grew: Some("delay p50 grew".into()),
            at_80pct_of_loss: at_80,
        }
    }

    #[test]
    fn the_table_has_the_step_at_80_percent_only_when_it_was_measured() {
        let at_80 = Step { subscribers: 8, delay_ms_p99: 31.5, ..step(0.0, 80.0) };
        let with = Comparison {
            lectern: report("Lectern", vec![step(0.0, 99.0)], Some(at_80.clone())),
            janus: Some(report("Janus", vec![step(5.0, 90.0)], Some(Step { delay_ms_p99: 63.0, ..at_80 }))),
            janus_missing: None,
        };
        let t = table(&with);
        assert!(t.contains("Lectern at 80 %") && t.contains("Janus at 80 %"), "{t}");
        let p99 = t.lines().find(|l| l.starts_with("80% of loss: p99 ms")).expect("the p99 row");
        assert!(p99.contains("31.50") && p99.contains("63.00") && p99.contains("0.50"), "{p99}");
        assert!(t.contains("Lectern delay") && t.contains("delay p50 grew"), "{t}");
        let without =
            Comparison { lectern: report("Lectern", vec![step(0.0, 50.0)], None), janus: None, janus_missing: None };
        assert!(!table(&without).contains("80% of loss"), "no row for a ramp that did not measure it");
    }

    #[test]
    fn a_saturated_server_counts_as_losing_before_its_buffers_fill() {
        assert!(!overloaded(&step(0.0, 50.0)));
        assert!(!overloaded(&step(1.0, 97.9)), "1 % is within the limit");
        assert!(overloaded(&step(1.5, 40.0)));
        assert!(overloaded(&step(0.0, 99.6)), "no loss yet, but the backlog grows");
    }
}
