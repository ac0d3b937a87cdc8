//! A classroom box configured with a simulcast layer goes live against a real hub, and the hub
//! receives both layers of its camera, each under its own RID.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

use lectern_e2e::{Proc, agent, bin, free_port, start_hub, status_url, wait_for};

#[test]
fn two_layer_box_goes_live_and_the_hub_receives_both_layers() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let hub = start_hub(dir.path(), port);
    let out = Command::new(bin("lectern-hub"))
        .args(["token", "--room", "simulcast", "--role", "device", "--name", "Room", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let token = String::from_utf8(out.stdout).unwrap().lines().last().unwrap().trim().to_owned();
    let state = dir.path().join("appliance");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(
        state.join("appliance.toml"),
        "[video]\nwidth = 640\nheight = 360\nbitrate_kbps = 400\nencoders = [\"x264enc\"]\n\n\
         [[video.simulcast]]\nwidth = 320\nheight = 180\nbitrate_kbps = 120\n",
    )
    .unwrap();
    let mut cmd = Command::new(bin("lectern-appliance"));
    cmd.args(["--virtual", "--hub", &format!("http://127.0.0.1:{port}"), "--room", "simulcast"])
        .args(["--status-listen", "127.0.0.1:0", "--state-dir"])
        .arg(&state)
        .arg("--config")
        .arg(&state)
        .arg("--vendor-config-dir")
        .arg(&state)
        .env("LECTERN_TOKEN", &token);
    let appliance = Proc::spawn(cmd);
    let status = status_url(&appliance);
    let agent = agent();
    let live = wait_for("appliance live", Duration::from_secs(60), || {
        let mut r = agent.get(&status).call().ok()?;
        let v: serde_json::Value = serde_json::from_str(&r.body_mut().read_to_string().ok()?).ok()?;
        (v.get("state")?.as_str()? == "live").then_some(v)
    });
    assert_eq!(
        live["simulcast"],
        serde_json::json!(["f 640x360 400 kbit/s", "h 320x180 120 kbit/s"]),
        "the status lists the published layers"
    );

    let mut rids = BTreeSet::new();
    let end = Instant::now() + Duration::from_secs(30);
    while rids.len() < 2 {
        let line = hub
            .lines
            .recv_timeout(end.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("the hub saw only the layers {rids:?}"));
        if let Some(rid) = line.split("simulcast layer arriving rid=").nth(1) {
            rids.insert(rid.split_whitespace().next().unwrap_or_default().to_owned());
        }
    }
    assert_eq!(rids, BTreeSet::from(["f".to_owned(), "h".to_owned()]));
}
