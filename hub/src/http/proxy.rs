//! Behind a reverse proxy every connection comes from the proxy, so per-client limits (join
//! attempts, WHIP sessions, the admin's login throttle) would lump every client together: five bad
//! logins would lock out every admin. A request from one of `[http] trusted_proxies` is from the
//! client its `Forwarded` or `X-Forwarded-For` header names (see
//! [`TrustedProxies::client`](lectern_common::net::TrustedProxies::client)); this layer puts that
//! client in the request's `ConnectInfo`, which every handler and limit below already reads, so it
//! is decided in this one place. Without trusted proxies, or from anyone else, the headers are
//! ignored.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;

use super::AppState;

pub async fn resolve_client(State(st): State<Arc<AppState>>, mut req: Request, next: Next) -> Response {
    // Another node of the cluster forwarding a client's request names the client, and proves it
    // is a node (`cluster::forward`): its `X-Forwarded-For` is the one address it sets.
    if let Some(cluster) = &st.cluster
        && cluster.forwarded_by(req.headers(), req.method(), req.uri().path()).is_some()
        && let Some(client) = header(req.headers(), "x-forwarded-for").and_then(|v| v.trim().parse().ok())
    {
        req.extensions_mut().insert(ConnectInfo(SocketAddr::new(client, 0)));
        return next.run(req).await;
    }
    if !st.trusted_proxies.is_empty()
        && let Some(ConnectInfo(peer)) = req.extensions().get::<ConnectInfo<SocketAddr>>().copied()
    {
        let (forwarded, xff) = (header(req.headers(), "forwarded"), header(req.headers(), "x-forwarded-for"));
        let client = st.trusted_proxies.client(peer.ip(), forwarded.as_deref(), xff.as_deref());
        if client != peer.ip() {
            req.extensions_mut().insert(ConnectInfo(SocketAddr::new(client, 0)));
        }
    }
    next.run(req).await
}

/// A header's value; several lines of it are one list, in order.
fn header(h: &HeaderMap, name: &str) -> Option<String> {
    let lines: Vec<&str> = h.get_all(name).iter().filter_map(|v| v.to_str().ok()).collect();
    (!lines.is_empty()).then(|| lines.join(","))
}
