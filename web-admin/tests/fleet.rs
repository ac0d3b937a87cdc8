//! The fleet view: configured rooms joined with connected boxes, and operators starting or ending a
//! box's lesson (audited, 404 when no box is connected).

mod common;

use axum::http::StatusCode;
use common::*;
use lectern_proto::device::HubMsg;

each_backend!(configured_rooms_without_a_box_show_offline_with_their_building);
async fn configured_rooms_without_a_box_show_offline_with_their_building() {
    let h = harness().await;
    let (admin, operator) = h.admin_and_operator().await;
    for id in ["lab-1", "lab-2"] {
        assert_eq!(h.call("POST", "/admin/api/rooms", Some(&admin), Some(room(id))).await.status, StatusCode::CREATED);
    }
    let r = h.call("GET", "/admin/api/devices", Some(&operator), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let rows = r.body.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{}", r.text);
    assert_eq!(
        (&rows[0]["room"], &rows[0]["online"], &rows[0]["state"]),
        (&"lab-1".into(), &true.into(), &"unknown".into())
    );
    assert_eq!((&rows[0]["name"], &rows[0]["building"]), (&"Lab 1 box".into(), &"Main".into()));
    assert_eq!(
        (&rows[1]["room"], &rows[1]["online"], &rows[1]["state"]),
        (&"lab-2".into(), &false.into(), &"offline".into())
    );
    assert_eq!((&rows[1]["building"], &rows[1]["telemetry"]), (&"Main".into(), &serde_json::Value::Null));
}

each_backend!(the_fleet_is_pushed_to_operators_as_an_event_stream_whose_first_event_is_every_row);
async fn the_fleet_is_pushed_to_operators_as_an_event_stream_whose_first_event_is_every_row() {
    let h = harness().await;
    let (admin, operator) = h.admin_and_operator().await;
    assert_eq!(h.call("POST", "/admin/api/rooms", Some(&admin), Some(room("lab-2"))).await.status, StatusCode::CREATED);
    let r = h.call("GET", "/admin/api/fleet/events", Some(&operator), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.headers["content-type"], "text/event-stream");
    let data = r.text.strip_prefix("event: fleet\ndata: ").expect("the whole fleet first").trim_end();
    let rows: serde_json::Value = serde_json::from_str(data).expect("JSON rows");
    let rooms: Vec<&str> = rows.as_array().unwrap().iter().map(|r| r["room"].as_str().unwrap()).collect();
    assert_eq!(rooms, ["lab-1", "lab-2"], "the connected box's room and the configured one");
    assert_eq!(h.call("GET", "/admin/api/fleet/events", None, None).await.status, StatusCode::UNAUTHORIZED);
}

each_backend!(operators_start_and_end_a_box_and_it_is_audited);
async fn operators_start_and_end_a_box_and_it_is_audited() {
    let h = harness().await;
    let (_, operator) = h.admin_and_operator().await;
    let r = h.call("POST", "/admin/api/devices/lab-1/live", Some(&operator), None).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let r = h.call("POST", "/admin/api/devices/lab-1/end", Some(&operator), None).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let sent: Vec<HubMsg> = h.fleet.sent.lock().unwrap().iter().map(|(_, m)| m.clone()).collect();
    assert_eq!(sent, [HubMsg::GoLive, HubMsg::End]);
    let audit = h.audit_actions().await;
    let tail: Vec<_> = audit.iter().rev().take(2).map(|(actor, action, target, _)| (actor, action, target)).collect();
    assert_eq!(tail.len(), 2);
    assert_eq!((tail[1].0.as_str(), tail[1].1.as_str(), tail[1].2.as_str()), ("otto", "device.golive", "lab-1"));
    assert_eq!((tail[0].0.as_str(), tail[0].1.as_str(), tail[0].2.as_str()), ("otto", "device.end", "lab-1"));
}

each_backend!(commands_to_a_room_without_a_box_are_404_and_bad_ids_400);
async fn commands_to_a_room_without_a_box_are_404_and_bad_ids_400() {
    let h = harness().await;
    let (admin, _) = h.admin_and_operator().await;
    let r = h.call("POST", "/admin/api/devices/lab-9/live", Some(&admin), None).await;
    assert_eq!((r.status, r.body["error"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
    assert!(
        r.body["detail"].as_str().unwrap().contains("no classroom box is connected for room 'lab-9'"),
        "{}",
        r.text
    );
    let r = h.call("POST", "/admin/api/devices/bad%20id/end", Some(&admin), None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(h.fleet.sent.lock().unwrap().is_empty());
    assert!(!h.audit_actions().await.iter().any(|(_, action, _, _)| action.starts_with("device.")));
}
