//! Enrolling a box by its claim code, configuring it remotely (validated against what it has,
//! versioned, answered by the box), bulk apply, and revocation — against the fake fleet.

mod common;

use axum::http::StatusCode;
use common::*;
use lectern_admin::devices;
use lectern_admin::fleet::Claimed;
use lectern_common::box_config::limits;
use lectern_proto::device::HubMsg;
use serde_json::json;

fn waiting_box(h: &Harness, code: &str, key: &str) {
    let claimed =
        Claimed { box_key: key.into(), hostname: "pi-lab1".into(), version: "0.1.0".into(), ip: "192.0.2.9".into() };
    h.fleet.waiting.lock().unwrap().push((code.into(), claimed));
}

/// Claims the box waiting with `code` for `room` as `admin`.
async fn claim(h: &Harness, admin: &Session, code: &str, room: &str, name: &str) -> Resp {
    let body = json!({"code": code, "room": room, "name": name});
    h.call("POST", "/admin/api/devices/enroll", Some(admin), Some(body)).await
}

async fn enrolled(h: &Harness, admin: &Session) {
    assert_eq!(h.call("POST", "/admin/api/rooms", Some(admin), Some(room("lab-1"))).await.status, StatusCode::CREATED);
    waiting_box(h, "ABCD-EFGH", "key-1");
    let r = claim(h, admin, "ABCD-EFGH", "lab-1", "Lab 1 box").await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
}

each_backend!(a_claimed_box_gets_a_device_credential_for_its_room);
async fn a_claimed_box_gets_a_device_credential_for_its_room() {
    let h = harness().await;
    let (admin, operator) = h.admin_and_operator().await;
    enrolled(&h, &admin).await;
    let delivered = h.fleet.delivered.lock().unwrap().clone();
    let [(key, HubMsg::Enrolled { token, room, device_id, name })] = delivered.as_slice() else {
        panic!("{delivered:?}")
    };
    assert_eq!((key.as_str(), room.as_str(), name.as_str()), ("key-1", "lab-1", "Lab 1 box"));
    let claims = claims_of(token);
    assert_eq!((claims["role"].as_str(), claims["sub"].as_str()), (Some("device"), Some(device_id.as_str())));
    assert!(claims["exp"].as_u64().unwrap() > T0 + 365 * 24 * 3600);

    let r = h.call("GET", "/admin/api/devices", Some(&operator), None).await;
    assert_eq!(r.body[0]["deviceId"].as_str(), Some(device_id.as_str()), "{}", r.text);
    // The code was single use; a second box for the same room is a conflict.
    waiting_box(&h, "WXYZ-2345", "key-2");
    let again = json!({"code": "ABCD-EFGH", "room": "lab-1", "name": "x"});
    let r = h.call("POST", "/admin/api/devices/enroll", Some(&admin), Some(again)).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert!(
        h.audit_actions().await.iter().any(|(_, action, target, _)| action == "device.enroll" && target == "lab-1")
    );
}

each_backend!(wrong_codes_say_nothing_and_are_throttled);
async fn wrong_codes_say_nothing_and_are_throttled() {
    let h = harness().await;
    let (admin, _) = h.admin_and_operator().await;
    assert_eq!(h.call("POST", "/admin/api/rooms", Some(&admin), Some(room("lab-1"))).await.status, StatusCode::CREATED);
    let r = claim(&h, &admin, "ZZZZ-ZZZZ", "lab-1", "b").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body["detail"].as_str().unwrap().starts_with("code: no box is waiting with this code"), "{}", r.text);
    let r = claim(&h, &admin, "ZZZZ-ZZZZ", "lab-9", "b").await;
    assert!(r.body["detail"].as_str().unwrap().starts_with("room: no room 'lab-9'"), "{}", r.text);
    for _ in 1..devices::MAX_CLAIM_FAILURES {
        let r = claim(&h, &admin, "ZZZZ-ZZZ0", "lab-1", "b").await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
    }
    // Even the right code is refused while throttled.
    waiting_box(&h, "ABCD-EFGH", "key-1");
    let r = claim(&h, &admin, "ABCD-EFGH", "lab-1", "b").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text);
    assert!(r.headers.get("retry-after").is_some());
    h.advance(devices::CLAIM_WINDOW_SECS + 1);
    let r = claim(&h, &admin, "ABCD-EFGH", "lab-1", "b").await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
}

