//! The hub under test: the real `lectern-hub` binary on loopback, one shard, optionally pinned to its own
//! core, plus what `/proc` says about its CPU time and memory.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use lectern_common::time::unix_secs;
use lectern_hub::token::{TokenKey, random_id};
use lectern_proto::{Claims, Role, RoomId};

/// The secret the bench gives the hub and mints its tokens with.
const SECRET: &str = "lectern-bench-secret-0123456789abcdef";

/// A running hub, killed on drop.
pub struct Hub {
    child: Child,
    pub base: String,
    pub pid: u32,
    /// The core the hub runs on when pinned with `taskset`.
    pub pinned_cpu: Option<usize>,
    _dir: tempfile::TempDir,
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Hub {
    /// Starts `bin` and waits (bounded by the hub's own start-up) for its `listening on` line.
    /// With `pin_cpu`, the hub runs under `taskset -c <cpu>`, which execs it: the pid stays the hub's.
    pub fn start(bin: &Path, pin_cpu: Option<usize>) -> anyhow::Result<Self> {
        Self::start_with(bin, pin_cpu, "127.0.0.1:0", &[])
    }

    /// Like [`start`](Self::start), listening on `listen` with `env` added to the hub's environment
    /// (a cluster node: `LECTERN_COORD_URL`, `LECTERN_PUBLIC_URL`, a port known before it starts).
    pub fn start_with(
        bin: &Path,
        pin_cpu: Option<usize>,
        listen: &str,
        env: &[(&str, String)],
    ) -> anyhow::Result<Self> {
        if !bin.exists() {
            bail!("{} is missing: build it first (`cargo build --release -p lectern-hub`)", bin.display());
        }
        let dir = tempfile::tempdir().context("temporary data dir")?;
        let mut cmd = match pin_cpu {
            Some(cpu) => {
                let mut c = Command::new("taskset");
                c.arg("-c").arg(cpu.to_string()).arg(bin);
                c
            }
            None => Command::new(bin),
        };
        cmd.args(["serve", "--listen", listen, "--data-dir"])
            .arg(dir.path())
            .env("LECTERN_SECRET", SECRET)
            .env("LECTERN_UDP_PORT", "0")
            .env("LECTERN_BIND_IP", "127.0.0.1")
            .env("LECTERN_SHARDS", "1")
            .env("RUST_LOG", "warn")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        // For a long run worth reading afterwards (`soak`): the hub's log (RUST_LOG, default info) into this file.
        if let Some(path) = std::env::var_os("LECTERN_BENCH_HUB_LOG") {
            let log = std::fs::File::create(&path).with_context(|| format!("creating {}", path.to_string_lossy()))?;
            cmd.env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into())).stderr(log);
        }
        let mut child = cmd.spawn().with_context(|| format!("starting {}", bin.display()))?;
        let pid = child.id();
        let stdout = child.stdout.take().context("hub stdout")?;
        let mut out = BufReader::new(stdout);
        let mut line = String::new();
        let base = loop {
            line.clear();
            if out.read_line(&mut line).context("reading hub stdout")? == 0 {
                let _ = child.kill();
                let _ = child.wait();
                bail!("the hub exited before listening");
            }
            if let Some(rest) = line.trim().split("listening on ").nth(1) {
                break rest.trim().to_owned();
            }
        };
        // Keep draining stdout so the hub never blocks on a full pipe.
        std::thread::spawn(move || for _ in out.lines().map_while(Result::ok) {});
        Ok(Self { child, base, pid, pinned_cpu: pin_cpu, _dir: dir })
    }

    /// A token for `room` with `role`, valid for a day.
    pub fn token(&self, room: &str, role: Role, name: &str) -> anyhow::Result<String> {
        mint_token(room, role, name)
    }

    pub fn cpu(&self) -> anyhow::Result<Duration> {
        cpu_time(self.pid)
    }

    /// `kill -9`, as a crashed host would: no drain, no lease given back.
    pub fn kill_hard(&mut self) -> anyhow::Result<()> {
        self.child.kill().context("killing the hub")?;
        self.child.wait().context("reaping the hub")?;
        Ok(())
    }

    pub fn rss_kib(&self) -> anyhow::Result<u64> {
        rss_kib(self.pid)
    }
}

/// A token for `room` with `role` on any hub this bench starts (they share its secret), valid for
/// a day; callable from any thread.
pub fn mint_token(room: &str, role: Role, name: &str) -> anyhow::Result<String> {
    let now = unix_secs();
    let claims = Claims {
        sub: format!("bench-{name}"),
        room: RoomId::parse(room).map_err(|e| anyhow::anyhow!("room name {room:?}: {e:?}"))?,
        role,
        name: Some(name.to_owned()),
        exp: now + 86_400,
        nbf: now.saturating_sub(10),
        jti: random_id(),
        guest: false,
    };
    Ok(TokenKey::new(SECRET.as_bytes().to_vec()).issue(&claims))
}

/// The hub binary next to the running executable (`target/<profile>/lectern-hub`).
pub fn default_hub_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    // Test executables live one level deeper, in `target/<profile>/deps/`.
    let dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    let dir = if dir.ends_with("deps") { dir.parent().map(Path::to_path_buf).unwrap_or(dir) } else { dir };
    dir.join("lectern-hub")
}

