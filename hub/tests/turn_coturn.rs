//! The hub's TURN REST credentials against a real coturn (Debian `coturn`, `turnserver`): one is
//! started in a temp dir on free loopback ports with `use-auth-secret` and a generated secret, and
//! `turnutils_uclient` allocates with what `lectern_hub::turn` mints. Skipped, saying so, when
//! coturn is not installed (`scripts/deps.sh --test` installs it).

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use lectern_common::time::unix_secs;
use lectern_hub::turn::{LIFETIME_SECS, Secret, TurnServer};
use lectern_proto::ParticipantId;

/// A `turnserver` of our own, killed when dropped (also when an assertion fails).
struct Coturn {
    child: Child,
    port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Coturn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// A port free on 127.0.0.1 for both UDP and TCP, and so is the next one (coturn's RFC 5780
/// alternative port).
fn free_port_pair() -> u16 {
    let lo = Ipv4Addr::LOCALHOST;
    for _ in 0..100 {
        let udp = UdpSocket::bind((lo, 0)).expect("a UDP socket");
        let port = udp.local_addr().expect("its address").port();
        if port == u16::MAX {
            continue;
        }
        let free = TcpListener::bind((lo, port)).is_ok()
            && UdpSocket::bind((lo, port + 1)).is_ok()
            && TcpListener::bind((lo, port + 1)).is_ok();
        if free {
            return port;
        }
    }
    panic!("no free loopback port pair in 100 tries");
}

fn start_coturn(secret: &str) -> Coturn {
    let dir = tempfile::tempdir().expect("a temp dir");
    let port = free_port_pair();
    let log = dir.path().join("turn.log");
    let child = Command::new("turnserver")
        .args(["-n", "--no-tls", "--no-dtls", "--no-cli", "--no-stdout-log", "--simple-log"])
        .args(["--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1", "--allow-loopback-peers"])
        .arg(format!("--listening-port={port}"))
        .args(["--use-auth-secret", &format!("--static-auth-secret={secret}"), "--realm=lectern"])
        .arg(format!("--pidfile={}", dir.path().join("turnserver.pid").display()))
        .arg(format!("--log-file={}", log.display()))
        // Its own user database, not the host's /var/lib/turn/turndb.
        .arg(format!("--userdb={}", dir.path().join("turndb").display()))
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("turnserver starts");
    let mut coturn = Coturn { child, port, log, _dir: dir };
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let deadline = Instant::now() + Duration::from_secs(15);
    // A connect to a port nobody listens on yet can pick that port as its source and connect to
    // itself; that is not coturn.
    let listening = |addr: &SocketAddr| {
        TcpStream::connect_timeout(addr, Duration::from_millis(200))
            .is_ok_and(|s| s.local_addr().ok() != s.peer_addr().ok())
    };
    while !listening(&addr) {
        if let Ok(Some(status)) = coturn.child.try_wait() {
            panic!("turnserver exited with {status}: {}", read(&coturn.log));
        }
        assert!(Instant::now() < deadline, "turnserver not listening on {addr} within 15 s: {}", read(&coturn.log));
        std::thread::sleep(Duration::from_millis(50));
    }
    coturn
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// `turnutils_uclient` allocating on `coturn` with `username`/`credential` (two clients relaying to
/// each other, `-y`), over TCP when `tcp`; killed if it has not finished within 30 s.
fn uclient(coturn: &Coturn, username: &str, credential: &str, tcp: bool) -> Output {
    let mut cmd = Command::new("turnutils_uclient");
    cmd.args(["-y", "-n", "3", "-m", "1", "-p", &coturn.port.to_string(), "-u", username, "-w", credential]);
    if tcp {
        cmd.arg("-t");
    }
    let mut child = cmd.arg("127.0.0.1").stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("uclient starts");
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().expect("uclient's status").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("uclient's output")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[test]
fn coturn_accepts_a_fresh_credential_and_refuses_an_expired_one() {
    if !on_path("turnserver") || !on_path("turnutils_uclient") {
        println!("SKIPPED: coturn's turnserver / turnutils_uclient are not installed (apt-get install coturn)");
        return;
    }
    let secret = lectern_hub::token::random_id();
    let coturn = start_coturn(&secret);
    let relay = TurnServer {
        urls: vec![
            format!("turn:127.0.0.1:{}?transport=udp", coturn.port),
            format!("turn:127.0.0.1:{}?transport=tcp", coturn.port),
        ],
        secret: Secret::new(secret),
    };

    let fresh = relay.mint(ParticipantId(1), unix_secs());
    let (user, cred) = (fresh.username.expect("a username"), fresh.credential.expect("a credential"));
    for tcp in [false, true] {
        let out = uclient(&coturn, &user, &cred, tcp);
        let said = text(&out);
        assert!(out.status.success(), "fresh credential refused (tcp: {tcp}): {said}\n{}", read(&coturn.log));
        assert!(!said.contains("ERROR"), "tcp: {tcp}: {said}");
        assert!(said.contains("Total lost packets 0"), "relayed nothing (tcp: {tcp}): {said}");
    }

    // coturn really checks the HMAC: the same username signed with another secret is refused.
    let forged = lectern_hub::turn::credential(&Secret::new("not-the-secret".into()), &user);
    let out = uclient(&coturn, &user, &forged, false);
    assert!(!out.status.success(), "credential with the wrong secret accepted: {}", text(&out));

    // Minted a lifetime and a minute ago: its expiry is a minute in the past.
    let expired = relay.mint(ParticipantId(2), unix_secs() - LIFETIME_SECS - 60);
    let (user, cred) = (expired.username.expect("a username"), expired.credential.expect("a credential"));
    let out = uclient(&coturn, &user, &cred, false);
    let said = text(&out);
    assert!(!out.status.success(), "expired credential accepted: {said}");
    // uclient retries the Allocate and gives up: coturn answers each with 401 Unauthorized.
    assert!(said.contains("Cannot complete Allocation"), "{said}");
    // coturn says why in its log; it writes it as it answers, so a short deadline is plenty.
    let deadline = Instant::now() + Duration::from_secs(5);
    let why = format!("Cannot find credentials of user <{user}>");
    while !read(&coturn.log).contains(&why) {
        assert!(Instant::now() < deadline, "coturn's log lacks '{why}': {}", read(&coturn.log));
        std::thread::sleep(Duration::from_millis(50));
    }
}
