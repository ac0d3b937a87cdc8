//! Who may call what: the auth matrix over every documented route, CSRF, sessions and their end.

mod common;

use axum::http::{StatusCode, header};
use common::*;
use serde_json::{Value, json};

/// Rows of the README's route table: (method, path, who).
fn documented_routes() -> Vec<(String, String, String)> {
    let readme = include_str!("../README.md");
    let rows: Vec<_> = readme
        .lines()
        .filter(|l| l.starts_with("| `") && l.contains("/admin/api/"))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(|c| c.trim().trim_matches('`')).collect();
            (cells[1].to_owned(), cells[2].to_owned(), cells[3].to_owned())
        })
        .collect();
    assert!(rows.len() >= 16, "route table not found in README: {rows:?}");
    rows
}

/// The README's route table is the router's table: same rows, same access.
#[test]
fn the_readme_lists_the_router_table() {
    use lectern_admin::routes::{ADMIN_API, Access, admin_table};
    let mut from_table: Vec<_> = admin_table()
        .into_iter()
        .map(|r| {
            let who = match r.access {
                Access::Anyone => "anyone".to_owned(),
                Access::Session(role) => role.to_string(),
                Access::SessionOrBearer(role, tokens) => {
                    let tokens: Vec<String> = tokens.iter().map(|r| format!("{r} token")).collect();
                    format!("{role} or {}", tokens.join(" or "))
                }
                other => panic!("{} {}: the admin has no {other:?} routes", r.method, r.path),
            };
            (r.method.to_string(), format!("{ADMIN_API}{}", r.path), who)
        })
        .collect();
    let mut documented = documented_routes();
    from_table.sort();
    documented.sort();
    assert_eq!(documented, from_table);
}

/// A concrete request for a route pattern; `{id}` is a room or timetable slot that exists, `{username}` an account.
fn concrete(path: &str) -> String {
    let numbered = ["schedules", "terms", "exceptions"];
    let id = if numbered.iter().any(|n| path.starts_with(&format!("/admin/api/{n}/"))) {
        "1"
    } else if path.ends_with("/calendar.ics") {
        // lab-1 is deleted on the way.
        "lab-2"
    } else if path.starts_with("/admin/api/holidays/") {
        // Terms and holidays share their ids.
        "2"
    } else if path.starts_with("/admin/api/buildings/") {
        // A building without rooms (lab-1 and lab-2 are in "Main", building 1): it can be deleted.
        "2"
    } else {
        "lab-1"
    };
    path.replace("{id}", id).replace("{room}", "lab-1").replace("{username}", "vic")
}

fn slot(room: &str, start: &str, end: &str) -> Value {
    json!({ "roomId": room, "weekday": "mon", "start": start, "end": end, "teacher": "Ms Curie", "title": "Physics" })
}

fn extra() -> Value {
    json!({ "kind": "extra", "roomId": "lab-2", "toDate": "2027-01-05", "start": "10:00", "end": "11:00",
            "teacher": "Ms Curie", "title": "Revision" })
}

fn body_for(method: &str, path: &str) -> Option<Value> {
    match (method, path) {
        ("POST", "/admin/api/rooms") => Some(room("new-room")),
        ("POST", "/admin/api/schedules") => Some(slot("lab-2", "10:00", "11:00")),
        ("PUT", "/admin/api/schedules/{id}") => Some(slot("lab-2", "08:00", "08:45")),
        ("POST", "/admin/api/buildings") => Some(json!({ "name": "North", "zone": "Europe/Berlin" })),
        ("PUT", "/admin/api/buildings/{id}") => Some(json!({ "name": "Annex (renamed)" })),
        (
            "POST" | "PUT",
            "/admin/api/terms" | "/admin/api/terms/{id}" | "/admin/api/holidays" | "/admin/api/holidays/{id}",
        ) => Some(json!({ "name": "Spring", "start": "2027-01-04", "end": "2027-03-26" })),
        ("POST", "/admin/api/exceptions") => Some(extra()),
        ("PUT", _) => Some(json!({ "name": "Renamed", "capacity": 12 })),
        ("POST", "/admin/api/accounts") => {
            Some(json!({ "username": "newbie", "password": "a long enough pw", "role": "operator" }))
        }
        ("POST", "/admin/api/login") => Some(json!({ "username": "nobody", "password": "x" })),
        ("POST", "/admin/api/setup") => Some(json!({ "code": "x", "username": "y", "password": "z" })),
        _ => None,
    }
}

