//! The classroom boxes' control channel, `GET /device/ws` with a device token: one socket per box
//! that idles between lessons. The hub keeps each box's last telemetry and routes commands to it
//! (a teacher starting or ending the room's camera, the admin's configuration).
//!
//! A box without a credential connects without a token and asks for a claim code
//! ([`crate::enroll`]); when an admin claims it, the box receives its own device credential on
//! the same socket. Revoking a credential closes its control channel and media sessions at once.
//! What the hub knows about the boxes is kept in [`crate::device_registry`].

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use lectern_common::time::{unix_ms, unix_secs};
use lectern_proto::device::{DeviceMsg, HubMsg, TELEMETRY_EVERY_SECS};
use lectern_proto::{Claims, Role};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use super::auth::{TEACHERS, authorize, display_name, parse_room, verify_bearer};
use super::error::HttpError;
use super::{AppState, segment};
use crate::classroom::{Rate, RateLimiter};
use crate::device_registry::{DEVICE_BACKLOG, DeviceView};
use crate::enroll;

/// Messages from a box are small (an inventory of a few devices at most); anything bigger is not one of ours.
const MAX_DEVICE_MESSAGE: usize = 64 * 1024;
/// A box without a credential must say what it wants this soon after connecting.
const ENROLL_HELLO_WITHIN: Duration = Duration::from_secs(10);
/// Enrolled devices' credentials have this subject prefix (see `lectern_admin::devices`).
const ENROLLED_PREFIX: &str = "box-";

/// A box that takes longer than this to take one message is not reading: its channel is closed
/// (and so is one [`crate::device_registry::DEVICE_BACKLOG`] messages behind).
const SEND_TIMEOUT: Duration = super::rtc::SEND_TIMEOUT;

/// How often a live box is asked for a picture of its camera.
const SNAPSHOT_EVERY: Duration = Duration::from_secs(60);
/// Messages a box may send: it reports every few seconds, so a burst past this is not a box.
const MESSAGES: Rate = Rate { burst: 40, every_ms: 250 };
/// `hello` and `configResult`, which write to the database: a few per connection, then one every 5 s.
const WRITES: Rate = Rate { burst: 5, every_ms: 5_000 };

/// `GET /device/ws`: with a device token, a box's control channel; without any token, a new box
/// asking to be enrolled.
pub async fn upgrade(
    State(st): State<Arc<AppState>>,
    peer: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Result<Response, HttpError> {
    // Boxes send a few hundred bytes every 5 s: small buffers let one hub hold thousands of them
    // (tungstenite's default read buffer alone is 128 KiB per socket).
    let ws = ws
        .max_message_size(MAX_DEVICE_MESSAGE)
        .max_frame_size(MAX_DEVICE_MESSAGE)
        .read_buffer_size(4096)
        .write_buffer_size(4096);
    if !headers.contains_key(header::AUTHORIZATION) {
        let ip = peer.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |axum::Extension(ConnectInfo(a))| a.ip());
        return Ok(ws.on_upgrade(move |socket| enrollment(socket, st, ip)));
    }
    let claims = verify_bearer(&headers, &st.key)?;
    if claims.role != Role::Device {
        return Err(HttpError::forbidden(format!("role '{}' is not a classroom box", claims.role)));
    }
    Ok(ws.on_upgrade(move |socket| session(socket, st, claims)))
}