each_backend!(configuration_is_validated_versioned_sent_and_answered);
async fn configuration_is_validated_versioned_sent_and_answered() {
    let h = harness().await;
    let (admin, _) = h.admin_and_operator().await;
    enrolled(&h, &admin).await;
    let r =
        h.call("PUT", "/admin/api/devices/lab-1/config", Some(&admin), Some(json!({"camera": "/dev/video9"}))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.body["detail"].as_str(),
        Some(
            "camera: '/dev/video9' is not one of this box's cameras: /dev/video0 (Test pattern), \
             /dev/video2 (USB3 HDMI capture)"
        )
    );
    assert!(h.fleet.sent.lock().unwrap().is_empty(), "nothing is sent for a refused config");

    let r = h
        .call(
            "PUT",
            "/admin/api/devices/lab-1/config",
            Some(&admin),
            Some(json!({"camera": "/dev/video0", "bitrateKbps": 2500})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!((r.body["version"].as_i64(), r.body["delivered"].as_bool()), (Some(1), Some(true)));
    let sent = h.fleet.sent.lock().unwrap().clone();
    let [(_, HubMsg::ApplyConfig { version: 1, config })] = sent.as_slice() else { panic!("{sent:?}") };
    assert!(config.contains("bitrate_kbps = 2500") && config.contains("device = \"/dev/video0\""), "{config}");

    let device_id = h.call("GET", "/admin/api/devices/lab-1", Some(&admin), None).await.body["device"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Until the box answers, a reconnecting box is sent the pending version again.
    assert_eq!(devices::on_hello(&h.pool, &device_id, None).await.unwrap().map(|p| p.0), Some(1));
    devices::on_config_result(&h.pool, &device_id, 1, false, Some("camera.device: busy"), T0 + 3).await.unwrap();
    let r = h.call("GET", "/admin/api/devices/lab-1", Some(&admin), None).await;
    assert_eq!(
        (r.body["configs"][0]["state"].as_str(), r.body["configs"][0]["error"].as_str()),
        (Some("failed"), Some("camera.device: busy")),
        "{}",
        r.text
    );
    assert_eq!(r.body["inventory"]["cameras"][0]["device"].as_str(), Some("/dev/video0"));
    assert_eq!(devices::on_hello(&h.pool, &device_id, None).await.unwrap(), None, "a failed version is not resent");

    // Bulk: changes only the named fields, all or nothing.
    let bad = json!({"rooms": ["lab-1", "lab-2"], "set": {"bitrateKbps": 3000}});
    let r = h.call("POST", "/admin/api/devices/config", Some(&admin), Some(bad)).await;
    assert_eq!(r.body["detail"].as_str(), Some("rooms[1]: room 'lab-2' has no enrolled box"), "{}", r.text);
    let r = h
        .call(
            "POST",
            "/admin/api/devices/config",
            Some(&admin),
            Some(json!({"rooms": ["lab-1"], "set": {"bitrateKbps": 3000}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body[0]["version"].as_i64(), Some(2));
    let r = h.call("GET", "/admin/api/devices/lab-1", Some(&admin), None).await;
    assert_eq!(r.body["configs"][0]["config"], json!({"camera": "/dev/video0", "bitrateKbps": 3000}), "{}", r.text);
    devices::on_config_result(&h.pool, &device_id, 2, true, None, T0 + 4).await.unwrap();
    let r = h.call("GET", "/admin/api/devices", Some(&admin), None).await;
    assert_eq!(r.body[0]["config"], json!({"version": 2, "state": "applied", "error": null}), "{}", r.text);
}

/// PUTs `config` for lab-1: the status and the refusal's detail, if any.
async fn put(h: &Harness, admin: &Session, config: serde_json::Value) -> (StatusCode, Option<String>) {
    let r = h.call("PUT", "/admin/api/devices/lab-1/config", Some(admin), Some(config)).await;
    (r.status, r.body["detail"].as_str().map(str::to_owned))
}

fn last_toml(h: &Harness) -> String {
    match h.fleet.sent.lock().unwrap().last() {
        Some((_, HubMsg::ApplyConfig { config, .. })) => config.clone(),
        other => panic!("{other:?}"),
    }
}

each_backend!(the_laptop_capture_is_checked_against_the_boxs_cameras_and_pushed_as_its_content_table);
async fn the_laptop_capture_is_checked_against_the_boxs_cameras_and_pushed_as_its_content_table() {
    let h = harness().await;
    let (admin, _) = h.admin_and_operator().await;
    enrolled(&h, &admin).await;
    let refusals = [
        (
            json!({"content": {"device": "/dev/video2", "framerate": 0}}),
            // The box's own limit and message: change the limit in lectern-common and this follows.
            format!("content.framerate: {}", limits::out_of_range(0, &limits::CONTENT_FRAMERATE)),
        ),
        (
            json!({"content": {"device": "/dev/video7"}}),
            "content.device: '/dev/video7' is not one of this box's cameras: /dev/video0 (Test pattern), \
             /dev/video2 (USB3 HDMI capture)"
                .to_owned(),
        ),
        (
            json!({"camera": "/dev/video0", "content": {"device": "/dev/video0"}}),
            "content.device: '/dev/video0' is the room camera; pick the laptop's capture".to_owned(),
        ),
        (
            json!({"content": {"device": "/dev/video2", "fps": 5}}),
            "content.fps: unknown field (expected one of: enabled, device, width, height, framerate, bitrateKbps)"
                .to_owned(),
        ),
    ];
    for (config, detail) in refusals {
        assert_eq!(put(&h, &admin, config.clone()).await, (StatusCode::BAD_REQUEST, Some(detail)), "{config}");
    }
    assert!(h.fleet.sent.lock().unwrap().is_empty(), "nothing is sent for a refused config");

    let on = json!({"camera": "/dev/video0",
        "content": {"enabled": true, "device": "/dev/video2", "width": 1280, "height": 720, "framerate": 10,
                    "bitrateKbps": 1200}});
    assert_eq!(put(&h, &admin, on.clone()).await, (StatusCode::OK, None));
    let text = last_toml(&h);
    let v: toml::Value = toml::from_str(&text).unwrap();
    let content = &v["content"];
    assert_eq!((content["device"].as_str(), content["enabled"].as_bool()), (Some("/dev/video2"), Some(true)), "{text}");
    let size = ["width", "height", "framerate", "bitrate_kbps"].map(|k| content[k].as_integer());
    assert_eq!(size, [Some(1280), Some(720), Some(10), Some(1200)], "{text}");
    let r = h.call("GET", "/admin/api/devices/lab-1", Some(&admin), None).await;
    assert_eq!(r.body["configs"][0]["config"], on, "the form is filled with what was sent");

    // Off keeps the device, so turning it on again needs nothing else; an unplugged capture can be
    // turned off although the box no longer reports it.
    let off = json!({"content": {"enabled": false, "device": "/dev/video9"}});
    assert_eq!(put(&h, &admin, off).await, (StatusCode::OK, None));
    let text = last_toml(&h);
    assert!(text.contains("[content]\nenabled = false\ndevice = \"/dev/video9\"\n"), "{text}");
}

each_backend!(bulk_apply_merges_the_laptop_capture_field_by_field);
async fn bulk_apply_merges_the_laptop_capture_field_by_field() {
    let h = harness().await;
    let (admin, _) = h.admin_and_operator().await;
    enrolled(&h, &admin).await;
    let own = json!({"camera": "/dev/video0", "content": {"device": "/dev/video2", "width": 1280, "height": 720}});
    assert_eq!(put(&h, &admin, own).await, (StatusCode::OK, None));
    let bulk = |set: serde_json::Value| json!({"rooms": ["lab-1"], "set": set});
    let r = h
        .call("POST", "/admin/api/devices/config", Some(&admin), Some(bulk(json!({"content": {"framerate": 31}}))))
        .await;
    assert_eq!(
        r.body["detail"].as_str(),
        Some(
            format!("rooms[0] (lab-1): content.framerate: {}", limits::out_of_range(31, &limits::CONTENT_FRAMERATE))
                .as_str()
        ),
        "{}",
        r.text
    );
    let set = json!({"bitrateKbps": 2000, "content": {"enabled": false, "framerate": 2}});
    let r = h.call("POST", "/admin/api/devices/config", Some(&admin), Some(bulk(set))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = h.call("GET", "/admin/api/devices/lab-1", Some(&admin), None).await;
    let merged = json!({"camera": "/dev/video0", "bitrateKbps": 2000,
        "content": {"enabled": false, "device": "/dev/video2", "width": 1280, "height": 720, "framerate": 2}});
    assert_eq!(r.body["configs"][0]["config"], merged, "{}", r.text);
    let r = h
        .call("POST", "/admin/api/devices/config", Some(&admin), Some(bulk(json!({"content": {"enabled": true}}))))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let v: toml::Value = toml::from_str(&last_toml(&h)).unwrap();
    assert_eq!((v["content"]["enabled"].as_bool(), v["content"]["device"].as_str()), (Some(true), Some("/dev/video2")));
}

each_backend!(revoking_a_box_refuses_its_credential_and_frees_the_room);
async fn revoking_a_box_refuses_its_credential_and_frees_the_room() {
    let h = harness().await;
    let (admin, operator) = h.admin_and_operator().await;
    enrolled(&h, &admin).await;
    let r = h.call("POST", "/admin/api/devices/lab-1/revoke", Some(&operator), None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "operators cannot revoke");
    let r = h.call("POST", "/admin/api/devices/lab-1/revoke", Some(&admin), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let revoked = h.fleet.revoked.lock().unwrap().clone();
    assert_eq!(revoked.len(), 1);
    assert_eq!(devices::revoked_jtis(&h.pool).await.unwrap(), revoked);
    let delivered = h.fleet.delivered.lock().unwrap().clone();
    let HubMsg::Enrolled { token, .. } = &delivered[0].1 else { panic!() };
    assert_eq!(claims_of(token)["jti"].as_str(), Some(revoked[0].as_str()));
    let r = h.call("POST", "/admin/api/devices/lab-1/revoke", Some(&admin), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // The room can take a new box.
    waiting_box(&h, "WXYZ-2345", "key-2");
    let r = claim(&h, &admin, "WXYZ-2345", "lab-1", "New box").await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
}

fn claims_of(token: &str) -> serde_json::Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}
