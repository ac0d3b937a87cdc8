//! Scenario `rooms`: breakout-shaped load. `--rooms` rooms of `--participants` each, every participant
//! publishing video + Opus to the others in its room (the `meeting` machinery, see [`crate::meeting`]),
//! then, on a fresh server, the idle figure: enough rooms for `--idle-participants` connected
//! participants (a publishing peer and a receiving side each) that send nothing, and what the server
//! spends per second on them (timers, keep-alives, RTCP).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use str0m::media::Mid;

use crate::compare::{self, Both, Figure, missing_note, run_both_rooms};
use crate::fanout::{Shared, wait_until};
use crate::meeting::{self, Side};
use crate::peer::{Peer, is_connected};
use crate::sfu::Sfu;

/// How long the idle participants settle after connecting (the hub's subscribe offers, first
/// RTCP) before the window opens.
const SETTLE: Duration = Duration::from_secs(2);
/// How often an idle client looks at its socket at the latest (it wakes earlier for str0m's timers).
const IDLE_SLICE: Duration = Duration::from_millis(100);

#[derive(Debug, Clone)]
pub struct Config {
    pub rooms: usize,
    /// Participants per room.
    pub participants: usize,
    pub duration: Duration,
    pub video_kbit_s: u32,
    /// Connected participants that send nothing, in rooms of `participants`; 0 skips the idle figure.
    pub idle_participants: usize,
    /// The idle measurement window.
    pub idle_duration: Duration,
    pub hub_bin: PathBuf,
    pub pin: bool,
}

impl Config {
    fn meeting(&self) -> meeting::Config {
        meeting::Config {
            participants: self.participants,
            rooms: self.rooms,
            duration: self.duration,
            video_kbit_s: self.video_kbit_s,
            hub_bin: self.hub_bin.clone(),
            pin: self.pin,
        }
    }

    /// The idle run's rooms: enough of `participants` each to hold `idle_participants`.
    fn idle_rooms(&self) -> usize {
        self.idle_participants.div_ceil(self.participants.max(1))
    }
}

/// What N connected, silent participants cost the server.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdleReport {
    pub server: String,
    pub rooms: usize,
    /// Participants per room; `rooms * participants` were connected.
    pub participants: usize,
    pub window_s: f64,
    /// Server CPU time per second of the window, in % of one core.
    pub cpu_pct: f64,
    /// The same per participant, in µs of CPU per second.
    pub cpu_us_per_participant_s: f64,
    /// Datagrams the clients received from the server per second (keep-alives, RTCP).
    pub datagrams_per_s: f64,
    pub rss_per_participant_kib: f64,
    /// Times per second the server's threads were woken (see `hub::wakeups`).
    pub wakeups_per_s: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// Every participant sending: the `meeting` columns.
    pub active: meeting::Comparison,
    /// `None` when `--idle-participants 0`.
    pub idle: Option<Both<IdleReport>>,
}

pub fn run(cfg: &Config, janus: bool) -> anyhow::Result<Report> {
    let active = meeting::run(&cfg.meeting(), janus)?;
    let idle = if cfg.idle_participants == 0 {
        None
    } else {
        let rooms = cfg.idle_rooms();
        Some(run_both_rooms(&cfg.hub_bin, cfg.pin, janus, cfg.participants, rooms, |sfu, _| idle_on(sfu, cfg))?)
    };
    Ok(Report { active, idle })
}

/// Connects the idle rooms on `sfu`, lets them settle, then measures the server over the window.
pub fn idle_on(sfu: &Sfu, cfg: &Config) -> anyhow::Result<IdleReport> {
    let shared = Shared::new();
    let result = idle(sfu, cfg, &shared);
    shared.stop.store(true, Ordering::SeqCst);
    result
}

