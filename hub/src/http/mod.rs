//! HTTP and WebSocket edge of the hub: `fn app(state) -> Router`, handlers that validate input and
//! translate it into shard commands. Every error is an [`error::HttpError`] rendered as JSON.

pub mod access;
pub mod auth;
pub mod client;
pub mod cors;
pub mod device;
pub mod error;
pub mod files;
pub mod inbound;
pub mod lesson_api;
pub mod lesson_page;
pub mod lessons;
pub mod pace;
pub mod pages;
pub mod proxy;
pub mod recordings;
pub mod routes;
pub mod routing;
pub mod rtc;
pub mod stats;
pub mod whip;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, header};
use axum::routing::get;

use crate::media_io::Sfu;
use crate::store::Store;
use crate::token::TokenKey;

pub struct AppState {
    pub key: TokenKey,
    pub sfu: Sfu,
    pub store: Store,
    /// WHIP/WHEP sessions by resource id.
    pub resources: crate::whip::Resources,
    /// STUN/TURN servers: fixed ones, and coturn relays the hub mints credentials for.
    pub ice: crate::turn::IceServers,
    /// Classroom boxes on their control channel.
    pub devices: Arc<crate::device_registry::DeviceRegistry>,
    /// Join attempts per client address; `None` when turned off.
    pub join_limiter: Option<Mutex<crate::classroom::JoinLimiter>>,
    /// The web admin, nested at `/admin`; it shares the store's pool and the device registry.
    pub admin: lectern_admin::AdminState,
    /// Origins whose pages may call WHIP/WHEP and the lesson API (`[http] cors_origins`).
    pub cors: cors::Origins,
    /// Who may open another WHIP/WHEP session.
    pub admission: Mutex<crate::whip::admission::Admission>,
    /// Reverse proxies that name the client (see [`proxy`]).
    pub trusted_proxies: lectern_common::net::TrustedProxies,
    /// How long an open session outlives its token's expiry.
    pub token_grace: std::time::Duration,
    /// The web admin's room settings the lessons enforce (capacity, everyone waits).
    pub room_settings: crate::room_settings::RoomSettingsCache,
    /// `[recording]`: the policy of rooms the admin did not set (see [`crate::recording`]).
    pub recording: crate::config::RecordingSettings,
    /// Recording files: their storage, signed download links, one turn per upload.
    pub archive: crate::recording::Archive,
    /// Files shared in the chat (`[files]`): limits, scan hook, their links' key. Stored in `archive`'s storage.
    pub files: crate::files::Files,
    /// One node of a cluster (`[coord] url`): rooms owned by lease, requests routed to the owner.
    pub cluster: Option<Arc<crate::cluster::Cluster>>,
}

/// Content-Security-Policy for the app: our own scripts only; media and sockets to this hub.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
media-src 'self' blob: mediastream:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Where the web admin is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminAt {
    /// At `/admin` beside everything else.
    Here,
    /// On its own listener (`[admin] listen`, see [`admin_app`]); `/admin` here is not found.
    Elsewhere,
}

/// The hub's router: its [`routes`] table, the web admin at `/admin` (unless it has an origin of
/// its own), JSON 404s, security headers.
pub fn app(state: Arc<AppState>, admin: AdminAt) -> Router {
    let hub = lectern_admin::routes::router_of(routes::entries(), |_| true);
    let hub = match admin {
        AdminAt::Here => with_admin(hub, &state),
        AdminAt::Elsewhere => hub,
    };
    edge(hub.fallback(|| async { error::HttpError::not_found("no such page") }), state)
}

/// The web admin alone, for its own listener (`[admin] listen`): an origin no lesson page shares.
pub fn admin_app(state: Arc<AppState>) -> Router {
    let admin = with_admin(Router::new(), &state)
        .route("/", get(|| async { axum::response::Redirect::permanent("/admin") }))
        .fallback(|| async { error::HttpError::not_found("this address serves the web admin only (/admin)") });
    edge(admin, state)
}

