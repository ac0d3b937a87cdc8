//! In-process harness: the admin router nested at `/admin` as the hub does, over a real database
//! migrated with the hub's migrations, a settable clock and a fake fleet. The database is an SQLite
//! file or a fresh database on a real PostgreSQL, as the test's [`each_backend!`] run chose.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use lectern_admin::db::{Dialect, Pool};
use lectern_admin::fleet::Claimed;
use lectern_admin::{AdminState, DeviceSummary, Fleet, Role};
pub use lectern_common::each_backend;
use lectern_common::test_db::TestDb;
use lectern_proto::RoomId;
use lectern_proto::device::{HubMsg, Inventory, InventoryDevice};
use serde_json::Value;
use tower::ServiceExt;

pub const T0: u64 = 1_700_000_000;
pub const ADMIN_PW: &str = "admin password 1";
pub const OPERATOR_PW: &str = "operator password 1";

#[derive(Default)]
pub struct FakeFleet {
    pub sent: Mutex<Vec<(RoomId, HubMsg)>>,
    /// Boxes waiting to be claimed: (code, box).
    pub waiting: Mutex<Vec<(String, Claimed)>>,
    pub delivered: Mutex<Vec<(String, HubMsg)>>,
    pub revoked: Mutex<Vec<String>>,
    /// lab-1's box reports a live lesson.
    pub live: std::sync::atomic::AtomicBool,
}

/// lab-1's box has a camera, /dev/video0, an HDMI capture for the laptop, /dev/video2, and no microphone.
pub fn lab1_inventory() -> Inventory {
    Inventory {
        cameras: vec![
            InventoryDevice { name: "Test pattern".into(), device: "/dev/video0".into() },
            InventoryDevice { name: "USB3 HDMI capture".into(), device: "/dev/video2".into() },
        ],
        microphones: vec![],
        speakers: vec![],
        encoders: vec!["x264enc".into()],
    }
}

impl Fleet for FakeFleet {
    fn devices(&self) -> Vec<DeviceSummary> {
        vec![DeviceSummary {
            room: RoomId::parse("lab-1").unwrap(),
            name: "Lab 1 box".into(),
            version: Some("0.1.0".into()),
            connected_at: T0,
            last_seen: T0 + 5,
            telemetry: self.live.load(Ordering::SeqCst).then(|| lectern_proto::device::Telemetry {
                state: lectern_proto::device::DeviceState::Live,
                status: "live".into(),
                encoder: None,
                fps: None,
                bitrate_kbps: None,
                packet_loss_percent: None,
                cpu_percent: None,
                temperature_c: None,
                last_error: None,
                uptime_secs: 1,
                uplink: None,
                upload: None,
            }),
            device_id: None,
            inventory: Some(lab1_inventory()),
            snapshot_at: Some(T0 + 4),
            snapshot_error: None,
            software: None,
            node: None,
        }]
    }
    /// Only lab-1's box is connected.
    fn send(&self, room: &RoomId, cmd: HubMsg) -> bool {
        if room.as_str() != "lab-1" {
            return false;
        }
        self.sent.lock().unwrap().push((room.clone(), cmd));
        true
    }
    fn claim(&self, code: &str) -> Option<Claimed> {
        let mut waiting = self.waiting.lock().unwrap();
        let i = waiting.iter().position(|(c, _)| c == code)?;
        Some(waiting.remove(i).1)
    }
    fn deliver(&self, box_key: &str, msg: HubMsg) {
        self.delivered.lock().unwrap().push((box_key.to_owned(), msg));
    }
    fn revoke(&self, jti: &str) {
        self.revoked.lock().unwrap().push(jti.to_owned());
    }
    /// lab-1's box has sent a (tiny, fake) JPEG.
    fn snapshot(&self, room: &RoomId) -> Option<std::sync::Arc<[u8]>> {
        (room.as_str() == "lab-1").then(|| std::sync::Arc::from(&[0xFF, 0xD8, 0xFF, 0xD9][..]))
    }
}

