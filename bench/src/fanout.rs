//! Scenario `fanout`: one publisher (H.264 ~1.5 Mbit/s at 30 fps + Opus-sized audio) into one room, N
//! WHEP subscribers. The publisher has its own thread; the subscribers are busy-polled from one
//! receiver thread (see [`receive_all`]). The hub runs in its own process, pinned to another core
//! when possible, and is measured over a fixed window once every subscriber has a picture.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use str0m::Event;
use str0m::format::Codec;
use str0m::media::{Frequency, MediaTime, Mid};

use crate::compare::{self, Both, Figure, missing_note, run_both};
use crate::frame::{Filler, Stamp, audio_frame, h264_frame, is_rtp, read_stamp};
use crate::hub;
use crate::peer::Peer;
use crate::sfu::{Publisher, Sfu};

/// How long the publisher waits for its connection before looking at the stop flag again.
const SLICE: Duration = Duration::from_millis(50);
/// After the window closes, frames stamped inside it may still be in flight.
const GRACE: Duration = Duration::from_millis(500);
const CONNECT_DEADLINE: Duration = Duration::from_secs(20);

#[derive(Debug, Clone)]
pub struct Config {
    pub subscribers: usize,
    /// The measurement window (set-up and warm-up come on top).
    pub duration: Duration,
    pub hub_bin: PathBuf,
    /// Pin generator and hub to different cores with `taskset` when there are two.
    pub pin: bool,
    pub video_frame_bytes: usize,
    pub fps: u32,
    /// Which publisher this is: the upper 32 bits of every frame's stamped sequence number.
    pub stream: u64,
}

impl Config {
    pub fn new(subscribers: usize, duration: Duration, hub_bin: PathBuf) -> Self {
        // 6250 B x 30 fps x 8 = 1.5 Mbit/s.
        Self { subscribers, duration, hub_bin, pin: true, video_frame_bytes: 6250, fps: 30, stream: 0 }
    }
}

/// The figures of one run; also the `--json` file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub scenario: String,
    /// `Lectern` or `Janus`.
    pub server: String,
    pub subscribers: usize,
    pub window_s: f64,
    pub codec: String,
    pub video_kbit_s: f64,
    pub hub_pinned_cpu: Option<usize>,
    pub generator_pinned_cpu: Option<usize>,
    pub clk_tck: u64,
    /// RTP datagrams the subscribers received from the hub inside the window.
    pub packets_forwarded: u64,
    pub hub_cpu_s: f64,
    pub hub_cpu_pct: f64,
    /// Hub CPU time per forwarded packet (the incoming packet's cost is spread over its copies).
    pub us_per_pkt: f64,
    /// Hub CPU time per forwarded megabit (RTP datagram bytes as received).
    pub us_per_mbit: f64,
    /// The generator's own CPU use over the window: near 100 % per core means the figures are bounded by it.
    pub generator_cpu_pct: f64,
    /// Share of the window the subscribers' receiver thread spent on datagrams (not on polling
    /// empty sockets): 100 % means the generator, not the server, sets the pace.
    #[serde(default)]
    pub generator_busy_pct: f64,
    pub frames_sent: u64,
    pub frames_received_min: u64,
    pub frame_loss_pct: f64,
    /// Publisher stamp to subscriber's reassembled frame, over loopback and both str0m clients.
    pub delay_ms_p50: f64,
    pub delay_ms_p99: f64,
    /// The same delay with no server in between (see [`floor`]): what the generator itself adds.
    #[serde(default)]
    pub floor_ms_p50: f64,
    #[serde(default)]
    pub floor_ms_p99: f64,
    pub rss_before_kib: u64,
    pub rss_after_kib: u64,
    pub rss_per_subscriber_kib: f64,
    /// UDP datagrams the kernel dropped machine-wide during the window for a full receive / send buffer.
    pub udp_rcvbuf_drops: u64,
    pub udp_sndbuf_drops: u64,
    /// Of those, datagrams dropped at the server's own sockets and at the clients' (full receive buffer).
    pub server_socket_drops: u64,
    pub client_socket_drops: u64,
}

