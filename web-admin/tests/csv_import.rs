//! Importing a school's timetable CSV: a report naming each bad line and field, nothing imported on
//! any error, all slots in one go otherwise; size and type limits.

mod common;

use axum::http::StatusCode;
use common::*;
use serde_json::json;

const HEADER: &str = "room,weekday,start,end,zone,teacher,title\n";

async fn setup() -> (Harness, Session) {
    let h = harness().await;
    let (_, s) = h.admin_and_operator().await;
    let r = h
        .call("POST", "/admin/api/buildings", Some(&s), Some(json!({ "name": "Sydney", "zone": "Australia/Sydney" })))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    for body in [
        json!({ "id": "lab-1", "name": "Lab", "capacity": 9, "building": "Sydney" }),
        json!({ "id": "lab-2", "name": "Lab 2", "capacity": 9 }),
    ] {
        assert_eq!(h.call("POST", "/admin/api/rooms", Some(&s), Some(body)).await.status, StatusCode::CREATED);
    }
    let slot = json!({ "roomId": "lab-2", "weekday": "wed", "start": "10:00", "end": "11:00", "teacher": "T", "title": "Existing" });
    assert_eq!(h.call("POST", "/admin/api/schedules", Some(&s), Some(slot)).await.status, StatusCode::CREATED);
    (h, s)
}

async fn count(h: &Harness) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM admin_schedules").fetch_one(&h.pool).await.unwrap()
}

each_backend!(bad_lines_are_reported_by_line_and_field_and_nothing_is_imported);
async fn bad_lines_are_reported_by_line_and_field_and_nothing_is_imported() {
    let (h, s) = setup().await;
    let file = format!(
        "{HEADER}lab-1,mon,08:00,09:00,,Ms Curie,Physics\n\
         lab-1,monday,08:00,09:00,,Ms Curie,Chemistry\n\
         \n\
         nope,tue,08:00,09:00,,Ms Curie,Biology\n\
         lab-2,wed,10:30,11:30,,Mr Bohr,Maths\n\
         lab-1,mon,08:30,09:30,Australia/Sydney,Mr Bohr,Overlap\n\
         lab-2,thu,09:00,08:00,Mars/Base,,History\n"
    );
    let r = h.post_csv("/admin/api/schedules/import", &s, &file).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    let problems: Vec<(u64, &str)> = r.body["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["line"].as_u64().unwrap(), p["field"].as_str().unwrap()))
        .collect();
    assert_eq!(
        problems,
        [(3, "weekday"), (5, "room"), (6, "start"), (7, "start"), (8, "end"), (8, "zone"), (8, "teacher")]
    );
    let messages: Vec<&str> =
        r.body["problems"].as_array().unwrap().iter().map(|p| p["message"].as_str().unwrap()).collect();
    assert!(messages[2].contains("overlaps timetable slot 1 'Existing'"), "{messages:?}");
    assert_eq!(messages[3], "overlaps line 2 in room lab-1");
    assert!(r.body["detail"].as_str().unwrap().ends_with("nothing was imported"), "{}", r.text);
    assert_eq!(count(&h).await, 1, "nothing imported");

    // Fixed: all of it, zones from the file, the room's building, or the hub.
    let fixed = format!(
        "{HEADER}lab-1,mon,08:00,09:00,,Ms Curie,Physics\n\
         lab-1,mon,09:00,10:00,,Ms Curie,Chemistry\n\
         lab-2,tue,08:00,09:00,,Ms Curie,Biology\n\
         lab-2,wed,14:00,15:00,Europe/Berlin,\"Bohr, N.\",\"Maths, advanced\"\n"
    );
    let r = h.post_csv("/admin/api/schedules/import", &s, &fixed).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.body["imported"], 4);
    let zones: Vec<&str> = r.body["slots"].as_array().unwrap().iter().map(|s| s["zone"].as_str().unwrap()).collect();
    assert_eq!(zones, ["Australia/Sydney", "Australia/Sydney", "UTC", "Europe/Berlin"]);
    assert_eq!(r.body["slots"][3]["teacher"], "Bohr, N.");
    assert_eq!(count(&h).await, 5);
    let audit = h.audit_actions().await;
    assert_eq!(audit.last().map(|a| a.1.as_str()), Some("schedule.import"));
}

each_backend!(a_file_that_is_not_a_timetable_is_a_400_a_big_one_a_413);
async fn a_file_that_is_not_a_timetable_is_a_400_a_big_one_a_413() {
    let (h, s) = setup().await;
    for (file, field) in [("room;weekday;start;end;zone;teacher;title\n", "header"), ("", "header"), (HEADER, "line")] {
        let r = h.post_csv("/admin/api/schedules/import", &s, file).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{file:?}: {}", r.text);
        assert_eq!(r.body["problems"][0]["field"], field, "{}", r.text);
    }
    let big = format!("{HEADER}{}", "lab-1,mon,08:00,09:00,,Ms Curie,Physics\n".repeat(20_000));
    let r = h.post_csv("/admin/api/schedules/import", &s, &big).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text);
    assert_eq!(r.body["error"], "payload_too_large");
    // JSON is not a timetable file.
    let r = h.call("POST", "/admin/api/schedules/import", Some(&s), Some(json!({ "room": "lab-1" }))).await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{}", r.text);
    assert_eq!(count(&h).await, 1);
}
