//! Buildings as an entity: validated and audited like rooms, rooms refer to one (old clients still
//! send and read a building's name), and a slot's zone defaults room → building → hub.

mod common;

use axum::http::StatusCode;
use common::*;
use serde_json::json;

each_backend!(buildings_are_validated_audited_and_renamed_for_their_rooms);
async fn buildings_are_validated_audited_and_renamed_for_their_rooms() {
    let h = harness().await;
    let (_, s) = h.admin_and_operator().await;
    for (body, want) in [
        (json!({ "name": "" }), "name: required"),
        (json!({ "name": "North", "zone": "Europe/Atlantis" }), "zone: unknown time zone"),
        (json!({ "name": "North", "zone": "../etc/passwd" }), "zone:"),
        (json!({ "name": "North", "floor": 2 }), "floor: unknown field"),
        (json!({ "name": "x".repeat(101) }), "name:"),
        (json!({ "id": 3, "name": "North" }), "id:"),
    ] {
        let r = h.call("POST", "/admin/api/buildings", Some(&s), Some(body.clone())).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.text);
        assert!(r.body["detail"].as_str().unwrap().starts_with(want), "{body}: {}", r.text);
    }
    let r = h
        .call("POST", "/admin/api/buildings", Some(&s), Some(json!({ "name": "North", "zone": "Europe/Berlin" })))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let north = r.body["id"].as_i64().unwrap();
    assert_eq!(r.body["zone"], "Europe/Berlin");
    let r = h.call("POST", "/admin/api/buildings", Some(&s), Some(json!({ "name": "North" }))).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);

    // A room by building id answers the building's name too.
    let mut lab = room("lab-1");
    lab.as_object_mut().unwrap().remove("building");
    lab["buildingId"] = json!(north);
    let r = h.call("POST", "/admin/api/rooms", Some(&s), Some(lab)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!((r.body["building"].as_str(), r.body["buildingId"].as_i64()), (Some("North"), Some(north)));
    let r = h
        .call(
            "POST",
            "/admin/api/rooms",
            Some(&s),
            Some(json!({ "id": "x", "name": "X", "capacity": 2, "buildingId": 99 })),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(r.body["detail"].as_str().unwrap().starts_with("buildingId: no building 99"), "{}", r.text);

    // Renamed: the room's `building` follows.
    let r = h
        .call(
            "PUT",
            &format!("/admin/api/buildings/{north}"),
            Some(&s),
            Some(json!({ "name": "North wing", "zone": "Europe/Berlin" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = h.call("GET", "/admin/api/rooms/lab-1", Some(&s), None).await;
    assert_eq!(r.body["building"], "North wing");

    // Not deleted while it has rooms.
    let r = h.call("DELETE", &format!("/admin/api/buildings/{north}"), Some(&s), None).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert!(r.body["detail"].as_str().unwrap().contains("lab-1"), "{}", r.text);
    assert_eq!(h.call("DELETE", "/admin/api/rooms/lab-1", Some(&s), None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(
        h.call("DELETE", &format!("/admin/api/buildings/{north}"), Some(&s), None).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        h.call("DELETE", &format!("/admin/api/buildings/{north}"), Some(&s), None).await.status,
        StatusCode::NOT_FOUND
    );

    let actions: Vec<String> =
        h.audit_actions().await.into_iter().map(|a| a.1).filter(|a| a.starts_with("building.")).collect();
    assert_eq!(actions, ["building.create", "building.update", "building.delete"]);
}

each_backend!(an_old_client_sending_a_building_name_gets_a_building_row);
async fn an_old_client_sending_a_building_name_gets_a_building_row() {
    let h = harness().await;
    let (_, s) = h.admin_and_operator().await;
    for id in ["lab-1", "lab-2"] {
        let r = h.call("POST", "/admin/api/rooms", Some(&s), Some(room(id))).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        assert_eq!(r.body["building"], "Main");
    }
    let r = h.call("GET", "/admin/api/buildings", Some(&s), None).await;
    assert_eq!(r.body.as_array().unwrap().len(), 1, "one building for both rooms: {}", r.text);
    assert_eq!(r.body[0]["name"], "Main");
    // No building at all.
    let r = h.call("PUT", "/admin/api/rooms/lab-2", Some(&s), Some(json!({ "name": "Two", "capacity": 3 }))).await;
    assert_eq!((r.body["building"].as_str(), r.body["buildingId"].as_i64()), (Some(""), None), "{}", r.text);
}

each_backend!(free_text_buildings_are_migrated_into_building_rows);
async fn free_text_buildings_are_migrated_into_building_rows() {
    // The rows a hub had before buildings, migrated by 0009.
    let h = harness().await;
    let pool = &h.pool;
    for (id, building) in [("a", "North"), ("b", "North"), ("c", "")] {
        sqlx::query(
            "INSERT INTO admin_rooms (id, name, building, capacity, everyone_waits, recording, created_at, updated_at) \
             VALUES ($1, $2, $3, 1, FALSE, FALSE, 0, 0)",
        )
        .bind(id)
        .bind(id)
        .bind(building)
        .execute(pool)
        .await
        .unwrap();
    }
    // Re-run the data part of the migration as it ran on such a hub.
    let sql = match h.dialect {
        lectern_admin::db::Dialect::Sqlite => include_str!("../../hub/migrations/0009_buildings_and_term_calendar.sql"),
        lectern_admin::db::Dialect::Postgres => {
            include_str!("../../hub/migrations-pg/0009_buildings_and_term_calendar.sql")
        }
    };
    let data: Vec<&str> = sql
        .split(';')
        .filter(|q| q.contains("INSERT INTO admin_buildings") || q.contains("UPDATE admin_rooms SET building_id"))
        .collect();
    assert_eq!(data.len(), 2);
    for q in data {
        sqlx::query(q).execute(pool).await.unwrap();
    }
    let rows: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT r.id, b.name FROM admin_rooms r LEFT JOIN admin_buildings b ON b.id = r.building_id ORDER BY r.id",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(rows, [("a".into(), Some("North".into())), ("b".into(), Some("North".into())), ("c".into(), None)]);
}

each_backend!(a_slots_zone_defaults_to_its_room_then_its_building_then_the_hub);
async fn a_slots_zone_defaults_to_its_room_then_its_building_then_the_hub() {
    let h = harness().await;
    let (_, s) = h.admin_and_operator().await;
    let r = h
        .call(
            "POST",
            "/admin/api/buildings",
            Some(&s),
            Some(json!({ "name": "Sydney campus", "zone": "Australia/Sydney" })),
        )
        .await;
    let sydney = r.body["id"].as_i64().unwrap();
    let rooms = [
        json!({ "id": "own", "name": "Own zone", "capacity": 5, "buildingId": sydney, "zone": "America/New_York" }),
        json!({ "id": "inherits", "name": "Building's", "capacity": 5, "buildingId": sydney }),
        json!({ "id": "plain", "name": "Hub's", "capacity": 5 }),
    ];
    for body in rooms {
        let r = h.call("POST", "/admin/api/rooms", Some(&s), Some(body)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    }
    let r = h
        .call(
            "POST",
            "/admin/api/rooms",
            Some(&s),
            Some(json!({ "id": "bad", "name": "B", "capacity": 5, "zone": "Mars/Olympus" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body["detail"].as_str().unwrap().starts_with("zone:"), "{}", r.text);
    for (room, want) in [("own", "America/New_York"), ("inherits", "Australia/Sydney"), ("plain", "UTC")] {
        let slot =
            json!({ "roomId": room, "weekday": "mon", "start": "08:00", "end": "09:00", "teacher": "T", "title": "X" });
        let r = h.call("POST", "/admin/api/schedules", Some(&s), Some(slot)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        assert_eq!(r.body["zone"], want, "{room}");
    }
}
