//! `lectern-hub db copy`: a hub's SQLite database, filled through the admin API and the hub's own
//! store writer, copied into a real PostgreSQL (`lectern_common::test_db`) and read back through
//! the same APIs of a hub on PostgreSQL; ids drawn after the copy follow the copied ones, and a
//! second copy into the filled database is refused.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode, header};
use lectern_common::test_db::{Backend, TestDb};
use lectern_common::time::unix_secs;
use lectern_hub::http::{AdminAt, Edge, app};
use lectern_hub::media_io::Outlets;
use lectern_hub::recording::{EndReason, LessonChange};
use lectern_hub::store::{BoardSave, SavedReport, Store, StoreEvent, Transport};
use lectern_hub::token::TokenKey;
use lectern_hub::turn::IceServers;
use lectern_proto::board::DocKind;
use lectern_proto::classroom::{ChatMessage, ChatMessageId};
use lectern_proto::{Claims, LessonId, ParticipantId, Role, RoomId};
use serde_json::{Value, json};
use tower::ServiceExt;

mod in_process;
use in_process::SECRET;

const PASSWORD: &str = "admin password 1";

struct Hub {
    app: Router,
    store: Store,
    /// The admin's session: cookie and CSRF token.
    session: Option<(String, String)>,
}

async fn hub_on(url: &str) -> Hub {
    let store = Store::connect(url).await.expect("a store");
    let state = in_process::state(store.clone(), Outlets::default(), IceServers::default(), Edge::default());
    Hub { app: app(state, AdminAt::Here), store, session: None }
}

fn admin_token(room: &str) -> String {
    let now = unix_secs();
    let claims = Claims {
        sub: "it".into(),
        room: RoomId::parse(room).unwrap(),
        role: Role::Admin,
        name: None,
        exp: now + 600,
        nbf: now - 10,
        jti: lectern_hub::token::random_id(),
        guest: false,
    };
    TokenKey::new(SECRET.as_bytes().to_vec()).issue(&claims)
}

impl Hub {
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        bearer: Option<&str>,
    ) -> (StatusCode, String) {
        let mut req = Request::builder().method(method).uri(path);
        if let Some((cookie, csrf)) = &self.session {
            req = req.header(header::COOKIE, format!("lectern_admin={cookie}")).header("x-csrf-token", csrf);
        }
        if let Some(t) = bearer {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let body = match body {
            Some(v) => {
                req = req.header(header::CONTENT_TYPE, "application/json");
                Body::from(v.to_string())
            }
            None => Body::empty(),
        };
        let mut req = req.body(body).unwrap();
        req.extensions_mut().insert(ConnectInfo("192.0.2.1:40000".parse::<SocketAddr>().unwrap()));
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    async fn login(&mut self) {
        let body = json!({ "username": "ada", "password": PASSWORD });
        let mut req = Request::post("/admin/api/login")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        req.extensions_mut().insert(ConnectInfo("192.0.2.1:40000".parse::<SocketAddr>().unwrap()));
        let resp = self.app.clone().oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "ada logs in");
        let set = resp.headers()[header::SET_COOKIE].to_str().unwrap().to_owned();
        let cookie = set.strip_prefix("lectern_admin=").unwrap().split(';').next().unwrap().to_owned();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
        let csrf = serde_json::from_slice::<Value>(&bytes).unwrap()["csrfToken"].as_str().unwrap().to_owned();
        self.session = Some((cookie, csrf));
    }

    async fn ok(&self, method: Method, path: &str, body: Option<Value>, want: StatusCode) -> Value {
        let (status, text) = self.call(method.clone(), path, body, None).await;
        assert_eq!(status, want, "{method} {path}: {text}");
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    }

    /// What the hub serves of a room from its database, as an admin's token reads it.
    async fn room_exports(&self, room: &str) -> Vec<String> {
        let token = admin_token(room);
        let mut out = Vec::new();
        for file in ["attendance.json", "polls.csv", "chat.json?deleted=1", "notes.md", "lessons"] {
            let (status, text) = self.call(Method::GET, &format!("/api/rooms/{room}/{file}"), None, Some(&token)).await;
            assert_eq!(status, StatusCode::OK, "{file}: {text}");
            out.push(text);
        }
        out
    }
}

