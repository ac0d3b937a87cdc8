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
    // Windows are local times of the hub's zone: UTC here, so the test can pick a closed one.
    std::fs::write(&config, format!("zone = \"UTC\"\n[ota]\nkeyring = \"{}\"\n", keyring.display())).unwrap();
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

/// A hub with the development keyring, an admin logged in, a room in `West` that may reboot at any
/// time, and a signed bundle of `VERSION` uploaded.
struct Bed {
    dir: tempfile::TempDir,
    port: u16,
    base: String,
    hub: Proc,
    admin: Admin,
    keys: PathBuf,
    bundle: PathBuf,
    release: Value,
}

fn bed() -> Bed {
    require("rauc");
    require("mksquashfs");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let keys = d.join("keys");
    script("ota-dev-key.sh", &[keys.to_str().unwrap()]);
    // 4 MiB: far past the hub's default body limit, which the upload route lifts for its own.
    let bundle = d.join("good.raucb");
    script("ota-bundle.sh", &[keys.to_str().unwrap(), VERSION, bundle.to_str().unwrap(), "lectern-virtual", "4096"]);
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let hub = start_hub(d, port, &keys.join("ca.cert.pem"));
    let admin = login(&hub, &base);
    let (s, release) = admin.upload(&bundle, VERSION);
    assert_eq!(s, 201, "{release}");
    let room = json!({ "id": ROOM, "name": "OTA lab", "building": "West", "capacity": 10 });
    let (s, v) = admin.send("POST", "/rooms", Some(room));
    assert_eq!(s, 201, "{v}");
    let (s, v) =
        admin.send("PUT", "/release-windows", Some(json!({ "building": "West", "start": "00:00", "end": "00:00" })));
    assert_eq!(s, 200, "{v}");
    Bed { dir, port, base, hub, admin, keys, bundle, release }
}

impl Bed {
    /// The virtual box's command: its own files name the fake installer and the keyring; its
    /// credential (after enrollment) is in its state dir.
    fn box_command(&self) -> Command {
        let d = self.dir.path();
        let config = d.join("box-etc");
        std::fs::create_dir_all(&config).unwrap();
        let keyring = self.keys.join("ca.cert.pem");
        std::fs::write(
            config.join("appliance.toml"),
            format!("[update]\ninstaller = \"fake\"\nkeyring = \"{}\"\n", keyring.display()),
        )
        .unwrap();
        let mut cmd = Command::new(bin("lectern-appliance"));
        cmd.args(["--virtual", "--hub", &self.base, "--status-listen", "127.0.0.1:0"])
            .arg("--state-dir")
            .arg(self.state())
            .arg("--config")
            .arg(&config)
            .arg("--vendor-config-dir")
            .arg(d.join("vendor"))
            .env("NO_COLOR", "1")
            .env_remove("LECTERN_ROOM")
            .env_remove("LECTERN_TOKEN")
            .env_remove("LECTERN_HUB");
        cmd
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("box")
    }

    /// Starts the box, enrolls it with its claim code, and waits until the hub sees what it runs.
    fn enrolled_box(&self) -> (Proc, String) {
        let appliance = Proc::spawn(self.box_command());
        let line = appliance.wait_line("claim_code=", Duration::from_secs(60));
        let code =
            line.split("claim_code=").nth(1).and_then(|s| s.split_whitespace().next()).expect("a code").to_owned();
        let enroll = json!({ "code": code, "room": ROOM, "name": "OTA box" });
        let (s, device) = self.admin.send("POST", "/devices/enroll", Some(enroll));
        assert_eq!(s, 201, "{device}");
        wait_for("the enrolled box online", Duration::from_secs(60), || {
            let (_, rows) = self.admin.send("GET", "/devices", None);
            rows.as_array()?.iter().find(|r| r["room"] == ROOM && r["software"]["installer"] == "fake").cloned()
        });
        (appliance, device["id"].as_str().expect("an id").to_owned())
    }

    fn start_rollout(&self, device: &str) -> Value {
        let rings = json!({ "rings": [{ "devices": [device] }, { "everyone": true }], "maxFailurePercent": 0 });
        let (s, rollout) = self.admin.send("POST", &format!("/releases/{}/rollouts", self.release["id"]), Some(rings));
        assert_eq!(s, 201, "{rollout}");
        rollout
    }

    fn rollout(&self, id: &Value) -> Value {
        self.admin.send("GET", &format!("/rollouts/{id}"), None).1
    }

    fn slots(&self) -> Value {
        serde_json::from_str(&std::fs::read_to_string(self.state().join("update/fake-slots.json")).unwrap()).unwrap()
    }
}

