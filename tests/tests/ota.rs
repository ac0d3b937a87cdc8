//! Over-the-air updates with the real parts (`docs/ota.md`): Debian's `rauc` makes a signed
//! bundle with a key from `scripts/ota-dev-key.sh`; the real hub binary checks it with
//! `rauc info --keyring` (and refuses a tampered one and one signed by another key), rolls it out
//! to a virtual box enrolled with its claim code, and the box (the stated `FakeInstaller`)
//! downloads, verifies, installs, "reboots" (restarts itself in place), passes its health check
//! and reports every step until the rollout is done. Needs `rauc` and `squashfs-tools`
//! (`scripts/deps.sh --test`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use lectern_e2e::{Proc, bin, free_port, wait_for};
use serde_json::{Value, json};

const ROOM: &str = "lab-ota";
const VERSION: &str = "9.9.0";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the repository").to_owned()
}

fn script(name: &str, args: &[&str]) {
    let out = Command::new(repo().join("scripts").join(name)).args(args).output().expect("script runs");
    assert!(out.status.success(), "{name} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn require(program: &str) {
    let found =
        Command::new("sh").args(["-c", &format!("command -v {program}")]).output().is_ok_and(|o| o.status.success());
    assert!(found, "{program} is missing: install it with scripts/deps.sh --test (Debian's rauc and squashfs-tools)");
}

/// An admin session against the real hub: cookie and CSRF token.
struct Admin {
    agent: ureq::Agent,
    base: String,
    cookie: String,
    csrf: String,
}

impl Admin {
    fn send(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}/admin/api{path}", self.base);
        let req = ureq::http::Request::builder()
            .method(method)
            .uri(&url)
            .header("Cookie", &self.cookie)
            .header("X-CSRF-Token", &self.csrf)
            .header("Content-Type", "application/json");
        let req = req.body(body.map(|b| b.to_string()).unwrap_or_default()).expect("a request");
        let mut resp = self.agent.run(req).expect("the hub answers");
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    fn upload(&self, bundle: &Path, version: &str) -> (u16, Value) {
        let url = format!("{}/admin/api/releases?version={version}&notes=From+the+e2e+test", self.base);
        let bytes = std::fs::read(bundle).expect("the bundle");
        let mut resp = self
            .agent
            .post(&url)
            .header("Cookie", &self.cookie)
            .header("X-CSRF-Token", &self.csrf)
            .header("Content-Type", "application/octet-stream")
            .send(&bytes[..])
            .expect("the hub answers");
        let status = resp.status().as_u16();
        (status, serde_json::from_str(&resp.body_mut().read_to_string().unwrap_or_default()).unwrap_or(Value::Null))
    }
}

fn start_hub(dir: &Path, port: u16, keyring: &Path) -> Proc {
    let config = dir.join("hub.toml");
    std::fs::write(&config, format!("[ota]\nkeyring = \"{}\"\n", keyring.display())).unwrap();
    let mut cmd = Command::new(bin("lectern-hub"));
    cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.join("hub"))
        .env("LECTERN_UDP_PORT", "0")
        .env("LECTERN_BIND_IP", "127.0.0.1")
        .env("LECTERN_SHARDS", "1");
    Proc::spawn(cmd)
}

fn login(hub: &Proc, base: &str) -> Admin {
    let line = hub.wait_line("first-run admin setup: the link is in", Duration::from_secs(30));
    let path = line.split("the link is in ").nth(1).and_then(|s| s.split_whitespace().next()).expect("a path");
    let link = std::fs::read_to_string(path).expect("the setup link");
    let code = link.trim().split("code=").nth(1).expect("a setup code").to_owned();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let creds = json!({ "username": "ota-admin", "password": "a long admin password" });
    let mut setup = creds.clone();
    setup["code"] = json!(code);
    let r = agent
        .post(&format!("{base}/admin/api/setup"))
        .header("Content-Type", "application/json")
        .send(setup.to_string())
        .expect("setup");
    assert_eq!(r.status(), 201);
    let mut r = agent
        .post(&format!("{base}/admin/api/login"))
        .header("Content-Type", "application/json")
        .send(creds.to_string())
        .expect("login");
    assert_eq!(r.status(), 200);
    let cookie = r.headers().get("set-cookie").and_then(|v| v.to_str().ok()).expect("a cookie");
    let cookie = cookie.split(';').next().unwrap_or_default().to_owned();
    let me: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    Admin { agent, base: base.to_owned(), cookie, csrf: me["csrfToken"].as_str().expect("csrf").to_owned() }
}

