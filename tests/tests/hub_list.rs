//! `hub.url` as a list (issue 20): a classroom box whose first hub is dead publishes to the next
//! one, and when the hub it uses goes away it moves on to another of its list.

use std::time::Duration;

use lectern_e2e::{Proc, agent, appliance_state, free_port, mint, start_hub, status_url, virtual_box, wait_for};

#[test]
fn a_box_skips_a_dead_hub_of_its_list_and_moves_on_when_its_hub_dies() {
    // Two hubs sharing the token secret (one data dir's secret copied), each with its own store:
    // no cluster is needed to show the box's side of the list.
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (dead, port_a, port_b) = (free_port(), free_port(), free_port());
    let mut hub_a = start_hub(dir_a.path(), port_a);
    let token = mint(dir_a.path(), "list", "device");
    std::fs::copy(dir_a.path().join("secret"), dir_b.path().join("secret")).expect("hub a's secret");
    let hub_b = start_hub(dir_b.path(), port_b);

    let state = dir_a.path().join("appliance");
    let hubs = format!("http://127.0.0.1:{dead},http://127.0.0.1:{port_a},http://127.0.0.1:{port_b}");
    let appliance = Proc::spawn(virtual_box(&hubs, "list", &token, &state));
    let status = status_url(&appliance);
    let agent = agent();

    wait_for("the box live through the second hub of its list", Duration::from_secs(60), || {
        (appliance_state(&agent, &status).as_deref() == Some("live")).then_some(())
    });

    // Killing hub a takes the box off the air: it was publishing there, not to b (and not to the
    // dead first entry, where nothing listens).
    hub_a.kill();
    wait_for("the box notices its hub is gone", Duration::from_secs(30), || {
        (appliance_state(&agent, &status).as_deref() != Some("live")).then_some(())
    });
    // Only hub b is left: live again means the box moved down its list.
    wait_for("the box live again through the third hub", Duration::from_secs(60), || {
        (appliance_state(&agent, &status).as_deref() == Some("live")).then_some(())
    });
    drop(hub_b);
}
