//! Serving HTTP connections with limits axum's `serve` leaves out: it runs hyper without a timer,
//! which switches hyper's header read timeout off, so a client trickling a header byte every few
//! seconds (slow-loris) holds its connection for ever, and there is no cap on connections. Here
//! each connection must deliver every request head within [`HEADER_TIMEOUT`] (an idle keep-alive
//! connection is closed after it too), and at most `max_connections` are served at once; past it,
//! new connections wait in the kernel's backlog. Upgraded connections (WebSockets) keep their
//! place until they close; their own liveness is the sockets' ping (see `http::rtc`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::serve::Listener;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// A request head must arrive within this long (also the keep-alive idle limit).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` until `shutdown` completes; handlers see the client's address as
/// `ConnectInfo<SocketAddr>`.
pub async fn serve<L>(
    mut listener: L,
    app: Router,
    max_connections: usize,
    shutdown: impl std::future::Future<Output = ()>,
) where
    L: Listener<Addr = SocketAddr>,
{
    let slots = Arc::new(Semaphore::new(max_connections.max(1)));
    // HTTP/1.1 only: WebSockets upgrade from it, and nothing here needs HTTP/2.
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(HEADER_TIMEOUT);
    let builder = Arc::new(builder);
    let mut shutdown = std::pin::pin!(shutdown);
    let mut full_logged = false;
    loop {
        // A slot first: while every slot is taken, connections wait unaccepted.
        if slots.available_permits() == 0 && !full_logged {
            tracing::warn!(max_connections, "every HTTP connection slot is taken; new clients wait");
            full_logged = true;
        }
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot,
            () = &mut shutdown => return,
        };
        // Invariant: the semaphore is never closed.
        let slot = slot.expect("the connection semaphore is never closed");
        if slots.available_permits() > 0 {
            full_logged = false;
        }
        let (io, peer) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => return,
        };
        let service = app.clone().map_request(move |mut req: axum::extract::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            req.map(axum::body::Body::new)
        });
        let builder = builder.clone();
        tokio::spawn(async move {
            let hyper_service = TowerToHyperService::new(service);
            if let Err(error) = builder.serve_connection(TokioIo::new(io), hyper_service).with_upgrades().await {
                tracing::trace!(%peer, %error, "connection ended with an error");
            }
            drop(slot);
        });
    }
}
