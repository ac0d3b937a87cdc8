//! The student app's pages and assets, and the health probe.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::auth::parse_room;
use super::error::HttpError;
use crate::assets;

pub(super) fn serve(name: &str) -> Result<Response, HttpError> {
    let a = assets::get(name)
        .ok_or_else(|| HttpError::not_found(format!("no asset '{}'", name.chars().take(64).collect::<String>())))?;
    let mut resp = (StatusCode::OK, a.body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(a.content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(resp)
}

pub async fn index() -> Result<Response, HttpError> {
    serve("index.html")
}

pub async fn join(
    State(st): State<Arc<AppState>>,
    Path(room): Path<String>,
    uri: axum::http::Uri,
) -> Result<Response, HttpError> {
    let room = parse_room(&room).map_err(|e| HttpError::not_found(e.to_string()))?;
    // On a cluster node, the page goes to the node that owns the room: its `/rtc` is same-origin.
    if let Some(redirect) = super::routing::redirect_page(&st, &room, &uri).await? {
        return Ok(redirect);
    }
    serve("join.html")
}

pub async fn asset(Path(name): Path<String>) -> Result<Response, HttpError> {
    serve(&name)
}

pub async fn healthz(State(st): State<Arc<AppState>>) -> Response {
    let mut health = serde_json::json!({ "status": "ok", "mediaShards": st.sfu.media_addrs.len() });
    // A cluster node names itself and the nodes that serve: a lesson page whose hub stops answering
    // goes to another (hub/assets/failover.js). Their public URLs, nothing else.
    if let Some(c) = &st.cluster {
        health["cluster"] = serde_json::json!({ "node": c.node, "nodes": c.serving_nodes() });
    }
    Json(health).into_response()
}