pub struct Harness {
    /// Kept for the test's length (an SQLite file's temp dir).
    pub db: TestDb,
    pub dialect: Dialect,
    pub pool: Pool,
    pub app: Router,
    pub now: Arc<AtomicU64>,
    pub fleet: Arc<FakeFleet>,
    /// Where room changes are reported (the hub listens here).
    pub room_watch: lectern_admin::rooms::Watch,
    secure_cookies: bool,
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

/// A logged-in browser: its cookie and CSRF token.
#[derive(Clone, Debug)]
pub struct Session {
    pub cookie: String,
    pub csrf: String,
}

pub async fn harness() -> Harness {
    harness_with(false).await
}

pub async fn harness_with(secure_cookies: bool) -> Harness {
    let db = TestDb::current();
    let pool = lectern_admin::db::connect(&db.url(), 4).await.unwrap();
    let dialect = Dialect::of_url(&db.url()).unwrap();
    match dialect {
        Dialect::Sqlite => sqlx::migrate!("../hub/migrations").run(&pool).await.unwrap(),
        Dialect::Postgres => sqlx::migrate!("../hub/migrations-pg").run(&pool).await.unwrap(),
    }
    let now = Arc::new(AtomicU64::new(T0));
    let fleet = Arc::new(FakeFleet::default());
    let room_watch = lectern_admin::rooms::Watch::default();
    let app = admin_app(&pool, &fleet, &now, secure_cookies, &room_watch);
    Harness { db, dialect, pool, app, now, fleet, room_watch, secure_cookies }
}

/// The admin's router over `pool`, with a clock the test moves.
fn admin_app(
    pool: &Pool,
    fleet: &Arc<FakeFleet>,
    now: &Arc<AtomicU64>,
    secure_cookies: bool,
    room_watch: &lectern_admin::rooms::Watch,
) -> Router {
    // Tokens are "header.payload.sig" with a fake signature: tests decode the payload only.
    let mint: lectern_admin::Mint = Arc::new(|c| {
        use base64::Engine;
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).unwrap());
        format!("eyJhbGciOiJIUzI1NiJ9.{payload}.fake")
    });
    let mut state = AdminState::new(pool.clone(), fleet.clone(), secure_cookies, mint);
    // The same fake tokens verify when their signature is "fake" and they are valid at `now`.
    state.verify = Some(Arc::new(|token: &str, now: u64| {
        use base64::Engine;
        let parts: Vec<&str> = token.split('.').collect();
        if parts.len() != 3 || parts[2] != "fake" {
            return Err("bad signature".to_owned());
        }
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(parts[1]).map_err(|e| e.to_string())?;
        let claims: lectern_proto::Claims = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
        if now > claims.exp || now < claims.nbf {
            return Err("token expired".to_owned());
        }
        Ok(claims)
    }));
    let clock = now.clone();
    state.clock = Arc::new(move || clock.load(Ordering::SeqCst));
    state.room_watch = room_watch.clone();
    Router::new().nest("/admin", lectern_admin::router(state))
}

impl Harness {
    /// The admin as a restarted hub would have it: new in-memory state over the same database.
    pub fn restart(&mut self) {
        self.app = admin_app(&self.pool, &self.fleet, &self.now, self.secure_cookies, &self.room_watch);
    }

    pub fn advance(&self, secs: u64) {
        self.now.fetch_add(secs, Ordering::SeqCst);
    }

    /// A token for `room` and `role` valid around now, as the fake mint makes them.
    pub fn token(&self, room: &str, role: lectern_proto::Role) -> String {
        use base64::Engine;
        let now = self.now.load(Ordering::SeqCst);
        let claims = lectern_proto::Claims {
            sub: "s".into(),
            room: RoomId::parse(room).unwrap(),
            role,
            name: None,
            nbf: now - 60,
            exp: now + 3600,
            jti: "j".into(),
            guest: false,
        };
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
        format!("eyJhbGciOiJIUzI1NiJ9.{payload}.fake")
    }

