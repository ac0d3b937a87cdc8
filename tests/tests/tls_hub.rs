//! A hub behind TLS, as in a real deployment (a reverse proxy terminates HTTPS): the appliance
//! reaches it at an https:// URL, trusting the school's own CA from `hub.ca_file`, for both the
//! control channel (wss) and WHIP; media still flows over UDP. Without the CA the box refuses the
//! hub's certificate. The proxy here is a few lines of rustls in front of the real hub.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use lectern_e2e::{Proc, agent, bin, free_port, get_json, start_hub, status_url, wait_for};
use serde_json::Value;

const ROOM: &str = "tls-lab";

fn mint(dir: &Path, role: &str) -> String {
    lectern_e2e::mint(dir, ROOM, role)
}

/// Terminates TLS on an ephemeral port and relays each connection to `upstream` (plain HTTP).
fn tls_proxy(cert: &rcgen::CertifiedKey<rcgen::KeyPair>, upstream: u16) -> u16 {
    let der = cert.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::try_from(cert.signing_key.serialize_der()).expect("key");
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocols")
        .with_no_client_auth()
        .with_single_cert(vec![der], key)
        .expect("server config");
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let config = config.clone();
            std::thread::spawn(move || relay(client, config, upstream));
        }
    });
    port
}

/// One connection, both ways, on one thread: short read timeouts let it alternate.
fn relay(client: TcpStream, config: Arc<rustls::ServerConfig>, upstream: u16) {
    let Ok(mut hub) = TcpStream::connect(("127.0.0.1", upstream)) else { return };
    let tick = Some(Duration::from_millis(5));
    if client.set_read_timeout(tick).is_err() || hub.set_read_timeout(tick).is_err() {
        return;
    }
    let Ok(conn) = rustls::ServerConnection::new(config) else { return };
    let mut tls = rustls::StreamOwned::new(conn, client);
    let mut buf = vec![0u8; 64 * 1024];
    let idle = |e: &std::io::Error| matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut);
    loop {
        match tls.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                if hub.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
            Err(e) if idle(&e) => {}
            Err(_) => return,
        }
        match hub.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                if tls.write_all(&buf[..n]).and_then(|()| tls.flush()).is_err() {
                    return;
                }
            }
            Err(e) if idle(&e) => {}
            Err(_) => return,
        }
    }
}

fn appliance(dir: &Path, name: &str, hub_url: &str, ca_file: Option<&Path>, token: &str) -> Proc {
    let config = dir.join(name);
    std::fs::create_dir_all(&config).expect("config dir");
    let ca = ca_file.map(|p| format!("ca_file = \"{}\"\n", p.display())).unwrap_or_default();
    std::fs::write(config.join("appliance.toml"), format!("[hub]\n{ca}")).expect("config");
    let mut cmd = Command::new(bin("lectern-appliance"));
    cmd.arg("--virtual")
        .args(["--hub", hub_url, "--room", ROOM, "--token", token, "--status-listen", "127.0.0.1:0"])
        .arg("--config")
        .arg(&config)
        .arg("--state-dir")
        .arg(config.join("state"))
        .arg("--vendor-config-dir")
        .arg(config.join("vendor"));
    Proc::spawn(cmd)
}

#[test]
fn a_box_reaches_an_https_hub_that_its_ca_file_vouches_for() {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let _hub = start_hub(dir.path(), port);

    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("certificate");
    let ca = dir.path().join("school-ca.pem");
    std::fs::write(&ca, cert.cert.pem()).expect("ca file");
    let https = format!("https://localhost:{}", tls_proxy(&cert, port));
    let token = mint(dir.path(), "device");

    // Without the school's CA, the box refuses the hub's certificate and says why.
    let mut untrusting = appliance(dir.path(), "untrusting", &https, None, &token);
    untrusting.wait_line("UnknownIssuer", Duration::from_secs(30));
    untrusting.kill();

    let trusting = appliance(dir.path(), "trusting", &https, Some(&ca), &token);
    let status = status_url(&trusting);
    let agent = agent();
    let box_status = || get_json(&agent, &status, None).unwrap_or(Value::Null);
    wait_for("the box live through the https hub (wss control, WHIP over TLS)", Duration::from_secs(60), || {
        let s = box_status();
        (s["state"] == "live" && s["control"] == "connected").then_some(())
    });
    trusting.wait_line("hub accepted the offer", Duration::from_secs(5));
    // The hub heard the box's telemetry over the TLS control channel.
    let teacher = mint(dir.path(), "teacher");
    wait_for("the hub sees the box live", Duration::from_secs(30), || {
        let url = format!("http://127.0.0.1:{port}/api/rooms/{ROOM}/device");
        let v = get_json(&agent, &url, Some(&teacher))?;
        (v["telemetry"]["state"] == "live").then_some(())
    });
}
