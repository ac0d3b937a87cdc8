//! The HTTP side of a cluster node ([`crate::cluster`]): a WHIP/WHEP request for a room another
//! node owns is forwarded there right after its token is checked (a redirect would lose the token:
//! clients drop `Authorization` on a cross-origin redirect), and the owner's answer returned, with
//! its ICE candidates, so media flows straight to the owner; the `Location` stays on this node,
//! which forwards PATCH and DELETE the same way. A page (`/join/{room}`) is redirected instead, so
//! its `/rtc` socket stays same-origin with the owner.

use std::net::IpAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use lectern_proto::RoomId;

use super::AppState;
use super::error::HttpError;
use crate::cluster::forward::{self, Forward};
use crate::cluster::{Cluster, Route, RouteError};

impl From<RouteError> for HttpError {
    fn from(e: RouteError) -> Self {
        HttpError::Unavailable(e.to_string())
    }
}

/// For a request about `room`: `None` when this node serves it, else the owner's answer to the
/// same request. `known_here` (a resource this node holds) always stays here.
pub async fn elsewhere(
    st: &AppState,
    room: &RoomId,
    method: Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
    client: IpAddr,
) -> Result<Option<Response>, HttpError> {
    let Some(cluster) = st.cluster.clone() else { return Ok(None) };
    let path = uri.path();
    // A request another node forwarded is served here or refused: never forwarded again.
    let forwarded = cluster.forwarded_by(headers, &method, path).is_some();
    // A node that does not answer is routed around and the request routed again: once its lease
    // lapses the room is placed on a live node.
    for _ in 0..3 {
        let (node, placed) = match cluster.route(room, forwarded).await? {
            Route::Here => return Ok(None),
            Route::Forward { .. } if forwarded => {
                return Err(HttpError::Unavailable(format!(
                    "room '{room}' moved to another hub while this request was forwarded; try again"
                )));
            }
            Route::Forward { node, placed } => (node, placed),
        };
        match send_to(&cluster, node.public_url.clone(), placed, &method, uri, headers, body, client).await? {
            Ok(resp) => return Ok(Some(resp)),
            Err(forward::ForwardError::Unreachable(node, why)) => {
                tracing::debug!(%node, why, "forward failed to connect");
                cluster.suspect(&node);
            }
        }
    }
    Err(HttpError::Unavailable(format!("no hub of the cluster can serve room '{room}' right now; try again")))
}

/// One forward; `Err` inside when the node could not be reached at all.
#[allow(clippy::too_many_arguments)] // one request's parts, passed on as they came
async fn send_to(
    cluster: &Cluster,
    owner: String,
    placed: bool,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
    client: IpAddr,
) -> Result<Result<Response, forward::ForwardError>, HttpError> {
    let (method, path) = (method.clone(), uri.path());
    let path_and_query = uri.path_and_query().map_or(path, |p| p.as_str()).to_owned();
    let signed = cluster.sign(&method, path);
    let (headers, body) = (headers.clone(), body.to_vec());
    let agent = cluster.agent.clone();
    tracing::debug!(%owner, %method, path, "forwarding to the room's owner");
    let answer = tokio::task::spawn_blocking(move || {
        forward::send(
            &agent,
            Forward {
                base_url: &owner,
                method,
                path_and_query,
                headers: &headers,
                body,
                client,
                forwarded_by: signed,
                placed,
            },
        )
    })
    .await
    .map_err(|e| HttpError::internal("forwarding to the room's owner", e))?;
    Ok(answer.map(|answer| {
        let mut resp = (answer.status, answer.body).into_response();
        resp.headers_mut().extend(answer.headers);
        resp
    }))
}

/// `Lectern-Node` on an answer this node gives for a room it owns.
pub fn name_node(cluster: Option<&Arc<Cluster>>, headers: &mut HeaderMap) {
    if let Some(c) = cluster
        && let Ok(v) = HeaderValue::from_str(&c.node)
    {
        headers.insert(forward::NODE, v);
    }
}

/// `/join/{room}` on a node that does not own the room: the page moves to the owner (query kept).
/// The owner is probed first: a page sent to a dead node would show the browser's error page,
/// while routing around it (once its lease lapses) finds the room's next owner.
pub async fn redirect_page(st: &AppState, room: &RoomId, uri: &Uri) -> Result<Option<Response>, HttpError> {
    let Some(cluster) = st.cluster.clone() else { return Ok(None) };
    for _ in 0..3 {
        // A page for a room nobody serves yet takes it here: placing it elsewhere would send the
        // browser on, and the next node, with its own view of the load, might send it on again.
        match cluster.route(room, true).await? {
            Route::Here => return Ok(None),
            Route::Forward { node, .. } if !cluster.answers(&node).await => cluster.suspect(&node.id),
            Route::Forward { node, .. } => {
                let target = format!("{}{}", node.public_url, uri.path_and_query().map_or(uri.path(), |p| p.as_str()));
                let location = HeaderValue::from_str(&target).map_err(|e| HttpError::internal("a redirect", e))?;
                return Ok(Some(
                    (StatusCode::TEMPORARY_REDIRECT, [(axum::http::header::LOCATION, location)]).into_response(),
                ));
            }
        }
    }
    Err(HttpError::Unavailable(format!("no hub of the cluster can serve room '{room}' right now; try again")))
}
