//! The admin's side of recordings, on both databases: a room's `retentionDays` (validated, kept,
//! reset to the hub's default when omitted), `GET /admin/api/recordings` counting the rows per room
//! and per lesson (files retention deleted left out), and the legal hold — admins only, audited
//! once per change, 404 for an unknown lesson.

mod common;

use axum::http::StatusCode;
use common::*;
use serde_json::json;

each_backend!(a_rooms_retention_is_validated_kept_and_reset_when_omitted);
async fn a_rooms_retention_is_validated_kept_and_reset_when_omitted() {
    let h = harness().await;
    let (_, op) = h.admin_and_operator().await;
    let body = json!({ "id": "lab-1", "name": "Lab", "capacity": 30, "retentionDays": 7 });
    let r = h.call("POST", "/admin/api/rooms", Some(&op), Some(body)).await;
    assert_eq!((r.status, r.body["retentionDays"].as_i64()), (StatusCode::CREATED, Some(7)), "{}", r.text);
    let put = json!({ "name": "Lab", "capacity": 30, "retentionDays": 0 });
    let r = h.call("PUT", "/admin/api/rooms/lab-1", Some(&op), Some(put)).await;
    assert_eq!(r.body["retentionDays"].as_i64(), Some(0), "0 keeps forever");
    let put = json!({ "name": "Lab", "capacity": 30 });
    let r = h.call("PUT", "/admin/api/rooms/lab-1", Some(&op), Some(put)).await;
    assert!(r.body["retentionDays"].is_null(), "omitted: the hub's default: {}", r.body);
    for (days, want) in [
        (json!(36_501), "retentionDays: 36501 is more than 36500 days"),
        (json!(-1), "retentionDays: must be a whole number of days"),
        (json!("7"), "retentionDays: must be a whole number of days"),
    ] {
        let body = json!({ "id": "lab-2", "name": "Lab", "capacity": 30, "retentionDays": days });
        let r = h.call("POST", "/admin/api/rooms", Some(&op), Some(body)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{days}");
        assert!(r.body["detail"].as_str().unwrap().starts_with(want), "{days}: {}", r.body);
    }
    let r = h.call("GET", "/admin/api/rooms/lab-2", Some(&op), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "a refused room is not created");
}

async fn lesson_with_files(h: &Harness, lesson: &str, room: &str, files: &[(&str, &str, i64, bool)]) {
    sqlx::query("INSERT INTO lessons (id, room_id, started_at, ended_at) VALUES ($1, $2, $3, $4)")
        .bind(lesson)
        .bind(room)
        .bind(1_700_000_000_000i64)
        .bind(1_700_000_600_000i64)
        .execute(&h.pool)
        .await
        .unwrap();
    for (name, state, bytes, deleted) in files {
        sqlx::query(
            "INSERT INTO recordings (lesson_id, kind, name, state, size, received, created_at, deleted_at) \
             VALUES ($1, 'camera', $2, $3, $4, $4, 0, $5)",
        )
        .bind(lesson)
        .bind(*name)
        .bind(*state)
        .bind(*bytes)
        .bind(deleted.then_some(1_800_000_000_000i64))
        .execute(&h.pool)
        .await
        .unwrap();
    }
}

each_backend!(the_overview_counts_per_room_and_lesson_and_an_admin_holds_a_lesson);
async fn the_overview_counts_per_room_and_lesson_and_an_admin_holds_a_lesson() {
    let h = harness().await;
    let (admin, op) = h.admin_and_operator().await;
    let body = json!({ "id": "lab-1", "name": "Lab", "capacity": 30, "retentionDays": 14 });
    assert_eq!(h.call("POST", "/admin/api/rooms", Some(&op), Some(body)).await.status, StatusCode::CREATED);
    let l1 = "lab-1.1700000000000";
    lesson_with_files(&h, l1, "lab-1", &[("a.mp4", "ready", 5_000_000_000, false), ("b.mp4", "uploading", 700, false)])
        .await;
    lesson_with_files(&h, "lab-1.1700000000001", "lab-1", &[("c.mp4", "ready", 10, true)]).await;
    let r = h.call("GET", "/admin/api/recordings", Some(&op), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.body["storage"].is_null(), "this admin has no storage to ask");
    assert_eq!(
        r.body["rooms"],
        json!([{ "room": "lab-1", "lessons": 1, "files": 1, "bytes": 5_000_000_000i64, "partialFiles": 1,
                  "partialBytes": 700, "retentionDays": 14 }]),
        "files retention deleted are not counted"
    );
    let lessons = r.body["lessons"].as_array().unwrap();
    assert_eq!(lessons.len(), 2);
    assert_eq!((lessons[1]["id"].as_str(), lessons[1]["files"].as_i64()), (Some(l1), Some(2)));
    assert_eq!((lessons[0]["deletedFiles"].as_i64(), lessons[0]["legalHold"].as_bool()), (Some(1), Some(false)));

    let path = format!("/admin/api/recordings/lessons/{l1}/hold");
    let r = h.call("PUT", &path, Some(&op), Some(json!({ "hold": true }))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "an operator may not hold: {}", r.text);
    let r = h.call("PUT", &path, Some(&admin), Some(json!({ "hold": true }))).await;
    assert_eq!((r.status, &r.body), (StatusCode::OK, &json!({ "id": l1, "legalHold": true })), "{}", r.text);
    let r = h.call("PUT", &path, Some(&admin), Some(json!({ "hold": true }))).await;
    assert_eq!(r.status, StatusCode::OK, "holding twice is fine");
    for bad in [json!({}), json!({ "hold": "yes" }), json!({ "hold": true, "why": "x" })] {
        let r = h.call("PUT", &path, Some(&admin), Some(bad.clone())).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    let ghost = "/admin/api/recordings/lessons/lab-9.1700000000000/hold";
    assert_eq!(h.call("PUT", ghost, Some(&admin), Some(json!({ "hold": true }))).await.status, StatusCode::NOT_FOUND);
    let bad_id = "/admin/api/recordings/lessons/not%20a%20lesson/hold";
    assert_eq!(
        h.call("PUT", bad_id, Some(&admin), Some(json!({ "hold": true }))).await.status,
        StatusCode::BAD_REQUEST
    );
    let r = h.call("GET", "/admin/api/recordings", Some(&op), None).await;
    assert_eq!(r.body["lessons"][1]["legalHold"], true);
    let r = h.call("PUT", &path, Some(&admin), Some(json!({ "hold": false }))).await;
    assert_eq!(r.body["legalHold"], false);
    let holds: Vec<_> = h.audit_actions().await.into_iter().filter(|a| a.1.starts_with("lesson.")).collect();
    assert_eq!(
        holds.iter().map(|a| (a.0.as_str(), a.1.as_str(), a.2.as_str())).collect::<Vec<_>>(),
        [("ada", "lesson.hold", l1), ("ada", "lesson.release", l1)],
        "one audit row per change"
    );
}

each_backend!(an_admin_opens_a_lesson_page_with_a_short_lived_admin_token_of_its_room);
async fn an_admin_opens_a_lesson_page_with_a_short_lived_admin_token_of_its_room() {
    use base64::Engine;
    let h = harness().await;
    let (admin, op) = h.admin_and_operator().await;
    let l1 = "lab-1.1700000000000";
    lesson_with_files(&h, l1, "lab-1", &[("a.mp4", "ready", 10, false)]).await;
    let path = format!("/admin/api/recordings/lessons/{l1}/open");
    let r = h.call("POST", &path, Some(&op), None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "an operator may not: {}", r.text);
    let r = h.call("POST", &path, Some(&admin), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let url = r.body["url"].as_str().expect("a url");
    let token = url.strip_prefix(&format!("/lessons/{l1}?token=")).unwrap_or_else(|| panic!("the lesson page: {url}"));
    let payload = token.split('.').nth(1).expect("a JWT");
    let claims: lectern_proto::Claims =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    assert_eq!((claims.room.as_str(), claims.role), ("lab-1", lectern_proto::Role::Admin));
    assert_eq!(claims.exp - claims.nbf, 2 * 3600 + 60, "two hours");
    let ghost = "/admin/api/recordings/lessons/lab-9.1700000000000/open";
    assert_eq!(h.call("POST", ghost, Some(&admin), None).await.status, StatusCode::NOT_FOUND);
    let bad = "/admin/api/recordings/lessons/not%20a%20lesson/open";
    assert_eq!(h.call("POST", bad, Some(&admin), None).await.status, StatusCode::BAD_REQUEST);
    let opens: Vec<_> = h.audit_actions().await.into_iter().filter(|a| a.1 == "lesson.open").collect();
    assert_eq!(opens.iter().map(|a| (a.0.as_str(), a.2.as_str())).collect::<Vec<_>>(), [("ada", l1)], "audited once");
}
