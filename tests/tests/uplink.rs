//! A classroom box that follows its uplink, live against a real hub on loopback: the adaptation
//! runs for the lesson, reads the hub's reports and, on a clean link, keeps the configured rates.
//! (What it does on a congested uplink is measured on the network test bed: docs/network.md.)

use std::time::Duration;

use lectern_e2e::{Proc, agent, free_port, mint, start_hub, status_url, virtual_box, wait_for};

#[test]
fn a_live_box_adapts_within_its_configured_bounds_and_keeps_them_on_a_clean_link() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _hub = start_hub(dir.path(), port);
    let token = mint(dir.path(), "uplink", "device");
    let state = dir.path().join("appliance");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(
        state.join("appliance.toml"),
        "[video]\nwidth = 640\nheight = 360\nbitrate_kbps = 400\nmin_bitrate_kbps = 150\nencoders = [\"x264enc\"]\n\n\
         [[video.simulcast]]\nwidth = 320\nheight = 180\nbitrate_kbps = 120\n",
    )
    .unwrap();
    let appliance = Proc::spawn(virtual_box(&format!("http://127.0.0.1:{port}"), "uplink", &token, &state));
    let status = status_url(&appliance);
    let agent = agent();
    // The hub reports every few seconds (every 5 s for the box's streams).
    let uplink = wait_for("the box reading the hub's reports", Duration::from_secs(90), || {
        let mut r = agent.get(&status).call().ok()?;
        let v: serde_json::Value = serde_json::from_str(&r.body_mut().read_to_string().ok()?).ok()?;
        let uplink = v.get("uplink")?.clone();
        (v.get("state")?.as_str()? == "live" && uplink.get("reports")?.as_u64()? >= 2).then_some(uplink)
    });
    assert_eq!(uplink["enabled"], true, "{uplink}");
    // Main picture 150..=400, the 320x180 layer 50..=120 (a quarter of it, never under 50).
    assert_eq!((uplink["min_kbps"].as_u64(), uplink["max_kbps"].as_u64()), (Some(200), Some(520)), "{uplink}");
    assert_eq!(uplink["adapting"], false, "loopback loses nothing: {uplink}");
    assert_eq!(uplink["layers_kbps"], serde_json::json!([400, 120]), "{uplink}");
    assert_eq!(uplink["reason"], "clean", "{uplink}");
}
