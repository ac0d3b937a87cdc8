//! lectern-admin: the web admin the hub mounts at `/admin` — IT staff accounts, sessions, rooms, the
//! fleet of classroom boxes and the audit trail, as a JSON API under `/admin/api/` plus a small UI.
//! Start at [`router`]; access rules live in [`session`] (and [`room_token`]), the tables in
//! `hub/migrations/0003_admin.sql`, `0005_schedules.sql` and `0009_buildings_and_term_calendar.sql`;
//! [`scheduler`] starts and ends scheduled lessons from the [`calendar`].

pub mod accounts;
pub mod audit;
pub mod buildings;
pub mod calendar;
pub mod csv_import;
pub mod db;
pub mod device_config;
pub mod device_move;
pub mod devices;
pub mod error;
pub mod fleet;
pub mod fleet_events;
pub mod http_error;
pub mod ics;
pub mod json;
pub mod login;
pub mod login_gate;
pub mod recordings;
pub mod releases;
pub mod rollout;
pub mod room_token;
pub mod rooms;
pub mod routes;
pub mod schedule;
pub mod scheduler;
pub mod session;
pub mod setup;
pub mod terms;
pub mod timetable;
mod ui;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use crate::db::Pool;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, header};
use base64::Engine;
use lectern_common::time::unix_secs;
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};

pub use error::{Error, Result};
pub use fleet::{DeviceSummary, Fleet, FleetEntry, FleetState};
pub use scheduler::spawn_scheduler;

/// Admin requests are small JSON documents.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// Seconds since the Unix epoch; injected so tests can move time.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// Signs access-token claims with the hub's key (the hub passes `move |c| key.issue(&c)`); the admin
/// never holds the key itself.
pub type Mint = Arc<dyn Fn(lectern_proto::Claims) -> String + Send + Sync>;

/// Verifies a room token the hub signed at `now` (the hub passes `move |t, now| key.verify(t, now)`),
/// for the routes a room's teacher may call with it; the message says why it does not verify.
pub type Verify = Arc<dyn Fn(&str, u64) -> Result<lectern_proto::Claims, String> + Send + Sync>;

/// Everything the admin routes need from the hub.
#[derive(Clone)]
pub struct AdminState {
    pub pool: Pool,
    pub fleet: Arc<dyn Fleet>,
    /// The hub is reached over HTTPS (directly or behind a TLS proxy): cookies get `Secure`.
    pub secure_cookies: bool,
    pub clock: Clock,
    /// Mints the tokens of a lesson's links.
    pub mint: Mint,
    /// The login throttle and the password hashers.
    pub login_gate: Arc<login_gate::Gate>,
    /// Who hears about changed room settings (the hub's lessons enforce them).
    pub room_watch: rooms::Watch,
    /// Where lessons are reached (`https://hub.school.example`) when the admin has an origin of its
    /// own; `None`: the admin's origin is the hub's, and links are relative to it.
    pub public_url: Option<String>,
    /// The hub's time zone (`zone` in hub.toml): timetable slots saved without one are in it.
    pub zone: String,
    /// Checks room tokens for `Access::SessionOrBearer` routes; `None`: such routes take sessions only.
    pub verify: Option<Verify>,
    /// `[ota]`: where releases are kept and how their signatures are checked.
    pub ota: releases::OtaSettings,
    /// The hub's recordings: storage totals and the default retention.
    pub recordings: recordings::RecordingsInfo,
}

impl AdminState {
    pub fn new(pool: Pool, fleet: Arc<dyn Fleet>, secure_cookies: bool, mint: Mint) -> Self {
        Self {
            pool,
            fleet,
            secure_cookies,
            clock: Arc::new(unix_secs),
            mint,
            login_gate: Arc::default(),
            room_watch: Default::default(),
            public_url: None,
            zone: "UTC".to_owned(),
            verify: None,
            ota: releases::OtaSettings::default(),
            recordings: Default::default(),
        }
    }

    pub fn now(&self) -> u64 {
        (self.clock)()
    }
}

/// What an admin account may do. Admins do everything; operators manage rooms and schedules, see the
/// boxes and start or end their lessons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    // Order matters: a role satisfies every requirement at or below it.
    Operator,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "admin" => Ok(Role::Admin),
            "operator" => Ok(Role::Operator),
            _ => Err(format!("'{s}' is not a role (expected 'admin' or 'operator')")),
        }
    }
}

/// The admin UI and API, to be nested at `/admin` (cookies are scoped to that path). Generic over
/// the embedder's state type so it nests into any router.
pub fn router<S: Clone + Send + Sync + 'static>(state: AdminState) -> Router<S> {
    use axum::middleware::from_fn_with_state;
    use routes::Access;
    // Deny by default: a route is reachable only through one of these groups, and each group's
    // layer authenticates the caller, checks CSRF on state changes and checks the role.
    let group = |min: Role| {
        routes::router_of(routes::admin_entries(), move |a| *a == Access::Session(min))
            .route_layer(from_fn_with_state((state.clone(), min), session::guard))
    };
    let (operator, admin) = (group(Role::Operator), group(Role::Admin));
    let anyone = routes::router_of(routes::admin_entries(), |a| *a == Access::Anyone);
    // A session of the row's role, or a token of the path's room with one of the row's roles.
    let token_rows = routes::admin_entries().into_iter().filter_map(|e| match e.route.access {
        Access::SessionOrBearer(min, roles) => Some((e, min, roles)),
        _ => None,
    });
    let by_token = token_rows.fold(Router::new(), |router, (e, min, roles)| {
        let guarded = e.handler.route_layer(from_fn_with_state((state.clone(), min, roles), room_token::guard));
        router.route(e.route.path, guarded)
    });
    let api = anyone
        .merge(operator)
        .merge(admin)
        .merge(by_token)
        .fallback(|| async { Error::NotFound("no such admin API route".into()) })
        .layer(axum::middleware::map_response(no_store))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES));
    Router::new().nest("/api", api).merge(ui::router()).with_state(state)
}

/// Admin answers carry account data and CSRF tokens: never cache them.
async fn no_store(mut resp: axum::response::Response) -> axum::response::Response {
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// 256 random bits, URL-safe base64 (43 characters): session ids, CSRF tokens.
pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// 128 random bits as hex: token subjects and ids, as the hub mints them.
pub(crate) fn random_hex() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// How secrets are stored: a fast hash is enough because they are 128+ random bits, not passwords.
pub(crate) fn sha256_hex(s: &str) -> String {
    Sha256::digest(s.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Equal-length comparison that does not stop at the first difference (CSRF tokens).
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
