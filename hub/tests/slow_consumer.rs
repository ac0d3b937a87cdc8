//! Slow consumers against the real `lectern-hub` binary: a browser whose socket stops reading is
//! disconnected (its backlog is bounded, its writes time out) while the rest of its room keeps
//! receiving, and the hub's memory stays flat.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use lectern_common::time::unix_secs;
use lectern_hub::token::TokenKey;
use lectern_proto::{Claims, Role, RoomId};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const SECRET: &str = "test-secret-0123456789abcdef0123456789abcdef";

struct Hub {
    child: Child,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Hub {
    /// The hub with `config`; its log goes to `<data_dir>/hub.log`.
    fn start(config: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config_path = dir.path().join("hub.toml");
        std::fs::write(&config_path, config).unwrap();
        let log = std::fs::File::create(dir.path().join("hub.log")).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_lectern-hub"))
            .args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(&config_path)
            .arg("--data-dir")
            .arg(dir.path())
            .env("LECTERN_SECRET", SECRET)
            .env("LECTERN_UDP_PORT", "0")
            .env("LECTERN_BIND_IP", "127.0.0.1")
            .env("LECTERN_SHARDS", "1")
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("hub binary starts");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        while !line.contains("listening on ") {
            line.clear();
            assert!(out.read_line(&mut line).unwrap() > 0, "hub exited before listening");
        }
        let addr = line.trim().trim_start_matches("listening on ").trim_start_matches("http://").parse().unwrap();
        Self { child, addr, dir }
    }

    /// Resident memory in KiB.
    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("hub.log")).unwrap_or_default()
    }
}

fn token(sub: &str, role: Role) -> String {
    let now = unix_secs();
    let claims = Claims {
        sub: sub.into(),
        room: RoomId::parse("demo").unwrap(),
        role,
        name: Some(sub.into()),
        exp: now + 600,
        nbf: now - 10,
        jti: lectern_hub::token::random_id(),
        guest: false,
    };
    TokenKey::new(SECRET.as_bytes().to_vec()).issue(&claims)
}

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Joins over a TCP connection whose receive buffer is `rcvbuf` bytes (if given); returns the
/// socket once `joined` arrived, and the participant id it names.
async fn join(addr: SocketAddr, sub: &str, role: Role, rcvbuf: Option<usize>) -> (Ws, u64) {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    if let Some(n) = rcvbuf {
        sock.set_recv_buffer_size(n).unwrap();
    }
    sock.connect(&addr.into()).unwrap();
    sock.set_nonblocking(true).unwrap();
    let tcp = TcpStream::from_std(sock.into()).unwrap();
    let url = format!("ws://{addr}/rtc");
    let (mut ws, _) = tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(tcp)).await.unwrap();
    let join = serde_json::json!({ "type": "join", "token": token(sub, role) });
    ws.send(Message::text(join.to_string())).await.unwrap();
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next()).await.unwrap().unwrap().unwrap();
        let Ok(text) = msg.to_text() else { continue };
        let v: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
        if v["type"] == "joined" {
            let id = v["participantId"].as_u64().unwrap();
            return (ws, id);
        }
    }
}

#[test]
fn a_stalled_reader_is_disconnected_while_the_room_keeps_receiving_and_memory_stays_flat() {
    let hub = Hub::start("join_limit = false\n");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let addr = hub.addr;
        let (mut teacher, _) = join(addr, "teacher", Role::Teacher, None).await;
        // A small receive buffer, so the hub's writes stall soon after this client stops reading.
        let (stalled, stalled_id) = join(addr, "stalled", Role::Student, Some(4096)).await;
        let (mut reader, _) = join(addr, "reader", Role::Student, None).await;

        // The reading student counts the chat it hears.
        let heard = Arc::new(AtomicUsize::new(0));
        let reader_task = {
            let heard = heard.clone();
            tokio::spawn(async move {
                while let Some(Ok(m)) = reader.next().await {
                    if m.to_text().is_ok_and(|t| t.contains("flood-")) {
                        heard.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        };
        // Fifty students chat long lines (4-byte characters: 4 KB each) as fast as the chat limit
        // lets them, and read: enough to fill the kernel's buffers (up to 4 MiB) and the backlog.
        let mut flooders = Vec::new();
        for n in 0..50 {
            let (ws, _) = join(addr, &format!("flooder{n}"), Role::Student, None).await;
            let (mut sink, mut stream) = ws.split();
            tokio::spawn(async move { while let Some(Ok(_)) = stream.next().await {} });
            flooders.push(tokio::spawn(async move {
                let line = "\u{1d54f}".repeat(980);
                for i in 0..90 {
                    let chat = serde_json::json!({ "type": "sendChat", "text": format!("flood-{n}-{i} {line}") });
                    if sink.send(Message::text(chat.to_string())).await.is_err() {
                        return;
                    }
                    // The chat limit: 5 at once, then one a second.
                    let pause = if i < 5 { 0 } else { 1000 };
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                }
            }));
        }
        let rss_before = hub.rss_kib();

        // The teacher sees the stalled student leave: the hub closed its socket.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
        loop {
            let msg = match tokio::time::timeout_at(deadline, teacher.next()).await {
                Ok(Some(Ok(m))) => m,
                Ok(other) => panic!("the teacher's socket ended: {other:?}"),
                Err(_) => panic!(
                    "a socket that stopped reading was still in the room after 90 s (the reader heard {} lines); log:\n{}",
                    heard.load(Ordering::Relaxed),
                    hub.log().lines().rev().take(15).collect::<Vec<_>>().join("\n")
                ),
            };
            let Ok(text) = msg.to_text() else { continue };
            let v: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
            if v["type"] == "participantLeft" && v["participantId"].as_u64() == Some(stalled_id) {
                break;
            }
        }
        assert!(hub.log().contains("closing it"), "the hub says why it closed the socket");

        // The room kept talking to those who read, before and after.
        let before = heard.load(Ordering::Relaxed);
        assert!(before > 500, "the reading student heard only {before} lines");
        let more = tokio::time::Instant::now() + Duration::from_secs(20);
        while heard.load(Ordering::Relaxed) <= before {
            assert!(tokio::time::Instant::now() < more, "the reading student stopped hearing the room");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        for f in flooders {
            f.abort();
        }
        reader_task.abort();
        drop(stalled);
        // The lesson's chat log keeps every line (4 KB each, a few thousand here); a backlog
        // towards the stalled socket would add to that without bound.
        let grown = hub.rss_kib().saturating_sub(rss_before);
        let lines = heard.load(Ordering::Relaxed);
        eprintln!("hub RSS grew by {grown} KiB while the room exchanged {lines} chat lines of 4 KB");
        assert!(grown < 64 * 1024, "the hub grew by {grown} KiB");
    });
}
