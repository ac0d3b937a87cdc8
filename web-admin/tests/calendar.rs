//! The term calendar's API: terms, holidays and one-off changes validated naming the field and
//! audited, and the week view and a slot's links honouring them.

mod common;

use axum::http::StatusCode;
use common::*;
use serde_json::{Value, json};

fn at(utc: &str) -> u64 {
    utc.parse::<jiff::Timestamp>().unwrap().as_second() as u64
}

/// A Berlin building with room lab-1 and slot 1, Monday 08:00–09:00 (in the building's zone).
async fn berlin() -> (Harness, Session) {
    let h = harness().await;
    let (_, s) = h.admin_and_operator().await;
    let r = h
        .call("POST", "/admin/api/buildings", Some(&s), Some(json!({ "name": "Berlin", "zone": "Europe/Berlin" })))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let r = h
        .call(
            "POST",
            "/admin/api/rooms",
            Some(&s),
            Some(json!({ "id": "lab-1", "name": "Lab", "capacity": 9, "building": "Berlin" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let slot = json!({ "roomId": "lab-1", "weekday": "mon", "start": "08:00", "end": "09:00", "teacher": "Ms Curie", "title": "Physics" });
    let r = h.call("POST", "/admin/api/schedules", Some(&s), Some(slot)).await;
    assert_eq!((r.status, &r.body["zone"]), (StatusCode::CREATED, &json!("Europe/Berlin")), "{}", r.text);
    (h, s)
}

async fn post(h: &Harness, s: &Session, path: &str, body: Value) -> common::Resp {
    h.call("POST", &format!("/admin/api/{path}"), Some(s), Some(body)).await
}

each_backend!(bad_terms_holidays_and_changes_get_a_400_naming_the_field);
async fn bad_terms_holidays_and_changes_get_a_400_naming_the_field() {
    let (h, s) = berlin().await;
    let cases: Vec<(&str, Value, &str)> = vec![
        ("terms", json!({ "name": "T", "start": "2027-03-01", "end": "2027-02-28" }), "end: must be on or after start"),
        ("terms", json!({ "name": "T", "start": "2027-02-30", "end": "2027-03-01" }), "start:"),
        (
            "terms",
            json!({ "name": "T", "start": "1/3/2027", "end": "2027-03-01" }),
            "start: must be a date as YYYY-MM-DD",
        ),
        ("terms", json!({ "name": "", "start": "2027-03-01", "end": "2027-03-01" }), "name: required"),
        (
            "holidays",
            json!({ "name": "H", "start": "2027-03-01", "end": "2027-03-01", "buildingId": 42 }),
            "buildingId: no building 42",
        ),
        (
            "holidays",
            json!({ "name": "H", "start": "2027-03-01", "end": "2027-03-01", "colour": 1 }),
            "colour: unknown field",
        ),
        ("exceptions", json!({ "kind": "skip" }), "kind: must be one of"),
        ("exceptions", json!({ "kind": "cancel", "slotId": 7, "date": "2027-03-22" }), "slotId: no timetable slot 7"),
        (
            "exceptions",
            json!({ "kind": "cancel", "slotId": 1, "date": "2027-03-23" }),
            "date: 2027-03-23 is a tue, but timetable slot 1 is on mon",
        ),
        (
            "exceptions",
            json!({ "kind": "move", "slotId": 1, "date": "2027-03-22", "toDate": "2027-03-23", "start": "10:00", "end": "09:00" }),
            "end: must be after start",
        ),
        (
            "exceptions",
            json!({ "kind": "extra", "roomId": "nope", "toDate": "2027-03-23", "start": "10:00", "end": "11:00", "teacher": "T", "title": "X" }),
            "roomId: no configured room",
        ),
        (
            "exceptions",
            json!({ "kind": "extra", "roomId": "lab-1", "toDate": "2027-03-23", "start": "10:00", "end": "11:00", "zone": "Nowhere/Land", "teacher": "T", "title": "X" }),
            "zone:",
        ),
    ];
    for (path, body, want) in cases {
        let r = post(&h, &s, path, body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path} {body}: {}", r.text);
        assert!(r.body["detail"].as_str().unwrap().starts_with(want), "{path} {body}: {}", r.text);
    }
    let cancel = json!({ "kind": "cancel", "slotId": 1, "date": "2027-03-22" });
    assert_eq!(post(&h, &s, "exceptions", cancel.clone()).await.status, StatusCode::CREATED);
    let r = post(&h, &s, "exceptions", cancel).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    let actions: Vec<String> =
        h.audit_actions().await.into_iter().map(|a| a.1).filter(|a| a.starts_with("lesson.")).collect();
    assert_eq!(actions, ["lesson.cancel"]);
}

each_backend!(the_week_view_and_the_links_honour_terms_holidays_and_changes);
async fn the_week_view_and_the_links_honour_terms_holidays_and_changes() {
    let (h, _) = berlin().await;
    h.now.store(at("2027-03-15T05:00:00Z"), std::sync::atomic::Ordering::SeqCst);
    // Years later: sessions have ended.
    let s = h.login("otto", OPERATOR_PW).await;
    let building = 1;
    for (path, body) in [
        ("terms", json!({ "name": "Spring", "start": "2027-03-01", "end": "2027-04-16", "buildingId": building })),
        // A hub-wide term does not apply where the building has its own.
        ("terms", json!({ "name": "Other", "start": "2027-05-01", "end": "2027-05-30" })),
        ("holidays", json!({ "name": "Easter Monday", "start": "2027-03-29", "end": "2027-03-29" })),
        ("exceptions", json!({ "kind": "cancel", "slotId": 1, "date": "2027-03-22" })),
        (
            "exceptions",
            json!({ "kind": "move", "slotId": 1, "date": "2027-04-05", "toDate": "2027-04-06", "start": "10:00", "end": "11:00" }),
        ),
        (
            "exceptions",
            json!({ "kind": "extra", "roomId": "lab-1", "toDate": "2027-03-28", "start": "02:30", "end": "03:30", "teacher": "Mr Bohr", "title": "Revision" }),
        ),
    ] {
        let r = post(&h, &s, path, body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{path}: {}", r.text);
    }
    let r = h.call("GET", "/admin/api/lessons?from=2027-03-15&days=35", Some(&s), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let got: Vec<(u64, &str, &str, &str)> = r.body["lessons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["startsAt"].as_u64().unwrap(),
                l["kind"].as_str().unwrap(),
                l["start"].as_str().unwrap(),
                l["title"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (at("2027-03-15T07:00:00Z"), "regular", "08:00", "Physics"),
            // 22 March cancelled; the extra lesson at a skipped time starts at 03:00 CEST.
            (at("2027-03-28T01:00:00Z"), "extra", "02:30", "Revision"),
            // 29 March a holiday; 5 April moved to Tuesday 10:00.
            (at("2027-04-06T08:00:00Z"), "moved", "10:00", "Physics"),
            (at("2027-04-12T06:00:00Z"), "regular", "08:00", "Physics"),
            // 19 April: after the building's term.
        ]
    );
    // Links on the cancelled Monday are for the next lesson that happens.
    h.now.store(at("2027-03-22T06:30:00Z"), std::sync::atomic::Ordering::SeqCst);
    let (admin, s) = (h.login("ada", ADMIN_PW).await, h.login("otto", OPERATOR_PW).await);
    let r = h.call("GET", "/admin/api/schedules/1/links", Some(&admin), None).await;
    assert_eq!(r.body["startsAt"].as_u64(), Some(at("2027-04-06T08:00:00Z")), "{}", r.text);
    for bad in ["from=2027-3-1", "days=0", "days=43", "week=1"] {
        let r = h.call("GET", &format!("/admin/api/lessons?{bad}"), Some(&s), None).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.text);
    }
    // Deleting a change restores the lesson.
    assert_eq!(h.call("DELETE", "/admin/api/exceptions/1", Some(&s), None).await.status, StatusCode::NO_CONTENT);
    let r = h.call("GET", "/admin/api/lessons?from=2027-03-22&days=1", Some(&s), None).await;
    assert_eq!(r.body["lessons"][0]["startsAt"].as_u64(), Some(at("2027-03-22T07:00:00Z")), "{}", r.text);
}

each_backend!(a_rooms_calendar_is_for_sessions_and_that_rooms_teachers);
async fn a_rooms_calendar_is_for_sessions_and_that_rooms_teachers() {
    let (h, s) = berlin().await;
    h.now.store(at("2027-03-01T05:00:00Z"), std::sync::atomic::Ordering::SeqCst);
    let s = {
        drop(s);
        h.login("otto", OPERATOR_PW).await
    };
    let r = post(&h, &s, "terms", json!({ "name": "Spring", "start": "2027-03-01", "end": "2027-04-16" })).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let r = post(&h, &s, "holidays", json!({ "name": "Easter", "start": "2027-03-29", "end": "2027-04-09" })).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let r = post(&h, &s, "rooms", room("lab-2")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);

    let path = "/admin/api/rooms/lab-1/calendar.ics";
    let r = h.call("GET", path, Some(&s), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.headers["content-type"], "text/calendar; charset=utf-8");
    assert!(r.text.contains("\r\nDTSTART;TZID=Europe/Berlin:20270301T080000\r\n"), "{}", r.text);
    assert!(r.text.contains("\r\nRRULE:FREQ=WEEKLY;BYDAY=MO;UNTIL=20270416T215959Z\r\n"), "{}", r.text);
    assert!(r.text.contains("\r\nEXDATE;TZID=Europe/Berlin:20270329T080000,20270405T080000\r\n"), "{}", r.text);
    assert!(r.text.contains("\r\nBEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\n"), "{}", r.text);

    use lectern_proto::Role;
    let teacher = h.get_bearer(path, &h.token("lab-1", Role::Teacher)).await;
    assert_eq!((teacher.status, teacher.text.as_str()), (StatusCode::OK, r.text.as_str()));
    for (token, want) in [
        (h.token("lab-2", Role::Teacher), StatusCode::FORBIDDEN),
        (h.token("lab-1", Role::Student), StatusCode::FORBIDDEN),
        (h.token("lab-1", Role::Device), StatusCode::FORBIDDEN),
        ("not.a.token".to_owned(), StatusCode::UNAUTHORIZED),
    ] {
        let r = h.get_bearer(path, &token).await;
        assert_eq!(r.status, want, "{}", r.text);
    }
    let r = h.get_bearer(path, "forged.token.sig").await;
    assert!(r.headers["www-authenticate"].to_str().unwrap().starts_with("Bearer"), "{:?}", r.headers);
    let anon = h.call("GET", path, None, None).await;
    assert_eq!(anon.status, StatusCode::UNAUTHORIZED);
    // A token of lab-1 opens nothing else of the admin.
    let r = h.get_bearer("/admin/api/rooms/lab-1", &h.token("lab-1", Role::Teacher)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    let r = h.call("GET", "/admin/api/rooms/nope/calendar.ics", Some(&s), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}
