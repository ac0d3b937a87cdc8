//! `[tls]` against the real `lectern-hub` binary with a test CA made here: HTTPS with HSTS, the
//! plain-HTTP redirect, `/rtc` over `wss://`, certificate reloads (new handshakes get the new
//! certificate, an open connection keeps going, a broken file keeps the old one and the log says
//! why), and start-up refusing a bad `[tls]` with the key named.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lectern_common::time::unix_secs;
use lectern_hub::tls::fingerprint;
use lectern_hub::token::TokenKey;
use lectern_proto::{Claims, Role, RoomId};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

const SECRET: &str = "test-secret-0123456789abcdef0123456789abcdef";

/// A CA that signs leaves for `localhost` / 127.0.0.1.
struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

impl TestCa {
    fn new() -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, "Lectern test CA");
        let key = KeyPair::generate().unwrap();
        let pem = params.self_signed(&key).unwrap().pem();
        Self { issuer: Issuer::new(params, key), pem }
    }

    /// Writes a fresh leaf and key to `cert`/`key`; returns the leaf's fingerprint.
    fn issue(&self, cert: &Path, key: &Path) -> String {
        let leaf_key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap()
            .signed_by(&leaf_key, &self.issuer)
            .unwrap();
        // Key first: the hub may poll between the two writes, and a pair that does not match yet
        // must be retried, not kept.
        std::fs::write(key, leaf_key.serialize_pem()).unwrap();
        std::fs::write(cert, leaf.pem()).unwrap();
        fingerprint(leaf.der())
    }

    fn client(&self) -> tokio_rustls::TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        for c in rustls_pki_types::CertificateDer::pem_slice_iter(self.pem.as_bytes()) {
            roots.add(c.unwrap()).unwrap();
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        tokio_rustls::TlsConnector::from(Arc::new(config))
    }
}

use rustls_pki_types::pem::PemObject;

struct Hub {
    child: Child,
    addr: SocketAddr,
    redirect: Option<SocketAddr>,
    dir: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(dir: &Path, config: &str, extra: &[&str]) -> Child {
    let config_path = dir.join("hub.toml");
    std::fs::write(&config_path, config).unwrap();
    let log = std::fs::File::create(dir.join("hub.log")).unwrap();
    Command::new(env!("CARGO_BIN_EXE_lectern-hub"))
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config_path)
        .arg("--data-dir")
        .arg(dir)
        .args(extra)
        .env("LECTERN_SECRET", SECRET)
        .env("LECTERN_UDP_PORT", "0")
        .env("LECTERN_BIND_IP", "127.0.0.1")
        .env("LECTERN_SHARDS", "1")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("hub binary starts")
}

impl Hub {
    /// The hub with `[tls]` pointing at `<dir>/cert.pem` and `<dir>/key.pem`, issued by `ca`.
    fn start(ca: &TestCa, more_config: &str) -> (Self, String) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_owned();
        let fp = ca.issue(&dir.join("cert.pem"), &dir.join("key.pem"));
        let config = format!(
            "[tls]\ncert = {:?}\nkey = {:?}\nredirect_listen = \"127.0.0.1:0\"\n{more_config}",
            dir.join("cert.pem").display().to_string(),
            dir.join("key.pem").display().to_string()
        );
        let mut child = spawn(&dir, &config, &[]);
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let (mut redirect, mut line) = (None, String::new());
        let addr = loop {
            line.clear();
            assert!(out.read_line(&mut line).unwrap() > 0, "hub exited before listening: {}", log(&dir));
            if let Some(rest) = line.trim().strip_prefix("redirecting http://") {
                redirect = Some(rest.trim_end_matches(" to https").parse().unwrap());
            }
            if let Some(rest) = line.trim().strip_prefix("listening on https://") {
                break rest.parse().unwrap();
            }
        };
        (Self { child, addr, redirect, dir, _tmp: tmp }, fp)
    }

    fn log(&self) -> String {
        log(&self.dir)
    }
}

fn log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("hub.log")).unwrap_or_default()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

async fn connect(ca: &TestCa, addr: SocketAddr) -> TlsStream<TcpStream> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    tokio::time::timeout(Duration::from_secs(10), ca.client().connect(name, tcp)).await.unwrap().expect("handshake")
}

fn peer_fingerprint(tls: &TlsStream<TcpStream>) -> String {
    fingerprint(tls.get_ref().1.peer_certificates().unwrap()[0].as_ref())
}

