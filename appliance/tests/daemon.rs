//! The appliance binary as systemd would run it, with no hub to reach: it must still start
//! from the last good configuration, tell systemd its status and answer on its status endpoint.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixDatagram;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

fn status(port: u16) -> serde_json::Value {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("status endpoint listens");
    stream.write_all(b"GET /status HTTP/1.1\r\n\r\n").expect("request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    serde_json::from_str(response.split_once("\r\n\r\n").expect("body").1).expect("JSON")
}

/// Reads systemd notifications until one starts with `prefix`; the socket's read timeout is the deadline.
fn wait_for_notification(socket: &UnixDatagram, prefix: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 512];
    while !seen.last().is_some_and(|m: &String| m.starts_with(prefix)) {
        match socket.recv(&mut buf) {
            Ok(n) => seen.push(String::from_utf8_lossy(&buf[..n]).into_owned()),
            Err(err) => panic!("no {prefix:?} before the deadline ({err}); got {seen:?}"),
        }
    }
    seen
}

#[test]
fn virtual_appliance_starts_from_last_good_config_and_reports_state_and_panel() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (etc, state) = (dir.path().join("etc"), dir.path().join("state"));
    std::fs::create_dir_all(&etc).expect("mkdir");
    std::fs::create_dir_all(&state).expect("mkdir");
    std::fs::write(etc.join("appliance.toml"), "[video\nframera").expect("truncated by a power cut");
    std::fs::write(state.join("last-good.toml"), "[video]\nframerate = 15\n").expect("write");
    let notify = UnixDatagram::bind(dir.path().join("notify")).expect("notify socket");
    notify.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    let port = free_port();

    let child = Command::new(env!("CARGO_BIN_EXE_lectern-appliance"))
        .args(["--virtual", "--hub", "http://127.0.0.1:9", "--room", "demo", "--token", "abc"])
        .arg("--config")
        .arg(&etc)
        .arg("--state-dir")
        .arg(&state)
        .arg("--vendor-config-dir")
        .arg(dir.path().join("none"))
        .args(["--status-listen", &format!("127.0.0.1:{port}")])
        .env("NOTIFY_SOCKET", dir.path().join("notify"))
        .env_remove("LECTERN_CONFIG_DIR")
        .arg("--panel-stdin")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("appliance starts");
    let mut child = KillOnDrop(child);
    child.0.stdin.as_mut().expect("stdin").write_all(b"mute\nprivacy\n").expect("press buttons");

    let seen = wait_for_notification(&notify, "STATUS=reconnecting");
    assert_eq!(seen[0], "STATUS=connecting");
    // By the third attempt the runner has drained its queue twice: the presses are applied.
    wait_for_notification(&notify, "STATUS=connecting (attempt 3)");
    let seen = wait_for_notification(&notify, "STATUS=reconnecting");
    assert!(!seen.iter().any(|m| m == "READY=1"), "not ready while the hub is unreachable: {seen:?}");

    // The board is updated before systemd is told, so it already shows the new state.
    let json = status(port);
    assert_eq!(json["state"], "reconnecting");
    assert_eq!(json["config"]["source"], "last-good");
    assert!(json["config"]["error"].as_str().is_some_and(|e| e.contains("appliance.toml")), "{json}");
    assert_eq!(json["encoder"], "x264enc");
    assert_eq!(json["panel"]["kind"], "fake");
    assert_eq!(json["panel"]["fault"], true, "a lesson that cannot reach the hub shows a fault");
    assert_eq!((json["panel"]["muted"].clone(), json["panel"]["privacy"].clone()), (true.into(), true.into()));
    assert!(json["last_error"].as_str().is_some_and(|e| e.contains("hub")), "{json}");
}