fn with_admin(router: Router<Arc<AppState>>, state: &Arc<AppState>) -> Router<Arc<AppState>> {
    router
        .nest("/admin", lectern_admin::router(state.admin.clone()))
        // A nested "/" only matches "/admin"; people type the slash too.
        .route("/admin/", get(|| async { axum::response::Redirect::permanent("/admin") }))
}

/// What every listener's requests pass through.
fn edge(router: Router<Arc<AppState>>, state: Arc<AppState>) -> Router {
    router
        // Bodies past the SDP limit are refused by the handlers with a precise 413; this only
        // stops a client from streaming megabytes at us.
        .layer(DefaultBodyLimit::max(whip::MAX_SDP_BYTES * 2))
        .layer(axum::middleware::map_response(security_headers))
        .layer(axum::middleware::from_fn_with_state(state.clone(), cors::decorate))
        // Outermost: every handler and limit below sees the client, not the proxy.
        .layer(axum::middleware::from_fn_with_state(state.clone(), proxy::resolve_client))
        .with_state(state)
}

async fn security_headers(mut resp: axum::response::Response) -> axum::response::Response {
    let h = resp.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // Join links carry a token in the query string: never leak it to another site.
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(
        "permissions-policy",
        HeaderValue::from_static("camera=(self), microphone=(self), display-capture=(self)"),
    );
    resp
}

/// How the HTTP edge treats its clients, fixed at start-up.
#[derive(Debug, Clone)]
pub struct Edge {
    /// Browsers reach the hub over HTTPS, so the admin's session cookie gets `Secure`.
    pub behind_tls: bool,
    /// Rate-limit join attempts per client address.
    pub join_limit: bool,
    /// Origins whose pages may call WHIP/WHEP and the lesson API.
    pub cors: cors::Origins,
    /// Reverse proxies that name the client (see [`proxy`]).
    pub trusted_proxies: lectern_common::net::TrustedProxies,
    /// `[node] public_url`: the base of the lesson links the admin hands out.
    pub public_url: Option<String>,
    /// The hub's time zone, for timetable slots saved without one.
    pub zone: String,
    /// How long an open session outlives its token (`token_grace_minutes`).
    pub token_grace: std::time::Duration,
    /// `[ota]`, with the releases' directory.
    pub ota: lectern_admin::releases::OtaSettings,
    /// `[recording]`: the policy of rooms the admin did not set, whether students are recorded.
    pub recording: crate::config::RecordingSettings,
    /// Where uploaded recordings are kept (`<data_dir>/recordings`); `None`: this hub keeps none.
    pub recordings_dir: Option<std::path::PathBuf>,
    /// `[storage] kind = "s3"`: the bucket recordings go to instead of `recordings_dir`.
    pub storage: Option<crate::recording::archive::StorageHandle>,
    /// `[coord] url` set: this hub is one node of a cluster.
    pub cluster: Option<Arc<crate::cluster::Cluster>>,
    /// `[files]`: files shared in the chat (kept in the recordings' storage).
    pub files: crate::files::FileSettings,
}

impl Default for Edge {
    fn default() -> Self {
        Self {
            behind_tls: false,
            join_limit: false,
            cors: Default::default(),
            token_grace: std::time::Duration::from_secs(3600),
            trusted_proxies: Default::default(),
            public_url: None,
            zone: "UTC".to_owned(),
            ota: Default::default(),
            recording: Default::default(),
            recordings_dir: None,
            storage: None,
            cluster: None,
            files: Default::default(),
        }
    }
}

