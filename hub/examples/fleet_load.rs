//! How many classroom boxes one hub keeps on its control channel: starts the real hub binary,
//! connects N simulated boxes to `/device/ws` (each with its own device token and room, a hello
//! with an inventory, telemetry every 5 s like the appliance), holds them for a while and prints
//! the hub's CPU and memory, boxes lost, and how fast a teacher's "go live" reaches a box.
//! A figure printer, not a test.
//!
//! Run: `cargo build --release -p lectern-hub --bins --examples &&
//!       target/release/examples/fleet_load --boxes 1000 --hold 30`

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use lectern_proto::device::{DeviceMsg, DeviceState, Inventory, InventoryDevice, Telemetry};
use lectern_proto::{Claims, Role, RoomId};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

struct Args {
    boxes: usize,
    hold: u64,
    /// `--attach URL --data-dir DIR`: boxes for a hub that is already running (its secret is
    /// read from DIR), held for `hold` seconds, for a page to be measured against
    /// (`tests/browser/measure/fleet.mjs`); no figures printed but "attached N".
    attach: Option<(String, PathBuf)>,
}

fn args() -> Args {
    let mut a = Args { boxes: 500, hold: 30, attach: None };
    let (mut url, mut dir) = (None, None);
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next();
        let number = value.as_deref().and_then(|v| v.parse::<u64>().ok());
        match (flag.as_str(), number, value) {
            ("--boxes", Some(v), _) => a.boxes = v as usize,
            ("--hold", Some(v), _) => a.hold = v,
            ("--attach", _, Some(v)) => url = Some(v),
            ("--data-dir", _, Some(v)) => dir = Some(PathBuf::from(v)),
            _ => {
                eprintln!("usage: fleet_load [--boxes N] [--hold SECONDS] [--attach URL --data-dir DIR]");
                std::process::exit(2);
            }
        }
    }
    a.attach = url.zip(dir);
    a
}

/// The hub binary next to this example's directory (`target/<profile>/lectern-hub`).
fn hub_bin() -> PathBuf {
    if let Ok(bin) = std::env::var("LECTERN_HUB_BIN") {
        return bin.into();
    }
    let exe = std::env::current_exe().expect("own path");
    exe.parent().and_then(|examples| examples.parent()).expect("target dir").join("lectern-hub")
}

