//! Scenario `meeting`: M participants each publish audio + video and receive everyone else's. On the hub
//! through the browser signalling (`/rtc`, student tokens, the hub offers the subscribe connection and
//! re-offers it as publishers arrive); on Janus, one VideoRoom publisher each and, once all publish, one
//! subscriber handle per participant for the other M-1 feeds. As in `fanout`, one thread busy-polls
//! every participant's receiving side (see `fanout::receive_all` for why). With `rooms` > 1 the same
//! happens in that many rooms side by side (scenario `rooms`, breakout-shaped: see [`crate::rooms`]).

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use lectern_proto::Role;
use lectern_proto::signal::ClientMsg;
use serde::{Deserialize, Serialize};
use str0m::Event;
use str0m::media::{MediaKind, Mid};

use crate::compare::{self, Both, Figure, missing_note, run_both_rooms};
use crate::fanout::{self, Shared, percentile, publish, wait_until};
use crate::frame::{is_rtp, read_stamp};
use crate::hub;
use crate::peer::Peer;
use crate::rtc::{RtcSocket, apply_subscribe_offer};
use crate::sfu::{Publisher, Sfu, room_name};

const GRACE: Duration = Duration::from_millis(500);

#[derive(Debug, Clone)]
pub struct Config {
    /// Participants per room.
    pub participants: usize,
    /// Rooms of `participants` each (1 for `meeting`).
    pub rooms: usize,
    pub duration: Duration,
    /// Each participant's video bitrate.
    pub video_kbit_s: u32,
    pub hub_bin: PathBuf,
    pub pin: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub scenario: String,
    pub server: String,
    /// Participants per room.
    pub participants: usize,
    #[serde(default = "one")]
    pub rooms: usize,
    pub window_s: f64,
    pub video_kbit_s: u32,
    pub packets_forwarded: u64,
    pub hub_cpu_pct: f64,
    pub us_per_pkt: f64,
    pub frame_loss_pct: f64,
    pub delay_ms_p50: f64,
    pub delay_ms_p99: f64,
    pub rss_idle_kib: u64,
    pub rss_after_kib: u64,
    pub rss_per_participant_kib: f64,
    pub generator_cpu_pct: f64,
    /// Share of the window the receiving thread spent on datagrams (see `fanout::Report`).
    #[serde(default)]
    pub generator_busy_pct: f64,
    /// Times per second the server's threads were woken (see `hub::wakeups`).
    #[serde(default)]
    pub server_wakeups_per_s: f64,
}

fn one() -> usize {
    1
}

pub type Comparison = Both<Report>;

pub fn run(cfg: &Config, janus: bool) -> anyhow::Result<Comparison> {
    run_both_rooms(&cfg.hub_bin, cfg.pin, janus, cfg.participants, cfg.rooms, |sfu, _| run_on(sfu, cfg))
}

pub fn run_on(sfu: &Sfu, cfg: &Config) -> anyhow::Result<Report> {
    if cfg.participants < 2 || cfg.rooms < 1 {
        bail!("a meeting needs at least one room of at least two participants");
    }
    let shared = Shared::new();
    let result = meet(sfu, cfg, &shared);
    shared.stop.store(true, Ordering::SeqCst);
    result
}

/// What one subscriber saw: (stamped sequence incl. publisher, sent ns, delay ns), RTP datagrams in the window.
#[derive(Default)]
struct Seen {
    frames: Vec<(u64, u64, u64)>,
    rtp_in_window: u64,
}

/// Every participant's receiving side, polled by one thread; also the time it spent on datagrams.
type Subs = JoinHandle<anyhow::Result<(Vec<Seen>, Duration)>>;

