//! The lesson page's endpoints in-process (a real store and recordings directory): a teacher or
//! admin of the room reads a lesson with its files (placed by `startedAt`), chat (private
//! messages marked), attendance and polls; a share makes a signed link whose view has no private
//! message, no attendance and no names in the polls; bad ids, other rooms, other roles, forged
//! and expired links are refused with the right status and a JSON error.

use std::time::Duration;

use axum::Router;
use axum::http::{Method, StatusCode};
use base64::Engine;
use lectern_common::time::{unix_ms, unix_secs};
use lectern_hub::http::{AdminAt, Edge, app};
use lectern_hub::media_io::Outlets;
use lectern_hub::recording::{EndReason, LessonChange};
use lectern_hub::store::{SavedReport, Store, StoreEvent, Transport};
use lectern_hub::token::TokenKey;
use lectern_proto::classroom::{ChatMessage, ChatMessageId};
use lectern_proto::{Claims, LessonId, ParticipantId, Role, RoomId};
use sha2::{Digest, Sha256};

mod in_process;
use in_process::{Resp, SECRET, claims, issue, send, state};

struct Hub {
    app: Router,
    lesson: LessonId,
    started: u64,
    _dir: tempfile::TempDir,
}

fn token(room: &str, role: Role) -> String {
    issue(&Claims { name: Some("Ms Lovelace".into()), ..claims(room, role, "test", 600) })
}

fn chat(id: u64, from: &str, to: Option<u64>, text: &str, sent_at: u64) -> StoreEvent {
    StoreEvent::Chat {
        room: RoomId::parse("lab-1").expect("a room"),
        message: ChatMessage {
            id: ChatMessageId(id),
            from: ParticipantId(id),
            from_name: from.into(),
            from_role: Role::Student,
            to: to.map(ParticipantId),
            text: text.into(),
            sent_at,
            file: None,
        },
    }
}

/// A lesson of room `lab-1` that ran from 10 min ago until 1 min ago, with chat (one private
/// message, one sent after it ended), a teacher's session, its saved report and a box's file.
async fn hub() -> Hub {
    let dir = tempfile::tempdir().expect("a temp dir");
    let store = Store::open(dir.path()).await.expect("a store");
    let room = RoomId::parse("lab-1").expect("a room");
    let started = unix_ms() - 600_000;
    let ended = unix_ms() - 60_000;
    let lesson = LessonId::new(&room, started);
    store
        .write_lesson(&LessonChange::Started { lesson: lesson.clone(), room: room.clone(), at: started }, 0)
        .await
        .expect("a lesson row");
    let tx = store.clone().spawn_writer(Default::default());
    let events = vec![
        StoreEvent::Joined {
            participant: ParticipantId(1),
            room: room.clone(),
            subject: "t".into(),
            name: "Ms Lovelace".into(),
            role: Role::Teacher,
            transport: Transport::Browser,
            at: started / 1000 + 1,
        },
        chat(1, "Ada", None, "Good morning", started + 5_000),
        chat(2, "Ada", Some(1), "A private question", started + 6_000),
        chat(3, "Bob", None, "After the lesson", ended + 10_000),
        StoreEvent::LessonSaved {
            room: room.clone(),
            at: ended / 1000,
            report: SavedReport {
                attendance_csv: String::new(),
                attendance_json: r#"{"generatedAt":1,"people":[{"name":"Ada","role":"student","intervals":[],"totalMs":540000}]}"#.into(),
                polls_csv: String::new(),
                polls_json: r#"[{"question":"2+2?","respondents":1,"options":[{"text":"4","votes":1}],"responses":[{"name":"Ada","choices":[0]}]}]"#.into(),
            },
        },
        StoreEvent::Lesson(LessonChange::Ended { lesson: lesson.clone(), at: ended, reason: EndReason::Teacher }),
    ];
    for ev in events {
        tx.send(ev).await.expect("the writer runs");
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while store.lesson_row(&lesson).await.expect("a read").and_then(|r| r.ended_at).is_none() {
        assert!(tokio::time::Instant::now() < deadline, "the writer did not end the lesson");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let edge = Edge { recordings_dir: Some(dir.path().join("recordings")), ..Edge::default() };
    let state = state(store, Outlets::default(), Default::default(), edge);
    let hub = Hub { app: app(state, AdminAt::Here), lesson, started, _dir: dir };
    hub.upload("1700000000000-camera-000.mp4", started + 1_200).await;
    hub
}

impl Hub {
    async fn send(&self, method: Method, path: &str, headers: &[(&str, String)], body: Vec<u8>) -> Resp {
        send(&self.app, method, path, headers, body).await
    }

    async fn get(&self, path: &str, auth: Option<&str>) -> Resp {
        let headers: Vec<(&str, String)> = auth.map(|t| ("authorization", format!("Bearer {t}"))).into_iter().collect();
        self.send(Method::GET, path, &headers, Vec::new()).await
    }

    /// A box's whole file in one chunk, starting at `started_at`.
    async fn upload(&self, name: &str, started_at: u64) {
        let data: Vec<u8> = (0..4096u32).map(|i| (i % 251) as u8).collect();
        let sha: String = Sha256::digest(&data).iter().map(|b| format!("{b:02x}")).collect();
        let auth = ("authorization", format!("Bearer {}", token("lab-1", Role::Device)));
        let create = serde_json::json!({"lesson": self.lesson.as_str(), "kind": "camera", "name": name,
            "size": data.len(), "sha256": sha, "durationMs": 30_000, "startedAt": started_at});
        let headers = [auth.clone(), ("content-type", "application/json".into())];
        let r = self.send(Method::POST, "/api/rooms/lab-1/uploads", &headers, create.to_string().into_bytes()).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let id = r.json()["id"].as_i64().expect("an id");
        let checksum = format!("sha256 {}", base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&data)));
        let headers = [
            auth,
            ("content-type", "application/offset+octet-stream".into()),
            ("upload-offset", "0".into()),
            ("upload-checksum", checksum),
        ];
        let r = self.send(Method::PATCH, &format!("/api/rooms/lab-1/uploads/{id}"), &headers, data).await;
        assert_eq!((r.status, r.json()["state"].as_str()), (StatusCode::OK, Some("ready")), "{}", r.text());
    }

    fn detail_path(&self) -> String {
        format!("/api/rooms/lab-1/lessons/{}", self.lesson)
    }

    async fn share(&self, role: Role) -> Resp {
        let headers = [("authorization", format!("Bearer {}", token("lab-1", role)))];
        self.send(Method::POST, &format!("{}/share", self.detail_path()), &headers, Vec::new()).await
    }
}