#[test]
fn the_hub_refuses_a_tampered_bundle_a_foreign_signature_and_a_wrong_version() {
    let bed = bed();
    let d = bed.dir.path();
    let (s, v) = bed.admin.send("GET", "/releases", None);
    assert_eq!(s, 200);
    assert_eq!(v["signing"]["available"], true, "{v}");
    assert_eq!(bed.release["signature"], "verified");
    assert_eq!(bed.release["size"], std::fs::metadata(&bed.bundle).unwrap().len());
    // A byte of the payload changed after signing: `rauc info` alone would not see it (verity).
    let fresh = d.join("fresh.raucb");
    script("ota-bundle.sh", &[bed.keys.to_str().unwrap(), "9.9.5", fresh.to_str().unwrap()]);
    let tampered = d.join("tampered.raucb");
    flip_byte(&fresh, &tampered, 20_000);
    let (s, v) = bed.admin.upload(&tampered, "9.9.5");
    assert_eq!(s, 400, "a tampered bundle is refused: {v}");
    assert!(v["detail"].as_str().is_some_and(|d| d.starts_with("bundle:") && d.contains("corrupted")), "{v}");
    let other_keys = d.join("other-keys");
    script("ota-dev-key.sh", &[other_keys.to_str().unwrap()]);
    let foreign = d.join("foreign.raucb");
    script("ota-bundle.sh", &[other_keys.to_str().unwrap(), "9.9.6", foreign.to_str().unwrap()]);
    let (s, v) = bed.admin.upload(&foreign, "9.9.6");
    assert_eq!(s, 400, "a bundle signed by another key is refused: {v}");
    assert!(v["detail"].as_str().is_some_and(|d| d.contains("issuer")), "{v}");
    let again = d.join("again.raucb");
    script("ota-bundle.sh", &[bed.keys.to_str().unwrap(), "9.9.7", again.to_str().unwrap()]);
    let (s, v) = bed.admin.upload(&again, "9.9.8");
    assert_eq!(s, 400, "the version must be the manifest's: {v}");
    let (_, audit) = bed.admin.send("GET", "/audit", None);
    let refused = audit.as_array().unwrap().iter().filter(|r| r["action"] == "release.refused").count();
    assert_eq!(refused, 3);
}

#[test]
fn a_signed_release_rolls_out_to_a_virtual_box_that_reports_every_step_until_good() {
    let bed = bed();
    let (appliance, device) = bed.enrolled_box();

    // A bundle is fetched with the room's device token, resumable.
    let credential: Value =
        serde_json::from_str(&std::fs::read_to_string(bed.state().join("device-credential.json")).unwrap()).unwrap();
    let token = credential["token"].as_str().expect("a token");
    let url = format!("{}/device/{ROOM}/releases/{}/bundle", bed.base, bed.release["id"]);
    let agent = &bed.admin.agent;
    let mut r = agent
        .get(&url)
        .header("Authorization", &format!("Bearer {token}"))
        .header("Range", "bytes=1000-")
        .call()
        .unwrap();
    assert_eq!(r.status(), 206);
    let size = std::fs::metadata(&bed.bundle).unwrap().len();
    let range = r.headers().get("content-range").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert_eq!(range, format!("bytes 1000-{}/{size}", size - 1));
    let tail = r.body_mut().with_config().limit(1 << 30).read_to_vec().unwrap();
    assert_eq!(tail, std::fs::read(&bed.bundle).unwrap()[1000..]);
    assert_eq!(agent.get(&url).call().unwrap().status(), 401, "without a token");

    // Ring 1: this box. It must end good, having restarted into the new release.
    let rollout = bed.start_rollout(&device);
    let done = wait_for("the rollout done with the box good", Duration::from_secs(120), || {
        let v = bed.rollout(&rollout["id"]);
        (v["state"]["state"] == "done").then_some(v)
    });
    assert_eq!(done["boxes"][0]["phase"], "good", "{done}");
    let slots = bed.slots();
    assert_eq!(slots["booted"], 1, "the other slot booted: {slots}");
    assert_eq!(slots["versions"][1], VERSION);
    // The fleet view shows what it runs now.
    wait_for("the fleet view showing the new release", Duration::from_secs(30), || {
        let (_, rows) = bed.admin.send("GET", "/devices", None);
        rows.as_array()?
            .iter()
            .find(|r| r["room"] == ROOM && r["software"]["release"] == VERSION && r["update"]["phase"] == "good")
            .cloned()
    });
    let (_, audit) = bed.admin.send("GET", "/audit", None);
    let actions: Vec<&str> = audit.as_array().unwrap().iter().filter_map(|r| r["action"].as_str()).collect();
    for action in ["release.upload", "release.window", "rollout.start", "rollout.done"] {
        assert!(actions.contains(&action), "{action} audited: {actions:?}");
    }
    drop(appliance);
}

