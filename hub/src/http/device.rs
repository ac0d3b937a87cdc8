//! The classroom boxes' control channel, `GET /device/ws` with a device token: one socket per box
//! that idles between lessons. The hub keeps each box's last telemetry and routes commands to it
//! (a teacher starting or ending the room's camera, later the admin's configuration).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use lectern_proto::device::{DeviceMsg, HubMsg, TELEMETRY_EVERY_SECS, Telemetry};
use lectern_proto::{Claims, Role, RoomId};
use serde::Serialize;
use tokio::sync::mpsc;

use super::AppState;
use super::auth::{authorize, display_name, parse_room, verify_bearer};
use super::error::AppError;
use crate::token::unix_now;

/// Messages from a box are small; anything bigger is not one of ours.
const MAX_DEVICE_MESSAGE: usize = 16 * 1024;

/// The boxes connected to this hub, one per room (a reconnecting box replaces its old socket).
#[derive(Default)]
pub struct DeviceRegistry {
    boxes: Mutex<HashMap<RoomId, Connected>>,
    next_conn: AtomicU64,
}

struct Connected {
    conn: u64,
    tx: mpsc::UnboundedSender<HubMsg>,
    view: DeviceView,
}

/// What the hub knows about a room's box.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceView {
    pub room: RoomId,
    pub name: String,
    pub version: Option<String>,
    pub connected_at: u64,
    pub last_seen: u64,
    pub telemetry: Option<Telemetry>,
}

impl DeviceRegistry {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<RoomId, Connected>> {
        self.boxes.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn register(&self, view: DeviceView, tx: mpsc::UnboundedSender<HubMsg>) -> u64 {
        let conn = self.next_conn.fetch_add(1, Ordering::Relaxed);
        // The old socket's sender is dropped here, which ends that session.
        self.lock().insert(view.room.clone(), Connected { conn, tx, view });
        conn
    }

    fn update(&self, room: &RoomId, conn: u64, f: impl FnOnce(&mut DeviceView)) {
        if let Some(c) = self.lock().get_mut(room).filter(|c| c.conn == conn) {
            f(&mut c.view);
        }
    }

    fn unregister(&self, room: &RoomId, conn: u64) {
        let mut boxes = self.lock();
        if boxes.get(room).is_some_and(|c| c.conn == conn) {
            boxes.remove(room);
        }
    }

    /// Sends a command to the room's box; false if none is connected.
    pub fn send(&self, room: &RoomId, msg: HubMsg) -> bool {
        self.lock().get(room).is_some_and(|c| c.tx.send(msg).is_ok())
    }

    pub fn view(&self, room: &RoomId) -> Option<DeviceView> {
        self.lock().get(room).map(|c| c.view.clone())
    }

    pub fn all(&self) -> Vec<DeviceView> {
        let mut v: Vec<DeviceView> = self.lock().values().map(|c| c.view.clone()).collect();
        v.sort_by(|a, b| a.room.cmp(&b.room));
        v
    }
}

pub async fn upgrade(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Result<Response, AppError> {
    let claims = verify_bearer(&headers, &st.key)?;
    if claims.role != Role::Device {
        return Err(AppError::forbidden(format!("role '{}' is not a classroom box", claims.role)));
    }
    Ok(ws.max_message_size(MAX_DEVICE_MESSAGE).on_upgrade(move |socket| session(socket, st, claims)))
}

async fn session(mut ws: WebSocket, st: Arc<AppState>, claims: Claims) {
    let room = claims.room.clone();
    let (tx, mut commands) = mpsc::unbounded_channel();
    let now = unix_now();
    let view = DeviceView {
        room: room.clone(),
        name: display_name(&claims),
        version: None,
        connected_at: now,
        last_seen: now,
        telemetry: None,
    };
    let conn = st.devices.register(view, tx);
    tracing::info!(%room, "classroom box connected");
    // Three missed reports and the box is presumed gone; it reconnects on its own.
    let silence = Duration::from_secs(3 * TELEMETRY_EVERY_SECS);
    loop {
        tokio::select! {
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
                match serde_json::from_str::<DeviceMsg>(&text) {
                    Ok(m) => st.devices.update(&room, conn, |v| apply(v, m)),
                    Err(e) => if !reply(&mut ws, HubMsg::Error { message: format!("invalid message: {e}") }).await { break },
                }
            }
            cmd = commands.recv() => {
                // None: a newer connection of the same box replaced this one.
                let Some(cmd) = cmd else { break };
                if !reply(&mut ws, cmd).await { break }
            }
        }
    }
    st.devices.unregister(&room, conn);
    tracing::info!(%room, "classroom box disconnected");
}

fn apply(view: &mut DeviceView, msg: DeviceMsg) {
    view.last_seen = unix_now();
    match msg {
        DeviceMsg::Hello { version } => view.version = Some(version.chars().take(64).collect()),
        DeviceMsg::Telemetry(t) => view.telemetry = Some(t),
        DeviceMsg::ConfigResult { version, ok, error } => {
            tracing::info!(room = %view.room, version, ok, error = ?error, "classroom box applied configuration");
        }
    }
}

async fn reply(ws: &mut WebSocket, msg: HubMsg) -> bool {
    // HubMsg is plain data; serializing it cannot fail.
    let text = serde_json::to_string(&msg).expect("hub messages serialize");
    ws.send(Message::Text(text.into())).await.is_ok()
}

/// `POST /api/rooms/{room}/live` and `/end`: a teacher starts or stops the room's camera.
pub async fn command(
    State(st): State<Arc<AppState>>,
    Path((room, action)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let room = parse_room(&room)?;
    authorize(&headers, &st.key, &room, &[Role::Teacher, Role::Admin])?;
    let msg = match action.as_str() {
        "live" => HubMsg::GoLive,
        "end" => HubMsg::End,
        _ => return Err(AppError::not_found("expected /live or /end")),
    };
    if st.devices.send(&room, msg) {
        Ok(StatusCode::ACCEPTED.into_response())
    } else {
        Err(AppError::not_found(format!("no classroom box is connected for room '{room}'")))
    }
}

/// `GET /api/rooms/{room}/device`: the room's box and its last report.
pub async fn view(
    State(st): State<Arc<AppState>>,
    Path(room): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let room = parse_room(&room)?;
    authorize(&headers, &st.key, &room, &[Role::Teacher, Role::Admin])?;
    let v = st
        .devices
        .view(&room)
        .ok_or_else(|| AppError::not_found(format!("no classroom box is connected for room '{room}'")))?;
    let mut resp = Json(v).into_response();
    resp.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// The web admin lists and commands the boxes through this registry.
impl lectern_admin::Fleet for DeviceRegistry {
    fn devices(&self) -> Vec<lectern_admin::DeviceSummary> {
        self.all()
            .into_iter()
            .map(|v| lectern_admin::DeviceSummary {
                room: v.room,
                name: v.name,
                version: v.version,
                connected_at: v.connected_at,
                last_seen: v.last_seen,
                telemetry: v.telemetry,
            })
            .collect()
    }

    fn send(&self, room: &RoomId, cmd: HubMsg) -> bool {
        DeviceRegistry::send(self, room, cmd)
    }
}
