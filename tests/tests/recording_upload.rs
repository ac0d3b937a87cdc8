//! A recorded lesson uploaded end to end, through cuts: the real hub (policy `always`) and a virtual
//! box whose every connection to the hub passes a small TCP relay. The relay resets (SO_LINGER 0,
//! a TCP RST, not a silent drop) the connection carrying the box's upload twice, mid-chunk; the
//! box resumes from the hub's acknowledged offset each time. The hub's copy is byte-identical to the
//! box's, plays as H.264 + Opus with the lesson's length, the box marks its copy uploaded only once
//! the hub says `ready`, and the lessons API's signed link serves the same bytes.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use lectern_e2e::{Proc, agent, bin, free_port, get_json, status_url, wait_for};

const ROOM: &str = "rec-up";
const MARKER: &[u8] = b"PATCH /api/rooms/";
/// Bytes past the first upload request on a connection at which the relay resets it: the first
/// cut inside the first chunk, the second inside the second (after the first was acknowledged).
const CUTS: [u64; 2] = [300_000, 1_600_000];

/// What the relay does and did.
#[derive(Default)]
struct Cuts {
    /// Where to reset the connections carrying uploads (see [`CUTS`]); empty: never.
    at: Vec<u64>,
    done: AtomicUsize,
    /// Bytes of upload requests the box sent through the relay, all connections together.
    patch_bytes: AtomicU64,
}

/// A TCP relay to `upstream` that resets a connection once it has carried `cuts.at[n]` bytes of
/// upload requests, for the first `cuts.at.len()` such connections.
fn relay(upstream: String, cuts: Arc<Cuts>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("relay listens");
    let port = listener.local_addr().expect("an address").port();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            let Ok(hub) = TcpStream::connect(&upstream) else { continue };
            let (client, hub) = (Arc::new(client), Arc::new(hub));
            let cut = Arc::new(AtomicBool::new(false));
            let (c, h, k) = (Arc::clone(&client), Arc::clone(&hub), Arc::clone(&cut));
            std::thread::spawn(move || downstream(&h, &c, &k));
            let cuts = Arc::clone(&cuts);
            std::thread::spawn(move || upstream_copy(client, hub, cut, &cuts));
        }
    });
    port
}

/// hub → box; on the relay's cut it just lets go of its handles (no FIN).
fn downstream(hub: &TcpStream, client: &TcpStream, cut: &AtomicBool) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match (&*hub).read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if (&*client).write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    if !cut.load(Ordering::SeqCst) {
        let _ = client.shutdown(Shutdown::Write);
    }
}

/// box → hub, watching for the box's upload requests; resets both sides when it is time.
fn upstream_copy(client: Arc<TcpStream>, hub: Arc<TcpStream>, cut: Arc<AtomicBool>, cuts: &Cuts) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut tail: Vec<u8> = Vec::new();
    // Bytes since this connection's first upload request began.
    let mut since_patch: Option<u64> = None;
    loop {
        let n = match (&*client).read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let data = &buf[..n];
        if since_patch.is_none() {
            tail.extend_from_slice(data);
            if let Some(at) = tail.windows(MARKER.len()).position(|w| w == MARKER) {
                since_patch = Some((tail.len() - at) as u64);
                cuts.patch_bytes.fetch_add((tail.len() - at) as u64, Ordering::SeqCst);
            } else {
                let keep = tail.len().saturating_sub(MARKER.len());
                tail.drain(..keep);
            }
        } else if let Some(s) = &mut since_patch {
            *s += n as u64;
            cuts.patch_bytes.fetch_add(n as u64, Ordering::SeqCst);
        }
        let done = cuts.done.load(Ordering::SeqCst);
        if let Some(s) = since_patch
            && done < cuts.at.len()
            && s >= cuts.at[done]
            && cuts.done.compare_exchange(done, done + 1, Ordering::SeqCst, Ordering::SeqCst).is_ok()
        {
            // What went past the cut point in this read is not forwarded; reset both sides.
            cut.store(true, Ordering::SeqCst);
            for s in [&client, &hub] {
                let _ = socket2::SockRef::from(&**s).set_linger(Some(Duration::ZERO));
                // Wakes the other direction's thread without sending anything.
                let _ = s.shutdown(Shutdown::Read);
            }
            // The last handle to each socket closes with linger 0: an RST. Wait for the
            // downstream thread to let go of its handles first.
            let deadline = Instant::now() + Duration::from_secs(5);
            while (Arc::strong_count(&client) > 1 || Arc::strong_count(&hub) > 1) && Instant::now() < deadline {
                std::thread::yield_now();
            }
            return;
        }
        if (&*hub).write_all(data).is_err() {
            break;
        }
    }
    let _ = hub.shutdown(Shutdown::Write);
}