async fn session(mut ws: WebSocket, st: Arc<AppState>, claims: Claims) {
    if claims.sub.starts_with(ENROLLED_PREFIX) && !moved(&mut ws, &st, &claims).await {
        return;
    }
    let room = claims.room.clone();
    let (tx, mut commands) = mpsc::channel(DEVICE_BACKLOG);
    let now = unix_secs();
    let device_id = claims.sub.starts_with(ENROLLED_PREFIX).then(|| claims.sub.clone());
    let view = DeviceView {
        room: room.clone(),
        name: display_name(&claims),
        version: None,
        connected_at: now,
        last_seen: now,
        telemetry: None,
        device_id: device_id.clone(),
        inventory: None,
        snapshot_at: None,
        snapshot_error: None,
        software: None,
        node: None,
    };
    let conn = st.devices.register(view, claims.jti.clone(), tx);
    tracing::info!(%room, "classroom box connected");
    // Three missed reports and the box is presumed gone; it reconnects on its own.
    let silence = Duration::from_secs(3 * TELEMETRY_EVERY_SECS);
    // The fleet view's picture of a live room is at most this old; an idle box is not asked (its
    // camera is closed).
    let mut snapshots = tokio::time::interval(SNAPSHOT_EVERY);
    let mut live = false;
    let mut messages = RateLimiter::<()>::new(MESSAGES);
    let mut writes = RateLimiter::<()>::new(WRITES);
    // The channel ends with its credential, after the same grace as a lesson's sessions (a box's
    // credential lasts years; one made by hand may not).
    let ends_in = Duration::from_secs(claims.exp.saturating_sub(unix_secs())).saturating_add(st.token_grace);
    let expiry = tokio::time::sleep(ends_in.min(Duration::from_secs(100 * 365 * 86_400)));
    tokio::pin!(expiry);
    loop {
        tokio::select! {
            () = &mut expiry => {
                tracing::info!(%room, "a classroom box's credential expired: its control channel ends");
                reply(&mut ws, HubMsg::Error { message: "this box's credential expired: enroll it again".into() }).await;
                break;
            }
            _ = snapshots.tick() => {
                if live && !reply(&mut ws, HubMsg::Snapshot).await { break }
            }
            msg = tokio::time::timeout(silence, ws.recv()) => {
                let text = match msg {
                    Ok(Some(Ok(Message::Text(t)))) => t,
                    Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
                    Ok(Some(Ok(Message::Binary(_)))) => {
                        if !reply(&mut ws, HubMsg::Error { message: "binary messages are not supported".into() }).await { break }
                        continue;
                    }
                    Err(_) => { tracing::info!(%room, "classroom box went silent"); break }
                    _ => break,
                };
                if !messages.try_acquire(&(), unix_ms()) {
                    tracing::warn!(%room, "a classroom box's control channel sent too many messages: closed");
                    reply(&mut ws, HubMsg::Error { message: "too many messages: closing".into() }).await;
                    break;
                }
                match serde_json::from_str::<DeviceMsg>(&text).map(DeviceMsg::clipped) {
                    Ok(DeviceMsg::Snapshot { jpeg_base64, error }) => {
                        st.devices.snapshot_received(&room, conn, jpeg_base64, error);
                    }
                    Ok(DeviceMsg::Enroll { .. }) => {
                        let message = "this box is enrolled already; enroll only without a token".to_owned();
                        if !reply(&mut ws, HubMsg::Error { message }).await { break }
                    }
                    Ok(m) if writes_db(&m).is_some() && !writes.try_acquire(&(), unix_ms()) => {
                        let message = format!("{} too often: ignored", writes_db(&m).unwrap_or_default());
                        if !reply(&mut ws, HubMsg::Error { message }).await { break }
                    }
                    Ok(m) => {
                        if let DeviceMsg::Telemetry(t) = &m {
                            let now_live = t.state == lectern_proto::device::DeviceState::Live;
                            // A room that just went live gets its picture now, not in a minute.
                            if now_live && !live && !reply(&mut ws, HubMsg::Snapshot).await { break }
                            live = now_live;
                        }
                        let pending = record(&st, device_id.as_deref(), &m).await;
                        let hello = matches!(m, DeviceMsg::Hello { .. });
                        st.devices.report(&room, conn, m);
                        if let Some((version, config)) = pending
                            && !reply(&mut ws, HubMsg::ApplyConfig { version, config }).await
                        {
                            break;
                        }
                        // The box's check for an assigned release: answered after every hello.
                        if hello && let Some(offer) = update_offer(&st, device_id.as_deref()).await
                            && !reply(&mut ws, HubMsg::Update(offer)).await
                        {
                            break;
                        }
                    }
                    Err(e) => if !reply(&mut ws, HubMsg::Error { message: format!("invalid message: {e}") }).await { break },
                }
            }
            cmd = commands.recv() => {
                // None: a newer connection of the same box replaced this one, or this one fell
                // too far behind.
                let Some(cmd) = cmd else { break };
                if !reply(&mut ws, cmd).await { break }
            }
        }
    }
    st.devices.unregister(&room, conn);
    tracing::info!(%room, "classroom box disconnected");
}

