//! Moving an enrolled box to another room: validation and conflicts, the database and audit row,
//! the new credential pushed to the box, and the old one kept only for the hand-over until the box
//! shows it holds the new one — against the fake fleet.

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::http::StatusCode;
use common::*;
use lectern_admin::fleet::Claimed;
use lectern_admin::{AdminState, device_move, devices};
use lectern_proto::device::HubMsg;
use lectern_proto::{Claims, RoomId};
use serde_json::json;

/// lab-1 has an enrolled box (connected, per the fake fleet); lab-2 and lab-3 are empty rooms.
async fn enrolled_in_lab1(h: &Harness, admin: &Session) -> String {
    for r in ["lab-1", "lab-2", "lab-3"] {
        assert_eq!(h.call("POST", "/admin/api/rooms", Some(admin), Some(room(r))).await.status, StatusCode::CREATED);
    }
    let claimed = Claimed {
        box_key: "key-1".into(),
        hostname: "pi-lab1".into(),
        version: "0.1.0".into(),
        ip: "192.0.2.9".into(),
    };
    h.fleet.waiting.lock().unwrap().push(("ABCD-EFGH".into(), claimed));
    let body = json!({"code": "ABCD-EFGH", "room": "lab-1", "name": "Lab box"});
    let r = h.call("POST", "/admin/api/devices/enroll", Some(admin), Some(body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    r.body["id"].as_str().unwrap().to_owned()
}

async fn move_to(h: &Harness, who: &Session, from: &str, body: serde_json::Value) -> Resp {
    h.call("POST", &format!("/admin/api/devices/{from}/move"), Some(who), Some(body)).await
}

fn claims_of(token: &str) -> Claims {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// The admin state the hub's control channel calls `on_connect` with, over the harness's database.
fn hub_side(h: &Harness) -> AdminState {
    let mint: lectern_admin::Mint = Arc::new(|c| {
        use base64::Engine;
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).unwrap());
        format!("eyJhbGciOiJIUzI1NiJ9.{payload}.fake")
    });
    let mut st = AdminState::new(h.pool.clone(), h.fleet.clone(), false, mint);
    let clock = h.now.clone();
    st.clock = Arc::new(move || clock.load(Ordering::SeqCst));
    st
}

fn enrolled_token(h: &Harness) -> Claims {
    let delivered = h.fleet.delivered.lock().unwrap().clone();
    let [(_, HubMsg::Enrolled { token, .. })] = delivered.as_slice() else { panic!("{delivered:?}") };
    claims_of(token)
}

fn moves_sent(h: &Harness) -> Vec<(RoomId, HubMsg)> {
    h.fleet.sent.lock().unwrap().iter().filter(|(_, m)| matches!(m, HubMsg::Moved { .. })).cloned().collect()
}

each_backend!(a_move_is_validated_before_anything_changes);
async fn a_move_is_validated_before_anything_changes() {
    let h = harness().await;
    let (admin, operator) = h.admin_and_operator().await;
    let id = enrolled_in_lab1(&h, &admin).await;
    let other = json!({"code": "WXYZ-2345", "room": "lab-3", "name": "Other box"});
    let claimed = Claimed {
        box_key: "key-2".into(),
        hostname: "pi-lab3".into(),
        version: "0.1.0".into(),
        ip: "192.0.2.8".into(),
    };
    h.fleet.waiting.lock().unwrap().push(("WXYZ-2345".into(), claimed));
    assert_eq!(
        h.call("POST", "/admin/api/devices/enroll", Some(&admin), Some(other)).await.status,
        StatusCode::CREATED
    );

    let cases: [(&str, serde_json::Value, StatusCode, &str); 8] = [
        ("lab-1", json!({}), StatusCode::BAD_REQUEST, "to: "),
        ("lab-1", json!({"to": "Lab 2!"}), StatusCode::BAD_REQUEST, "to: "),
        ("lab-1", json!({"to": "lab-2", "x": 1}), StatusCode::BAD_REQUEST, "x"),
        ("lab-1", json!({"to": "lab-1"}), StatusCode::BAD_REQUEST, "to: the box is in 'lab-1' already"),
        ("lab-1", json!({"to": "lab-9"}), StatusCode::BAD_REQUEST, "to: no room 'lab-9'"),
        ("lab-1", json!({"to": "lab-3"}), StatusCode::CONFLICT, "to: 'lab-3' already has the box 'Other box'"),
        ("lab-2", json!({"to": "lab-1"}), StatusCode::NOT_FOUND, "room 'lab-2' has no enrolled box"),
        ("lab-1", json!({"to": "lab-2", "force": "yes"}), StatusCode::BAD_REQUEST, "force"),
    ];
    for (from, body, status, detail) in cases {
        let r = move_to(&h, &admin, from, body.clone()).await;
        assert_eq!(r.status, status, "{body}: {}", r.text);
        let said = r.body["detail"].as_str().or(r.body["error"].as_str()).unwrap_or_default();
        assert!(said.contains(detail), "{body}: {said:?} should say {detail:?}");
    }
    let r = move_to(&h, &operator, "lab-1", json!({"to": "lab-2"})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "operators cannot move boxes");
    // A live lesson in the old room: refused unless forced.
    h.fleet.live.store(true, Ordering::SeqCst);
    let r = move_to(&h, &admin, "lab-1", json!({"to": "lab-2"})).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert!(r.body["detail"].as_str().unwrap().contains("end the lesson first"), "{}", r.text);

    let row: (String, Option<String>) = sqlx::query_as("SELECT room_id, handover_jti FROM admin_devices WHERE id = $1")
        .bind(&id)
        .fetch_one(&h.pool)
        .await
        .unwrap();
    assert_eq!(row, ("lab-1".to_owned(), None), "nothing changed");
    assert!(moves_sent(&h).is_empty());
    assert!(!h.audit_actions().await.iter().any(|(_, action, ..)| action == "device.move"));

    let r = move_to(&h, &admin, "lab-1", json!({"to": "lab-2", "force": true})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

each_backend!(a_moved_box_gets_a_credential_for_its_new_room_and_its_old_one_only_fetches_it);
async fn a_moved_box_gets_a_credential_for_its_new_room_and_its_old_one_only_fetches_it() {
    let h = harness().await;
    let (admin, _) = h.admin_and_operator().await;
    let id = enrolled_in_lab1(&h, &admin).await;
    let old = enrolled_token(&h);
    let r = move_to(&h, &admin, "lab-1", json!({"to": "lab-2"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        (r.body["id"].as_str(), r.body["roomId"].as_str(), r.body["from"].as_str(), r.body["delivered"].as_bool()),
        (Some(id.as_str()), Some("lab-2"), Some("lab-1"), Some(true))
    );
    assert!(r.body.get("credentialJti").is_none(), "the jti never reaches a browser");

    // Pushed to the box on its old room's channel: same device, new room, new jti.
    let sent = moves_sent(&h);
    let [(to_room, HubMsg::Moved { token, from, room, device_id, name })] = sent.as_slice() else { panic!("{sent:?}") };
    assert_eq!((to_room.as_str(), from.as_str(), room.as_str()), ("lab-1", "lab-1", "lab-2"));
    assert_eq!((device_id.as_str(), name.as_str()), (id.as_str(), "Lab box"));
    let new = claims_of(token);
    assert_eq!((new.sub.as_str(), new.room.as_str(), new.role), (id.as_str(), "lab-2", lectern_proto::Role::Device));
    assert_ne!(new.jti, old.jti);
    assert!(new.exp > T0 + 365 * 24 * 3600);

    // The database and the audit say so; the room is free, the old jti is the hand-over one.
    let row: (String, String, Option<String>) =
        sqlx::query_as("SELECT room_id, credential_jti, handover_jti FROM admin_devices WHERE id = $1")
            .bind(&id)
            .fetch_one(&h.pool)
            .await
            .unwrap();
    assert_eq!(row, ("lab-2".to_owned(), new.jti.clone(), Some(old.jti.clone())));
    let audit: (String, String) =
        sqlx::query_as("SELECT target, details FROM admin_audit WHERE action = 'device.move'")
            .fetch_one(&h.pool)
            .await
            .unwrap();
    let details: serde_json::Value = serde_json::from_str(&audit.1).unwrap();
    assert_eq!(audit.0, "lab-1");
    assert_eq!((details["from"].as_str(), details["to"].as_str()), (Some("lab-1"), Some("lab-2")));
    assert_eq!(details["deviceId"].as_str(), Some(id.as_str()));
    let r = h.call("GET", "/admin/api/devices/lab-2", Some(&admin), None).await;
    assert_eq!(r.body["device"]["id"].as_str(), Some(id.as_str()), "{}", r.text);
    let r = h.call("GET", "/admin/api/devices/lab-1", Some(&admin), None).await;
    assert!(r.body["device"].is_null(), "{}", r.text);

    // Not revoked yet: the push may not have reached the box.
    assert!(h.fleet.revoked.lock().unwrap().is_empty());
    let hub = hub_side(&h);
    // With its old credential, the box gets the new one again (nothing else).
    let Some(HubMsg::Moved { token, room, .. }) = device_move::on_connect(&hub, &old).await.unwrap() else {
        panic!("the old credential should fetch the new one")
    };
    assert_eq!((room.as_str(), claims_of(&token).jti), ("lab-2", new.jti.clone()));
    assert!(h.fleet.revoked.lock().unwrap().is_empty());
    // With its new one, the old is retired: refused now, and after a restart.
    assert_eq!(device_move::on_connect(&hub, &new).await.unwrap(), None);
    assert_eq!(*h.fleet.revoked.lock().unwrap(), vec![old.jti.clone()]);
    assert_eq!(devices::revoked_jtis(&h.pool).await.unwrap(), vec![old.jti.clone()]);
    assert_eq!(device_move::on_connect(&hub, &new).await.unwrap(), None, "once");
    assert_eq!(h.fleet.revoked.lock().unwrap().len(), 1);
}

each_backend!(moved_twice_while_away_the_box_keeps_its_first_credential_for_the_hand_over);
async fn moved_twice_while_away_the_box_keeps_its_first_credential_for_the_hand_over() {
    let h = harness().await;
    let (admin, _) = h.admin_and_operator().await;
    enrolled_in_lab1(&h, &admin).await;
    let old = enrolled_token(&h);
    assert_eq!(move_to(&h, &admin, "lab-1", json!({"to": "lab-2"})).await.status, StatusCode::OK);
    let r = move_to(&h, &admin, "lab-2", json!({"to": "lab-3"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["delivered"].as_bool(), Some(false), "nothing is connected in lab-2");
    let sent = moves_sent(&h);
    let HubMsg::Moved { token, .. } = &sent[0].1 else { unreachable!() };
    let between = claims_of(token);
    // The credential in between never reached the box: retired at once.
    assert_eq!(*h.fleet.revoked.lock().unwrap(), vec![between.jti.clone()]);
    let hub = hub_side(&h);
    let Some(HubMsg::Moved { from, room, token, .. }) = device_move::on_connect(&hub, &old).await.unwrap() else {
        panic!("the first credential should fetch the newest")
    };
    assert_eq!((from.as_str(), room.as_str()), ("lab-1", "lab-3"));
    assert_eq!(device_move::on_connect(&hub, &claims_of(&token)).await.unwrap(), None);
    let mut retired = devices::revoked_jtis(&h.pool).await.unwrap();
    retired.sort();
    let mut expected = vec![old.jti.clone(), between.jti.clone()];
    expected.sort();
    assert_eq!(retired, expected);
}

each_backend!(revoking_a_box_moved_while_away_refuses_the_credential_it_still_holds);
async fn revoking_a_box_moved_while_away_refuses_the_credential_it_still_holds() {
    let h = harness().await;
    let (admin, _) = h.admin_and_operator().await;
    enrolled_in_lab1(&h, &admin).await;
    let old = enrolled_token(&h);
    assert_eq!(move_to(&h, &admin, "lab-1", json!({"to": "lab-2"})).await.status, StatusCode::OK);
    assert_eq!(h.call("POST", "/admin/api/devices/lab-2/revoke", Some(&admin), None).await.status, StatusCode::OK);
    assert!(h.fleet.revoked.lock().unwrap().contains(&old.jti));
    assert!(devices::revoked_jtis(&h.pool).await.unwrap().contains(&old.jti));
    assert_eq!(device_move::on_connect(&hub_side(&h), &old).await.unwrap(), None, "a revoked box gets nothing");
}
