//! The cluster's coordination store for the bench: Debian's `redis-server` on a free loopback port in a
//! temp dir (no persistence, as `docs/cluster.md` advises), asked with `redis-cli`, and what its
//! `INFO commandstats` says about how many commands the nodes send.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// How long redis-server may take to answer its first `PING`.
const START_DEADLINE: Duration = Duration::from_secs(20);

/// A running redis-server, killed on drop.
pub struct Redis {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Redis {
    /// Starts redis-server on a free port of 127.0.0.1 and waits until it answers.
    pub fn start() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir().context("temporary dir for redis")?;
        let port = free_port()?;
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string(), "--save", "", "--appendonly", "no", "--dir"])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting redis-server (Debian's redis-server: scripts/deps.sh --cluster)")?;
        let redis = Self { child, port, _dir: dir };
        let deadline = Instant::now() + START_DEADLINE;
        while redis.cli(&["PING"]).map(|r| r.trim() != "PONG").unwrap_or(true) {
            if Instant::now() > deadline {
                bail!("redis-server did not answer PING within {START_DEADLINE:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(redis)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Runs one command with `redis-cli` and returns its raw output.
    pub fn cli(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .context("running redis-cli")?;
        if !out.status.success() {
            bail!("redis-cli {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Calls per command so far (`INFO commandstats`).
    pub fn command_calls(&self) -> anyhow::Result<BTreeMap<String, u64>> {
        Ok(parse_commandstats(&self.cli(&["INFO", "commandstats"])?))
    }
}

/// `cmdstat_<name>:calls=N,usec=…` lines → name → N; other lines are skipped.
pub fn parse_commandstats(info: &str) -> BTreeMap<String, u64> {
    info.lines()
        .filter_map(|line| {
            let (name, fields) = line.trim().strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = fields.split(',').find_map(|f| f.strip_prefix("calls="))?.parse().ok()?;
            Some((name.to_owned(), calls))
        })
        .collect()
}

/// Commands the nodes sent between two snapshots: every command's growth, less the bench's own
/// `INFO` (one per snapshot) and anything it asked with `redis-cli` meanwhile (`ours`).
pub fn node_calls(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>, ours: u64) -> u64 {
    let grown: u64 = after.iter().map(|(k, v)| v.saturating_sub(before.get(k).copied().unwrap_or(0))).sum();
    grown.saturating_sub(ours)
}

/// A port of 127.0.0.1 nobody listens on right now (the OS picks it; the socket is closed again).
pub fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(l.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commandstats_lines_become_calls_per_command() {
        let info = "# Commandstats\r\ncmdstat_evalsha:calls=120,usec=900,usec_per_call=7.50,rejected_calls=0,failed_calls=0\r\n\
                    cmdstat_info:calls=2,usec=80,usec_per_call=40.00\r\ncmdstat_broken\r\n";
        let m = parse_commandstats(info);
        assert_eq!(m.get("evalsha"), Some(&120));
        assert_eq!(m.get("info"), Some(&2));
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn the_bench_own_commands_are_not_counted_as_the_nodes() {
        let before = parse_commandstats("cmdstat_evalsha:calls=100,usec=1\ncmdstat_info:calls=1,usec=1\n");
        let after = parse_commandstats(
            "cmdstat_evalsha:calls=160,usec=1\ncmdstat_info:calls=2,usec=1\ncmdstat_mget:calls=30,usec=1\n",
        );
        assert_eq!(node_calls(&before, &after, 1), 90);
        assert_eq!(node_calls(&after, &before, 0), 0, "a reset counter never goes negative");
    }
}