/// Clock ticks per second for `/proc/<pid>/stat`: `getconf CLK_TCK`, else Linux's usual 100.
pub fn clk_tck() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .filter(|&t| t > 0)
        .unwrap_or(100)
}

/// User plus system CPU time of `pid`, from fields 14 and 15 of `/proc/<pid>/stat`.
pub fn cpu_time(pid: u32) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).context("reading /proc/<pid>/stat")?;
    // The command name (field 2) may hold spaces; fields after it start at field 3.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).context("malformed stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| -> anyhow::Result<u64> { fields.get(i).context("short stat")?.parse().context("stat field") };
    let ticks = tick(14 - 3)? + tick(15 - 3)?;
    Ok(Duration::from_micros(ticks * 1_000_000 / clk_tck()))
}

/// How many times the threads of `pid` have blocked and been woken so far (the sum of
/// `voluntary_ctxt_switches` in `/proc/<pid>/task/*/status`): a server's wake-ups, timers and
/// packets alike. Threads that ended are not counted, so take it around a window with no churn.
pub fn wakeups(pid: u32) -> anyhow::Result<u64> {
    let dir = std::fs::read_dir(format!("/proc/{pid}/task")).context("reading /proc/<pid>/task")?;
    let mut total = 0;
    for task in dir.filter_map(Result::ok) {
        // A thread that ended since the listing has no status left: it no longer counts.
        let Ok(status) = std::fs::read_to_string(task.path().join("status")) else { continue };
        let n = status.lines().find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"));
        total += n.and_then(|v| v.trim().parse::<u64>().ok()).unwrap_or(0);
    }
    Ok(total)
}

/// Resident set size of `pid` in KiB (`VmRSS` in `/proc/<pid>/status`).
pub fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    status_kib(pid, "VmRSS:")
}

/// The part of the RSS that is the process's own memory (heap, stacks), not pages of its binary
/// and libraries read in as code runs: what a leak grows.
pub fn rss_anon_kib(pid: u32) -> anyhow::Result<u64> {
    status_kib(pid, "RssAnon:")
}

fn status_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).context("reading /proc/<pid>/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("no {field} in /proc/{pid}/status"))
}

/// Machine-wide UDP datagrams dropped for a full receive buffer and for a full send buffer
/// (`RcvbufErrors`, `SndbufErrors` in `/proc/net/snmp`); zeros when the file cannot be read.
pub fn udp_buffer_errors() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/net/snmp").unwrap_or_default();
    let mut udp = text.lines().filter(|l| l.starts_with("Udp:"));
    let (Some(keys), Some(values)) = (udp.next(), udp.next()) else { return (0, 0) };
    let field = |name: &str| {
        keys.split_whitespace()
            .position(|k| k == name)
            .and_then(|i| values.split_whitespace().nth(i))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("RcvbufErrors"), field("SndbufErrors"))
}

/// Socket inodes `pid` holds (`socket:[N]` links in `/proc/<pid>/fd`).
fn socket_inodes(pid: u32) -> std::collections::HashSet<u64> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { return Default::default() };
    dir.filter_map(Result::ok)
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter_map(|l| l.to_str()?.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok())
        .collect()
}

/// Datagrams dropped so far on full receive buffers, summed over the UDP sockets of `server` and over
/// this process's (the clients'): the `drops` column of `/proc/net/udp{,6}`, matched by socket inode.
pub fn udp_socket_drops(server: u32) -> (u64, u64) {
    let (ours, theirs) = (socket_inodes(std::process::id()), socket_inodes(server));
    let (mut server_drops, mut client_drops) = (0, 0);
    for file in ["/proc/net/udp", "/proc/net/udp6"] {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (Some(inode), Some(drops)) =
                (f.get(9).and_then(|v| v.parse::<u64>().ok()), f.get(12).and_then(|v| v.parse::<u64>().ok()))
            else {
                continue;
            };
            if theirs.contains(&inode) {
                server_drops += drops;
            } else if ours.contains(&inode) {
                client_drops += drops;
            }
        }
    }
    (server_drops, client_drops)
}

/// Cores for (generator, hub) when there are at least two and `taskset` exists.
pub fn pick_cores() -> Option<(usize, usize)> {
    let n = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let has_taskset = Command::new("taskset").arg("-V").output().is_ok_and(|o| o.status.success());
    (n >= 2 && has_taskset).then_some((0, 1))
}

/// Pins every thread of this process (and threads created later) to `cpu`.
pub fn pin_self(cpu: usize) -> anyhow::Result<()> {
    let st = Command::new("taskset")
        .args(["-a", "-p", "-c", &cpu.to_string(), &std::process::id().to_string()])
        .stdout(Stdio::null())
        .status()
        .context("running taskset")?;
    if !st.success() {
        bail!("taskset failed: {st}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn own_process_has_cpu_time_and_rss() {
        let pid = std::process::id();
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(super::cpu_time(pid).is_ok());
        assert!(super::rss_kib(pid).unwrap() > 0);
        let _ = super::udp_buffer_errors();
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        assert!(!super::socket_inodes(pid).is_empty(), "our own UDP socket is seen");
        assert_eq!(super::udp_socket_drops(pid).0, 0);
        drop(sock);
    }
}
