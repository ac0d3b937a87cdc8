//! The hub restarts during a lesson: the classroom box is live again on its own, without a
//! restart of its own, soon after the hub listens again. The target is 10 s: the test prints the
//! figure and waits 3× that (a loaded CI machine is not a measurement).

use std::time::{Duration, Instant};

use lectern_e2e::{Proc, agent, appliance_state, free_port, mint, start_hub, status_url, virtual_box, wait_for};

#[test]
fn appliance_is_live_again_within_10_s_of_a_hub_restart() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut hub = start_hub(dir.path(), port);
    let token = mint(dir.path(), "restart", "device");
    let state = dir.path().join("appliance");
    let appliance = Proc::spawn(virtual_box(&format!("http://127.0.0.1:{port}"), "restart", &token, &state));
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
    wait_for("appliance live again", Duration::from_secs(30), || {
        (appliance_state(&agent, &status).as_deref() == Some("live")).then_some(())
    });
    println!("recovered-after-hub-listening-ms {}", listening.elapsed().as_millis());
}