fn idle(sfu: &Sfu, cfg: &Config, shared: &Arc<Shared>) -> anyhow::Result<IdleReport> {
    let mut mcfg = cfg.meeting();
    mcfg.rooms = cfg.idle_rooms();
    let total = mcfg.rooms * mcfg.participants;
    let rss0 = sfu.rss_kib()?;
    let datagrams = Arc::new(AtomicU64::new(0));
    let mut publishers = Vec::new();
    let sides = meeting::connect(sfu, &mcfg, shared, |_, peer, mids| {
        let (s, d) = (shared.clone(), datagrams.clone());
        publishers.push(std::thread::spawn(move || stay_silent(peer, mids, &s, &d)));
    })?;
    let (s, d) = (shared.clone(), datagrams.clone());
    let receiver = std::thread::spawn(move || poll_sides(sides, &s, &d));
    wait_until(shared, "every idle participant to connect", || shared.publishing.load(Ordering::SeqCst) >= total)?;
    let settled = Instant::now() + SETTLE;
    wait_until(shared, "the idle rooms to settle", || Instant::now() >= settled)?;

    let cpu0 = sfu.cpu()?;
    let wake0 = sfu.wakeups()?;
    let t0 = Instant::now();
    shared.measuring.store(true, Ordering::SeqCst);
    std::thread::sleep(cfg.idle_duration);
    shared.measuring.store(false, Ordering::SeqCst);
    let window = t0.elapsed().as_secs_f64();
    let cpu = sfu.cpu()?.saturating_sub(cpu0).as_secs_f64();
    let rss = sfu.rss_kib()?;
    let wakeups = sfu.wakeups()?.saturating_sub(wake0);
    shared.stop.store(true, Ordering::SeqCst);
    for p in publishers {
        p.join().map_err(|_| anyhow::anyhow!("an idle publisher panicked"))??;
    }
    receiver.join().map_err(|_| anyhow::anyhow!("the idle receiver panicked"))??;
    Ok(IdleReport {
        server: sfu.name().into(),
        rooms: mcfg.rooms,
        participants: mcfg.participants,
        window_s: window,
        cpu_pct: 100.0 * cpu / window,
        cpu_us_per_participant_s: cpu * 1e6 / window / total as f64,
        datagrams_per_s: datagrams.load(Ordering::SeqCst) as f64 / window,
        rss_per_participant_kib: (rss as f64 - rss0 as f64) / total as f64,
        wakeups_per_s: wakeups as f64 / window,
    })
}

/// An idle participant's publishing peer: connects, then only answers what the server sends
/// (consent checks, RTCP) until `stop`. Counted in `shared.publishing` once connected.
fn stay_silent(mut peer: Peer, _mids: Vec<Mid>, shared: &Shared, datagrams: &AtomicU64) -> anyhow::Result<()> {
    let mut counted = false;
    let result = loop {
        if shared.stop.load(Ordering::SeqCst) {
            break Ok(());
        }
        let mut connected = false;
        let measuring = shared.measuring.load(Ordering::Relaxed);
        let step = peer.drive(
            Instant::now() + IDLE_SLICE,
            |e| connected |= is_connected(&e),
            |_| {
                if measuring {
                    datagrams.fetch_add(1, Ordering::Relaxed);
                }
            },
        );
        if let Err(e) = step {
            break Err(e);
        }
        if connected && !counted {
            counted = true;
            shared.publishing.fetch_add(1, Ordering::SeqCst);
        }
    };
    peer.hang_up();
    result
}

/// The receiving sides of the idle participants: answers the hub's subscribe offers and takes
/// what arrives, sleeping between sweeps (nothing here is timed).
fn poll_sides(mut sides: Vec<Side>, shared: &Shared, datagrams: &AtomicU64) -> anyhow::Result<()> {
    let result = loop {
        if shared.stop.load(Ordering::SeqCst) {
            break Ok(());
        }
        let measuring = shared.measuring.load(Ordering::Relaxed);
        let mut taken = 0;
        for side in &mut sides {
            match side.poll(shared, usize::MAX) {
                Ok(n) => taken += n,
                Err(e) => return Err(e),
            }
        }
        if measuring {
            datagrams.fetch_add(taken as u64, Ordering::Relaxed);
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    for side in &mut sides {
        side.hang_up();
    }
    result
}

pub fn table(r: &Report) -> String {
    let mut out = meeting::table(&r.active);
    let Some(c) = &r.idle else { return out };
    let (l, j) = (&c.lectern, c.janus.as_ref());
    let context = [
        ("idle", format!("{} room(s) of {} connected participants sending nothing", l.rooms, l.participants)),
        ("window", format!("{:.1} s each", l.window_s)),
    ];
    let f = |label, v: fn(&IdleReport) -> f64, d| Figure::new(label, v(l), j.map(v), d);
    let figures = [
        f("idle CPU % of a core", |r| r.cpu_pct, 2),
        f("idle µs CPU/s/particip.", |r| r.cpu_us_per_participant_s, 0),
        f("idle datagrams/s out", |r| r.datagrams_per_s, 0),
        f("idle wake-ups/s", |r| r.wakeups_per_s, 0),
        f("idle RSS KiB/particip.", |r| r.rss_per_participant_kib, 0),
    ];
    out.push('\n');
    out.push_str(&compare::table(&context, &figures, &missing_note(c)));
    out
}
