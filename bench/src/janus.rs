//! Janus, the reference SFU: the Debian `janus` binary started on loopback with a generated config (HTTP
//! transport and VideoRoom plugin only, our own ECDSA P-256 certificate since str0m's DTLS refuses RSA), and
//! a small client for its REST API (one Janus session per benchmark client, so a long poll is never shared).

use std::io::Write;
use std::net::{IpAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

const START_DEADLINE: Duration = Duration::from_secs(15);
/// How long one request may wait for its asynchronous event (join, publish, start).
const EVENT_DEADLINE: Duration = Duration::from_secs(20);

/// A running Janus, killed on drop.
pub struct Janus {
    child: Child,
    /// `http://127.0.0.1:<port>/janus`
    pub api: String,
    pub pid: u32,
    pub pinned_cpu: Option<usize>,
    /// The address Janus gathers ICE candidates on (its `ice_enforce_list`), where our clients bind too. libnice leaves loopback
    /// out, and a reply from a host address to 127.0.0.1 is dropped by Linux as martian, so the clients
    /// use the host's own address (which Linux still routes through `lo`, as for the hub).
    pub media_ip: IpAddr,
    dir: tempfile::TempDir,
}

impl Drop for Janus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Why Janus cannot be benchmarked here, or `None` when `janus` runs.
pub fn unavailable() -> Option<String> {
    match Command::new("janus").arg("--help").stdout(Stdio::null()).stderr(Stdio::null()).status() {
        Ok(s) if s.success() => None,
        Ok(s) => Some(format!("`janus --help` failed ({s})")),
        Err(_) => Some("`janus` is not installed (Debian package `janus`, see scripts/deps.sh)".into()),
    }
}

/// The first IPv4 address of a non-loopback interface (see [`Janus::media_ip`]).
fn host_ip() -> anyhow::Result<IpAddr> {
    if_addrs::get_if_addrs()
        .context("listing interfaces")?
        .into_iter()
        .map(|i| i.ip())
        .find(|ip| ip.is_ipv4() && !ip.is_loopback())
        .context("Janus needs a non-loopback IPv4 address (libnice does not gather on loopback)")
}

/// A loopback TCP port that was free a moment ago.
fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0").context("finding a free port")?.local_addr()?.port())
}

fn write(dir: &Path, name: &str, text: &str) -> anyhow::Result<()> {
    let mut f = std::fs::File::create(dir.join(name)).with_context(|| format!("writing {name}"))?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

/// The config folder: `janus.jcfg` pointing at folders that hold only the HTTP transport and the
/// VideoRoom plugin (Janus loads whatever its folders hold), ICE on loopback, no session timeout.
fn write_config(dir: &Path, port: u16, media_ip: IpAddr) -> anyhow::Result<()> {
    let lib = ["/usr/lib/x86_64-linux-gnu/janus", "/usr/lib/aarch64-linux-gnu/janus", "/usr/lib/janus"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.join("plugins/libjanus_videoroom.so").exists())
        .context("libjanus_videoroom.so not found under /usr/lib/*/janus")?;
    for (sub, file) in [("plugins", "plugins/libjanus_videoroom.so"), ("transports", "transports/libjanus_http.so")] {
        std::fs::create_dir_all(dir.join(sub))?;
        let name = Path::new(file).file_name().context("file name")?;
        std::os::unix::fs::symlink(lib.join(file), dir.join(sub).join(name)).context("linking a Janus module")?;
    }
    std::fs::create_dir_all(dir.join("none"))?;
    let cert = rcgen::generate_simple_self_signed(vec!["janus-bench".to_owned()]).context("certificate")?;
    write(dir, "cert.pem", &cert.cert.pem())?;
    write(dir, "key.pem", &cert.signing_key.serialize_pem())?;
    let d = dir.display();
    write(
        dir,
        "janus.jcfg",
        &format!(
            "general: {{ configs_folder = \"{d}\" plugins_folder = \"{d}/plugins\" \
             transports_folder = \"{d}/transports\" events_folder = \"{d}/none\" loggers_folder = \"{d}/none\" \
             debug_level = 3 session_timeout = 0 }}\n\
             certificates: {{ cert_pem = \"{d}/cert.pem\" cert_key = \"{d}/key.pem\" }}\n\
             nat: {{ nice_debug = false ice_enforce_list = \"{media_ip}\" ignore_mdns = true }}\n\
             events: {{ broadcast = false }}\n"
        ),
    )?;
    write(
        dir,
        "janus.transport.http.jcfg",
        &format!(
            "general: {{ json = \"plain\" base_path = \"/janus\" http = true port = {port} ip = \"127.0.0.1\" \
             https = false }}\nadmin: {{ admin_http = false }}\n"
        ),
    )?;
    write(dir, "janus.plugin.videoroom.jcfg", "general: { }\n")
}

impl Janus {
    /// Starts Janus (under `taskset -c <cpu>` when pinned) and waits until its API answers. Tries three
    /// times: the free port we picked may be taken by someone else before Janus binds it.
    pub fn start(pin_cpu: Option<usize>) -> anyhow::Result<Self> {
        if let Some(why) = unavailable() {
            bail!(why);
        }
        let mut last = None;
        for _ in 0..3 {
            match Self::start_once(pin_cpu) {
                Ok(j) => return Ok(j),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("janus did not start")))
    }

    fn start_once(pin_cpu: Option<usize>) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir().context("temporary Janus dir")?;
        let port = free_port()?;
        let media_ip = host_ip()?;
        write_config(dir.path(), port, media_ip)?;
        let log = std::fs::File::create(dir.path().join("janus.log")).context("Janus log")?;
        let mut cmd = match pin_cpu {
            Some(cpu) => {
                let mut c = Command::new("taskset");
                c.arg("-c").arg(cpu.to_string()).arg("janus");
                c
            }
            None => Command::new("janus"),
        };
        cmd.arg("-F").arg(dir.path()).arg("-C").arg(dir.path().join("janus.jcfg"));
        let child = cmd.stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log).spawn().context("starting janus")?;
        let pid = child.id();
        let mut janus =
            Self { child, api: format!("http://127.0.0.1:{port}/janus"), pid, pinned_cpu: pin_cpu, media_ip, dir };
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if let Ok(info) = get(&format!("{}/info", janus.api), Duration::from_secs(1))
                && info["janus"] == "server_info"
            {
                return Ok(janus);
            }
            if let Ok(Some(st)) = janus.child.try_wait() {
                bail!("janus exited ({st}) before answering: {}", janus.log_tail());
            }
            if Instant::now() > deadline {
                bail!("janus did not answer on port {port} in {START_DEADLINE:?}: {}", janus.log_tail());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The last lines Janus printed, for error messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.dir.path().join("janus.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(12)..].join(" | ")
    }

    pub fn cpu(&self) -> anyhow::Result<Duration> {
        crate::hub::cpu_time(self.pid)
    }

    pub fn rss_kib(&self) -> anyhow::Result<u64> {
        crate::hub::rss_kib(self.pid)
    }
}

fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(timeout)).build().into()
}