fn start_hub(data_dir: &Path, port: u16) -> Proc {
    let mut cmd = Command::new(bin("lectern-hub"));
    cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(data_dir)
        .env("LECTERN_UDP_PORT", "0")
        .env("LECTERN_BIND_IP", "127.0.0.1")
        .env("LECTERN_SHARDS", "1")
        .env("LECTERN_RECORDING_DEFAULT", "always");
    let hub = Proc::spawn(cmd);
    hub.wait_line("listening on", Duration::from_secs(30));
    hub
}

/// A virtual box of room `ROOM` reaching the hub at `hub_port`, recording into `recordings`.
fn start_box(dir: &Path, hub_port: u16, recordings: &Path, upload_kbps: u32) -> Proc {
    let config = dir.join("etc");
    std::fs::create_dir_all(&config).unwrap();
    let token_file = config.join("token");
    if !token_file.exists() {
        std::fs::write(&token_file, lectern_e2e::mint(dir, ROOM, "device")).unwrap();
    }
    std::fs::write(
        config.join("appliance.toml"),
        format!(
            "[hub]\nurl = \"http://127.0.0.1:{hub_port}\"\nroom = \"{ROOM}\"\ntoken_file = \"{}\"\n\
             [recording]\ndir = \"{}\"\nfragment_minutes = 1\nmin_free_mb = 0\nupload_kbps = {upload_kbps}\n",
            token_file.display(),
            recordings.display()
        ),
    )
    .unwrap();
    let mut cmd = Command::new(bin("lectern-appliance"));
    cmd.arg("--virtual")
        .args(["--status-listen", "127.0.0.1:0"])
        .arg("--config")
        .arg(&config)
        .arg("--state-dir")
        .arg(dir.join("state"))
        .arg("--vendor-config-dir")
        .arg(dir.join("vendor"))
        .env_remove("LECTERN_ROOM")
        .env_remove("LECTERN_TOKEN")
        .env_remove("LECTERN_HUB");
    Proc::spawn(cmd)
}

fn camera_file(dir: &Path) -> Option<PathBuf> {
    for lesson in std::fs::read_dir(dir).ok()?.flatten() {
        for f in std::fs::read_dir(lesson.path()).ok()?.flatten() {
            let name = f.file_name().to_string_lossy().into_owned();
            if name.contains("-camera-") && name.ends_with(".mp4") {
                return Some(f.path());
            }
        }
    }
    None
}

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().expect("sha256sum runs");
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap_or_default().to_owned()
}

/// `Duration: 0:00:30.012000000` → seconds.
fn discovered_secs(report: &str) -> f64 {
    let d = report.split("Duration: ").nth(1).and_then(|s| s.split_whitespace().next()).expect("a duration");
    let parts: Vec<f64> = d.split(':').map(|p| p.parse().expect("a number")).collect();
    parts[0] * 3600.0 + parts[1] * 60.0 + parts[2]
}