struct Resp {
    status: u16,
    head: String,
    body: String,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// One HTTP/1.1 request on an open stream (kept alive); the response must have a Content-Length.
async fn request<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    s: &mut S,
    method: &str,
    path: &str,
    host: &str,
) -> Resp {
    let req = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let deadline = Duration::from_secs(10);
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(deadline, s.read(&mut chunk)).await.unwrap().unwrap();
        assert!(n > 0, "connection closed mid-response: {}", String::from_utf8_lossy(&buf));
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buf[..head_end].to_vec()).unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let mut resp = Resp { status, head, body: String::new() };
    let len: usize = resp.header("content-length").map(|v| v.parse().unwrap()).unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < len {
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(deadline, s.read(&mut chunk)).await.unwrap().unwrap();
        assert!(n > 0, "connection closed mid-body");
        body.extend_from_slice(&chunk[..n]);
    }
    resp.body = String::from_utf8_lossy(&body).into_owned();
    resp
}

fn token(room: &str, role: Role) -> String {
    let now = unix_secs();
    let claims = Claims {
        sub: "test".into(),
        room: RoomId::parse(room).unwrap(),
        role,
        name: Some("Test".into()),
        exp: now + 600,
        nbf: now - 10,
        jti: lectern_hub::token::random_id(),
        guest: false,
    };
    TokenKey::new(SECRET.as_bytes().to_vec()).issue(&claims)
}

#[test]
fn https_with_the_test_ca_serves_with_hsts_and_the_plain_port_redirects() {
    let ca = TestCa::new();
    let (hub, fp) = Hub::start(&ca, "");
    rt().block_on(async {
        let mut tls = connect(&ca, hub.addr).await;
        assert_eq!(peer_fingerprint(&tls), fp);
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
        let r = request(&mut tls, "GET", "/healthz", "localhost").await;
        assert_eq!(r.status, 200, "{}", r.head);
        assert_eq!(r.header("strict-transport-security"), Some("max-age=31536000"), "{}", r.head);
        let r = request(&mut tls, "GET", "/no-such-page", "localhost").await;
        assert!(r.header("strict-transport-security").is_some(), "HSTS on errors too: {}", r.head);

        // Plain HTTP on the TLS port gets no page.
        let mut plain = TcpStream::connect(hub.addr).await.unwrap();
        plain.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").await.unwrap();
        let mut got = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(10), plain.read_to_end(&mut got)).await;
        assert!(!String::from_utf8_lossy(&got).contains("200 OK"));

        let mut plain = TcpStream::connect(hub.redirect.expect("redirect port printed")).await.unwrap();
        let r = request(&mut plain, "POST", "/whip/demo?x=1", "localhost:80").await;
        assert_eq!(r.status, 308, "{}", r.head);
        let want = format!("https://localhost:{}/whip/demo?x=1", hub.addr.port());
        assert_eq!(r.header("location"), Some(want.as_str()));
        let r = request(&mut plain, "GET", "/", "evil.example/x").await;
        assert_eq!(r.status, 400, "{}", r.head);
    });
}

#[test]
fn rtc_websocket_and_whip_options_work_over_https_and_options_carries_no_credential() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let ca = TestCa::new();
    let (hub, _) = Hub::start(
        &ca,
        "[[media.ice_servers]]\nurls = [\"stun:stun.test.invalid:3478\"]\n\
         [[media.turn]]\nurls = [\"turns:relay.test.invalid:443\"]\nsecret = \"coturn-shared-secret\"\n",
    );
    rt().block_on(async {
        let mut tls = connect(&ca, hub.addr).await;
        let r = request(&mut tls, "OPTIONS", "/whip/demo", "localhost").await;
        assert!(r.status < 300, "{}", r.head);
        let links: Vec<_> = r.head.lines().filter(|l| l.to_ascii_lowercase().starts_with("link:")).collect();
        assert_eq!(links.len(), 1, "{}", r.head);
        assert!(links[0].contains("stun:stun.test.invalid") && !links[0].contains("credential"), "{links:?}");
        assert!(!r.head.contains("relay.test.invalid"), "{}", r.head);

        let tls = connect(&ca, hub.addr).await;
        let url = format!("wss://localhost:{}/rtc", hub.addr.port());
        let (mut ws, resp) = tokio_tungstenite::client_async(url.as_str(), tls).await.expect("wss upgrade");
        assert!(resp.headers().contains_key("strict-transport-security"));
        let join = serde_json::json!({ "type": "join", "token": token("demo", Role::Student) });
        ws.send(Message::text(join.to_string())).await.unwrap();
        let joined = loop {
            let msg = tokio::time::timeout(Duration::from_secs(10), ws.next()).await.unwrap().unwrap().unwrap();
            if let Message::Text(t) = msg {
                break serde_json::from_str::<serde_json::Value>(t.as_str()).unwrap();
            }
        };
        assert_eq!(joined["type"], "joined", "{joined}");
        assert!(joined.to_string().contains("turns:relay.test.invalid:443"), "minted TURN in the join: {joined}");
    });
}