/// A moved box (`lectern_admin::device_move`): its old credential only fetches the new one, then
/// the socket closes (false); its new one retires the old. True: go on with the session.
async fn moved(ws: &mut WebSocket, st: &AppState, claims: &Claims) -> bool {
    let message = match lectern_admin::device_move::on_connect(&st.admin, claims).await {
        Ok(None) => return true,
        Ok(Some(moved)) => {
            tracing::info!(room = %claims.room, device = %claims.sub, "a moved classroom box fetched its new credential");
            moved
        }
        Err(err) => {
            tracing::warn!(device = %claims.sub, %err, "could not check whether a classroom box was moved");
            HubMsg::Error { message: "the hub could not check this box's credential; try again".into() }
        }
    };
    if reply(ws, message).await {
        // The box may be writing its hello: closing now would reset the connection under the
        // message unread. It closes the socket itself once it has kept its credential.
        let drained = async {
            while let Some(Ok(msg)) = ws.recv().await
                && !matches!(msg, Message::Close(_))
            {}
        };
        let _ = tokio::time::timeout(SEND_TIMEOUT, drained).await;
    }
    false
}

/// The name of a message the hub writes to the database, which is limited to [`WRITES`].
fn writes_db(msg: &DeviceMsg) -> Option<&'static str> {
    match msg {
        DeviceMsg::Hello { .. } => Some("hello"),
        DeviceMsg::ConfigResult { .. } => Some("configResult"),
        DeviceMsg::UpdateStatus(_) => Some("updateStatus"),
        _ => None,
    }
}

/// What an enrolled box says that the web admin keeps: its inventory, its answers to
/// configurations. Returns a configuration the box has yet to apply, to send after its hello.
async fn record(st: &AppState, device_id: Option<&str>, msg: &DeviceMsg) -> Option<(u64, String)> {
    let id = device_id?;
    let pool = st.store.pool();
    let outcome = match msg {
        DeviceMsg::Hello { inventory, .. } => lectern_admin::devices::on_hello(pool, id, inventory.as_ref()).await,
        DeviceMsg::ConfigResult { version, ok, error } => {
            lectern_admin::devices::on_config_result(pool, id, *version, *ok, error.as_deref(), unix_secs())
                .await
                .map(|()| None)
        }
        DeviceMsg::UpdateStatus(status) => {
            lectern_admin::releases::on_update_status(&st.admin, id, status).await.map(|()| None)
        }
        _ => Ok(None),
    };
    outcome.unwrap_or_else(|err| {
        tracing::warn!(device = id, %err, "could not record what a classroom box reported");
        None
    })
}

/// The release an enrolled box should run, if a rollout reached it.
async fn update_offer(st: &AppState, device_id: Option<&str>) -> Option<lectern_proto::update::UpdateOffer> {
    match lectern_admin::releases::offer_for(&st.admin, device_id?).await {
        Ok(offer) => offer.map(|(_, offer)| offer),
        Err(err) => {
            tracing::warn!(device = device_id, %err, "could not look up a classroom box's release");
            None
        }
    }
}

