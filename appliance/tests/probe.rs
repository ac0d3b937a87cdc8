//! `lectern-appliance probe` on whatever machine runs it: valid JSON, and a ladder that agrees with
//! the registry (what each rung says on a given board is `probe`'s unit tests' business).

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
    // Every box installs x264 (the software rung), and it encodes anywhere.
    assert_eq!(rung("x264enc"), Some("works".into()));
    lectern_appliance::media::init().expect("GStreamer");
    for r in ladder {
        let name = r["encoder"].as_str().expect("a name");
        let installed = gstreamer::ElementFactory::find(name).is_some();
        assert_eq!(r["status"] == "not installed", !installed, "{name}: {r}");
    }
}