/// What the hub's rooms write while lessons run, through its store writer.
async fn a_lesson_is_recorded(store: &Store, room: &RoomId) {
    let tx = store.clone().spawn_writer(Default::default());
    let lesson = LessonId::new(room, 1_700_000_000_000);
    tx.send(StoreEvent::Lesson(LessonChange::Started {
        lesson: lesson.clone(),
        room: room.clone(),
        at: 1_700_000_000_000,
    }))
    .await
    .unwrap();
    for (i, name) in ["Ada", "Grace"].into_iter().enumerate() {
        let participant = ParticipantId(i as u64 + 1);
        let joined = StoreEvent::Joined {
            participant,
            room: room.clone(),
            subject: format!("s{i}"),
            name: name.into(),
            role: Role::Student,
            transport: Transport::Browser,
            at: 1_700_000_000 + i as u64,
        };
        tx.send(joined).await.unwrap();
        let message = ChatMessage {
            id: ChatMessageId(i as u64 + 1),
            from: participant,
            from_name: name.into(),
            from_role: Role::Student,
            to: (i == 1).then_some(ParticipantId(1)),
            text: format!("«hello» from {name} 👋"),
            sent_at: 1_700_000_001_000 + i as u64,
            file: None,
        };
        tx.send(StoreEvent::Chat { room: room.clone(), message }).await.unwrap();
    }
    tx.send(StoreEvent::ChatDeleted { room: room.clone(), message_id: 1, at: 1_700_000_002_000 }).await.unwrap();
    tx.send(StoreEvent::Left { participant: ParticipantId(1), at: 1_700_000_060 }).await.unwrap();
    let board = BoardSave {
        lesson: lesson.clone(),
        room: room.clone(),
        doc: DocKind::Notes,
        state: vec![0, 1, 2, 255, 0],
        text: Some("# Notes\nForces".into()),
        at: 1_700_000_003_000,
    };
    tx.send(StoreEvent::BoardSaved(board)).await.unwrap();
    tx.send(StoreEvent::Recording {
        lesson: lesson.clone(),
        on: true,
        by: Some("ms-curie".into()),
        at: 1_700_000_004_000,
    })
    .await
    .unwrap();
    let report = SavedReport {
        attendance_csv: "name\nAda\nGrace\n".into(),
        attendance_json: r#"[{"name":"Ada"},{"name":"Grace"}]"#.into(),
        polls_csv: "question,answer\n".into(),
        polls_json: "[]".into(),
    };
    tx.send(StoreEvent::LessonSaved { room: room.clone(), at: 1_700_000_100, report }).await.unwrap();
    let ended = LessonChange::Ended { lesson, at: 1_700_000_200_000, reason: EndReason::Teacher };
    tx.send(StoreEvent::Lesson(ended)).await.unwrap();
    // The writer applies events in order: the last one written means all are.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while store.lessons(room).await.unwrap().first().and_then(|l| l.ended_at).is_none() {
        assert!(tokio::time::Instant::now() < deadline, "the lesson's events were not written in 30 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_copied_from_sqlite_serves_the_same_from_postgresql_and_goes_on_from_there() {
    let (sqlite, pg) = (TestDb::new(Backend::Sqlite), TestDb::new(Backend::Postgres));
    let mut old = hub_on(&sqlite.url()).await;
    lectern_admin::accounts::create(old.store.pool(), "ada", PASSWORD, lectern_admin::Role::Admin).await.unwrap();
    old.login().await;
    let north = old
        .ok(
            Method::POST,
            "/admin/api/buildings",
            Some(json!({ "name": "North", "zone": "Europe/Berlin" })),
            StatusCode::CREATED,
        )
        .await;
    for id in ["lab-1", "lab-2"] {
        let room = json!({ "id": id, "name": format!("Room {id}"), "building": "North", "capacity": 30, "everyoneWaits": id == "lab-1" });
        old.ok(Method::POST, "/admin/api/rooms", Some(room), StatusCode::CREATED).await;
    }
    let slot = json!({ "roomId": "lab-1", "weekday": "mon", "start": "08:00", "end": "09:00", "teacher": "Ms Curie", "title": "Physics" });
    old.ok(Method::POST, "/admin/api/schedules", Some(slot), StatusCode::CREATED).await;
    let room = RoomId::parse("lab-1").unwrap();
    a_lesson_is_recorded(&old.store, &room).await;

    let pages =
        ["/admin/api/rooms", "/admin/api/buildings", "/admin/api/schedules", "/admin/api/accounts", "/admin/api/audit"];
    let mut before = Vec::new();
    for p in pages {
        before.push(old.ok(Method::GET, p, None, StatusCode::OK).await);
    }
    let exports_before = old.room_exports("lab-1").await;
    assert!(exports_before[2].contains("«hello» from Grace 👋"), "the chat was written: {}", exports_before[2]);

    let copied = lectern_hub::db_copy::copy(&sqlite.url(), &pg.url()).await.expect("the copy");
    let rows = |t: &str| copied.iter().find(|c| c.table == t).map(|c| c.rows);
    assert_eq!(
        (rows("admin_rooms"), rows("sessions"), rows("chat_messages"), rows("lesson_boards")),
        (Some(2), Some(2), Some(2), Some(1))
    );
    let order: Vec<&str> = copied.iter().map(|c| c.table.as_str()).collect();
    let at = |t: &str| order.iter().position(|x| *x == t).unwrap();
    assert!(at("admin_buildings") < at("admin_rooms") && at("admin_rooms") < at("admin_schedules"), "{order:?}");

    // A hub on PostgreSQL: the same account logs in and every page reads as it did.
    let mut new = hub_on(&pg.url()).await;
    new.login().await;
    let mut after = Vec::new();
    for p in pages {
        after.push(new.ok(Method::GET, p, None, StatusCode::OK).await);
    }
    // The audit trail gained one login: the rest is as it was.
    let audit_after = after.pop().unwrap();
    let audit_before = before.pop().unwrap();
    assert_eq!(after, before);
    let entries = audit_after.as_array().expect("audit entries").clone();
    let old_entries = audit_before.as_array().expect("audit entries").clone();
    assert_eq!(entries.len(), old_entries.len() + 1, "{audit_after}");
    assert_eq!(entries[1..], old_entries[..], "newest first, the copied rows unchanged");
    assert_eq!(new.room_exports("lab-1").await, exports_before);
    let (state, text) =
        new.store.board(LessonId::new(&room, 1_700_000_000_000).as_str(), DocKind::Notes).await.unwrap().unwrap();
    assert_eq!((state, text.as_deref()), (vec![0, 1, 2, 255, 0], Some("# Notes\nForces")));

    // Ids drawn now follow the copied ones.
    let south =
        new.ok(Method::POST, "/admin/api/buildings", Some(json!({ "name": "South" })), StatusCode::CREATED).await;
    assert!(south["id"].as_i64().unwrap() > north["id"].as_i64().unwrap(), "{south} after {north}");
    let account = json!({ "username": "otto", "password": "operator password 1", "role": "operator" });
    new.ok(Method::POST, "/admin/api/accounts", Some(account), StatusCode::CREATED).await;

    // A filled database is never copied into.
    let err = lectern_hub::db_copy::copy(&sqlite.url(), &pg.url()).await.unwrap_err();
    assert!(format!("{err:#}").contains("already has rows"), "{err:#}");
    // Nor is anything but SQLite → PostgreSQL.
    let err = lectern_hub::db_copy::copy(&pg.url(), &sqlite.url()).await.unwrap_err();
    assert!(format!("{err:#}").contains("--from"), "{err:#}");
}