/// `GET /device/{room}/releases/{id}/bundle` with the room's device token: a release's bundle,
/// with `Range` support so a cut download resumes (`lectern_admin::releases::serve_bundle`).
pub async fn bundle(
    State(st): State<Arc<AppState>>,
    Path((room, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let room = parse_room(&room)?;
    authorize(&headers, &st.key, &room, &[Role::Device])?;
    let id: i64 = id.parse().map_err(|_| HttpError::not_found("a release id is a number"))?;
    lectern_admin::releases::serve_bundle(&st.admin, id, &headers).await
}

/// A box without a credential: it sends `enroll`, gets its claim code, and waits on this socket
/// until an admin claims it (then it gets `enrolled` and the socket closes) or it goes away.
async fn enrollment(mut ws: WebSocket, st: Arc<AppState>, ip: IpAddr) {
    let first = tokio::time::timeout(ENROLL_HELLO_WITHIN, ws.recv()).await;
    let text = match first {
        Ok(Some(Ok(Message::Text(t)))) => t,
        _ => return,
    };
    let (box_key, version, hostname) = match serde_json::from_str::<DeviceMsg>(&text).map(DeviceMsg::clipped) {
        Ok(DeviceMsg::Enroll { box_key, version, hostname }) if (32..=256).contains(&box_key.len()) => {
            (box_key, version, hostname)
        }
        Ok(DeviceMsg::Enroll { .. }) => {
            let message = "boxKey must be 32–256 characters of randomness".to_owned();
            reply(&mut ws, HubMsg::Error { message }).await;
            return;
        }
        _ => {
            let message = "without a token, the only message is enroll (or connect with your device token)".to_owned();
            reply(&mut ws, HubMsg::Error { message }).await;
            return;
        }
    };
    // Only a hash of the box's secret is kept, like any other credential.
    let key: String = Sha256::digest(box_key.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    let now = unix_secs();
    if let Some(msg) = st.devices.take_undelivered(&key, now) {
        reply(&mut ws, msg).await;
        return;
    }
    let requested = st.devices.request_enrollment(&key, &hostname, &version, ip, now);
    let pending = match requested {
        Ok(p) => p,
        Err(err) => {
            reply(&mut ws, HubMsg::Error { message: err.to_string() }).await;
            return;
        }
    };
    tracing::info!(%ip, hostname = %pending.hostname, "a classroom box is waiting to be enrolled");
    // One message ever comes this way (`enrolled`).
    let (tx, mut commands) = mpsc::channel(1);
    let conn = st.devices.wait_for_claim(&key, tx);
    let code = HubMsg::ClaimCode { code: enroll::display(&pending.code), expires_at: pending.expires_at };
    if reply(&mut ws, code).await {
        let silence = Duration::from_secs(3 * TELEMETRY_EVERY_SECS);
        loop {
            tokio::select! {
                msg = tokio::time::timeout(silence, ws.recv()) => match msg {
                    Ok(Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Text(_)))) => {}
                    _ => break,
                },
                cmd = commands.recv() => {
                    let Some(cmd) = cmd else { break };
                    let done = matches!(cmd, HubMsg::Enrolled { .. });
                    if !reply(&mut ws, cmd).await || done { break }
                }
            }
        }
    }
    st.devices.stop_waiting(&key, conn, unix_secs());
}

/// Sends one message within [`SEND_TIMEOUT`]; false if the socket failed or stalled.
async fn reply(ws: &mut WebSocket, msg: HubMsg) -> bool {
    // HubMsg is plain data; serializing it cannot fail.
    let text = serde_json::to_string(&msg).expect("hub messages serialize");
    match tokio::time::timeout(SEND_TIMEOUT, ws.send(Message::Text(text.into()))).await {
        Ok(sent) => sent.is_ok(),
        Err(_) => {
            tracing::warn!("a classroom box's control channel took no message for {SEND_TIMEOUT:?}: closing it");
            false
        }
    }
}

/// The last word of `POST /api/rooms/{room}/live` and `/end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RoomAction {
    Live,
    End,
}

impl From<RoomAction> for HubMsg {
    fn from(action: RoomAction) -> Self {
        match action {
            RoomAction::Live => HubMsg::GoLive,
            RoomAction::End => HubMsg::End,
        }
    }
}

/// `POST /api/rooms/{room}/live` and `/end`: a teacher (or an admin) starts or stops the room's
/// camera; `/end` also ends the lesson on the hub (everyone is told and disconnected, its
/// recording closes). 202 if there was a box or a lesson to end, else 404.
pub async fn command(
    State(st): State<Arc<AppState>>,
    Path((room, action)): Path<(String, String)>,
    super::client::ClientAddr(client): super::client::ClientAddr,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let room = parse_room(&room)?;
    authorize(&headers, &st.key, &room, TEACHERS)?;
    let action: RoomAction = segment(&action).ok_or_else(|| HttpError::not_found("expected /live or /end"))?;
    // On a cluster node: the lesson to end lives with the room's owner (the box may be anywhere).
    let none = axum::body::Bytes::new();
    let post = axum::http::Method::POST;
    if let Some(answer) = super::routing::elsewhere(&st, &room, post, &uri, &headers, &none, client).await? {
        return Ok(answer);
    }
    let lesson_ended = action == RoomAction::End && crate::http::lessons::end(&st, &room).await?;
    if st.devices.send(&room, action.into()) || lesson_ended {
        Ok(StatusCode::ACCEPTED.into_response())
    } else if action == RoomAction::End {
        Err(HttpError::not_found(format!("no lesson is on and no classroom box is connected in room '{room}'")))
    } else {
        Err(HttpError::not_found(format!("no classroom box is connected for room '{room}'")))
    }
}

/// `GET /api/rooms/{room}/device`: the room's box and its last report.
pub async fn view(
    State(st): State<Arc<AppState>>,
    Path(room): Path<String>,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    let room = parse_room(&room)?;
    authorize(&headers, &st.key, &room, TEACHERS)?;
    let v = st
        .devices
        .view(&room)
        .ok_or_else(|| HttpError::not_found(format!("no classroom box is connected for room '{room}'")))?;
    let mut resp = Json(v).into_response();
    resp.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    Ok(resp)
}