fn meet(sfu: &Sfu, cfg: &Config, shared: &Arc<Shared>) -> anyhow::Result<Report> {
    let m = cfg.participants;
    let total = m * cfg.rooms;
    let rss_idle = sfu.rss_kib()?;
    let media = |i: usize| {
        let mut c = fanout::Config::new(m - 1, cfg.duration, cfg.hub_bin.clone());
        c.video_frame_bytes = (cfg.video_kbit_s as usize * 1000 / 8 / c.fps as usize).max(100);
        c.stream = i as u64;
        c
    };
    let mut publishers: Vec<Pub> = Vec::new();
    let sides = connect(sfu, cfg, shared, |i, peer, mids| {
        let (s, c) = (shared.clone(), media(i));
        publishers.push(std::thread::spawn(move || publish(peer, mids, &s, &c)));
    })?;
    let s = shared.clone();
    let receiver: Subs = std::thread::spawn(move || receive_all(sides, &s, m - 1));
    let everyone = || shared.ready.load(Ordering::SeqCst) >= total;
    wait_until(shared, "every participant to see everyone else in the room", everyone)?;

    let cpu0 = sfu.cpu()?;
    let wake0 = sfu.wakeups()?;
    let gen0 = hub::cpu_time(std::process::id())?;
    let window_start = shared.now_ns();
    shared.measuring.store(true, Ordering::SeqCst);
    std::thread::sleep(cfg.duration);
    shared.measuring.store(false, Ordering::SeqCst);
    let window_end = shared.now_ns();
    let cpu = sfu.cpu()?.saturating_sub(cpu0);
    let wakeups = sfu.wakeups()?.saturating_sub(wake0);
    let gen_cpu = hub::cpu_time(std::process::id())?.saturating_sub(gen0);
    let rss_after = sfu.rss_kib()?;
    std::thread::sleep(GRACE);
    shared.stop.store(true, Ordering::SeqCst);

    let in_window = |ns: u64| (window_start..window_end).contains(&ns);
    let mut sent_per_pub = Vec::new();
    for p in publishers {
        let sent = p.join().map_err(|_| anyhow::anyhow!("publisher thread panicked"))??;
        sent_per_pub.push(sent.iter().filter(|&&ns| in_window(ns)).count() as u64);
    }
    let sent_total: u64 = sent_per_pub.iter().sum();
    let (mut delays, mut got, mut packets) = (Vec::new(), 0u64, 0u64);
    let (seen_all, busy) = receiver.join().map_err(|_| anyhow::anyhow!("the receiving thread panicked"))??;
    for seen in seen_all {
        let distinct: HashSet<u64> = seen.frames.iter().filter(|f| in_window(f.1)).map(|f| f.0).collect();
        got += distinct.len() as u64;
        delays.extend(seen.frames.iter().filter(|f| in_window(f.1)).map(|f| f.2));
        packets += seen.rtp_in_window;
    }
    delays.sort_unstable();
    // Every frame a participant sent should reach the other M-1 of its room.
    let expected = sent_total * (m as u64 - 1);
    let window = Duration::from_nanos(window_end - window_start).as_secs_f64();
    Ok(Report {
        scenario: if cfg.rooms == 1 { "meeting" } else { "rooms" }.into(),
        server: sfu.name().into(),
        participants: m,
        rooms: cfg.rooms,
        window_s: window,
        video_kbit_s: cfg.video_kbit_s,
        packets_forwarded: packets,
        hub_cpu_pct: 100.0 * cpu.as_secs_f64() / window,
        us_per_pkt: if packets == 0 { 0.0 } else { cpu.as_secs_f64() * 1e6 / packets as f64 },
        frame_loss_pct: if expected == 0 { 0.0 } else { 100.0 * expected.saturating_sub(got) as f64 / expected as f64 },
        delay_ms_p50: percentile(&delays, 50.0),
        delay_ms_p99: percentile(&delays, 99.0),
        rss_idle_kib: rss_idle,
        rss_after_kib: rss_after,
        rss_per_participant_kib: (rss_after as f64 - rss_idle as f64) / total as f64,
        generator_cpu_pct: 100.0 * gen_cpu.as_secs_f64() / window,
        generator_busy_pct: 100.0 * busy.as_secs_f64() / window,
        server_wakeups_per_s: wakeups as f64 / window,
    })
}

type Pub = JoinHandle<anyhow::Result<Vec<u64>>>;

/// Connects every participant of every room, participant `j` of room `r` as number `r * participants + j`:
/// hands its publishing peer to `start` (which must drive it and count it in `shared.publishing` once
/// connected) and returns the receiving sides in the same order.
pub(crate) fn connect(
    sfu: &Sfu,
    cfg: &Config,
    shared: &Arc<Shared>,
    mut start: impl FnMut(usize, Peer, Vec<Mid>),
) -> anyhow::Result<Vec<Side>> {
    let m = cfg.participants;
    let mut sides: Vec<Side> = Vec::new();
    for room in 0..cfg.rooms {
        match sfu {
            Sfu::Lectern(hub) => {
                for j in 0..m {
                    let i = room * m + j;
                    let token = hub.token(&room_name(room), Role::Student, &format!("p{i}"))?;
                    let mut ws =
                        RtcSocket::join(&hub.base, &token).with_context(|| format!("participant {i} joins"))?;
                    let (peer, mids) = ws.publish(&[MediaKind::Audio, MediaKind::Video])?;
                    start(i, peer, mids);
                    sides.push(Side::new(None, Some(ws)));
                }
            }
            Sfu::Janus(_) => {
                let mut feeds = Vec::new();
                for j in 0..m {
                    let i = room * m + j;
                    let Publisher { peer, mids, feed } = sfu.publisher_in(room, &format!("p{i}"))?;
                    feeds.push(feed);
                    start(i, peer, mids);
                }
                // Janus offers a subscriber only feeds that publish.
                let published = || shared.publishing.load(Ordering::SeqCst) >= (room + 1) * m;
                wait_until(shared, "every publisher to connect", published)?;
                for j in 0..m {
                    let others: Vec<u64> = feeds.iter().enumerate().filter(|(k, _)| *k != j).map(|(_, f)| *f).collect();
                    let peer = sfu.subscriber_in(room, &format!("p{}-sub", room * m + j), &others)?;
                    peer.set_nonblocking()?;
                    sides.push(Side::new(Some(peer), None));
                }
            }
        }
    }
    Ok(sides)
}

