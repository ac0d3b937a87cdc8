//! Releases and rollouts through the admin API in process (the real hub binary with real `rauc` is
//! `tests/tests/ota.rs`): what is refused and why when signatures cannot be checked, the size
//! limit, and a rollout over rings that opens ring by ring, pauses by itself and resumes.

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::{Harness, Resp, Session, each_backend, harness};
use lectern_admin::AdminState;
use lectern_admin::releases::OtaSettings;
use lectern_proto::device::HubMsg;
use lectern_proto::update::{UpdatePhase, UpdateStatus};
use serde_json::json;

/// The harness with `[ota]` as given; returns the state too, for the box-side hooks.
fn with_ota(h: &mut Harness, ota: OtaSettings) -> AdminState {
    let mint: lectern_admin::Mint = Arc::new(|_| "token".to_owned());
    let mut state = AdminState::new(h.pool.clone(), h.fleet.clone(), false, mint);
    let clock = h.now.clone();
    state.clock = Arc::new(move || clock.load(Ordering::SeqCst));
    state.ota = ota;
    h.app = Router::new().nest("/admin", lectern_admin::router(state.clone()));
    state
}

fn ota(dir: &std::path::Path) -> OtaSettings {
    OtaSettings { dir: Some(dir.join("releases")), ..OtaSettings::default() }
}

async fn upload(h: &Harness, s: &Session, query: &str, content_type: &str, bytes: Vec<u8>) -> Resp {
    let req = Request::post(format!("/admin/api/releases?{query}"))
        .header(header::COOKIE, format!("lectern_admin={}", s.cookie))
        .header("x-csrf-token", &s.csrf)
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(bytes))
        .unwrap();
    h.send(req).await
}

each_backend!(without_a_keyring_uploads_are_refused_and_the_api_says_why);
async fn without_a_keyring_uploads_are_refused_and_the_api_says_why() {
    let mut h = harness().await;
    let dir = tempfile::tempdir().unwrap();
    with_ota(&mut h, ota(dir.path()));
    let (admin, operator) = h.admin_and_operator().await;
    let r = h.call("GET", "/admin/api/releases", Some(&admin), None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["signing"]["available"], false);
    assert!(r.body["signing"]["detail"].as_str().unwrap().contains("ota.keyring"), "{}", r.text);
    let r = upload(&h, &admin, "version=1.0.0", "application/octet-stream", vec![1; 100]).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text);
    assert!(r.body["detail"].as_str().unwrap().contains("ota.allow_unsigned"), "{}", r.text);
    let r = upload(&h, &operator, "version=1.0.0", "application/octet-stream", vec![1; 100]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "operators do not ship releases");
    let kept: Vec<_> = std::fs::read_dir(dir.path().join("releases")).unwrap().collect();
    assert!(kept.is_empty(), "nothing is kept of a refused upload");
    let audit = h.audit_actions().await;
    assert!(audit.iter().any(|(actor, action, target, _)| (actor.as_str(), action.as_str(), target.as_str())
        == ("ada", "release.refused", "1.0.0")));
}

each_backend!(an_unchecked_development_upload_is_kept_with_its_checksum_within_the_limits);
async fn an_unchecked_development_upload_is_kept_with_its_checksum_within_the_limits() {
    let mut h = harness().await;
    let dir = tempfile::tempdir().unwrap();
    with_ota(&mut h, OtaSettings { allow_unsigned: true, max_bytes: 4096, ..ota(dir.path()) });
    let (admin, _) = h.admin_and_operator().await;
    let r = upload(&h, &admin, "version=1.0.0&notes=First+cut", "application/octet-stream", b"bundle".to_vec()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.body["signature"], "unchecked");
    assert_eq!(r.body["notes"], "First cut");
    // sha256("bundle")
    assert_eq!(r.body["sha256"], "1e6ed65d77d6364eeaed5a745ba5c4985ae2b700dd85d7cf7f027bdf294a33fc");
    let kept = std::fs::read(dir.path().join("releases").join(format!("{}.raucb", r.body["id"]))).unwrap();
    assert_eq!(kept, b"bundle");
    let cases = [
        ("version=1.0.0", "application/octet-stream", vec![1u8; 10], StatusCode::CONFLICT),
        ("version=1.0.0%2F..", "application/octet-stream", vec![1; 10], StatusCode::BAD_REQUEST),
        ("notes=x", "application/octet-stream", vec![1; 10], StatusCode::BAD_REQUEST),
        ("version=2.0.0", "application/json", vec![1; 10], StatusCode::UNSUPPORTED_MEDIA_TYPE),
        ("version=2.0.0", "application/octet-stream", vec![], StatusCode::BAD_REQUEST),
        ("version=2.0.0", "application/octet-stream", vec![1; 4097], StatusCode::PAYLOAD_TOO_LARGE),
    ];
    for (query, content_type, bytes, status) in cases {
        let r = upload(&h, &admin, query, content_type, bytes).await;
        assert_eq!(r.status, status, "{query} {content_type}: {}", r.text);
    }
    let files = std::fs::read_dir(dir.path().join("releases")).unwrap().count();
    assert_eq!(files, 1, "refused uploads leave nothing behind");
}

