//! What a node shares beyond its record (`Coord::put` / `Coord::get_many`: its classroom boxes for
//! the fleet view on other nodes) on a real Redis (Debian's `redis-server`, started on a free
//! loopback port), and a command whose caller is dropped mid-way: its late reply must never
//! answer the next command on the shared connection.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lectern_coord::Coord;
use lectern_coord::redis::{Redis, RedisUrl};

struct Server {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start() -> Self {
        let dir = tempfile::tempdir().expect("a temp dir");
        let port =
            TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).and_then(|l| l.local_addr()).expect("a free port").port();
        let mut child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string(), "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts (scripts/deps.sh --test installs it)");
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("redis-server exited with {status}");
            }
            assert!(Instant::now() < deadline, "redis-server not listening on {addr} within 20 s");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { child, port, _dir: dir }
    }

    fn url(&self) -> RedisUrl {
        format!("redis://127.0.0.1:{}", self.port).parse().expect("a redis URL")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn shared_values_live_for_their_ttl_and_read_in_one_go() {
    let server = Server::start();
    for coord in [Coord::local(), Coord::redis(server.url())] {
        coord.put("fleet:a", "[1]", 300).await.expect("put");
        coord.put("fleet:b", "[2]", 60_000).await.expect("put");
        let keys = ["fleet:a", "fleet:none", "fleet:b"].map(str::to_owned);
        assert_eq!(coord.get_many(&keys).await.expect("get"), [Some("[1]".into()), None, Some("[2]".into())]);
        assert_eq!(coord.get_many(&[]).await.expect("no keys"), Vec::<Option<String>>::new());
        let deadline = Instant::now() + Duration::from_secs(10);
        while coord.get_many(&keys[..1]).await.expect("get")[0].is_some() {
            assert!(Instant::now() < deadline, "fleet:a outlived its TTL");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(coord.get_many(&keys[2..]).await.expect("get"), [Some("[2]".into())], "the other one lives on");
    }
}

#[tokio::test]
async fn a_command_whose_caller_went_away_never_answers_the_next_one() {
    let server = Server::start();
    let coord = Coord::redis(server.url());
    coord.put("fleet:a", "[1]", 60_000).await.expect("put");
    // Hold every reply back for a while: the next command is written, then its caller gives up.
    let mut admin = Redis::connect(&server.url(), Duration::from_secs(2)).await.expect("connect");
    admin.call(&[b"CLIENT", b"PAUSE", b"600", b"ALL"]).await.expect("CLIENT PAUSE");
    let gave_up = tokio::time::timeout(Duration::from_millis(100), coord.holder("lab")).await;
    assert!(gave_up.is_err(), "the paused command did not answer in time");
    // Its reply (nil: nobody holds "lab") comes later; the next command must get its own.
    let keys = ["fleet:a".to_owned()];
    assert_eq!(coord.get_many(&keys).await.expect("get"), [Some("[1]".into())]);
    assert_eq!(coord.holder("lab").await.expect("holder"), None);
}
