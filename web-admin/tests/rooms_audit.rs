//! Rooms CRUD and validation, accounts via the API, and the audit trail every change leaves.

mod common;

use axum::http::{StatusCode, header};
use common::*;
use serde_json::json;

each_backend!(rooms_are_created_read_updated_and_deleted);
async fn rooms_are_created_read_updated_and_deleted() {
    let h = harness().await;
    let (_, op) = h.admin_and_operator().await;
    let body = json!({ "id": "lab-101", "name": " Physics lab ", "capacity": 30, "everyoneWaits": true });
    let r = h.call("POST", "/admin/api/rooms", Some(&op), Some(body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.body["name"], "Physics lab");
    assert_eq!((r.body["building"].as_str(), r.body["recording"].as_str()), (Some(""), Some("off")));
    assert_eq!(r.body["everyoneWaits"], true);
    let dup = h.call("POST", "/admin/api/rooms", Some(&op), Some(room("lab-101"))).await;
    assert_eq!(dup.status, StatusCode::CONFLICT);
    h.advance(10);
    let put = json!({ "name": "Physics", "building": "North", "capacity": 25, "recording": true });
    let r = h.call("PUT", "/admin/api/rooms/lab-101", Some(&op), Some(put)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!((r.body["capacity"].as_i64(), r.body["everyoneWaits"].as_bool()), (Some(25), Some(false)));
    assert_eq!(r.body["recording"], "always", "an old client's true is the policy always");
    for (sent, kept) in [(json!("on_request"), "on_request"), (json!(false), "off"), (json!("always"), "always")] {
        let put = json!({ "name": "Physics", "building": "North", "capacity": 25, "recording": sent });
        let r = h.call("PUT", "/admin/api/rooms/lab-101", Some(&op), Some(put)).await;
        assert_eq!((r.status, r.body["recording"].as_str()), (StatusCode::OK, Some(kept)), "{sent}");
    }
    assert_eq!(r.body["updatedAt"].as_u64(), Some(T0 + 10));
    let got = h.call("GET", "/admin/api/rooms/lab-101", Some(&op), None).await;
    assert_eq!(got.body, r.body);
    h.call("POST", "/admin/api/rooms", Some(&op), Some(room("aula"))).await;
    let list = h.call("GET", "/admin/api/rooms", Some(&op), None).await;
    let ids: Vec<&str> = list.body.as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["aula", "lab-101"]);
    assert_eq!(h.call("DELETE", "/admin/api/rooms/lab-101", Some(&op), None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(h.call("GET", "/admin/api/rooms/lab-101", Some(&op), None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(h.call("DELETE", "/admin/api/rooms/lab-101", Some(&op), None).await.status, StatusCode::NOT_FOUND);
    let put = json!({ "name": "x", "capacity": 1 });
    assert_eq!(h.call("PUT", "/admin/api/rooms/ghost", Some(&op), Some(put)).await.status, StatusCode::NOT_FOUND);
}

each_backend!(room_validation_errors_name_the_field);
async fn room_validation_errors_name_the_field() {
    let h = harness().await;
    let (_, op) = h.admin_and_operator().await;
    let long = "x".repeat(101);
    let cases = [
        (json!({ "name": "n", "capacity": 1 }), "id: required"),
        (json!({ "id": "a b", "name": "n", "capacity": 1 }), "id: room name may only contain"),
        (json!({ "id": "x".repeat(65), "name": "n", "capacity": 1 }), "id: room name is longer"),
        (json!({ "id": 5, "name": "n", "capacity": 1 }), "id: must be a string"),
        (json!({ "id": "r", "capacity": 1 }), "name: required"),
        (json!({ "id": "r", "name": "   ", "capacity": 1 }), "name: required"),
        (json!({ "id": "r", "name": long, "capacity": 1 }), "name: must be at most 100"),
        (json!({ "id": "r", "name": "a\nb", "capacity": 1 }), "name: must not contain control"),
        (json!({ "id": "r", "name": "n", "building": long, "capacity": 1 }), "building: must be at most 100"),
        (json!({ "id": "r", "name": "n" }), "capacity: required"),
        (json!({ "id": "r", "name": "n", "capacity": 0 }), "capacity: must be between 1 and 10000"),
        (json!({ "id": "r", "name": "n", "capacity": 10001 }), "capacity: must be between"),
        (json!({ "id": "r", "name": "n", "capacity": -3 }), "capacity: must be a whole number"),
        (json!({ "id": "r", "name": "n", "capacity": 2.5 }), "capacity: must be a whole number"),
        (json!({ "id": "r", "name": "n", "capacity": "30" }), "capacity: must be a number"),
        (json!({ "id": "r", "name": "n", "capacity": 1, "everyoneWaits": "yes" }), "everyoneWaits: must be true"),
        (json!({ "id": "r", "name": "n", "capacity": 1, "recording": 1 }), "recording: must be true"),
        (
            json!({ "id": "r", "name": "n", "capacity": 1, "recording": "sometimes" }),
            "recording: must be true or false, or one of off",
        ),
        (json!({ "id": "r", "name": "n", "capacity": 1, "lobby": "open" }), "lobby: unknown field"),
        (json!(["not", "an", "object"]), "body: expected a JSON object"),
    ];
    for (body, want) in cases {
        let r = h.call("POST", "/admin/api/rooms", Some(&op), Some(body.clone())).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.text);
        assert_eq!(r.body["error"], "bad_request");
        let detail = r.body["detail"].as_str().unwrap();
        assert!(detail.starts_with(want), "{body}: got {detail:?}, want {want:?}");
    }
    h.call("POST", "/admin/api/rooms", Some(&op), Some(room("r"))).await;
    let r =
        h.call("PUT", "/admin/api/rooms/r", Some(&op), Some(json!({ "id": "s", "name": "n", "capacity": 1 }))).await;
    assert!(r.body["detail"].as_str().unwrap().starts_with("id: cannot be changed"), "{}", r.text);
    let r = h.call("GET", "/admin/api/rooms/bad%20id", Some(&op), None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body["detail"].as_str().unwrap().starts_with("id:"));
    // Nothing invalid was stored or audited.
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM admin_rooms").fetch_one(&h.pool).await.unwrap();
    assert_eq!(rows, 1);
}

each_backend!(accounts_are_created_by_admins_with_the_password_policy);
async fn accounts_are_created_by_admins_with_the_password_policy() {
    let h = harness().await;
    let (admin, operator) = h.admin_and_operator().await;
    let make = |u: &str, p: &str, role: &str| json!({ "username": u, "password": p, "role": role });
    let r = h.call("POST", "/admin/api/accounts", Some(&admin), Some(make("eve", "short", "operator"))).await;
    assert_eq!(r.body["detail"], "password: must be at least 12 characters");
    let r = h.call("POST", "/admin/api/accounts", Some(&admin), Some(make("eve", "operator", "boss"))).await;
    assert!(r.body["detail"].as_str().unwrap().starts_with("role:"), "{}", r.text);
    let r =
        h.call("POST", "/admin/api/accounts", Some(&admin), Some(json!({ "username": "eve", "password": "p" }))).await;
    assert!(r.body["detail"].as_str().unwrap().starts_with("role: required"), "{}", r.text);
    let r = h.call("POST", "/admin/api/accounts", Some(&admin), Some(make("otto", OPERATOR_PW, "admin"))).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r =
        h.call("POST", "/admin/api/accounts", Some(&admin), Some(make("Eve", "eve's long password", "operator"))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert!(r.body.get("passwordHash").is_none() && !r.text.contains("argon2"));
    let eve = h.login("eve", "eve's long password").await;
    assert_eq!(h.call("GET", "/admin/api/me", Some(&eve), None).await.body["role"], "operator");
    let list = h.call("GET", "/admin/api/accounts", Some(&admin), None).await;
    let names: Vec<&str> = list.body.as_array().unwrap().iter().map(|a| a["username"].as_str().unwrap()).collect();
    assert_eq!(names, ["ada", "eve", "otto"]);
    drop(operator);
}

each_backend!(every_change_leaves_an_audit_row_with_actor_target_and_ip);
async fn every_change_leaves_an_audit_row_with_actor_target_and_ip() {
    let h = harness().await;
    let (admin, op) = h.admin_and_operator().await;
    let ip = "203.0.113.9";
    let csrf = Some(op.csrf.as_str());
    let r = h.call_with("POST", "/admin/api/rooms", Some(&op), csrf, Some(room("lab")), ip).await;
    assert_eq!(r.status, StatusCode::CREATED);
    h.advance(5);
    let put = json!({ "name": "Lab", "capacity": 5 });
    h.call_with("PUT", "/admin/api/rooms/lab", Some(&op), csrf, Some(put), ip).await;
    h.call_with("DELETE", "/admin/api/rooms/lab", Some(&op), csrf, None, ip).await;
    let acct = json!({ "username": "vic", "password": "victim password", "role": "operator" });
    h.call("POST", "/admin/api/accounts", Some(&admin), Some(acct)).await;
    h.call("POST", "/admin/api/accounts/vic/disable", Some(&admin), None).await;
    h.login_from("ada", "not my password", "198.51.100.4").await;
    h.call("POST", "/admin/api/logout", Some(&op), None).await;
    let extra = h.login("ada", ADMIN_PW).await;
    h.call("POST", "/admin/api/logout-everywhere", Some(&extra), None).await;

    let rows = h.audit_actions().await;
    let tail: Vec<(&str, &str, &str, &str)> =
        rows.iter().skip(4).map(|(a, b, c, d)| (a.as_str(), b.as_str(), c.as_str(), d.as_str())).collect();
    assert_eq!(
        tail,
        [
            // The room names a building "Main" that did not exist: it is created with it.
            ("otto", "building.create", "1", ip),
            ("otto", "room.create", "lab", ip),
            ("otto", "room.update", "lab", ip),
            ("otto", "room.delete", "lab", ip),
            ("ada", "account.create", "vic", "192.0.2.1"),
            ("ada", "account.disable", "vic", "192.0.2.1"),
            ("anonymous", "login.failed", "ada", "198.51.100.4"),
            ("otto", "logout", "otto", "192.0.2.1"),
            ("ada", "login", "ada", "192.0.2.1"),
            ("ada", "logout.everywhere", "ada", "192.0.2.1"),
        ]
    );
    // The first four: two accounts by the CLI, two logins.
    assert_eq!(rows[0].1, "account.create");
    assert_eq!(rows[2].1, "login");

    let admin = h.login("ada", ADMIN_PW).await;
    let r = h.call("GET", "/admin/api/audit", Some(&admin), None).await;
    let list = r.body.as_array().unwrap();
    assert_eq!(list[0]["action"], "login", "newest first");
    let update = list.iter().find(|e| e["action"] == "room.update").unwrap();
    assert_eq!(update["details"]["before"]["capacity"], 30);
    assert_eq!(update["details"]["after"]["capacity"], 5);
    assert_eq!(update["at"], T0 + 5);
    let r = h.call("GET", &format!("/admin/api/audit?since={}", T0 + 5), Some(&admin), None).await;
    assert!(r.body.as_array().unwrap().iter().all(|e| e["at"].as_u64().unwrap() >= T0 + 5));
    assert!(r.body.as_array().unwrap().iter().all(|e| e["action"] != "room.create"));
    let r = h.call("GET", "/admin/api/audit?limit=2", Some(&admin), None).await;
    assert_eq!(r.body.as_array().unwrap().len(), 2);
    let r = h.call("GET", "/admin/api/audit?since=soon", Some(&admin), None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body["detail"].as_str().unwrap().starts_with("since:"));
}

each_backend!(the_audit_exports_as_csv);
async fn the_audit_exports_as_csv() {
    let h = harness().await;
    let (admin, op) = h.admin_and_operator().await;
    let body = json!({ "id": "lab", "name": "=cmd|' /C calc'!A0, \"quoted\"", "capacity": 3 });
    h.call("POST", "/admin/api/rooms", Some(&op), Some(body)).await;
    let r = h.call("GET", "/admin/api/audit.csv", Some(&admin), None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers[header::CONTENT_TYPE], "text/csv; charset=utf-8");
    assert!(r.headers[header::CONTENT_DISPOSITION].to_str().unwrap().contains("audit.csv"));
    let mut lines = r.text.split("\r\n");
    assert_eq!(lines.next(), Some("id,at,actor,action,target,ip,details"));
    let first = lines.next().unwrap();
    assert!(first.starts_with(&format!("5,{T0},otto,room.create,lab,192.0.2.1,\"{{")), "{first}");
    assert!(first.contains("\\\"\"quoted\\\"\""), "quotes doubled inside the JSON cell: {first}");
}