each_backend!(a_rollout_opens_ring_by_ring_pauses_on_failures_and_resumes);
async fn a_rollout_opens_ring_by_ring_pauses_on_failures_and_resumes() {
    let mut h = harness().await;
    let dir = tempfile::tempdir().unwrap();
    let st = with_ota(&mut h, OtaSettings { allow_unsigned: true, ..ota(dir.path()) });
    let (admin, _) = h.admin_and_operator().await;
    // Ten enrolled boxes: lab-1 (connected, in Main) as the canary, 4 more in North, 5 in South.
    for i in 0..10 {
        let (room, building) = match i {
            0 => ("lab-1".to_owned(), "Main"),
            1..=4 => (format!("n-{i}"), "North"),
            _ => (format!("s-{i}"), "South"),
        };
        let r = h
            .call(
                "POST",
                "/admin/api/rooms",
                Some(&admin),
                Some(json!({ "id": room, "name": room, "building": building, "capacity": 5 })),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        sqlx::query("INSERT INTO admin_devices (id, name, room_id, credential_jti, enrolled_at, enrolled_by) VALUES ($1, $2, $3, $4, 1, 'ada')")
            .bind(format!("box-{i}"))
            .bind(format!("Box {i}"))
            .bind(&room)
            .bind(format!("jti-{i}"))
            .execute(&h.pool)
            .await
            .unwrap();
    }
    let r = upload(&h, &admin, "version=2.0.0", "application/octet-stream", b"v2".to_vec()).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let release = r.body["id"].as_i64().unwrap();
    let rings = json!({ "rings": [{ "devices": ["box-0"] }, { "building": "North" }, { "everyone": true }], "maxFailurePercent": 25 });
    let r = h.call("POST", &format!("/admin/api/releases/{release}/rollouts"), Some(&admin), Some(rings.clone())).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let rollout = r.body["id"].as_i64().unwrap();
    assert_eq!(
        r.body["rings"].as_array().unwrap().iter().map(|x| x["size"].as_i64().unwrap()).collect::<Vec<_>>(),
        [1, 4, 5]
    );
    // The connected canary heard the offer at once, with its room's path and the default window.
    let sent = h.fleet.sent.lock().unwrap().clone();
    let Some((room, HubMsg::Update(offer))) = sent.last() else { panic!("no offer: {sent:?}") };
    assert_eq!((room.as_str(), offer.version.as_str()), ("lab-1", "2.0.0"));
    assert_eq!(offer.path, format!("/device/lab-1/releases/{release}/bundle"));
    assert_eq!(offer.window.length_minutes, 180);
    // A new window for Main reaches the canary at once.
    let window = json!({ "building": "Main", "start": "00:00", "end": "00:00" });
    let r = h.call("PUT", "/admin/api/release-windows", Some(&admin), Some(window)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let sent = h.fleet.sent.lock().unwrap().clone();
    let Some((_, HubMsg::Update(offer))) = sent.last() else { panic!("no new offer: {sent:?}") };
    assert_eq!(offer.window.length_minutes, 1440, "any time now");
    let again = h.call("POST", &format!("/admin/api/releases/{release}/rollouts"), Some(&admin), Some(rings)).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "one rollout at a time");

    let report = |device: &str, phase| {
        let status = UpdateStatus {
            release,
            version: "2.0.0".into(),
            phase,
            bytes: None,
            boots: None,
            detail: Some("why".into()),
        };
        let (st, device) = (st.clone(), device.to_owned());
        async move { lectern_admin::releases::on_update_status(&st, &device, &status).await.unwrap() }
    };
    report("box-5", UpdatePhase::Failed).await; // not offered yet: ignored
    report("box-0", UpdatePhase::Downloading).await;
    report("box-0", UpdatePhase::Good).await;
    let view = h.call("GET", &format!("/admin/api/rollouts/{rollout}"), Some(&admin), None).await;
    assert_eq!(view.body["ring"], 1, "North opened: {}", view.text);
    let (_, north) = lectern_admin::releases::offer_for(&st, "box-1").await.unwrap().expect("offered");
    assert_eq!(north.spread_secs, 6, "a ring of 4 starts within 6 s");
    assert_eq!(offer.spread_secs, 0, "a ring of one starts at once");
    assert!(lectern_admin::releases::offer_for(&st, "box-5").await.unwrap().is_none(), "South waits");
    // North: 1 of 4 failing is 25 %, not more; the second pauses the rollout.
    report("box-1", UpdatePhase::RolledBack).await;
    report("box-2", UpdatePhase::Failed).await;
    for d in ["box-3", "box-4"] {
        report(d, UpdatePhase::Good).await;
    }
    let view = h.call("GET", &format!("/admin/api/rollouts/{rollout}"), Some(&admin), None).await;
    assert_eq!(view.body["state"]["state"], "paused", "{}", view.text);
    assert!(view.body["state"]["reason"].as_str().unwrap().contains("2 of 4"), "{}", view.text);
    assert!(lectern_admin::releases::offer_for(&st, "box-5").await.unwrap().is_none(), "paused: South still waits");
    let fleet = h.call("GET", "/admin/api/devices", Some(&admin), None).await;
    let row = fleet.body.as_array().unwrap().iter().find(|r| r["room"] == "n-1").unwrap();
    assert_eq!((&row["update"]["phase"], &row["update"]["version"]), (&json!("rolledBack"), &json!("2.0.0")), "{row}");
    let r = h.call("POST", &format!("/admin/api/rollouts/{rollout}/resume"), Some(&admin), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["ring"], 2);
    assert!(lectern_admin::releases::offer_for(&st, "box-5").await.unwrap().is_some());
    for d in ["box-5", "box-6", "box-7", "box-8", "box-9"] {
        report(d, UpdatePhase::Good).await;
    }
    let view = h.call("GET", &format!("/admin/api/rollouts/{rollout}"), Some(&admin), None).await;
    assert_eq!(view.body["state"]["state"], "done", "{}", view.text);
    let actions: Vec<String> = h.audit_actions().await.into_iter().map(|(_, a, _, _)| a).collect();
    for a in ["release.upload", "rollout.start", "rollout.paused", "rollout.resume", "rollout.done"] {
        assert!(actions.iter().any(|x| x == a), "{a}: {actions:?}");
    }
}
