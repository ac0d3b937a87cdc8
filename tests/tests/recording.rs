//! A recorded lesson end to end: the real hub (policy `always`) and a virtual box. The box's
//! publish opens the lesson, the hub tells the box on its control channel to record it, the box
//! writes the camera's H.264 and the room's Opus to MP4 under its `[recording] dir`, in a folder
//! named by the lesson id the hub lists; `POST /api/rooms/{room}/end` closes the lesson and the
//! box finishes a file that plays, and uploads it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use lectern_e2e::{Proc, agent, bin, free_port, get_json, status_url, wait_for};

const ROOM: &str = "rec-1";

fn start_hub(data_dir: &Path, port: u16) -> Proc {
    let mut cmd = Command::new(bin("lectern-hub"));
    cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(data_dir)
        .env("LECTERN_UDP_PORT", "0")
        .env("LECTERN_BIND_IP", "127.0.0.1")
        .env("LECTERN_SHARDS", "1")
        .env("LECTERN_RECORDING_DEFAULT", "always");
    let hub = Proc::spawn(cmd);
    hub.wait_line("listening on", Duration::from_secs(30));
    hub
}

/// The camera files under `dir` (any lesson folder), with their sizes.
fn camera_files(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    for lesson in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        for f in std::fs::read_dir(lesson.path()).into_iter().flatten().flatten() {
            let path = f.path();
            if path.to_string_lossy().contains("-camera-") {
                out.push((path, f.metadata().map(|m| m.len()).unwrap_or(0)));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_lesson_recorded_by_policy_is_written_by_the_box_and_closed_by_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let hub_url = format!("http://127.0.0.1:{port}");
    let _hub = start_hub(dir.path(), port);
    let config = dir.path().join("etc");
    std::fs::create_dir_all(&config).unwrap();
    let token_file = config.join("token");
    std::fs::write(&token_file, lectern_e2e::mint(dir.path(), ROOM, "device")).unwrap();
    let recordings = dir.path().join("recordings");
    std::fs::write(
        config.join("appliance.toml"),
        format!(
            "[hub]\nurl = \"{hub_url}\"\nroom = \"{ROOM}\"\ntoken_file = \"{}\"\n[recording]\ndir = \"{}\"\n",
            token_file.display(),
            recordings.display()
        ),
    )
    .unwrap();
    let mut cmd = Command::new(bin("lectern-appliance"));
    cmd.arg("--virtual")
        .args(["--status-listen", "127.0.0.1:0"])
        .arg("--config")
        .arg(&config)
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .arg("--vendor-config-dir")
        .arg(dir.path().join("vendor"))
        .env_remove("LECTERN_ROOM")
        .env_remove("LECTERN_TOKEN")
        .env_remove("LECTERN_HUB");
    let appliance = Proc::spawn(cmd);
    let status = status_url(&appliance);
    let agent = agent();
    let teacher = lectern_e2e::mint(dir.path(), ROOM, "teacher");
    let post = |what: &str| {
        let url = format!("{hub_url}/api/rooms/{ROOM}/{what}");
        agent
            .post(&url)
            .header("Authorization", &format!("Bearer {teacher}"))
            .send_empty()
            .expect("hub answers")
            .status()
            .as_u16()
    };
    wait_for("box on the control channel", Duration::from_secs(30), || {
        let s = get_json(&agent, &status, None)?;
        (s["control"] == "connected").then_some(())
    });

    assert_eq!(post("live"), 202);
    // The box's publish opened the lesson; under `always` it is recorded from its start.
    let lessons_url = format!("{hub_url}/api/rooms/{ROOM}/lessons");
    let lesson = wait_for("the lesson listed", Duration::from_secs(30), || {
        let v = get_json(&agent, &lessons_url, Some(&teacher))?;
        v[0]["id"].as_str().map(str::to_owned)
    });
    wait_for("the box writing the camera file", Duration::from_secs(60), || {
        camera_files(&recordings).iter().any(|(_, bytes)| *bytes > 100_000).then_some(())
    });
    let files = camera_files(&recordings);
    assert!(
        files.iter().all(|(p, _)| p.parent().is_some_and(|d| d.ends_with(&lesson))),
        "in the lesson's folder {lesson}: {files:?}"
    );

    wait_for("the box's status naming the lesson it records", Duration::from_secs(15), || {
        let s = get_json(&agent, &status, None)?;
        (s["recording"]["lesson"] == lesson.as_str()).then_some(())
    });

    assert_eq!(post("end"), 202);
    wait_for("the lesson closed", Duration::from_secs(15), || {
        let v = get_json(&agent, &lessons_url, Some(&teacher))?;
        v[0]["endedAt"].as_i64().map(|_| ())
    });
    // The box finished the file when the lesson ended: it plays, with both tracks.
    let first = files[0].0.clone();
    let report = wait_for("a finished, playable file", Duration::from_secs(30), || {
        let out = Command::new("gst-discoverer-1.0").arg(&first).output().ok()?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        (out.status.success() && text.contains("Duration: ") && !text.contains("Duration: 0:00:00.0")).then_some(text)
    });
    assert!(report.contains("H.264") && report.contains("Opus"), "{report}");
    // Not recording any more; its files go to the hub (`recording_upload.rs` tests that in depth)
    // and then nothing waits on the box.
    let v = wait_for("the camera file ready on the hub", Duration::from_secs(120), || {
        let v = get_json(&agent, &lessons_url, Some(&teacher))?;
        v[0]["recordings"].as_array()?.iter().any(|r| r["kind"] == "camera" && r["state"] == "ready").then_some(v)
    });
    assert!(v[0]["recordings"][0]["bytes"].as_u64() > Some(100_000), "{v}");
    let s = wait_for("the box's status after the lesson", Duration::from_secs(30), || {
        let s = get_json(&agent, &status, None)?;
        (s["recording"]["lesson"].is_null() && s["recording"]["waiting_files"] == 0).then_some(s)
    });
    assert!(s["recording"]["failure"].is_null(), "{s}");
    assert!(PathBuf::from(format!("{}.uploaded", first.display())).exists(), "the box marked its copy uploaded");
}