fn texts(page: &serde_json::Value) -> Vec<String> {
    page["chat"].as_array().expect("chat").iter().map(|m| m["text"].as_str().unwrap_or_default().to_owned()).collect()
}

#[tokio::test]
async fn a_teacher_sees_the_whole_lesson_with_files_placed_on_its_timeline() {
    let hub = hub().await;
    for role in [Role::Teacher, Role::Admin] {
        let r = hub.get(&hub.detail_path(), Some(&token("lab-1", role))).await;
        assert_eq!(r.status, StatusCode::OK, "{role}: {}", r.text());
        let page = r.json();
        assert_eq!(page["viewer"], "staff");
        assert_eq!(page["startedAt"].as_u64(), Some(hub.started));
        assert!(page["endedAt"].as_u64().is_some());
        assert_eq!(page["teachers"], serde_json::json!(["Ms Lovelace"]));
        let file = &page["files"][0];
        assert_eq!((file["kind"].as_str(), file["track"].as_str()), (Some("camera"), Some("camera")));
        assert_eq!(file["startedAt"].as_u64(), Some(hub.started + 1_200), "where the box said the file starts");
        assert!(file["url"].as_str().is_some_and(|u| u.starts_with("/recordings/")), "{file}");
        // The lesson's chat, private messages marked; what was said after it ended is not its.
        assert_eq!(texts(&page), ["Good morning", "A private question"]);
        assert_eq!(page["chat"][1]["private"], true);
        assert_eq!(page["attendance"]["people"][0]["name"], "Ada");
        assert_eq!(page["polls"][0]["responses"][0]["name"], "Ada");
    }
    // The file's link plays.
    let page = hub.get(&hub.detail_path(), Some(&token("lab-1", Role::Teacher))).await.json();
    let file = hub.get(page["files"][0]["url"].as_str().expect("a url"), None).await;
    assert_eq!(file.status, StatusCode::OK);
}