fn get(url: &str, timeout: Duration) -> anyhow::Result<Value> {
    let mut resp = agent(timeout).get(url).call().with_context(|| format!("GET {url}"))?;
    let body = resp.body_mut().read_to_string().context("reading a Janus reply")?;
    serde_json::from_str(&body).with_context(|| format!("Janus reply is not JSON: {body}"))
}

fn post(url: &str, body: &Value) -> anyhow::Result<Value> {
    let mut resp = agent(EVENT_DEADLINE)
        .post(url)
        .header("Content-Type", "application/json")
        .send(body.to_string())
        .with_context(|| format!("POST {url}"))?;
    let text = resp.body_mut().read_to_string().context("reading a Janus reply")?;
    let v: Value = serde_json::from_str(&text).with_context(|| format!("Janus reply is not JSON: {text}"))?;
    if v["janus"] == "error" {
        bail!("Janus error: {}", v["error"]);
    }
    Ok(v)
}

fn transaction() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("t{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// One Janus session with one handle on the VideoRoom plugin.
pub struct VideoRoom {
    session: String,
    handle: String,
}

/// What an asynchronous request brought back: the plugin's data and, maybe, an SDP.
pub struct Reply {
    pub data: Value,
    pub sdp: Option<String>,
}

impl VideoRoom {
    /// Creates a session and attaches `janus.plugin.videoroom`.
    pub fn attach(api: &str) -> anyhow::Result<Self> {
        let v = post(api, &json!({ "janus": "create", "transaction": transaction() }))?;
        let session = format!("{api}/{}", v["data"]["id"].as_u64().context("no session id")?);
        let v = post(
            &session,
            &json!({ "janus": "attach", "plugin": "janus.plugin.videoroom", "transaction": transaction() }),
        )?;
        let handle = format!("{session}/{}", v["data"]["id"].as_u64().context("no handle id")?);
        Ok(Self { session, handle })
    }

    /// A synchronous plugin request (`create`, `destroy`): the plugin's answer.
    pub fn request(&self, body: Value) -> anyhow::Result<Value> {
        let v = post(&self.handle, &json!({ "janus": "message", "transaction": transaction(), "body": body }))?;
        let data = v["plugindata"]["data"].clone();
        if let Some(e) = data.get("error") {
            bail!("VideoRoom: {e}");
        }
        Ok(data)
    }

    /// An asynchronous plugin request (`join`, `publish`, `start`), optionally with an SDP; waits for its event.
    pub fn message(&self, body: Value, jsep: Option<(&str, &str)>) -> anyhow::Result<Reply> {
        let tx = transaction();
        let mut msg = json!({ "janus": "message", "transaction": tx, "body": body });
        if let Some((kind, sdp)) = jsep {
            msg["jsep"] = json!({ "type": kind, "sdp": sdp });
        }
        let v = post(&self.handle, &msg)?;
        if v["janus"] == "event" {
            return reply(&v);
        }
        let deadline = Instant::now() + EVENT_DEADLINE;
        while Instant::now() < deadline {
            let ev = get(&format!("{}?maxev=1", self.session), EVENT_DEADLINE)?;
            if ev["janus"] == "event" && ev["transaction"] == tx.as_str() {
                return reply(&ev);
            }
        }
        bail!("no answer from Janus to {}", msg["body"]);
    }

    /// Leaves and ends the session; errors are ignored (Janus may be gone already).
    pub fn hang_up(&self) {
        let _ = post(&self.handle, &json!({ "janus": "hangup", "transaction": transaction() }));
        let _ = post(&self.session, &json!({ "janus": "destroy", "transaction": transaction() }));
    }
}

fn reply(ev: &Value) -> anyhow::Result<Reply> {
    let data = ev["plugindata"]["data"].clone();
    if let Some(e) = data.get("error") {
        bail!("VideoRoom: {e}");
    }
    Ok(Reply { data, sdp: ev["jsep"]["sdp"].as_str().map(str::to_owned) })
}