async fn fixtures(h: &Harness) -> (Session, Session) {
    let (admin, operator) = h.admin_and_operator().await;
    lectern_admin::accounts::create(&h.pool, "vic", "victim password", lectern_admin::Role::Operator).await.unwrap();
    let r = h.call("POST", "/admin/api/rooms", Some(&admin), Some(room("lab-1"))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    // Timetable slots live in a room of their own: the matrix deletes lab-1 on the way.
    let r = h.call("POST", "/admin/api/rooms", Some(&admin), Some(room("lab-2"))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let r = h.call("POST", "/admin/api/schedules", Some(&admin), Some(slot("lab-2", "08:00", "09:00"))).await;
    assert_eq!((r.status, &r.body["id"]), (StatusCode::CREATED, &json!(1)), "{}", r.text);
    let r = h.call("POST", "/admin/api/buildings", Some(&admin), Some(json!({ "name": "Annex" }))).await;
    assert_eq!((r.status, &r.body["id"]), (StatusCode::CREATED, &json!(2)), "{}", r.text);
    // A term (1), a holiday (2) and an extra lesson (1, in lab-2, which stays).
    for (path, body, id) in [
        // Around T0 (14 November 2023), so slot 1 keeps its lessons and links.
        ("terms", json!({ "name": "School year", "start": "2023-09-04", "end": "2024-07-19" }), 1),
        ("holidays", json!({ "name": "Winter", "start": "2023-12-22", "end": "2024-01-05" }), 2),
        ("exceptions", extra(), 1),
    ] {
        let r = h.call("POST", &format!("/admin/api/{path}"), Some(&admin), Some(body)).await;
        assert_eq!((r.status, &r.body["id"]), (StatusCode::CREATED, &json!(id)), "{path}: {}", r.text);
    }
    (admin, operator)
}

each_backend!(every_documented_route_enforces_its_access_rule);
async fn every_documented_route_enforces_its_access_rule() {
    let h = harness().await;
    let (admin, operator) = fixtures(&h).await;
    let wrong = Session { cookie: operator.cookie.clone(), csrf: "not-the-token".into() };
    // Admins may read everything (before operators, below, delete the room).
    for path in
        ["me", "rooms", "rooms/lab-1", "devices", "schedules", "schedules/1/links", "accounts", "audit", "audit.csv"]
    {
        let r = h.call("GET", &format!("/admin/api/{path}"), Some(&admin), None).await;
        assert_eq!(r.status, StatusCode::OK, "GET {path} as admin: {}", r.text);
    }
    for (method, pattern, who) in documented_routes() {
        let path = concrete(&pattern);
        let body = body_for(&method, &pattern);
        let state_change = method != "GET";
        let label = format!("{method} {pattern}");
        if who == "anyone" {
            // No session needed; a cross-site form cannot post JSON.
            let r = h.call(&method, &path, None, body.clone()).await;
            assert_ne!(r.status, StatusCode::OK, "{label}: the dummy body must not succeed");
            assert!(r.status.is_client_error(), "{label}: {}", r.text);
            continue;
        }
        let anon = h.call(&method, &path, None, body.clone()).await;
        assert_eq!(anon.status, StatusCode::UNAUTHORIZED, "{label} anonymous: {}", anon.text);
        assert_eq!(anon.body["error"], "unauthorized", "{label}");
        let bogus = Session { cookie: "forged".into(), csrf: "x".into() };
        assert_eq!(
            h.call(&method, &path, Some(&bogus), body.clone()).await.status,
            StatusCode::UNAUTHORIZED,
            "{label}"
        );
        if state_change {
            for csrf in [None, Some("not-the-token")] {
                let r = h.call_with(&method, &path, Some(&admin), csrf, body.clone(), "192.0.2.1").await;
                assert_eq!(r.status, StatusCode::FORBIDDEN, "{label} csrf={csrf:?}: {}", r.text);
                assert_eq!(r.body["error"], "csrf", "{label}");
            }
            // Another session's token is wrong too.
            let r = h.call_with(&method, &path, Some(&admin), Some(&operator.csrf), body.clone(), "192.0.2.1").await;
            assert_eq!(r.body["error"], "csrf", "{label}: a token from another session");
            let r = h.call(&method, &path, Some(&wrong), body.clone()).await;
            assert_eq!(r.body["error"], "csrf", "{label}");
        }
        match who.as_str() {
            "admin" => {
                let r = h.call(&method, &path, Some(&operator), body.clone()).await;
                assert_eq!(r.status, StatusCode::FORBIDDEN, "{label} as operator: {}", r.text);
                assert_eq!(r.body["error"], "forbidden", "{label}");
            }
            // A session as for operators (room tokens: tests/calendar.rs).
            "operator" | "operator or teacher token" => {
                // Logging out would end the session the rest of the matrix uses: checked last, below.
                if pattern.contains("logout") {
                    continue;
                }
                let r = if pattern.ends_with("/import") {
                    // A CSV body, not JSON.
                    h.post_csv(
                        &path,
                        &operator,
                        "room,weekday,start,end,zone,teacher,title\nlab-2,tue,08:00,09:00,,T,X\n",
                    )
                    .await
                } else {
                    h.call(&method, &path, Some(&operator), body.clone()).await
                };
                assert!(r.status.is_success(), "{label} as operator: {} {}", r.status, r.text);
            }
            other => panic!("{label}: unknown role '{other}' in README"),
        }
    }
    let r = h.call("POST", "/admin/api/accounts/vic/disable", Some(&admin), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(h.call("POST", "/admin/api/logout", Some(&operator), None).await.status, StatusCode::NO_CONTENT);
}

each_backend!(unknown_api_routes_are_json_404s_and_bodies_must_be_json);
async fn unknown_api_routes_are_json_404s_and_bodies_must_be_json() {
    let h = harness().await;
    let (admin, _) = h.admin_and_operator().await;
    let r = h.call("GET", "/admin/api/nope", None, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.body["error"], "not_found");
    let req = axum::http::Request::post("/admin/api/rooms")
        .header(header::COOKIE, format!("lectern_admin={}", admin.cookie))
        .header("x-csrf-token", &admin.csrf)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(axum::body::Body::from("id=x"))
        .unwrap();
    let r = h.send(req).await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{}", r.text);
    assert_eq!(r.headers[header::CACHE_CONTROL], "no-store");
}

each_backend!(login_sets_a_strict_http_only_cookie_and_me_returns_the_same_csrf_token);
async fn login_sets_a_strict_http_only_cookie_and_me_returns_the_same_csrf_token() {
    let h = harness().await;
    let (admin, _) = h.admin_and_operator().await;
    let r = h.login_from("ada", ADMIN_PW, "192.0.2.1").await;
    let cookie = r.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && cookie.contains("Path=/admin"));
    assert!(!cookie.contains("Secure"), "plain HTTP hub: {cookie}");
    assert_eq!(r.body["role"], "admin");
    let s = session_of(&r);
    assert_eq!(s.cookie.len(), 43, "256 bits, base64url");
    let me = h.call("GET", "/admin/api/me", Some(&s), None).await;
    assert_eq!(me.body["csrfToken"], s.csrf.as_str());
    assert_eq!(me.body["username"], "ada");
    assert_ne!(s.csrf, admin.csrf, "each session has its own token");
    // Usernames are case-insensitive.
    assert_eq!(h.login_from("ADA", ADMIN_PW, "192.0.2.1").await.status, StatusCode::OK);
    // The cookie value is not what the database holds.
    let stored: Vec<String> =
        sqlx::query_scalar("SELECT id_hash FROM admin_sessions").fetch_all(&h.pool).await.unwrap();
    assert!(!stored.contains(&s.cookie));
}

each_backend!(cookies_are_secure_when_the_hub_is_behind_tls);
async fn cookies_are_secure_when_the_hub_is_behind_tls() {
    let h = harness_with(true).await;
    h.admin_and_operator().await;
    let r = h.login_from("ada", ADMIN_PW, "192.0.2.1").await;
    assert!(r.headers[header::SET_COOKIE].to_str().unwrap().ends_with("; Secure"));
}

each_backend!(unknown_user_and_wrong_password_get_the_same_answer);
async fn unknown_user_and_wrong_password_get_the_same_answer() {
    let h = harness().await;
    h.admin_and_operator().await;
    let a = h.login_from("ada", "wrong password!", "192.0.2.1").await;
    let b = h.login_from("nobody", "wrong password!", "192.0.2.2").await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!((a.status, a.text), (b.status, b.text));
}

each_backend!(sessions_end_after_twelve_idle_hours_but_not_while_used);
async fn sessions_end_after_twelve_idle_hours_but_not_while_used() {
    let h = harness().await;
    let (admin, _) = h.admin_and_operator().await;
    for _ in 0..3 {
        h.advance(11 * 3600);
        assert_eq!(h.call("GET", "/admin/api/me", Some(&admin), None).await.status, StatusCode::OK);
    }
    h.advance(12 * 3600 + 1);
    assert_eq!(h.call("GET", "/admin/api/me", Some(&admin), None).await.status, StatusCode::UNAUTHORIZED);
}

each_backend!(sessions_end_after_seven_days_however_busy);
async fn sessions_end_after_seven_days_however_busy() {
    let h = harness().await;
    let (admin, _) = h.admin_and_operator().await;
    for _ in 0..15 {
        h.advance(11 * 3600);
        assert_eq!(h.call("GET", "/admin/api/me", Some(&admin), None).await.status, StatusCode::OK);
    }
    h.advance(11 * 3600);
    assert_eq!(h.call("GET", "/admin/api/me", Some(&admin), None).await.status, StatusCode::UNAUTHORIZED);
}

each_backend!(logout_ends_one_session_and_logout_everywhere_ends_all);
async fn logout_ends_one_session_and_logout_everywhere_ends_all() {
    let h = harness().await;
    let (a1, _) = h.admin_and_operator().await;
    let a2 = h.login("ada", ADMIN_PW).await;
    let a3 = h.login("ada", ADMIN_PW).await;
    let r = h.call("POST", "/admin/api/logout", Some(&a1), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(r.headers[header::SET_COOKIE].to_str().unwrap().contains("Max-Age=0"));
    assert_eq!(h.call("GET", "/admin/api/me", Some(&a1), None).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(h.call("GET", "/admin/api/me", Some(&a3), None).await.status, StatusCode::OK);
    let r = h.call("POST", "/admin/api/logout-everywhere", Some(&a2), None).await;
    assert_eq!(r.body["sessionsEnded"], 2);
    for s in [&a2, &a3] {
        assert_eq!(h.call("GET", "/admin/api/me", Some(s), None).await.status, StatusCode::UNAUTHORIZED);
    }
}

each_backend!(a_disabled_account_loses_its_sessions_and_cannot_log_in);
async fn a_disabled_account_loses_its_sessions_and_cannot_log_in() {
    let h = harness().await;
    let (admin, operator) = h.admin_and_operator().await;
    let r = h.call("POST", "/admin/api/accounts/OTTO/disable", Some(&admin), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["disabled"], true);
    assert_eq!(h.call("GET", "/admin/api/me", Some(&operator), None).await.status, StatusCode::UNAUTHORIZED);
    let r = h.login_from("otto", OPERATOR_PW, "192.0.2.9").await;
    assert_eq!((r.status, r.body["detail"].as_str()), (StatusCode::UNAUTHORIZED, Some("wrong username or password")));
    let r = h.call("POST", "/admin/api/accounts/ada/disable", Some(&admin), None).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "not yourself");
    let r = h.call("POST", "/admin/api/accounts/ghost/disable", Some(&admin), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

each_backend!(operators_see_the_fleet);
async fn operators_see_the_fleet() {
    let h = harness().await;
    let (_, operator) = h.admin_and_operator().await;
    let r = h.call("GET", "/admin/api/devices", Some(&operator), None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body[0]["room"], "lab-1");
    assert_eq!(r.body[0]["lastSeen"], T0 + 5);
}

each_backend!(the_ui_pages_and_assets_are_served_without_a_session);
async fn the_ui_pages_and_assets_are_served_without_a_session() {
    let h = harness().await;
    for (path, ty) in [
        ("/admin", "text/html; charset=utf-8"),
        ("/admin/login", "text/html; charset=utf-8"),
        ("/admin/setup", "text/html; charset=utf-8"),
        ("/admin/fleet", "text/html; charset=utf-8"),
        ("/admin/assets/fleet.js", "text/javascript; charset=utf-8"),
        ("/admin/assets/rooms.js", "text/javascript; charset=utf-8"),
        ("/admin/assets/admin.css", "text/css; charset=utf-8"),
    ] {
        let r = h.call("GET", path, None, None).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert_eq!(r.headers[header::CONTENT_TYPE], ty, "{path}");
    }
    assert_eq!(h.call("GET", "/admin/assets/..%2FCargo.toml", None, None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(h.call("GET", "/admin/nope", None, None).await.body["error"], "not_found");
}
