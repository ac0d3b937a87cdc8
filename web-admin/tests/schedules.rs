//! The timetable API: validation naming the field, overlaps refused naming the other slot, the audit
//! trail, and a slot's lesson links whose tokens cover the right room, role and time window.

mod common;

use axum::http::StatusCode;
use base64::Engine;
use common::*;
use serde_json::{Value, json};

fn slot(room: &str, day: &str, start: &str, end: &str) -> Value {
    json!({ "roomId": room, "weekday": day, "start": start, "end": end, "teacher": "Ms Curie", "title": "Physics" })
}

async fn with_room() -> (Harness, Session) {
    let h = harness().await;
    let (_, operator) = h.admin_and_operator().await;
    for id in ["lab-1", "lab-2"] {
        let r = h.call("POST", "/admin/api/rooms", Some(&operator), Some(room(id))).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    }
    (h, operator)
}

fn claims(link: &str) -> Value {
    let token = link.split("?token=").nth(1).expect("a token in the link");
    let payload = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

each_backend!(bad_timetable_slots_get_a_400_naming_the_field);
async fn bad_timetable_slots_get_a_400_naming_the_field() {
    let (h, s) = with_room().await;
    let cases: Vec<(Value, &str)> = vec![
        (json!({ "roomId": "nope" }), "roomId: no configured room"),
        (json!({ "roomId": "bad room!" }), "roomId:"),
        (json!({ "weekday": "monday" }), "weekday:"),
        (json!({ "start": "8:00" }), "start:"),
        (json!({ "start": "24:00", "end": "24:00" }), "start:"),
        (json!({ "end": "25:00" }), "end:"),
        (json!({ "start": "09:00", "end": "09:00" }), "end: must be after start"),
        (json!({ "start": "10:00", "end": "09:00" }), "end: must be after start"),
        (json!({ "teacher": "  " }), "teacher: required"),
        (json!({ "title": "x".repeat(101) }), "title:"),
        (json!({ "utcOffsetMinutes": 900 }), "utcOffsetMinutes:"),
        (json!({ "utcOffsetMinutes": "60" }), "utcOffsetMinutes:"),
        (json!({ "colour": "red" }), "colour: unknown field"),
        (json!({ "id": 7 }), "id:"),
    ];
    for (patch, want) in cases {
        let mut body = slot("lab-1", "mon", "08:00", "09:00");
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        let r = h.call("POST", "/admin/api/schedules", Some(&s), Some(body)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{patch}: {}", r.text);
        assert!(r.body["detail"].as_str().unwrap().starts_with(want), "{patch}: {}", r.text);
    }
    let mut missing = slot("lab-1", "mon", "08:00", "09:00");
    missing.as_object_mut().unwrap().remove("teacher");
    let r = h.call("POST", "/admin/api/schedules", Some(&s), Some(missing)).await;
    assert_eq!(r.body["detail"], "teacher: required");
    let r = h.call("PUT", "/admin/api/schedules/abc", Some(&s), Some(slot("lab-1", "mon", "08:00", "09:00"))).await;
    assert!(r.body["detail"].as_str().unwrap().starts_with("id:"), "{}", r.text);
    let r = h.call("PUT", "/admin/api/schedules/9", Some(&s), Some(slot("lab-1", "mon", "08:00", "09:00"))).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(h.call("DELETE", "/admin/api/schedules/9", Some(&s), None).await.status, StatusCode::NOT_FOUND);
    let r = h.call("GET", "/admin/api/schedules/9/links", Some(&s), None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "minting a teacher's link needs an admin: {}", r.text);
    let admin = h.login("ada", ADMIN_PW).await;
    assert_eq!(h.call("GET", "/admin/api/schedules/9/links", Some(&admin), None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(h.call("GET", "/admin/api/schedules", Some(&s), None).await.body, json!([]));
}

each_backend!(overlapping_slots_in_one_room_are_refused_naming_the_other);
async fn overlapping_slots_in_one_room_are_refused_naming_the_other() {
    let (h, s) = with_room().await;
    let r = h.call("POST", "/admin/api/schedules", Some(&s), Some(slot("lab-1", "mon", "08:00", "09:00"))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.body["zone"], "UTC", "defaults to the hub's zone");
    assert_eq!(r.body["zoneNeeded"], false);
    let r = h.call("POST", "/admin/api/schedules", Some(&s), Some(slot("lab-1", "mon", "08:30", "10:00"))).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert_eq!(r.body["detail"], "start: overlaps timetable slot 1 'Physics' in room lab-1 (mon 08:00–09:00)");
    // Another zone: 09:30 in Lagos (UTC+1 all year) is 08:30 UTC.
    let mut shifted = slot("lab-1", "mon", "09:30", "10:00");
    shifted["zone"] = json!("Africa/Lagos");
    assert_eq!(h.call("POST", "/admin/api/schedules", Some(&s), Some(shifted)).await.status, StatusCode::CONFLICT);
    // The fixed offsets of before are refused, naming what to send instead; so is an unknown zone.
    let mut old = slot("lab-1", "fri", "09:30", "10:00");
    old["utcOffsetMinutes"] = json!(60);
    let r = h.call("POST", "/admin/api/schedules", Some(&s), Some(old)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body["detail"].as_str().unwrap().starts_with("utcOffsetMinutes: "), "{}", r.text);
    let mut unknown = slot("lab-1", "fri", "09:30", "10:00");
    unknown["zone"] = json!("Europe/Atlantis");
    let r = h.call("POST", "/admin/api/schedules", Some(&s), Some(unknown)).await;
    assert_eq!(r.body["detail"], "zone: unknown time zone 'Europe/Atlantis' (an IANA name such as Europe/Berlin)");
    // Back to back, another day, another room: all fine.
    for body in [
        slot("lab-1", "mon", "09:00", "10:00"),
        slot("lab-1", "tue", "08:00", "09:00"),
        slot("lab-2", "mon", "08:00", "24:00"),
    ] {
        let r = h.call("POST", "/admin/api/schedules", Some(&s), Some(body)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    }
    // A slot does not collide with itself when edited, but does with its neighbour.
    let r = h.call("PUT", "/admin/api/schedules/1", Some(&s), Some(slot("lab-1", "mon", "07:30", "09:00"))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = h.call("PUT", "/admin/api/schedules/1", Some(&s), Some(slot("lab-1", "mon", "07:30", "09:01"))).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert!(r.body["detail"].as_str().unwrap().contains("timetable slot 2"), "{}", r.text);
    let list = h.call("GET", "/admin/api/schedules", Some(&s), None).await.body;
    let order: Vec<_> = list.as_array().unwrap().iter().map(|l| l["id"].as_i64().unwrap()).collect();
    assert_eq!(order, vec![1, 2, 3, 4], "by room, weekday, start");
    assert_eq!(list[0]["start"], "07:30");
    assert_eq!(list[3]["end"], "24:00");
}

each_backend!(changes_are_audited_and_a_deleted_room_takes_its_timetable_slots);
async fn changes_are_audited_and_a_deleted_room_takes_its_timetable_slots() {
    let (h, s) = with_room().await;
    h.call("POST", "/admin/api/schedules", Some(&s), Some(slot("lab-1", "mon", "08:00", "09:00"))).await;
    let r = h.call("PUT", "/admin/api/schedules/1", Some(&s), Some(slot("lab-2", "fri", "08:00", "09:00"))).await;
    assert_eq!((r.status, &r.body["roomId"]), (StatusCode::OK, &json!("lab-2")), "{}", r.text);
    let admin = h.login("ada", ADMIN_PW).await;
    h.call("GET", "/admin/api/schedules/1/links", Some(&admin), None).await;
    assert_eq!(h.call("DELETE", "/admin/api/schedules/1", Some(&s), None).await.status, StatusCode::NO_CONTENT);
    h.call("POST", "/admin/api/schedules", Some(&s), Some(slot("lab-1", "mon", "08:00", "09:00"))).await;
    assert_eq!(h.call("DELETE", "/admin/api/rooms/lab-1", Some(&s), None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(h.call("GET", "/admin/api/schedules", Some(&s), None).await.body, json!([]));
    let actions: Vec<_> = h
        .audit_actions()
        .await
        .into_iter()
        .filter(|a| a.1.starts_with("schedule."))
        .map(|(actor, action, target, _)| format!("{actor} {action} {target}"))
        .collect();
    assert_eq!(
        actions,
        [
            "otto schedule.create 1",
            "otto schedule.update 1",
            "ada schedule.links 1",
            "otto schedule.delete 1",
            "otto schedule.create 2"
        ]
    );
}

each_backend!(links_carry_tokens_for_the_current_or_next_occurrence);
async fn links_carry_tokens_for_the_current_or_next_occurrence() {
    let (h, operator) = with_room().await;
    // Slots are the operators'; minting a teacher's link is an admin's.
    let s = h.login("ada", ADMIN_PW).await;
    // T0 is Tuesday 2023-11-14 22:13:20 UTC. Wednesday 08:00 in Berlin (winter, UTC+1) is 07:00 UTC.
    let mut body = slot("lab-1", "wed", "08:00", "09:00");
    body["zone"] = json!("Europe/Berlin");
    body["teacher"] = json!("Ms Curie");
    assert_eq!(h.call("POST", "/admin/api/schedules", Some(&operator), Some(body)).await.status, StatusCode::CREATED);
    let tuesday = T0 - T0 % 86_400;
    let start = tuesday + 86_400 + 7 * 3600;
    let r = h.call("GET", "/admin/api/schedules/1/links", Some(&s), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["baseUrl"], Value::Null, "the admin shares the hub's origin: links are relative to it");
    assert_eq!((r.body["startsAt"].as_u64(), r.body["endsAt"].as_u64()), (Some(start), Some(start + 3600)));
    // The slot's id, also under its old name (`lessonId`) for callers written before the rename.
    assert_eq!((r.body["slotId"].as_i64(), r.body["lessonId"].as_i64()), (Some(1), Some(1)));
    let teacher_link = r.body["teacher"].as_str().unwrap();
    let student_link = r.body["student"].as_str().unwrap();
    assert!(teacher_link.starts_with("/join/lab-1?token="), "{teacher_link}");
    assert!(student_link.starts_with("/join/lab-1?token="), "{student_link}");
    let (t, st) = (claims(teacher_link), claims(student_link));
    for c in [&t, &st] {
        assert_eq!(c["room"], "lab-1");
        assert_eq!(c["nbf"].as_u64(), Some(start - 15 * 60));
        assert_eq!(c["exp"].as_u64(), Some(start + 3600));
        assert_eq!(c["sub"].as_str().unwrap().len(), 32);
    }
    assert_eq!((&t["role"], &t["name"], t.get("guest")), (&json!("teacher"), &json!("Ms Curie"), None));
    assert_eq!((&st["role"], &st["name"], &st["guest"]), (&json!("student"), &Value::Null, &json!(true)));
    assert_ne!(t["jti"], st["jti"]);
    assert_ne!(t["sub"], st["sub"]);
    // During the lesson the links are for this occurrence; after it, for next week's.
    h.now.store(start + 1800, std::sync::atomic::Ordering::SeqCst);
    let r = h.call("GET", "/admin/api/schedules/1/links", Some(&s), None).await;
    assert_eq!(r.body["startsAt"].as_u64(), Some(start));
    h.now.store(start + 3600, std::sync::atomic::Ordering::SeqCst);
    let r = h.call("GET", "/admin/api/schedules/1/links", Some(&s), None).await;
    assert_eq!(r.body["startsAt"].as_u64(), Some(start + 7 * 86_400));
    assert_eq!(claims(r.body["student"].as_str().unwrap())["exp"].as_u64(), Some(start + 7 * 86_400 + 3600));
}

each_backend!(slots_saved_with_a_fixed_offset_take_the_hubs_zone_or_wait_for_one);
async fn slots_saved_with_a_fixed_offset_take_the_hubs_zone_or_wait_for_one() {
    let (h, s) = with_room().await;
    // Two slots as the hub saved them before zones: one at the hub zone's offset, one not.
    for (day, offset) in [("mon", 60), ("tue", -300)] {
        let weekday = ["mon", "tue"].iter().position(|d| *d == day).unwrap() as i64;
        sqlx::query(
            "INSERT INTO admin_schedules (room_id, weekday, start_min, end_min, utc_offset_min, teacher, title, \
             created_at, updated_at) VALUES ('lab-1', $1, 480, 540, $2, 'Ms Curie', 'Physics', 0, 0)",
        )
        .bind(weekday)
        .bind(offset)
        .execute(&h.pool)
        .await
        .unwrap();
    }
    // January: Berlin is at UTC+1.
    let winter = 1_799_000_000; // 2027-01-03
    assert_eq!(lectern_admin::schedule::migrate_offsets(&h.pool, "Europe/Berlin", winter).await.unwrap(), (1, 1));
    // Decided once: in summer (UTC+2) nothing changes again.
    let summer = 1_814_000_000; // 2027-06-25
    assert_eq!(lectern_admin::schedule::migrate_offsets(&h.pool, "Europe/Berlin", summer).await.unwrap(), (0, 0));
    let list = h.call("GET", "/admin/api/schedules", Some(&s), None).await.body;
    assert_eq!((&list[0]["zone"], &list[0]["zoneNeeded"]), (&json!("Europe/Berlin"), &json!(false)));
    assert_eq!((&list[1]["zone"], &list[1]["zoneNeeded"]), (&Value::Null, &json!(true)));
    // A slot without a zone runs no lesson: no links, not in the scheduler's list, until it has one.
    let admin = h.login("ada", ADMIN_PW).await;
    let r = h.call("GET", "/admin/api/schedules/2/links", Some(&admin), None).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    let slots = lectern_admin::schedule::all_slots(&h.pool).await.unwrap();
    assert_eq!(slots.iter().map(|l| l.id).collect::<Vec<_>>(), vec![1]);
    let mut fixed = slot("lab-1", "tue", "08:00", "09:00");
    fixed["zone"] = json!("America/New_York");
    let r = h.call("PUT", "/admin/api/schedules/2", Some(&s), Some(fixed)).await;
    assert_eq!((r.status, &r.body["zoneNeeded"]), (StatusCode::OK, &json!(false)), "{}", r.text);
    assert_eq!(lectern_admin::schedule::all_slots(&h.pool).await.unwrap().len(), 2);
}