/// Polls `f` every 100 ms until it returns `Some` or `within` passes.
async fn eventually<T>(within: Duration, mut f: impl AsyncFnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + within;
    while Instant::now() < end {
        if let Some(v) = f().await {
            return Some(v);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

#[test]
fn a_replaced_certificate_reaches_new_handshakes_and_a_broken_one_keeps_the_old() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let ca = TestCa::new();
    let (hub, first) = Hub::start(&ca, "");
    let (cert, key) = (hub.dir.join("cert.pem"), hub.dir.join("key.pem"));
    // Three poll intervals of slack.
    let within = lectern_hub::tls::POLL_EVERY * 3 + Duration::from_secs(2);
    rt().block_on(async {
        let mut open = connect(&ca, hub.addr).await;
        assert_eq!(request(&mut open, "GET", "/healthz", "localhost").await.status, 200);
        let (ws_tls, url) = (connect(&ca, hub.addr).await, format!("wss://localhost:{}/rtc", hub.addr.port()));
        let (mut ws, _) = tokio_tungstenite::client_async(url.as_str(), ws_tls).await.unwrap();
        let join = serde_json::json!({ "type": "join", "token": token("demo", Role::Student) });
        ws.send(Message::text(join.to_string())).await.unwrap();

        let written = Instant::now();
        let second = ca.issue(&cert, &key);
        assert_ne!(first, second);
        let seen = eventually(within, async || {
            let tls = connect(&ca, hub.addr).await;
            (peer_fingerprint(&tls) == second).then_some(())
        })
        .await;
        assert!(seen.is_some(), "new handshakes still get the first certificate: {}", hub.log());
        // The figure for the report: bounded by the poll interval.
        println!("tls-reload-seen-after-ms {}", written.elapsed().as_millis());
        let r = request(&mut open, "GET", "/healthz", "localhost").await;
        assert_eq!(r.status, 200, "the connection opened before the reload keeps working");
        assert_eq!(peer_fingerprint(&open), first);

        // (A poll between the key and the certificate write may have logged a mismatch already.)
        let failed_before = hub.log().matches("reload failed").count();
        std::fs::write(&cert, "-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n").unwrap();
        let more = async || (hub.log().matches("reload failed").count() > failed_before).then_some(());
        assert!(eventually(within, more).await.is_some(), "no log line about the broken file: {}", hub.log());
        let line = hub.log().lines().rfind(|l| l.contains("reload failed")).unwrap().to_owned();
        assert!(line.contains("tls.cert") && line.contains(&cert.display().to_string()), "{line}");
        let tls = connect(&ca, hub.addr).await;
        assert_eq!(peer_fingerprint(&tls), second, "the broken file did not replace the served certificate");

        // SIGHUP reloads too (the files are good again, unchanged since the poll saw them).
        let third = ca.issue(&cert, &key);
        let reloaded = eventually(within, async || {
            let tls = connect(&ca, hub.addr).await;
            (peer_fingerprint(&tls) == third).then_some(())
        })
        .await;
        assert!(reloaded.is_some(), "{}", hub.log());
        let status = Command::new("kill").args(["-HUP", &hub.child.id().to_string()]).status().unwrap();
        assert!(status.success());
        let hup = eventually(within, async || hub.log().contains("SIGHUP").then_some(())).await;
        assert!(hup.is_some(), "{}", hub.log());

        // The lesson's signalling socket lived through all of it.
        ws.send(Message::text(r#"{"type":"leave"}"#)).await.unwrap();
        let mut joined = false;
        while let Ok(Some(Ok(msg))) = tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
            if let Message::Text(t) = msg {
                joined |= t.as_str().contains("\"joined\"");
            }
        }
        assert!(joined, "the /rtc socket opened before the reloads was answered");
    });
}

fn start_fails(config: &str, extra: &[&str]) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let mut child = spawn(tmp.path(), config, extra);
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "hub kept running with a bad [tls]: {}", log(tmp.path()));
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!status.success());
    log(tmp.path())
}

