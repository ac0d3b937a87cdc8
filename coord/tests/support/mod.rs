//! A real Redis for the tests (Debian's `redis-server`, installed by `scripts/deps.sh --test`),
//! started in a temp dir on a free loopback port without persistence, so restarting it loses every
//! key as a production Redis without AOF/RDB would.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lectern_coord::redis::RedisUrl;

pub struct Server {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Server {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("a temp dir");
        let port =
            TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).and_then(|l| l.local_addr()).expect("a free port").port();
        let mut s = Self { child: spawn(port, dir.path()), port, dir };
        s.wait_ready();
        s
    }

    /// Kill -9 and start again on the same port: every key is gone.
    #[allow(dead_code)] // Not every test binary restarts its Redis.
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = spawn(self.port, self.dir.path());
        self.wait_ready();
    }

    /// Ready once our own process answers on the port. A bare TCP connect is not enough: a
    /// connect to a free port in the ephemeral range can pick that same port as its source and
    /// connect to itself, and two tests picking the same free port would share one server.
    fn wait_ready(&mut self) {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let deadline = Instant::now() + Duration::from_secs(20);
        while !is_ours(addr, self.child.id()) {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("redis-server exited with {status}");
            }
            assert!(Instant::now() < deadline, "redis-server {} did not answer on {addr} within 20 s", self.child.id());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn url(&self) -> RedisUrl {
        format!("redis://127.0.0.1:{}", self.port).parse().expect("a redis URL")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether the server on `addr` is the process `pid`: asks `INFO server` for its `process_id`.
fn is_ours(addr: SocketAddr, pid: u32) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    if stream.write_all(b"INFO server\r\n").is_err() {
        return false;
    }
    // A bulk reply: `$<len>\r\n<text>\r\n`; the text is a few hundred bytes of `key:value` lines.
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    while !reply.windows(11).any(|w| w == b"process_id:") || !reply.ends_with(b"\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return false,
            Ok(n) => reply.extend_from_slice(&buf[..n]),
        }
        if reply.len() > 64 * 1024 {
            return false;
        }
    }
    let text = String::from_utf8_lossy(&reply);
    text.lines().filter_map(|l| l.strip_prefix("process_id:")).any(|v| v.trim().parse() == Ok(pid))
}

fn spawn(port: u16, dir: &Path) -> Child {
    Command::new("redis-server")
        .args(["--bind", "127.0.0.1", "--port", &port.to_string(), "--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server starts (scripts/deps.sh --test installs it)")
}