/// One participant's receiving side: a ready subscriber peer (Janus) or the `/rtc` socket whose
/// `subscribeOffer`s create and renegotiate it (hub). Ready once frames from all the others arrived.
pub(crate) struct Side {
    peer: Option<Peer>,
    ws: Option<RtcSocket>,
    seen: Seen,
    from: HashSet<u64>,
    ready: bool,
}

impl Side {
    pub(crate) fn new(peer: Option<Peer>, ws: Option<RtcSocket>) -> Self {
        Self { peer, ws, seen: Seen::default(), from: HashSet::new(), ready: false }
    }

    /// Answers what the hub offered, then takes what has arrived; returns how many datagrams.
    pub(crate) fn poll(&mut self, shared: &Shared, others: usize) -> anyhow::Result<usize> {
        if let Some(ws) = self.ws.as_mut() {
            let had_peer = self.peer.is_some();
            signal(ws, &mut self.peer)?;
            // The hub's first offer just created the peer.
            if let (false, Some(p)) = (had_peer, &self.peer) {
                p.set_nonblocking()?;
            }
        }
        let Some(p) = self.peer.as_mut() else { return Ok(0) };
        let Self { seen, from, ready, .. } = self;
        let measuring = shared.measuring.load(Ordering::Relaxed);
        p.pump(
            |e| {
                if let Event::MediaData(d) = e
                    && let Some(s) = read_stamp(&d.data)
                {
                    seen.frames.push((s.seq, s.sent_ns, shared.now_ns().saturating_sub(s.sent_ns)));
                    from.insert(s.seq >> 32);
                    if !*ready && from.len() >= others {
                        *ready = true;
                        shared.ready.fetch_add(1, Ordering::SeqCst);
                    }
                }
            },
            |d| {
                if measuring && is_rtp(d) {
                    seen.rtp_in_window += 1;
                }
            },
        )
    }

    pub(crate) fn hang_up(&mut self) {
        if let Some(p) = self.peer.as_mut() {
            p.hang_up();
        }
        if let Some(ws) = self.ws.as_mut() {
            ws.leave();
        }
    }
}

/// Busy-polls every participant's receiving side until `stop`.
fn receive_all(mut sides: Vec<Side>, shared: &Shared, others: usize) -> anyhow::Result<(Vec<Seen>, Duration)> {
    let mut busy = Duration::ZERO;
    let result = 'run: loop {
        if shared.stop.load(Ordering::SeqCst) {
            break Ok(());
        }
        let measuring = shared.measuring.load(Ordering::Relaxed);
        let mut taken = 0;
        for side in &mut sides {
            let t = Instant::now();
            match side.poll(shared, others) {
                Ok(n) if n > 0 && measuring => {
                    busy += t.elapsed();
                    taken += n;
                }
                Ok(n) => taken += n,
                Err(e) => break 'run Err(e),
            }
        }
        // The M publisher threads share this core: an empty sweep lets a due one run at once.
        if taken == 0 {
            std::thread::yield_now();
        }
    };
    for side in &mut sides {
        side.hang_up();
    }
    result.map(|()| (sides.into_iter().map(|s| s.seen).collect(), busy))
}

/// Answers every `subscribeOffer` that has arrived.
fn signal(ws: &mut RtcSocket, peer: &mut Option<Peer>) -> anyhow::Result<()> {
    while let Some(msg) = ws.poll()? {
        if msg["type"] == "subscribeOffer" {
            let sdp = msg["sdp"].as_str().context("subscribeOffer without sdp")?;
            let answer = apply_subscribe_offer(peer, sdp)?;
            ws.send(&ClientMsg::SubscribeAnswer { sdp: answer })?;
        }
    }
    Ok(())
}

pub fn table(c: &Comparison) -> String {
    let r = &c.lectern;
    let j = c.janus.as_ref();
    let context = [
        (
            "scenario",
            format!(
                "{} ({} room(s) of {} participants, each publishing H.264 {} kbit/s + Opus to the others in its room)",
                r.scenario, r.rooms, r.participants, r.video_kbit_s
            ),
        ),
        ("window", format!("{:.1} s each", r.window_s)),
    ];
    let f = |label, l: fn(&Report) -> f64, d| Figure::new(label, l(r), j.map(l), d);
    let figures = [
        f("µs/pkt", |r| r.us_per_pkt, 2),
        f("packets forwarded/s", |r| r.packets_forwarded as f64 / r.window_s, 0),
        f("server CPU %", |r| r.hub_cpu_pct, 1),
        f("server wake-ups/s", |r| r.server_wakeups_per_s, 0),
        f("frame loss %", |r| r.frame_loss_pct, 2),
        f("delay p50 ms", |r| r.delay_ms_p50, 2),
        f("delay p99 ms", |r| r.delay_ms_p99, 2),
        f("RSS KiB/participant", |r| r.rss_per_participant_kib, 0),
        f("generator CPU %", |r| r.generator_cpu_pct, 1),
        f("generator busy %", |r| r.generator_busy_pct, 1),
    ];
    compare::table(&context, &figures, &missing_note(c))
}