#[test]
fn a_bad_tls_section_fails_start_up_naming_the_key_and_the_reason() {
    let ca = TestCa::new();
    let tmp = tempfile::tempdir().unwrap();
    let (cert, key) = (tmp.path().join("cert.pem"), tmp.path().join("key.pem"));
    ca.issue(&cert, &key);
    let garbage = tmp.path().join("garbage.pem");
    std::fs::write(&garbage, "not pem at all\n").unwrap();
    let missing = tmp.path().join("missing.pem");
    let cfg = |c: &Path, k: &Path| {
        format!("[tls]\ncert = {:?}\nkey = {:?}\n", c.display().to_string(), k.display().to_string())
    };

    let err = start_fails(&cfg(&missing, &key), &[]);
    assert!(err.contains("tls.cert") && err.contains("missing.pem") && err.contains("No such file"), "{err}");
    let err = start_fails(&cfg(&cert, &garbage), &[]);
    assert!(err.contains("tls.key") && err.contains("garbage.pem"), "{err}");
    let err = start_fails(&cfg(&garbage, &key), &[]);
    assert!(err.contains("tls.cert") && err.contains("no PEM certificate"), "{err}");
    let err = start_fails("[tls]\nkey = \"/k.pem\"\n", &[]);
    assert!(err.contains("tls.cert"), "{err}");
    let err = start_fails(&format!("{}redirect_listen = \"not an address\"\n", cfg(&cert, &key)), &[]);
    assert!(err.contains("redirect_listen"), "{err}");
    let err = start_fails(&cfg(&cert, &key), &["--tls-self-signed"]);
    assert!(err.contains("--tls-self-signed"), "{err}");
}

#[test]
fn tls_self_signed_prints_the_fingerprint_and_reuses_the_certificate() {
    let tmp = tempfile::tempdir().unwrap();
    let run = || {
        let mut child = spawn(tmp.path(), "", &["--tls-self-signed"]);
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let (mut fp, mut line) = (None, String::new());
        while !line.contains("listening on ") {
            line.clear();
            assert!(out.read_line(&mut line).unwrap() > 0, "hub exited: {}", log(tmp.path()));
            if let Some((_, rest)) = line.trim().split_once("SHA-256 fingerprint ") {
                fp = Some(rest.trim_end_matches(')').to_owned());
            }
        }
        assert!(line.contains("https://"), "{line}");
        let _ = child.kill();
        let _ = child.wait();
        fp.expect("fingerprint printed")
    };
    let first = run();
    let cert = tmp.path().join("tls/self-signed-cert.pem");
    let der = rustls_pki_types::CertificateDer::from_pem_file(&cert).unwrap();
    assert_eq!(first, fingerprint(der.as_ref()));
    assert_eq!(run(), first, "the second start reuses the certificate");

    // A box pins it with hub.ca_file = that file: rustls accepts it as its own trust anchor.
    let mut child = spawn(tmp.path(), "", &["--tls-self-signed"]);
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("listening on ") {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "hub exited: {}", log(tmp.path()));
    }
    let addr: SocketAddr = line.trim().trim_start_matches("listening on https://").parse().unwrap();
    let pinned = TestCa { issuer: TestCa::new().issuer, pem: std::fs::read_to_string(&cert).unwrap() };
    rt().block_on(async {
        let mut tls = connect(&pinned, addr).await;
        assert_eq!(peer_fingerprint(&tls), first);
        assert_eq!(request(&mut tls, "GET", "/healthz", "localhost").await.status, 200);
    });
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn without_tls_sighup_is_logged_and_the_hub_keeps_serving() {
    let tmp = tempfile::tempdir().unwrap();
    let mut child = spawn(tmp.path(), "", &[]);
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("listening on ") {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "hub exited: {}", log(tmp.path()));
    }
    let addr: SocketAddr = line.trim().trim_start_matches("listening on http://").parse().unwrap();
    let status = Command::new("kill").args(["-HUP", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    rt().block_on(async {
        let logged =
            eventually(Duration::from_secs(10), async || log(tmp.path()).contains("SIGHUP").then_some(())).await;
        assert!(logged.is_some(), "{}", log(tmp.path()));
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        assert_eq!(request(&mut tcp, "GET", "/healthz", "localhost").await.status, 200);
    });
    assert!(child.try_wait().unwrap().is_none(), "SIGHUP ended the hub");
    let _ = child.kill();
    let _ = child.wait();
}