/// State the main thread shares with the client threads.
pub(crate) struct Shared {
    pub(crate) epoch: Instant,
    pub(crate) stop: AtomicBool,
    pub(crate) measuring: AtomicBool,
    pub(crate) publisher_connected: AtomicBool,
    /// Subscribers that have decoded-able media (one stamped frame) so far.
    pub(crate) ready: AtomicUsize,
    /// Publishers that are connected and sending.
    pub(crate) publishing: AtomicUsize,
}

impl Shared {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            epoch: Instant::now(),
            stop: AtomicBool::new(false),
            measuring: AtomicBool::new(false),
            publisher_connected: AtomicBool::new(false),
            ready: AtomicUsize::new(0),
            publishing: AtomicUsize::new(0),
        })
    }

    pub(crate) fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }
}

struct SubStats {
    /// (sequence, sent ns, delay ns) per stamped video frame.
    frames: Vec<(u64, u64, u64)>,
    rtp_in_window: u64,
    rtp_bytes_in_window: u64,
}

/// Lectern's and Janus's figures; also the `--json` file.
pub type Comparison = Both<Report>;

/// Runs the scenario on the hub, then (with `janus`) on Janus, one after the other on the same
/// cores; first the generator's own delay is measured with no server (see [`floor`]).
pub fn run(cfg: &Config, janus: bool) -> anyhow::Result<Comparison> {
    let floor_ms = std::cell::Cell::new(None);
    run_both(&cfg.hub_bin, cfg.pin, janus, 1, |sfu, cores| {
        // Once, on the generator's core (pinned by now), before the first server's run.
        let (p50, p99) = match floor_ms.get() {
            Some(f) => f,
            None => floor(cfg).context("measuring the delay without a server")?,
        };
        floor_ms.set(Some((p50, p99)));
        run_on(sfu, cfg, cores).map(|r| Report { floor_ms_p50: p50, floor_ms_p99: p99, ..r })
    })
}

/// How long the delay floor is measured.
const FLOOR_WINDOW: Duration = Duration::from_secs(3);

/// The generator's own share of the delay (p50, p99 in ms): the publisher connected straight to one
/// subscriber over loopback, both str0m clients driven exactly as in a server run (the publisher's
/// thread, the busy-polling receiver thread, on the same core). A server's delay minus this is
/// what the server adds: its wake-up, its work and its place in the fan-out.
pub fn floor(cfg: &Config) -> anyhow::Result<(f64, f64)> {
    let localhost = std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
    let mut subscriber = None;
    let kinds = [str0m::media::MediaKind::Audio, str0m::media::MediaKind::Video];
    let (publisher, mids) = Peer::offer(localhost, &kinds, str0m::media::Direction::SendOnly, |offer| {
        let (peer, answer) = Peer::answer(localhost, &offer)?;
        subscriber = Some(peer);
        Ok((answer, None))
    })?;
    let subscriber = subscriber.context("no subscriber answered")?;
    subscriber.set_nonblocking()?;
    let shared = Shared::new();
    let result = (|| {
        let publisher = {
            let (shared, cfg) = (shared.clone(), cfg.clone());
            std::thread::spawn(move || publish(publisher, mids, &shared, &cfg))
        };
        let receiver = {
            let shared = shared.clone();
            std::thread::spawn(move || receive_all(vec![subscriber], &shared))
        };
        wait_until(&shared, "the direct subscriber to receive video", || shared.ready.load(Ordering::SeqCst) >= 1)?;
        let window_start = shared.now_ns();
        std::thread::sleep(FLOOR_WINDOW.min(cfg.duration));
        let window_end = shared.now_ns();
        std::thread::sleep(GRACE);
        shared.stop.store(true, Ordering::SeqCst);
        publisher.join().map_err(|_| anyhow::anyhow!("publisher thread panicked"))??;
        let (stats, _) = receiver.join().map_err(|_| anyhow::anyhow!("the subscriber's thread panicked"))??;
        let mut delays: Vec<u64> = stats
            .iter()
            .flat_map(|s| &s.frames)
            .filter(|f| (window_start..window_end).contains(&f.1))
            .map(|f| f.2)
            .collect();
        if delays.is_empty() {
            bail!("no frame arrived directly within {FLOOR_WINDOW:?}");
        }
        delays.sort_unstable();
        Ok((percentile(&delays, 50.0), percentile(&delays, 99.0)))
    })();
    shared.stop.store(true, Ordering::SeqCst);
    result
}

