//! End-to-end harness: runs the real `lectern-hub` and `lectern-appliance` binaries (built by
//! `cargo build --bins` first, as `scripts/test.sh` does) on loopback with their own ports and data
//! dirs. Browser tests live in `browser/` (Playwright); process-level tests in `tests/`.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Where cargo put the workspace's binaries.
pub fn bin(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let path = target.join("debug").join(name);
    assert!(path.exists(), "{} is missing: run `cargo build --workspace --bins` first", path.display());
    path
}

/// A port that was free a moment ago (for a process that must come back on the same port).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// A child process killed on drop; its stderr lines are forwarded to a channel.
pub struct Proc {
    child: Child,
    pub lines: mpsc::Receiver<String>,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    pub fn spawn(mut cmd: Command) -> Self {
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("binary starts");
        let (tx, lines) = mpsc::channel();
        for stream in [
            child.stdout.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child.stderr.take().map(|s| Box::new(s) as _),
        ]
        .into_iter()
        .flatten()
        {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let _ = tx.send(strip_ansi(&line));
                }
            });
        }
        Self { child, lines }
    }

    /// Waits for an output line containing `needle`, returning it.
    pub fn wait_line(&self, needle: &str, deadline: Duration) -> String {
        let end = Instant::now() + deadline;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if l.contains(needle) => return l,
                Ok(_) => {}
                Err(_) => panic!("no line containing {needle:?} within {deadline:?}"),
            }
        }
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Polls `probe` every 100 ms until it returns `Some`, failing after `deadline`.
pub fn wait_for<T>(what: &str, deadline: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + deadline;
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(Instant::now() < end, "{what}: not within {deadline:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The appliance's status endpoint, from the address it logs once listening (`--status-listen 127.0.0.1:0`).
pub fn status_url(appliance: &Proc) -> String {
    let line = appliance.wait_line("status endpoint listening", Duration::from_secs(30));
    let addr = line.split("addr=").nth(1).and_then(|s| s.split_whitespace().next()).expect("status address in the log");
    format!("http://{addr}/status")
}

/// An HTTP client that returns 4xx/5xx as responses and gives up after 5 s.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into()
}

/// A token from `lectern-hub token` for `room` and `role` (its last line of output).
pub fn mint(data_dir: &Path, room: &str, role: &str) -> String {
    let out = Command::new(bin("lectern-hub"))
        .args(["token", "--room", room, "--role", role, "--data-dir"])
        .arg(data_dir)
        .output()
        .expect("lectern-hub token runs");
    assert!(out.status.success(), "token: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8").lines().last().expect("a token line").trim().to_owned()
}

/// `lectern-appliance --virtual` (test sources) for `room` on `hubs` (one URL or a comma-separated
/// list) with a device `token`, its state, config and vendor config all in `dir`; the status endpoint
/// on a free port (read it with [`status_url`]).
pub fn virtual_box(hubs: &str, room: &str, token: &str, dir: &Path) -> Command {
    let mut cmd = Command::new(bin("lectern-appliance"));
    cmd.args(["--virtual", "--hub", hubs, "--room", room, "--status-listen", "127.0.0.1:0"])
        .arg("--state-dir")
        .arg(dir)
        .arg("--config")
        .arg(dir)
        .arg("--vendor-config-dir")
        .arg(dir)
        .env("LECTERN_TOKEN", token);
    cmd
}

/// The box's `state` from its status endpoint (`live`, `connecting`, ...); `None` while it does not answer.
pub fn appliance_state(agent: &ureq::Agent, status: &str) -> Option<String> {
    let v = get_json(agent, status, None)?;
    v.get("state").and_then(|s| s.as_str()).map(str::to_owned)
}

/// GET `url` (with a bearer token) as JSON; `None` unless it answered 200 with JSON.
pub fn get_json(agent: &ureq::Agent, url: &str, bearer: Option<&str>) -> Option<serde_json::Value> {
    let mut req = agent.get(url);
    if let Some(token) = bearer {
        req = req.header("Authorization", &format!("Bearer {token}"));
    }
    let mut resp = req.call().ok()?;
    if resp.status() != 200 {
        return None;
    }
    serde_json::from_str(&resp.body_mut().read_to_string().ok()?).ok()
}

/// Starts `lectern-hub serve` on `127.0.0.1:port` with `data_dir` (media on loopback, one shard)
/// and waits until it listens.
pub fn start_hub(data_dir: &Path, port: u16) -> Proc {
    let mut cmd = Command::new(bin("lectern-hub"));
    cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(data_dir)
        .env("LECTERN_UDP_PORT", "0")
        .env("LECTERN_BIND_IP", "127.0.0.1")
        .env("LECTERN_SHARDS", "1");
    let hub = Proc::spawn(cmd);
    hub.wait_line("listening on", Duration::from_secs(30));
    hub
}
