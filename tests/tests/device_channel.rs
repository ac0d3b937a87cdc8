//! A classroom box started from its configuration idles on the hub's control channel with the
//! camera closed, goes live when a teacher starts the lesson and closes the camera again at its end.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use lectern_e2e::{Proc, agent, bin, free_port, get_json, start_hub, status_url, wait_for};
use serde_json::Value;

const ROOM: &str = "lab-7";

fn mint(dir: &Path, role: &str) -> String {
    lectern_e2e::mint(dir, ROOM, role)
}

fn post(agent: &ureq::Agent, url: &str, bearer: &str) -> u16 {
    let resp = agent.post(url).header("Authorization", &format!("Bearer {bearer}")).send_empty().expect("hub answers");
    resp.status().as_u16()
}

#[test]
fn box_idles_until_the_lesson_starts_and_closes_the_camera_at_its_end() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let hub_url = format!("http://127.0.0.1:{port}");
    let _hub = start_hub(dir.path(), port);

    // The box's own files, as in a classroom: no room or token on the command line.
    let config = dir.path().join("etc");
    std::fs::create_dir_all(&config).unwrap();
    let token_file = config.join("token");
    std::fs::write(&token_file, mint(dir.path(), "device")).unwrap();
    std::fs::write(
        config.join("appliance.toml"),
        format!("[hub]\nurl = \"{hub_url}\"\nroom = \"{ROOM}\"\ntoken_file = \"{}\"\n", token_file.display()),
    )
    .unwrap();
    let state = dir.path().join("state");
    let mut cmd = Command::new(bin("lectern-appliance"));
    cmd.arg("--virtual")
        .args(["--status-listen", "127.0.0.1:0"])
        .arg("--config")
        .arg(&config)
        .arg("--state-dir")
        .arg(&state)
        .arg("--vendor-config-dir")
        .arg(dir.path().join("vendor"))
        .env_remove("LECTERN_ROOM")
        .env_remove("LECTERN_TOKEN")
        .env_remove("LECTERN_HUB");
    let appliance = Proc::spawn(cmd);
    let status = status_url(&appliance);
    let agent = agent();
    let teacher = mint(dir.path(), "teacher");
    let device_view = format!("{hub_url}/api/rooms/{ROOM}/device");
    let box_status = || get_json(&agent, &status, None).unwrap_or(Value::Null);
    let hub_sees = |state: &str| {
        get_json(&agent, &device_view, Some(&teacher))
            .is_some_and(|v| v["telemetry"]["state"] == state && v["version"].is_string())
    };

    wait_for("box idle on the control channel", Duration::from_secs(30), || {
        let s = box_status();
        (s["state"] == "idle" && s["control"] == "connected").then_some(())
    });
    assert_eq!(box_status()["camera_open"], false, "no pipeline while idle");
    wait_for("hub sees the box idle", Duration::from_secs(15), || hub_sees("idle").then_some(()));

    assert_eq!(post(&agent, &format!("{hub_url}/api/rooms/{ROOM}/live"), &teacher), 202);
    wait_for("box live after goLive", Duration::from_secs(30), || {
        let s = box_status();
        (s["state"] == "live" && s["camera_open"] == true).then_some(())
    });
    wait_for("hub sees the box live", Duration::from_secs(15), || hub_sees("live").then_some(()));
    // The hub's RTCP receiver reports come back as the box's packet loss (none on loopback).
    wait_for("packet loss in the box's telemetry", Duration::from_secs(30), || {
        let v = get_json(&agent, &device_view, Some(&teacher))?;
        let loss = v["telemetry"]["packetLossPercent"].as_f64()?;
        (0.0..=100.0).contains(&loss).then_some(())
    });

    assert_eq!(post(&agent, &format!("{hub_url}/api/rooms/{ROOM}/end"), &teacher), 202);
    wait_for("box idle with the camera closed after end", Duration::from_secs(15), || {
        let s = box_status();
        (s["state"] == "idle" && s["camera_open"] == false && s["return_feed"]["state"] == "off").then_some(())
    });
    wait_for("hub sees the box idle again", Duration::from_secs(15), || hub_sees("idle").then_some(()));
}