fn flip_byte(from: &Path, to: &Path, at: usize) {
    let mut bytes = std::fs::read(from).unwrap();
    bytes[at] ^= 0x55;
    std::fs::write(to, bytes).unwrap();
}

#[test]
fn a_signed_release_rolls_out_to_a_virtual_box_that_reports_every_step_until_good() {
    require("rauc");
    require("mksquashfs");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (keys, other_keys) = (d.join("keys"), d.join("other-keys"));
    script("ota-dev-key.sh", &[keys.to_str().unwrap()]);
    script("ota-dev-key.sh", &[other_keys.to_str().unwrap()]);
    let bundle = d.join("good.raucb");
    script("ota-bundle.sh", &[keys.to_str().unwrap(), VERSION, bundle.to_str().unwrap()]);
    let foreign = d.join("foreign.raucb");
    script("ota-bundle.sh", &[other_keys.to_str().unwrap(), VERSION, foreign.to_str().unwrap()]);
    // A byte of the payload changed after signing: `rauc info` alone would not see it (verity).
    let tampered = d.join("tampered.raucb");
    flip_byte(&bundle, &tampered, 20_000);

    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let hub = start_hub(d, port, &keys.join("ca.cert.pem"));
    let admin = login(&hub, &base);
    let (s, v) = admin.send("GET", "/releases", None);
    assert_eq!(s, 200);
    assert_eq!(v["signing"]["available"], true, "{v}");

    let (s, v) = admin.upload(&tampered, VERSION);
    assert_eq!(s, 400, "a tampered bundle is refused: {v}");
    assert!(v["detail"].as_str().is_some_and(|d| d.starts_with("bundle:")), "{v}");
    let (s, v) = admin.upload(&foreign, VERSION);
    assert_eq!(s, 400, "a bundle signed by another key is refused: {v}");
    let (s, v) = admin.upload(&bundle, "9.9.1");
    assert_eq!(s, 400, "the version must be the manifest's: {v}");
    let (s, release) = admin.upload(&bundle, VERSION);
    assert_eq!(s, 201, "{release}");
    assert_eq!(release["signature"], "verified");
    assert_eq!(release["size"], std::fs::metadata(&bundle).unwrap().len());

    // A room whose boxes may reboot at any time, and a virtual box enrolled into it.
    let (s, v) = admin.send(
        "POST",
        "/rooms",
        Some(json!({ "id": ROOM, "name": "OTA lab", "building": "West", "capacity": 10 })),
    );
    assert_eq!(s, 201, "{v}");
    let (s, v) =
        admin.send("PUT", "/release-windows", Some(json!({ "building": "West", "start": "00:00", "end": "00:00" })));
    assert_eq!(s, 200, "{v}");
    let state = d.join("box");
    let config = d.join("box-etc");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(
        config.join("appliance.toml"),
        format!("[update]\ninstaller = \"fake\"\nkeyring = \"{}\"\n", keys.join("ca.cert.pem").display()),
    )
    .unwrap();
    let mut cmd = Command::new(bin("lectern-appliance"));
    cmd.args(["--virtual", "--hub", &base, "--status-listen", "127.0.0.1:0"])
        .arg("--state-dir")
        .arg(&state)
        .arg("--config")
        .arg(&config)
        .arg("--vendor-config-dir")
        .arg(d.join("vendor"))
        .env("NO_COLOR", "1")
        .env_remove("LECTERN_ROOM")
        .env_remove("LECTERN_TOKEN")
        .env_remove("LECTERN_HUB");
    let appliance = Proc::spawn(cmd);
    let line = appliance.wait_line("claim_code=", Duration::from_secs(60));
    let code = line.split("claim_code=").nth(1).and_then(|s| s.split_whitespace().next()).expect("a code").to_owned();
    let (s, device) =
        admin.send("POST", "/devices/enroll", Some(json!({ "code": code, "room": ROOM, "name": "OTA box" })));
    assert_eq!(s, 201, "{device}");
    let device_id = device["id"].as_str().expect("an id").to_owned();
    wait_for("the enrolled box online", Duration::from_secs(60), || {
        let (_, rows) = admin.send("GET", "/devices", None);
        rows.as_array()?
            .iter()
            .find(|r| r["room"] == ROOM && r["online"] == true && r["software"]["installer"] == "fake")
            .cloned()
    });

    // A bundle is fetched with the room's device token, resumable.
    let credential: Value =
        serde_json::from_str(&std::fs::read_to_string(state.join("device-credential.json")).unwrap()).unwrap();
    let token = credential["token"].as_str().expect("a token");
    let url = format!("{base}/device/{ROOM}/releases/{}/bundle", release["id"]);
    let mut r = admin
        .agent
        .get(&url)
        .header("Authorization", &format!("Bearer {token}"))
        .header("Range", "bytes=1000-")
        .call()
        .unwrap();
    assert_eq!(r.status(), 206);
    let size = std::fs::metadata(&bundle).unwrap().len();
    let range = r.headers().get("content-range").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert_eq!(range, format!("bytes 1000-{}/{size}", size - 1));
    let tail = r.body_mut().with_config().limit(1 << 30).read_to_vec().unwrap();
    assert_eq!(tail, std::fs::read(&bundle).unwrap()[1000..]);
    let r = admin.agent.get(&url).call().unwrap();
    assert_eq!(r.status(), 401, "without a token");

    // Ring 1: this box. It must end good, having restarted into the new release.
    let (s, rollout) = admin.send(
        "POST",
        &format!("/releases/{}/rollouts", release["id"]),
        Some(json!({ "rings": [{ "devices": [device_id] }, { "everyone": true }], "maxFailurePercent": 0 })),
    );
    assert_eq!(s, 201, "{rollout}");
    let done = wait_for("the rollout done with the box good", Duration::from_secs(120), || {
        let (_, v) = admin.send("GET", &format!("/rollouts/{}", rollout["id"]), None);
        (v["state"]["state"] == "done").then_some(v)
    });
    assert_eq!(done["boxes"][0]["phase"], "good", "{done}");
    let slots: Value =
        serde_json::from_str(&std::fs::read_to_string(state.join("update/fake-slots.json")).unwrap()).unwrap();
    assert_eq!(slots["booted"], 1, "the other slot booted: {slots}");
    assert_eq!(slots["versions"][1], VERSION);
    // The fleet view shows what it runs now.
    wait_for("the fleet view showing the new release", Duration::from_secs(30), || {
        let (_, rows) = admin.send("GET", "/devices", None);
        rows.as_array()?
            .iter()
            .find(|r| r["room"] == ROOM && r["software"]["release"] == VERSION && r["update"]["phase"] == "good")
            .cloned()
    });
    let (_, audit) = admin.send("GET", "/audit", None);
    let actions: Vec<&str> = audit.as_array().unwrap().iter().filter_map(|r| r["action"].as_str()).collect();
    for action in ["release.refused", "release.upload", "release.window", "rollout.start", "rollout.done"] {
        assert!(actions.contains(&action), "{action} audited: {actions:?}");
    }
    drop(appliance);
}