    /// A POST of a `text/csv` body in session `s`.
    pub async fn post_csv(&self, path: &str, s: &Session, csv: &str) -> Resp {
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(header::COOKIE, format!("lectern_admin={}", s.cookie))
            .header("x-csrf-token", &s.csrf)
            .header(header::CONTENT_TYPE, "text/csv; charset=utf-8")
            .body(Body::from(csv.to_owned()))
            .unwrap();
        req.extensions_mut().insert(ConnectInfo("192.0.2.1:40000".parse::<SocketAddr>().unwrap()));
        self.send(req).await
    }

    /// A GET with `Authorization: Bearer token`.
    pub async fn get_bearer(&self, path: &str, token: &str) -> Resp {
        let mut req = Request::builder()
            .method(Method::GET)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap();
        req.extensions_mut().insert(ConnectInfo("192.0.2.1:40000".parse::<SocketAddr>().unwrap()));
        self.send(req).await
    }

    pub async fn send(&self, req: Request<Body>) -> Resp {
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let stream = headers.get("content-type").is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
        let bytes = if stream {
            // An event stream does not end: its first event is the answer.
            use futures_util::StreamExt;
            let mut frames = resp.into_body().into_data_stream();
            frames.next().await.and_then(|f| f.ok()).unwrap_or_default()
        } else {
            axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap()
        };
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Resp { status, headers, body, text }
    }

    /// A request as a browser at 192.0.2.1 would send it; `csrf` only if given.
    pub async fn call(&self, method: &str, path: &str, s: Option<&Session>, body: Option<Value>) -> Resp {
        let csrf = s.map(|s| s.csrf.clone());
        self.call_with(method, path, s, csrf.as_deref(), body, "192.0.2.1").await
    }

    pub async fn call_with(
        &self,
        method: &str,
        path: &str,
        s: Option<&Session>,
        csrf: Option<&str>,
        body: Option<Value>,
        ip: &str,
    ) -> Resp {
        let mut b = Request::builder().method(Method::from_str(method).unwrap()).uri(path);
        if let Some(s) = s {
            b = b.header(header::COOKIE, format!("lectern_admin={}", s.cookie));
        }
        if let Some(c) = csrf {
            b = b.header("x-csrf-token", c);
        }
        let body = match body {
            Some(v) => {
                b = b.header(header::CONTENT_TYPE, "application/json");
                Body::from(v.to_string())
            }
            None => Body::empty(),
        };
        let mut req = b.body(body).unwrap();
        let addr: SocketAddr = format!("{ip}:40000").parse().unwrap();
        req.extensions_mut().insert(ConnectInfo(addr));
        self.send(req).await
    }

    pub async fn login_from(&self, username: &str, password: &str, ip: &str) -> Resp {
        let body = serde_json::json!({ "username": username, "password": password });
        self.call_with("POST", "/admin/api/login", None, None, Some(body), ip).await
    }

    pub async fn login(&self, username: &str, password: &str) -> Session {
        let r = self.login_from(username, password, "192.0.2.1").await;
        assert_eq!(r.status, StatusCode::OK, "login failed: {}", r.text);
        session_of(&r)
    }

    /// An admin `ada` and an operator `otto`, logged in.
    pub async fn admin_and_operator(&self) -> (Session, Session) {
        lectern_admin::accounts::create(&self.pool, "ada", ADMIN_PW, Role::Admin).await.unwrap();
        lectern_admin::accounts::create(&self.pool, "otto", OPERATOR_PW, Role::Operator).await.unwrap();
        (self.login("ada", ADMIN_PW).await, self.login("otto", OPERATOR_PW).await)
    }

    pub async fn audit_actions(&self) -> Vec<(String, String, String, String)> {
        sqlx::query_as("SELECT actor, action, target, ip FROM admin_audit ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .unwrap()
    }
}

pub fn session_of(r: &Resp) -> Session {
    let set = r.headers.get(header::SET_COOKIE).expect("login sets a cookie").to_str().unwrap();
    let cookie = set.strip_prefix("lectern_admin=").unwrap().split(';').next().unwrap().to_owned();
    Session { cookie, csrf: r.body["csrfToken"].as_str().unwrap().to_owned() }
}

pub fn room(id: &str) -> Value {
    serde_json::json!({ "id": id, "name": format!("Room {id}"), "building": "Main", "capacity": 30 })
}
