//! The hub's lessons enforce a room's capacity and everyone-waits: every change the admin makes
//! is reported as it is committed, and the hub reads them all at start-up.

mod common;

use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use common::*;
use lectern_admin::rooms::{Enforced, all_enforced};
use lectern_proto::RoomId;
use serde_json::json;

type Seen = Arc<Mutex<Vec<(String, Option<Enforced>)>>>;

fn listen(h: &Harness) -> Seen {
    let seen: Seen = Arc::default();
    let into = seen.clone();
    h.room_watch.on_change(Box::new(move |room: &RoomId, e| into.lock().unwrap().push((room.to_string(), e))));
    seen
}

each_backend!(each_committed_change_of_a_room_is_reported_and_a_refused_one_is_not);
async fn each_committed_change_of_a_room_is_reported_and_a_refused_one_is_not() {
    let h = harness().await;
    let (_, op) = h.admin_and_operator().await;
    let seen = listen(&h);
    let r = h.call("POST", "/admin/api/rooms", Some(&op), Some(room("lab-101"))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let put = json!({ "name": "Lab", "capacity": 2, "everyoneWaits": true });
    assert_eq!(h.call("PUT", "/admin/api/rooms/lab-101", Some(&op), Some(put)).await.status, StatusCode::OK);
    let bad = json!({ "name": "Lab", "capacity": 0 });
    assert_eq!(h.call("PUT", "/admin/api/rooms/lab-101", Some(&op), Some(bad)).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        all_enforced(&h.pool).await.unwrap(),
        [(
            RoomId::parse("lab-101").unwrap(),
            Enforced { capacity: 2, everyone_waits: true, recording: lectern_proto::lesson::RecordingPolicy::Off }
        )],
        "what a restarted hub reads"
    );
    assert_eq!(h.call("DELETE", "/admin/api/rooms/lab-101", Some(&op), None).await.status, StatusCode::NO_CONTENT);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        [
            (
                "lab-101".to_owned(),
                Some(Enforced {
                    capacity: 30,
                    everyone_waits: false,
                    recording: lectern_proto::lesson::RecordingPolicy::Off
                })
            ),
            (
                "lab-101".to_owned(),
                Some(Enforced {
                    capacity: 2,
                    everyone_waits: true,
                    recording: lectern_proto::lesson::RecordingPolicy::Off
                })
            ),
            ("lab-101".to_owned(), None),
        ]
    );
}