#[tokio::test]
async fn only_the_rooms_teachers_and_admins_read_it_and_bad_ids_are_refused() {
    let hub = hub().await;
    let path = hub.detail_path();
    let r = hub.get(&path, None).await;
    assert_eq!((r.status, r.json()["error"].is_string()), (StatusCode::UNAUTHORIZED, true), "{}", r.text());
    for role in [Role::Student, Role::Device, Role::Viewer] {
        let r = hub.get(&path, Some(&token("lab-1", role))).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{role}: {}", r.text());
        assert_eq!(hub.share(role).await.status, StatusCode::FORBIDDEN, "{role} shares");
    }
    let r = hub.get(&path, Some(&token("lab-2", Role::Teacher))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "another room's teacher: {}", r.text());
    let teacher = token("lab-1", Role::Teacher);
    let r = hub.get("/api/rooms/lab-1/lessons/not-a-lesson", Some(&teacher)).await;
    assert_eq!((r.status, r.json()["error"].is_string()), (StatusCode::BAD_REQUEST, true), "{}", r.text());
    let r = hub.get("/api/rooms/lab-1/lessons/lab-1.1", Some(&teacher)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "unknown lesson: {}", r.text());
    let r = hub.get(&format!("/api/rooms/lab-1/lessons/lab-2.{}", hub.started), Some(&teacher)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "another room's lesson: {}", r.text());
    let r = hub.get("/lessons/not-a-lesson", None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "no page for a bad id");
    let r = hub.get(&format!("/lessons/{}", hub.lesson), None).await;
    assert!(r.status == StatusCode::OK && r.text().contains("lessonpage.js"), "the page: {}", r.status);
    let r = hub.get("/rooms/lab-1/lessons", None).await;
    assert!(r.status == StatusCode::OK && r.text().contains("lessonlist.js"), "the list page: {}", r.status);
}

#[tokio::test]
async fn a_shared_link_shows_students_the_lesson_without_private_chat_attendance_or_names() {
    let hub = hub().await;
    let r = hub.share(Role::Teacher).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let url = r.json()["url"].as_str().expect("a url").to_owned();
    let expires = r.json()["expiresAt"].as_u64().expect("an expiry");
    assert!((unix_secs() + 7 * 24 * 3600 - 5..=unix_secs() + 7 * 24 * 3600).contains(&expires), "a week: {expires}");
    let query = url.split_once('?').expect("a query").1.to_owned();
    assert!(url.starts_with(&format!("/lessons/{}?", hub.lesson)), "{url}");
    let shared = format!("/api/lessons/{}/shared?{query}", hub.lesson);
    let r = hub.get(&shared, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let page = r.json();
    assert_eq!(page["viewer"], "student");
    assert_eq!(texts(&page), ["Good morning"], "no private message");
    assert!(!r.text().contains("private question"));
    assert!(page["attendance"].is_null(), "{page}");
    assert_eq!(page["polls"][0]["options"][0]["votes"], 1);
    assert!(page["polls"][0].get("responses").is_none() && !r.text().contains("\"Ada\",\"choices\""));
    assert!(page["files"][0]["url"].is_string(), "the files play");

    // Another lesson's path, a changed expiry, a forged or missing signature: 403 (bad ids 400).
    let other = format!("/api/lessons/lab-1.{}/shared?{query}", hub.started + 1);
    assert_eq!(hub.get(&other, None).await.status, StatusCode::FORBIDDEN);
    let exp = query.split('&').find_map(|p| p.strip_prefix("exp=")).expect("exp");
    let later = shared.replace(&format!("exp={exp}"), &format!("exp={}", exp.parse::<u64>().expect("a number") + 1));
    assert_eq!(hub.get(&later, None).await.status, StatusCode::FORBIDDEN);
    let forged = format!("/api/lessons/{}/shared?exp={exp}&sig=AAAA", hub.lesson);
    let r = hub.get(&forged, None).await;
    assert_eq!((r.status, r.json()["error"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")), "{}", r.text());
    assert_eq!(hub.get(&format!("/api/lessons/{}/shared", hub.lesson), None).await.status, StatusCode::FORBIDDEN);
    let r = hub.get(&format!("/api/lessons/nope/shared?{query}"), None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    // A student's token is no way in either.
    assert_eq!(hub.get(&hub.detail_path(), Some(&token("lab-1", Role::Student))).await.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn an_expired_shared_link_is_refused_saying_so() {
    let hub = hub().await;
    let key = lectern_hub::recording::link::LinkKey::new(
        TokenKey::new(SECRET.as_bytes().to_vec()).derive(b"lectern recording download links"),
    );
    let url = key.share_url(hub.lesson.as_str(), unix_secs() - 1);
    let query = url.split_once('?').expect("a query").1;
    let r = hub.get(&format!("/api/lessons/{}/shared?{query}", hub.lesson), None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert!(r.json()["detail"].as_str().is_some_and(|d| d.contains("expired")), "{}", r.text());
}
