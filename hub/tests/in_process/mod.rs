//! The hub's HTTP router in-process (`tower::ServiceExt::oneshot`, no HTTP socket) with a real store
//! and real media shards on loopback: what the HTTP tests share.
#![allow(dead_code)] // each test file uses part of it

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use lectern_common::time::unix_secs;
use lectern_hub::config::MediaSettings;
use lectern_hub::http::{AppState, Edge};
use lectern_hub::media_io::{Outlets, Sfu};
use lectern_hub::store::Store;
use lectern_hub::token::TokenKey;
use lectern_hub::turn::IceServers;
use lectern_proto::{Claims, Role, RoomId};
use tower::ServiceExt;

pub const SECRET: &str = "test-secret-0123456789abcdef0123456789abcdef";

/// The largest body a test reads back (recordings are sent whole in some tests).
const MAX_BODY: usize = 64 * 1024 * 1024;

/// One shard on an ephemeral loopback port, no TURN.
pub fn loopback_media() -> MediaSettings {
    MediaSettings {
        bind_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        udp_port: 0,
        shards: 1,
        advertise_ips: Vec::new(),
        ice_tcp: false,
        ice_servers: Vec::new(),
        turn: Vec::new(),
    }
}

/// The hub's state over `store`, its shards reporting to `outlets`, tokens signed with [`SECRET`].
pub fn state(store: Store, outlets: Outlets, ice: IceServers, edge: Edge) -> Arc<AppState> {
    let sfu = Sfu::start(&loopback_media(), outlets).expect("media shards");
    AppState::new(TokenKey::new(SECRET.as_bytes().to_vec()), sfu, store, ice, edge)
}

/// Outlets whose store events the store's writer records, as in `serve` (lessons, chat, sessions).
pub fn writing_to(store: &Store) -> Outlets {
    Outlets { store: Some(store.clone().spawn_writer(Default::default())), ..Outlets::default() }
}

/// Claims for `sub` in `room` as `role`, valid from 10 s ago until `exp_offset` seconds from now
/// (negative: already expired).
pub fn claims(room: &str, role: Role, sub: &str, exp_offset: i64) -> Claims {
    let now = unix_secs();
    Claims {
        sub: sub.into(),
        room: RoomId::parse(room).expect("a room id"),
        role,
        name: Some("Test".into()),
        exp: now.saturating_add_signed(exp_offset),
        nbf: now - 10,
        jti: lectern_hub::token::random_id(),
        guest: false,
    }
}

/// `claims` signed with [`SECRET`].
pub fn issue(claims: &Claims) -> String {
    TokenKey::new(SECRET.as_bytes().to_vec()).issue(claims)
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// `method path` with these headers and body, answered by `app`.
pub async fn send(app: &Router, method: Method, path: &str, headers: &[(&str, String)], body: Vec<u8>) -> Resp {
    let mut req = Request::builder().method(method).uri(path);
    for (name, value) in headers {
        req = req.header(*name, value);
    }
    let req = req.body(Body::from(body)).expect("a request");
    let resp = app.clone().oneshot(req).await.expect("the router answers");
    let (status, headers) = (resp.status(), resp.headers().clone());
    let body = axum::body::to_bytes(resp.into_body(), MAX_BODY).await.expect("a body").to_vec();
    Resp { status, headers, body }
}

/// An `authorization: Bearer` header.
pub fn bearer(token: &str) -> (&'static str, String) {
    ("authorization", format!("Bearer {token}"))
}