struct Hub {
    child: Child,
    base: String,
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_hub(dir: &std::path::Path) -> Hub {
    let mut child = Command::new(hub_bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .env("LECTERN_UDP_PORT", "0")
        .env("LECTERN_BIND_IP", "127.0.0.1")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting lectern-hub (build it first)");
    let stdout = child.stdout.take().expect("piped");
    let mut lines = BufReader::new(stdout).lines();
    let base = loop {
        let line = lines.next().expect("hub exited").expect("hub stdout");
        if let Some(url) = line.strip_prefix("listening on ") {
            break url.trim().to_owned();
        }
    };
    // Keep draining stdout so the hub never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Hub { child, base }
}

/// (utime + stime) in clock ticks and RSS in KiB of `pid`.
fn proc_usage(pid: u32) -> (u64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = after.split_whitespace().collect();
    let cpu = f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    (cpu, rss)
}

fn inventory() -> Inventory {
    let dev = |name: &str, device: &str| InventoryDevice { name: name.into(), device: device.into() };
    Inventory {
        cameras: vec![dev("HD Pro Webcam C920", "/dev/video0"), dev("USB capture HDMI", "/dev/video2")],
        microphones: vec![dev("C920 microphone", "hw:1,0")],
        speakers: vec![dev("HDMI 0", "hdmi:0")],
        encoders: vec!["v4l2h264enc".into(), "x264enc".into()],
    }
}

#[derive(Default)]
struct Counters {
    connected: AtomicUsize,
    lost: AtomicUsize,
    reports: AtomicU64,
    /// goLive receive times, by box index.
    golive_at: std::sync::Mutex<Vec<Option<Instant>>>,
}

async fn run_box(url: String, token: String, index: usize, counters: Arc<Counters>, until: Instant) {
    let mut req = url.as_str().into_client_request().expect("url");
    req.headers_mut().insert("authorization", format!("Bearer {token}").parse().expect("header"));
    let Ok((ws, _)) = tokio_tungstenite::connect_async(req).await else {
        counters.lost.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let (mut tx, mut rx) = ws.split();
    let hello = DeviceMsg::Hello { version: "load".into(), inventory: Some(inventory()) };
    if tx.send(Message::text(serde_json::to_string(&hello).expect("json"))).await.is_err() {
        counters.lost.fetch_add(1, Ordering::Relaxed);
        return;
    }
    counters.connected.fetch_add(1, Ordering::Relaxed);
    let started = Instant::now();
    // Spread the reports over the period, as real boxes that booted at different times do.
    let mut tick = tokio::time::interval_at(
        tokio::time::Instant::now() + Duration::from_millis((index as u64 * 37) % 5000),
        Duration::from_secs(5),
    );
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if Instant::now() >= until { break }
                let report = DeviceMsg::Telemetry(Telemetry {
                    state: DeviceState::Idle,
                    status: "waiting for a lesson".into(),
                    encoder: Some("v4l2h264enc".into()),
                    fps: None,
                    bitrate_kbps: None,
                    packet_loss_percent: None,
                    cpu_percent: Some(3.0),
                    temperature_c: Some(48.5),
                    last_error: None,
                    uptime_secs: started.elapsed().as_secs(),
                    uplink: None,
                    upload: None,
                });
                if tx.send(Message::text(serde_json::to_string(&report).expect("json"))).await.is_err() {
                    counters.lost.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                counters.reports.fetch_add(1, Ordering::Relaxed);
            }
            msg = rx.next() => match msg {
                Some(Ok(Message::Text(t))) if t.contains("goLive") => {
                    counters.golive_at.lock().expect("lock")[index] = Some(Instant::now());
                    // As the appliance does: it reports the new state at once.
                    let live = DeviceMsg::Telemetry(Telemetry {
                        state: DeviceState::Live,
                        status: "live".into(),
                        encoder: Some("v4l2h264enc".into()),
                        fps: Some(30.0),
                        bitrate_kbps: Some(1500),
                        packet_loss_percent: Some(0.0),
                        cpu_percent: Some(21.0),
                        temperature_c: Some(52.0),
                        last_error: None,
                        uptime_secs: started.elapsed().as_secs(),
                        uplink: None,
                        upload: None,
                    });
                    if tx.send(Message::text(serde_json::to_string(&live).expect("json"))).await.is_err() {
                        counters.lost.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                }
                Some(Ok(_)) => {}
                _ => {
                    counters.lost.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
        }
    }
    let _ = tx.send(Message::Close(None)).await;
}

/// `--attach`: boxes `fleet-000`… on a running hub, held for `hold` seconds.
fn attach(args: &Args, url: &str, dir: &std::path::Path) {
    let key = lectern_hub::secret::load_or_create(None, dir).expect("the hub's secret in --data-dir");
    let now = lectern_common::time::unix_secs();
    let ws_url = format!("{}/device/ws", url.trim_end_matches('/').replace("http://", "ws://"));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    let counters = Arc::new(Counters::default());
    *counters.golive_at.lock().expect("lock") = vec![None; args.boxes];
    let until = Instant::now() + Duration::from_secs(args.hold);
    rt.block_on(async {
        for i in 0..args.boxes {
            let room = RoomId::parse(&format!("fleet-{i:03}")).expect("room id");
            let token = key.issue(&Claims {
                sub: lectern_hub::token::random_id(),
                room: room.clone(),
                role: Role::Device,
                name: Some(format!("{room} box")),
                exp: now + args.hold + 3600,
                nbf: now,
                jti: lectern_hub::token::random_id(),
                guest: false,
            });
            tokio::spawn(run_box(ws_url.clone(), token, i, counters.clone(), until));
        }
        while counters.connected.load(Ordering::Relaxed) + counters.lost.load(Ordering::Relaxed) < args.boxes {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        println!("attached {}", counters.connected.load(Ordering::Relaxed));
        tokio::time::sleep_until(until.into()).await;
    });
}

fn main() {
    let args = args();
    if let Some((url, dir)) = &args.attach {
        attach(&args, url, dir);
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let hub = start_hub(dir.path());
    let key = lectern_hub::secret::load_or_create(None, dir.path()).expect("hub secret");
    let pid = hub.child.id();
    let now = lectern_common::time::unix_secs();
    let mint = |room: &RoomId, role: Role| {
        key.issue(&Claims {
            sub: lectern_hub::token::random_id(),
            room: room.clone(),
            role,
            name: Some(format!("{room} box")),
            exp: now + 3600,
            nbf: now,
            jti: lectern_hub::token::random_id(),
            guest: false,
        })
    };
    let rooms: Vec<RoomId> =
        (0..args.boxes).map(|i| RoomId::parse(&format!("load-{i:05}")).expect("room id")).collect();
    let ws_url = format!("{}/device/ws", hub.base.replace("http://", "ws://"));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    let counters = Arc::new(Counters::default());
    *counters.golive_at.lock().expect("lock") = vec![None; args.boxes];
    let (cpu0, rss0) = proc_usage(pid);
    let ramp_started = Instant::now();
    let until = ramp_started + Duration::from_secs(args.hold + 60);
    rt.block_on(async {
        let mut tasks = Vec::new();
        for (i, room) in rooms.iter().enumerate() {
            let token = mint(room, Role::Device);
            tasks.push(tokio::spawn(run_box(ws_url.clone(), token, i, counters.clone(), until)));
        }
        while counters.connected.load(Ordering::Relaxed) + counters.lost.load(Ordering::Relaxed) < args.boxes
            && ramp_started.elapsed() < Duration::from_secs(60)
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let ramp = ramp_started.elapsed();
        let (cpu1, rss1) = proc_usage(pid);
        let hold_started = Instant::now();
        tokio::time::sleep(Duration::from_secs(args.hold)).await;
        let (cpu2, rss2) = proc_usage(pid);
        let held = hold_started.elapsed();

        // A teacher's "go live" for 20 boxes, one after another: HTTP request → box receives it.
        let agent = ureq::Agent::new_with_defaults();
        let mut latencies = Vec::new();
        for (i, room) in rooms.iter().enumerate().step_by((args.boxes / 20).max(1)).take(20) {
            let teacher = mint(room, Role::Teacher);
            let sent = Instant::now();
            let url = format!("{}/api/rooms/{room}/live", hub.base);
            let status = tokio::task::spawn_blocking({
                let agent = agent.clone();
                move || agent.post(url).header("Authorization", format!("Bearer {teacher}")).send_empty()
            })
            .await
            .expect("join")
            .map(|r| r.status().as_u16())
            .unwrap_or(0);
            let deadline = Instant::now() + Duration::from_secs(5);
            while status == 202 && Instant::now() < deadline {
                if let Some(at) = counters.golive_at.lock().expect("lock")[i] {
                    latencies.push(at.duration_since(sent));
                    break;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        latencies.sort();
        let tick = 100.0; // USER_HZ on Linux
        let hold_cpu = (cpu2 - cpu1) as f64 / tick / held.as_secs_f64() * 100.0;
        let connected = counters.connected.load(Ordering::Relaxed);
        println!("| figure | value |");
        println!("|---|---|");
        println!("| boxes connected / asked | {connected} / {} |", args.boxes);
        println!("| boxes lost while held | {} |", counters.lost.load(Ordering::Relaxed));
        println!("| ramp (all connected) | {:.1} s |", ramp.as_secs_f64());
        println!("| hub CPU during ramp | {:.2} s |", (cpu1 - cpu0) as f64 / tick);
        println!("| hub CPU while held ({} s) | {hold_cpu:.1} % of one core |", args.hold);
        println!("| telemetry reports received | {} |", counters.reports.load(Ordering::Relaxed));
        println!("| hub RSS idle → held | {:.1} → {:.1} MiB |", rss0 as f64 / 1024.0, rss2 as f64 / 1024.0);
        println!("| hub RSS per box | {:.1} KiB |", (rss2.saturating_sub(rss0)) as f64 / connected.max(1) as f64);
        let pct = |p: f64| latencies.get(((latencies.len() as f64 - 1.0) * p).round() as usize);
        match (pct(0.5), pct(0.95)) {
            (Some(p50), Some(p95)) => println!(
                "| go live → box, p50 / p95 ({} boxes) | {:.1} / {:.1} ms |",
                latencies.len(),
                p50.as_secs_f64() * 1000.0,
                p95.as_secs_f64() * 1000.0
            ),
            _ => println!("| go live → box | no box answered |"),
        }
        let _ = rss1;
        for t in tasks {
            t.abort();
        }
    });
}