#[test]
fn a_recorded_lesson_uploads_through_two_resets_and_the_hubs_copy_is_identical() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let hub_url = format!("http://127.0.0.1:{port}");
    let _hub = start_hub(dir.path(), port);
    let cuts = Arc::new(Cuts { at: CUTS.to_vec(), ..Cuts::default() });
    let relay_port = relay(format!("127.0.0.1:{port}"), Arc::clone(&cuts));
    let recordings = dir.path().join("box-recordings");
    let appliance = start_box(dir.path(), relay_port, &recordings, 16000);
    let status = status_url(&appliance);
    let agent = agent();
    let teacher = lectern_e2e::mint(dir.path(), ROOM, "teacher");
    let post = |what: &str| {
        let url = format!("{hub_url}/api/rooms/{ROOM}/{what}");
        let r = agent.post(&url).header("Authorization", &format!("Bearer {teacher}")).send_empty();
        r.expect("hub answers").status().as_u16()
    };
    wait_for("box on the control channel", Duration::from_secs(30), || {
        let s = get_json(&agent, &status, None)?;
        (s["control"] == "connected").then_some(())
    });
    assert_eq!(post("live"), 202);
    let file = wait_for("the box recording the camera", Duration::from_secs(60), || camera_file(&recordings));
    let started = Instant::now();
    // A 30 s lesson: its length is the thing recorded, so the test waits it out.
    wait_for("30 s of lesson", Duration::from_secs(45), || {
        (started.elapsed() >= Duration::from_secs(30)).then_some(())
    });
    let recorded = started.elapsed().as_secs_f64();
    assert_eq!(post("end"), 202);

    let lessons_url = format!("{hub_url}/api/rooms/{ROOM}/lessons");
    let rec = wait_for("the camera file ready on the hub", Duration::from_secs(180), || {
        let v = get_json(&agent, &lessons_url, Some(&teacher))?;
        let recs = v[0]["recordings"].as_array()?.clone();
        recs.into_iter().find(|r| r["kind"] == "camera" && r["state"] == "ready")
    });
    assert_eq!(cuts.done.load(Ordering::SeqCst), 2, "the upload was reset twice");
    let marker = PathBuf::from(format!("{}.uploaded", file.display()));
    wait_for("the box's upload marker", Duration::from_secs(30), || marker.exists().then_some(()));

    let box_size = std::fs::metadata(&file).unwrap().len();
    assert!(box_size > CUTS[1] + 500_000, "the file outlasts both cuts: {box_size} bytes");
    assert_eq!(rec["bytes"].as_u64(), Some(box_size));
    // Resumed, not restarted: the box sent the file once plus what the cuts lost (at most a chunk each).
    let sent = cuts.patch_bytes.load(Ordering::SeqCst);
    assert!(sent < box_size + CUTS[0] + 1_200_000, "{sent} bytes of upload requests for a {box_size}-byte file");
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    let lesson = file.parent().unwrap().file_name().unwrap().to_string_lossy().into_owned();
    let hub_copy = dir.path().join("recordings").join(&lesson).join(&name);
    assert_eq!(sha256(&hub_copy), sha256(&file), "the hub's copy is byte-identical");

    // The signed link serves the same bytes.
    let url = format!("{hub_url}{}", rec["url"].as_str().expect("a link"));
    let mut resp = agent.get(&url).config().timeout_global(Some(Duration::from_secs(30))).build().call().unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let body = resp.body_mut().with_config().limit(1 << 30).read_to_vec().unwrap();
    let fetched = dir.path().join("fetched.mp4");
    std::fs::write(&fetched, body).unwrap();
    assert_eq!(sha256(&fetched), sha256(&file));

    let out = Command::new("gst-discoverer-1.0").arg(&hub_copy).output().expect("gst-discoverer-1.0 runs");
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success() && report.contains("H.264") && report.contains("Opus"), "{report}");
    let secs = discovered_secs(&report);
    let announced = rec["durationMs"].as_f64().expect("the box read the duration") / 1000.0;
    assert!((secs - announced).abs() <= 1.0, "discoverer {secs} s, the box said {announced} s");
    assert!((secs - recorded).abs() <= 1.0, "discoverer {secs} s for a lesson recorded for {recorded:.1} s");

    // Nothing waits any more on the box.
    wait_for("the box's status with nothing waiting", Duration::from_secs(30), || {
        let s = get_json(&agent, &status, None)?;
        (s["recording"]["waiting_files"] == 0 && s["upload"]["queued_files"] == 0).then_some(())
    });
}

