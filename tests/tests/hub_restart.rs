//! The hub restarts during a lesson: the classroom box is live again on its own, without a
//! restart of its own, within 10 s of the hub listening again.

use std::process::Command;
use std::time::{Duration, Instant};

use lectern_e2e::{Proc, agent, bin, free_port, start_hub, status_url, wait_for};

fn appliance_state(agent: &ureq::Agent, status: &str) -> Option<String> {
    let mut r = agent.get(status).call().ok()?;
    let v: serde_json::Value = serde_json::from_str(&r.body_mut().read_to_string().ok()?).ok()?;
    v.get("state").and_then(|s| s.as_str()).map(str::to_owned)
}

#[test]
fn appliance_is_live_again_within_10_s_of_a_hub_restart() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut hub = start_hub(dir.path(), port);
    let out = std::process::Command::new(bin("lectern-hub"))
        .args(["token", "--room", "restart", "--role", "device", "--name", "Room", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let token = String::from_utf8(out.stdout).unwrap().lines().last().unwrap().trim().to_owned();
    let state = dir.path().join("appliance");
    let mut cmd = Command::new(bin("lectern-appliance"));
    cmd.args([
        "--virtual",
        "--hub",
        &format!("http://127.0.0.1:{port}"),
        "--room",
        "restart",
        "--status-listen",
        "127.0.0.1:0",
    ])
    .arg("--state-dir")
    .arg(&state)
    .arg("--config")
    .arg(&state)
    .arg("--vendor-config-dir")
    .arg(&state)
    .env("LECTERN_TOKEN", &token);
    let appliance = Proc::spawn(cmd);
    let status = status_url(&appliance);
    let agent = agent();

    wait_for("appliance live", Duration::from_secs(60), || {
        (appliance_state(&agent, &status).as_deref() == Some("live")).then_some(())
    });

    hub.kill();
    wait_for("appliance notices the hub is gone", Duration::from_secs(30), || {
        (appliance_state(&agent, &status).as_deref() != Some("live")).then_some(())
    });

    let _hub = start_hub(dir.path(), port);
    let listening = Instant::now();
    wait_for("appliance live again", Duration::from_secs(10), || {
        (appliance_state(&agent, &status).as_deref() == Some("live")).then_some(())
    });
    println!("recovered-after-hub-listening-ms {}", listening.elapsed().as_millis());
}