/// Runs the scenario against one server (already started; cores already chosen).
pub fn run_on(sfu: &Sfu, cfg: &Config, cores: Option<(usize, usize)>) -> anyhow::Result<Report> {
    if cfg.subscribers == 0 {
        bail!("at least one subscriber");
    }
    let shared = Shared::new();
    let result = measure(cfg, sfu, &shared, cores);
    shared.stop.store(true, Ordering::SeqCst);
    result
}

fn measure(cfg: &Config, sfu: &Sfu, shared: &Arc<Shared>, cores: Option<(usize, usize)>) -> anyhow::Result<Report> {
    let (publisher, feed) = start_publisher(sfu, cfg, shared)?;
    let rss_before = sfu.rss_kib()?;

    let mut peers = Vec::new();
    for i in 0..cfg.subscribers {
        let peer = sfu.subscriber(&format!("sub{i}"), feed).with_context(|| format!("subscriber {i}"))?;
        peer.set_nonblocking()?;
        peers.push(peer);
    }
    let receiver = {
        let shared = shared.clone();
        std::thread::spawn(move || receive_all(peers, &shared))
    };
    let n = cfg.subscribers;
    wait_until(shared, "every subscriber to receive video", || shared.ready.load(Ordering::SeqCst) >= n)?;

    let cpu0 = sfu.cpu()?;
    let gen0 = hub::cpu_time(std::process::id())?;
    let udp0 = hub::udp_buffer_errors();
    let drops0 = hub::udp_socket_drops(sfu.pid());
    let window_start = shared.now_ns();
    shared.measuring.store(true, Ordering::SeqCst);
    std::thread::sleep(cfg.duration);
    shared.measuring.store(false, Ordering::SeqCst);
    let window_end = shared.now_ns();
    let cpu1 = sfu.cpu()?;
    let gen1 = hub::cpu_time(std::process::id())?;
    let udp1 = hub::udp_buffer_errors();
    let drops1 = hub::udp_socket_drops(sfu.pid());
    let rss_after = sfu.rss_kib()?;
    std::thread::sleep(GRACE);
    shared.stop.store(true, Ordering::SeqCst);

    let sent = publisher.join().map_err(|_| anyhow::anyhow!("publisher thread panicked"))??;
    let (stats, busy) = receiver.join().map_err(|_| anyhow::anyhow!("the subscribers' thread panicked"))??;

    let in_window = |ns: u64| (window_start..window_end).contains(&ns);
    let frames_sent = sent.iter().filter(|&&ns| in_window(ns)).count() as u64;
    let mut delays: Vec<u64> = Vec::new();
    let mut received = Vec::new();
    for s in &stats {
        let mut seqs: Vec<u64> = s.frames.iter().filter(|f| in_window(f.1)).map(|f| f.0).collect();
        seqs.sort_unstable();
        seqs.dedup();
        received.push(seqs.len() as u64);
        delays.extend(s.frames.iter().filter(|f| in_window(f.1)).map(|f| f.2));
    }
    delays.sort_unstable();
    let packets: u64 = stats.iter().map(|s| s.rtp_in_window).sum();
    let bytes: u64 = stats.iter().map(|s| s.rtp_bytes_in_window).sum();
    let window = Duration::from_nanos(window_end - window_start);
    let cpu = cpu1.saturating_sub(cpu0);
    let expected = frames_sent * n as u64;
    let got: u64 = received.iter().sum();
    let per = |x: f64| if x == 0.0 { 0.0 } else { cpu.as_secs_f64() * 1e6 / x };
    Ok(Report {
        scenario: "fanout".into(),
        server: sfu.name().into(),
        subscribers: n,
        window_s: window.as_secs_f64(),
        codec: "H.264 (synthetic) + Opus (synthetic)".into(),
        video_kbit_s: (cfg.video_frame_bytes * 8 * cfg.fps as usize) as f64 / 1000.0,
        hub_pinned_cpu: sfu.pinned_cpu(),
        generator_pinned_cpu: cores.map(|c| c.0),
        clk_tck: hub::clk_tck(),
        packets_forwarded: packets,
        hub_cpu_s: cpu.as_secs_f64(),
        hub_cpu_pct: 100.0 * cpu.as_secs_f64() / window.as_secs_f64(),
        us_per_pkt: per(packets as f64),
        us_per_mbit: per(bytes as f64 * 8.0 / 1e6),
        generator_cpu_pct: 100.0 * gen1.saturating_sub(gen0).as_secs_f64() / window.as_secs_f64(),
        generator_busy_pct: 100.0 * busy.as_secs_f64() / window.as_secs_f64(),
        frames_sent,
        frames_received_min: received.iter().copied().min().unwrap_or(0),
        frame_loss_pct: if expected == 0 { 0.0 } else { 100.0 * expected.saturating_sub(got) as f64 / expected as f64 },
        delay_ms_p50: percentile(&delays, 50.0),
        delay_ms_p99: percentile(&delays, 99.0),
        floor_ms_p50: 0.0,
        floor_ms_p99: 0.0,
        rss_before_kib: rss_before,
        rss_after_kib: rss_after,
        rss_per_subscriber_kib: (rss_after as f64 - rss_before as f64) / n as f64,
        udp_rcvbuf_drops: udp1.0.saturating_sub(udp0.0),
        udp_sndbuf_drops: udp1.1.saturating_sub(udp0.1),
        server_socket_drops: drops1.0.saturating_sub(drops0.0),
        client_socket_drops: drops1.1.saturating_sub(drops0.1),
    })
}