#[test]
fn a_box_restarted_mid_upload_resumes_from_the_hubs_offset() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let hub_url = format!("http://127.0.0.1:{port}");
    let _hub = start_hub(dir.path(), port);
    let cuts = Arc::new(Cuts::default());
    let relay_port = relay(format!("127.0.0.1:{port}"), Arc::clone(&cuts));
    let recordings = dir.path().join("box-recordings");
    // Slow (400 kbit/s = 50 kB/s), so the box can be stopped in the middle of its upload.
    let mut first = start_box(dir.path(), port, &recordings, 400);
    let status = status_url(&first);
    let agent = agent();
    let teacher = lectern_e2e::mint(dir.path(), ROOM, "teacher");
    let post = |what: &str| {
        let url = format!("{hub_url}/api/rooms/{ROOM}/{what}");
        let r = agent.post(&url).header("Authorization", &format!("Bearer {teacher}")).send_empty();
        r.expect("hub answers").status().as_u16()
    };
    wait_for("box on the control channel", Duration::from_secs(30), || {
        let s = get_json(&agent, &status, None)?;
        (s["control"] == "connected").then_some(())
    });
    assert_eq!(post("live"), 202);
    let file = wait_for("a recording of 1 MB", Duration::from_secs(90), || {
        camera_file(&recordings).filter(|f| std::fs::metadata(f).is_ok_and(|m| m.len() > 1_000_000))
    });
    assert_eq!(post("end"), 202);
    let lessons_url = format!("{hub_url}/api/rooms/{ROOM}/lessons");
    let partial = wait_for("part of the file on the hub", Duration::from_secs(60), || {
        let v = get_json(&agent, &lessons_url, Some(&teacher))?;
        let bytes = v[0]["recordings"][0]["bytes"].as_u64()?;
        (v[0]["recordings"][0]["state"] == "uploading" && bytes >= 200_000).then_some(bytes)
    });
    // A power cut, as far as the box can tell: no goodbye.
    first.kill();
    let size = std::fs::metadata(&file).unwrap().len();
    assert!(partial < size, "stopped mid-upload: {partial} of {size}");
    let marker = PathBuf::from(format!("{}.uploaded", file.display()));
    assert!(!marker.exists(), "not marked before the hub has all of it");

    // Back up, through the relay that counts what it sends, without a cap: it finds the file on
    // disk at start-up and goes on from the hub's offset.
    let _second = start_box(dir.path(), relay_port, &recordings, 0);
    let rec = wait_for("the camera file ready on the hub", Duration::from_secs(120), || {
        let v = get_json(&agent, &lessons_url, Some(&teacher))?;
        let r = v[0]["recordings"][0].clone();
        (r["state"] == "ready").then_some(r)
    });
    wait_for("the box's upload marker", Duration::from_secs(30), || marker.exists().then_some(()));
    assert_eq!(rec["bytes"].as_u64(), Some(size));
    let sent = cuts.patch_bytes.load(Ordering::SeqCst);
    assert!(
        sent < size - partial + 200_000,
        "after the restart {sent} bytes were sent of {size}, {partial} already there"
    );
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    let lesson = file.parent().unwrap().file_name().unwrap().to_string_lossy().into_owned();
    let hub_copy = dir.path().join("recordings").join(&lesson).join(&name);
    assert_eq!(sha256(&hub_copy), sha256(&file), "the hub's copy is byte-identical");
}