impl AppState {
    pub fn new(key: TokenKey, sfu: Sfu, store: Store, ice: crate::turn::IceServers, edge: Edge) -> Arc<Self> {
        let devices = Arc::new(crate::device_registry::DeviceRegistry::new(key.clone()));
        let mint_key = key.clone();
        let mint: lectern_admin::Mint = Arc::new(move |c| mint_key.issue(&c));
        let mut admin = lectern_admin::AdminState::new(store.pool().clone(), devices.clone(), edge.behind_tls, mint);
        admin.public_url = edge.public_url.clone();
        admin.zone = edge.zone.clone();
        let verify_key = key.clone();
        admin.verify = Some(Arc::new(move |t, now| verify_key.verify(t, now).map_err(|e| e.to_string())));
        admin.ota = edge.ota.clone();
        let storage = edge.storage.clone().map(|h| h.0).or_else(|| {
            edge.recordings_dir.as_ref().map(|dir| {
                Arc::new(crate::recording::storage::LocalDisk::new(dir)) as Arc<dyn crate::recording::storage::Storage>
            })
        });
        admin.recordings = lectern_admin::recordings::RecordingsInfo {
            totals: storage.clone().map(|storage| crate::recording::admin_totals(storage, edge.storage.is_some())),
            default_retention_days: edge.recording.retention_days,
        };
        let links = crate::recording::link::LinkKey::new(key.derive(b"lectern recording download links"));
        let archive = crate::recording::Archive::new(storage, links);
        let file_links = crate::recording::link::LinkKey::new(key.derive(b"lectern shared file download links"));
        let files = crate::files::Files::new(edge.files, file_links);
        let state = Arc::new(Self {
            key,
            sfu,
            store,
            resources: Default::default(),
            ice,
            devices,
            admin,
            cors: edge.cors,
            admission: Mutex::default(),
            trusted_proxies: edge.trusted_proxies,
            token_grace: edge.token_grace,
            recording: edge.recording,
            archive,
            files,
            cluster: edge.cluster,
            room_settings: Default::default(),
            join_limiter: edge
                .join_limit
                .then(|| Mutex::new(crate::classroom::JoinLimiter::new(crate::classroom::Rate::JOIN))),
        });
        // A revoked box's WHIP/WHEP and `/rtc` sessions end with its control channel.
        let app = Arc::downgrade(&state);
        state.devices.on_revoke(Box::new(move |jti| {
            if let Some(app) = app.upgrade() {
                app.sfu.send_all(|| crate::sfu::Command::Revoked { jti: jti.to_owned() });
                whip::end_sessions_of(app, jti);
            }
        }));
        // The timetable's end (and the fleet view's) ends the lesson on the hub, not only the box's camera.
        let app = Arc::downgrade(&state);
        state.devices.on_lesson_end(Box::new(move |room| {
            if let Some(app) = app.upgrade() {
                let reason = crate::recording::EndReason::Timetable;
                let (reply, _) = tokio::sync::oneshot::channel();
                let _ = app.sfu.send(room, crate::sfu::Command::EndLesson { room: room.clone(), reason, reply });
            }
        }));
        state
    }
}

impl AppState {
    pub fn admission(&self) -> std::sync::MutexGuard<'_, crate::whip::admission::Admission> {
        // Counters only: a panic elsewhere while holding the lock leaves them usable.
        self.admission.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A token that did not verify, from `client`: the same error, or 429 once that client has
    /// sent too many.
    pub fn count_refusal(&self, e: HttpError, client: std::net::IpAddr) -> HttpError {
        if !matches!(e, HttpError::Bearer(_)) || self.admission().bad_token(client, lectern_common::time::unix_ms()) {
            return e;
        }
        HttpError::Throttled { detail: "too many requests with a bad token from your address".into(), retry_after: 3 }
    }
}

pub type SharedState = Arc<AppState>;

/// One path segment as the serde enum it names (`live`, `csv`); `None` if it names none.
pub fn segment<T: serde::de::DeserializeOwned>(word: &str) -> Option<T> {
    use serde::de::IntoDeserializer;
    T::deserialize(IntoDeserializer::<serde::de::value::Error>::into_deserializer(word)).ok()
}
pub use error::HttpError;

/// str0m's SDP parse errors span lines and include a pointer address; make them one stable line.
pub fn describe_sdp_error(e: impl std::fmt::Display) -> String {
    let text = e.to_string();
    let mut out = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let line = match line.find(" at PointerOffset(") {
            Some(i) => &line[..i],
            None => line,
        };
        out.push(line.to_owned());
    }
    out.join("; ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn sdp_errors_lose_pointer_addresses_and_newlines() {
        let e = "SDP parse: Parse error at PointerOffset(0x7fdc10003040)\nUnexpected `g`\nExpected `v`\nsdp line\n";
        assert_eq!(super::describe_sdp_error(e), "SDP parse: Parse error; Unexpected `g`; Expected `v`; sdp line");
    }
}