/// Connects the publisher, starts its thread and waits until it sends; returns the thread and its feed.
pub(crate) fn start_publisher(
    sfu: &Sfu,
    cfg: &Config,
    shared: &Arc<Shared>,
) -> anyhow::Result<(JoinHandle<anyhow::Result<Vec<u64>>>, u64)> {
    let Publisher { peer, mids, feed } = sfu.publisher("publisher")?;
    let thread = {
        let (shared, cfg) = (shared.clone(), cfg.clone());
        std::thread::spawn(move || publish(peer, mids, &shared, &cfg))
    };
    wait_until(shared, "the publisher to connect", || shared.publisher_connected.load(Ordering::SeqCst))?;
    Ok((thread, feed))
}

/// Polls `cond` every 10 ms until it holds, failing after [`CONNECT_DEADLINE`] or when a client stopped.
pub(crate) fn wait_until(shared: &Shared, what: &str, cond: impl Fn() -> bool) -> anyhow::Result<()> {
    let deadline = Instant::now() + CONNECT_DEADLINE;
    while !cond() {
        if Instant::now() > deadline || shared.stop.load(Ordering::SeqCst) {
            bail!("timed out waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

/// Nearest-rank percentile of sorted nanoseconds, in milliseconds.
pub(crate) fn percentile(sorted_ns: &[u64], p: f64) -> f64 {
    if sorted_ns.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted_ns.len() as f64).ceil() as usize;
    sorted_ns[rank.clamp(1, sorted_ns.len()) - 1] as f64 / 1e6
}

/// The publisher thread: video and audio frames on their own clocks; returns the send stamps (ns).
pub(crate) fn publish(mut peer: Peer, mids: Vec<Mid>, shared: &Shared, cfg: &Config) -> anyhow::Result<Vec<u64>> {
    let (audio_mid, video_mid) = (mids[0], mids[1]);
    let video_every = Duration::from_secs(1) / cfg.fps;
    let audio_every = Duration::from_millis(20);
    let mut filler = Filler::new(0x1ec7e5);
    let mut connected = false;
    let mut keyframe_wanted = true;
    let mut pts: Option<(str0m::format::PayloadParams, str0m::format::PayloadParams)> = None;
    let (mut next_video, mut next_audio) = (Instant::now(), Instant::now());
    let mut seq = 0u64;
    let mut sent = Vec::new();
    let result = loop {
        if shared.stop.load(Ordering::SeqCst) {
            break Ok(());
        }
        let until = if connected { next_video.min(next_audio) } else { Instant::now() + SLICE };
        let step = peer.drive(
            until,
            |e| match e {
                Event::Connected => connected = true,
                Event::KeyframeRequest(_) => keyframe_wanted = true,
                _ => {}
            },
            |_| {},
        );
        if let Err(e) = step {
            break Err(e);
        }
        if !connected {
            continue;
        }
        if pts.is_none() {
            let mut find = |mid: Mid, codec: Codec| {
                peer.rtc.writer(mid).and_then(|w| w.payload_params().find(|p| p.spec().codec == codec).copied())
            };
            let audio = find(audio_mid, Codec::Opus);
            match (audio, find(video_mid, Codec::H264)) {
                (Some(a), Some(v)) => pts = Some((a, v)),
                _ => break Err(anyhow::anyhow!("the hub did not negotiate Opus and H.264")),
            }
            shared.publisher_connected.store(true, Ordering::SeqCst);
            shared.publishing.fetch_add(1, Ordering::SeqCst);
        }
        let Some((audio_pt, video_pt)) = pts else { continue };
        let now = Instant::now();
        if now >= next_video {
            let sent_ns = shared.now_ns();
            let keyframe = keyframe_wanted || seq.is_multiple_of(2 * u64::from(cfg.fps));
            keyframe_wanted = false;
            let stamp = Stamp { seq: cfg.stream << 32 | seq, sent_ns };
            let frame = h264_frame(stamp, cfg.video_frame_bytes, keyframe, &mut filler);
            let time = MediaTime::new(sent_ns * 9 / 100_000, Frequency::NINETY_KHZ);
            if let Some(w) = peer.rtc.writer(video_mid) {
                w.write(video_pt.pt(), now, time, frame).context("writing video")?;
            }
            sent.push(sent_ns);
            seq += 1;
            next_video += video_every;
        }
        if now >= next_audio {
            let time = MediaTime::new(shared.now_ns() * 48 / 1_000_000, Frequency::FORTY_EIGHT_KHZ);
            if let Some(w) = peer.rtc.writer(audio_mid) {
                w.write(audio_pt.pt(), now, time, audio_frame(80, &mut filler)).context("writing audio")?;
            }
            next_audio += audio_every;
        }
    };
    peer.hang_up();
    result.map(|()| sent)
}

/// A subscriber thread: stamps of every video frame, RTP datagrams counted inside the window.
/// Runs every subscriber from this one thread, busy-polling their non-blocking sockets until
/// `stop`. Why not a blocking thread each: every datagram would then wake a sleeping thread, and
/// on loopback the kernel does that waking (a cross-core interrupt) in the *sender's* system call,
/// billing the server under test for the generator's scheduling (a quarter of the hub's measured
/// CPU at 40 subscribers); a real network card costs the sender nothing of the kind. The price is
/// one generator core at 100 %, and delays include up to one sweep over the sockets. Also returns
/// the time spent on datagrams while measuring (the generator's real load).
fn receive_all(mut peers: Vec<Peer>, shared: &Shared) -> anyhow::Result<(Vec<SubStats>, Duration)> {
    let mut busy = Duration::ZERO;
    let mut stats: Vec<SubStats> =
        peers.iter().map(|_| SubStats { frames: Vec::new(), rtp_in_window: 0, rtp_bytes_in_window: 0 }).collect();
    let mut ready = vec![false; peers.len()];
    let result = 'run: loop {
        if shared.stop.load(Ordering::SeqCst) {
            break Ok(());
        }
        let measuring = shared.measuring.load(Ordering::Relaxed);
        for ((peer, stats), ready) in peers.iter_mut().zip(&mut stats).zip(&mut ready) {
            let t = Instant::now();
            let step = peer.pump(
                |e| {
                    if let Event::MediaData(d) = e
                        && let Some(s) = read_stamp(&d.data)
                    {
                        let delay = shared.now_ns().saturating_sub(s.sent_ns);
                        stats.frames.push((s.seq, s.sent_ns, delay));
                        if !*ready {
                            *ready = true;
                            shared.ready.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                },
                |d| {
                    if measuring && is_rtp(d) {
                        stats.rtp_in_window += 1;
                        stats.rtp_bytes_in_window += d.len() as u64;
                    }
                },
            );
            match step {
                Ok(0) => {}
                Ok(_) if measuring => busy += t.elapsed(),
                Ok(_) => {}
                Err(e) => break 'run Err(e),
            }
        }
    };
    for peer in &mut peers {
        peer.hang_up();
    }
    result.map(|()| (stats, busy))
}

/// The human-readable table: Lectern, Janus and their ratio per figure.
pub fn table(c: &Comparison) -> String {
    let r = &c.lectern;
    let j = c.janus.as_ref();
    let pin = match (r.generator_pinned_cpu, r.hub_pinned_cpu) {
        (Some(g), Some(h)) => format!("generator on cpu {g}, server on cpu {h}"),
        _ => "not pinned".into(),
    };
    let context = [
        ("scenario", format!("{} (1 publisher -> {} subscribers)", r.scenario, r.subscribers)),
        ("media", format!("{}, video {:.0} kbit/s", r.codec, r.video_kbit_s)),
        ("window", format!("{:.1} s each, {pin}, CLK_TCK {}", r.window_s, r.clk_tck)),
    ];
    let f = |label, l: fn(&Report) -> f64, d| Figure::new(label, l(r), j.map(l), d);
    let figures = [
        f("µs/pkt", |r| r.us_per_pkt, 2),
        f("µs/Mbit", |r| r.us_per_mbit, 1),
        f("packets forwarded/s", |r| r.packets_forwarded as f64 / r.window_s, 0),
        f("server CPU %", |r| r.hub_cpu_pct, 1),
        f("frame loss %", |r| r.frame_loss_pct, 2),
        f("delay p50 ms", |r| r.delay_ms_p50, 2),
        f("delay p99 ms", |r| r.delay_ms_p99, 2),
        f("  no server p50 ms", |r| r.floor_ms_p50, 2),
        f("  no server p99 ms", |r| r.floor_ms_p99, 2),
        f("  server adds p50 ms", |r| (r.delay_ms_p50 - r.floor_ms_p50).max(0.0), 2),
        f("  server adds p99 ms", |r| (r.delay_ms_p99 - r.floor_ms_p99).max(0.0), 2),
        f("RSS before KiB", |r| r.rss_before_kib as f64, 0),
        f("RSS KiB/subscriber", |r| r.rss_per_subscriber_kib, 0),
        f("generator CPU %", |r| r.generator_cpu_pct, 1),
        f("generator busy %", |r| r.generator_busy_pct, 1),
        f("UDP rcvbuf drops (all)", |r| r.udp_rcvbuf_drops as f64, 0),
        f("UDP sndbuf drops", |r| r.udp_sndbuf_drops as f64, 0),
        f("  at server sockets", |r| r.server_socket_drops as f64, 0),
        f("  at client sockets", |r| r.client_socket_drops as f64, 0),
    ];
    compare::table(&context, &figures, &missing_note(c))
}

#[cfg(test)]
mod tests {
    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u64> = (1..=100).map(|i| i * 1_000_000).collect();
        assert_eq!(super::percentile(&v, 50.0), 50.0);
        assert_eq!(super::percentile(&v, 99.0), 99.0);
        assert_eq!(super::percentile(&[], 99.0), 0.0);
    }
}