#[test]
fn a_release_that_never_comes_up_is_rolled_back_after_three_boots_and_pauses_the_rollout() {
    let mut bed = bed();
    let (appliance, device) = bed.enrolled_box();
    // West may reboot only in a minute twelve hours from now: the box installs and waits.
    let now_min = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() / 60 % 1440;
    let (start, end) = ((now_min + 720) % 1440, (now_min + 721) % 1440);
    let hhmm = |m: u64| format!("{:02}:{:02}", m / 60, m % 60);
    let window = json!({ "building": "West", "start": hhmm(start), "end": hhmm(end) });
    let (s, v) = bed.admin.send("PUT", "/release-windows", Some(window));
    assert_eq!(s, 200, "{v}");
    let rollout = bed.start_rollout(&device);
    wait_for("the box installed and waiting for its window", Duration::from_secs(60), || {
        let v = bed.rollout(&rollout["id"]);
        let b = &v["boxes"][0];
        (b["phase"] == "waitingToReboot" && b["detail"].as_str().is_some_and(|d| d.contains("window"))).then_some(())
    });
    // The hub goes away, then the power: the box comes up in the slot `install` made the next
    // boot's, and this release never reaches its hub (never healthy, never live). Each start of
    // it is counted first thing; then it "crashes" again.
    bed.hub.kill();
    let mut appliance = appliance;
    for _ in 0..3 {
        appliance.kill();
        appliance = Proc::spawn(bed.box_command());
        appliance.wait_line("update agent started", Duration::from_secs(30));
        appliance.wait_line("trial", Duration::from_secs(30));
        assert_eq!(bed.slots()["booted"], 1, "running the new release");
    }
    // The fourth start finds three failed boots: it marks the slot bad and reboots into the old one.
    appliance.kill();
    appliance = Proc::spawn(bed.box_command());
    appliance.wait_line("update agent started", Duration::from_secs(30));
    appliance.wait_line("update agent started", Duration::from_secs(30));
    let slots = bed.slots();
    assert_eq!(slots["booted"], 0, "back on the first slot: {slots}");
    let record: Value =
        serde_json::from_str(&std::fs::read_to_string(bed.state().join("update/update.json")).unwrap()).unwrap();
    assert_eq!(record["stage"]["stage"], "rolledBack", "{record}");
    // The hub comes back: it hears the rollback, and the rollout pauses before everyone else.
    bed.hub = start_hub(bed.dir.path(), bed.port, &bed.keys.join("ca.cert.pem"));
    bed.hub.wait_line("listening on", Duration::from_secs(30));
    let paused = wait_for("the rollout paused", Duration::from_secs(60), || {
        let v = bed.rollout(&rollout["id"]);
        (v["state"]["state"] == "paused").then_some(v)
    });
    assert_eq!(paused["boxes"][0]["phase"], "rolledBack", "{paused}");
    assert!(paused["state"]["reason"].as_str().is_some_and(|r| r.contains("1 of 1")), "{paused}");
    let (_, audit) = bed.admin.send("GET", "/audit", None);
    assert!(
        audit.as_array().unwrap().iter().any(|r| r["action"] == "rollout.paused" && r["actor"] == "hub"),
        "{audit}"
    );
    drop(appliance);
}

#[test]
fn a_box_without_an_update_agent_reports_what_it_runs() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let _hub = lectern_e2e::start_hub(dir.path(), port);
    let room = "lab-apt";
    let mut cmd = Command::new(bin("lectern-appliance"));
    cmd.args(["--virtual", "--hub", &base, "--room", room, "--status-listen", "127.0.0.1:0"])
        .args(["--token", &lectern_e2e::mint(dir.path(), room, "device")])
        .arg("--state-dir")
        .arg(dir.path().join("box"))
        .arg("--config")
        .arg(dir.path().join("etc"))
        .arg("--vendor-config-dir")
        .arg(dir.path().join("vendor"));
    let _appliance = Proc::spawn(cmd);
    let teacher = lectern_e2e::mint(dir.path(), room, "teacher");
    let agent = lectern_e2e::agent();
    let view = wait_for("the hub to hear what the box runs", Duration::from_secs(60), || {
        let v = lectern_e2e::get_json(&agent, &format!("{base}/api/rooms/{room}/device"), Some(&teacher))?;
        v["software"].is_object().then_some(v)
    });
    // This machine has no lectern-* Debian packages installed; a Debian box lists them (dpkg-query).
    let installer = view["software"]["installer"].as_str().unwrap_or_default();
    assert!(["none", "debian"].contains(&installer), "{view}");
    assert_eq!(installer == "debian", view["software"]["packages"].as_array().is_some_and(|p| !p.is_empty()), "{view}");
}
