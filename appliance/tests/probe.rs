//! `lectern-appliance probe` on this machine: no camera, no microphone, no GPU, still valid JSON.

use std::process::Command;

#[test]
fn probe_prints_devices_and_encoders_as_json() {
    let output = Command::new(env!("CARGO_BIN_EXE_lectern-appliance")).arg("probe").output().expect("runs");
    assert!(output.status.success(), "probe failed: {}", String::from_utf8_lossy(&output.stderr));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("stdout is JSON");
    for list in ["cameras", "microphones", "speakers", "encoders", "ladder"] {
        assert!(json[list].is_array(), "{list} is a list: {json}");
    }
    let encoders = json["encoders"].as_array().expect("list");
    assert!(encoders.iter().any(|e| e["name"] == "x264enc" && e["hardware"] == false), "{encoders:?}");
    let ladder = json["ladder"].as_array().expect("list");
    let rung = |name: &str| ladder.iter().find(|r| r["encoder"] == name).map(|r| r["status"].clone());
    assert_eq!(rung("x264enc"), Some("works".into()));
    assert_eq!(rung("v4l2h264enc"), Some("not installed".into()), "no encoder device on this machine");
}
