//! The browser's signaling socket (`GET /rtc`): translates JSON messages from `lectern-proto`
//! into shard commands and room events back into JSON. No room logic lives here.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use lectern_proto::signal::{ClientMsg, ErrorCode, MAX_MESSAGE_BYTES, ServerMsg};
use lectern_proto::{Claims, Role};
use str0m::change::{SdpAnswer, SdpOffer};
use tokio::sync::mpsc;

use super::AppState;
use super::auth::display_name;
use crate::sfu::{Command, Ident, SfuError};
use crate::store::Transport;
use crate::token::unix_now;

/// A socket that has not sent `join` by then is closed.
const JOIN_DEADLINE: Duration = Duration::from_secs(10);
/// Keeps proxies and NATs from closing an idle socket.
const PING_EVERY: Duration = Duration::from_secs(20);

pub async fn upgrade(State(st): State<Arc<AppState>>, ws: WebSocketUpgrade) -> Response {
    ws.max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| session(socket, st))
}

fn error(code: ErrorCode, message: impl Into<String>, fatal: bool) -> ServerMsg {
    ServerMsg::Error { code, message: message.into(), fatal }
}

async fn send(ws: &mut WebSocket, msg: &ServerMsg) -> bool {
    // ServerMsg is plain data; serializing it cannot fail.
    let text = serde_json::to_string(msg).expect("server messages serialize");
    ws.send(Message::Text(text.into())).await.is_ok()
}

async fn session(mut ws: WebSocket, st: Arc<AppState>) {
    let claims = match first_join(&mut ws, &st).await {
        Ok(c) => c,
        Err(msg) => {
            let _ = send(&mut ws, &msg).await;
            let _ = ws.send(Message::Close(None)).await;
            return;
        }
    };
    let ident = Ident {
        room: claims.room.clone(),
        participant: st.sfu.new_participant_id(),
        subject: claims.sub.clone(),
        name: display_name(&claims),
        role: claims.role,
        transport: Transport::Browser,
    };
    let (room, pid, role, name) = (ident.room.clone(), ident.participant, ident.role, ident.name.clone());
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let others = match st.sfu.call(&room, |reply| Command::Join { ident, events: events_tx, reply }).await {
        Ok(o) => o,
        Err(e) => {
            let _ = send(&mut ws, &error(ErrorCode::Internal, e.to_string(), true)).await;
            return;
        }
    };
    let ice_servers = st.ice_servers.clone();
    let joined =
        ServerMsg::Joined { participant_id: pid, room: room.clone(), role, name, participants: others, ice_servers };
    if send(&mut ws, &joined).await {
        let mut ping = tokio::time::interval(PING_EVERY);
        loop {
            tokio::select! {
                msg = ws.recv() => {
                    let Some(Ok(msg)) = msg else { break };
                    match on_message(&st, &claims, pid, msg).await {
                        Step::Reply(m) => if !send(&mut ws, &m).await { break },
                        Step::Continue => {}
                        Step::Leave => break,
                    }
                }
                ev = events.recv() => {
                    // None: the room removed us (media failure); the browser reconnects.
                    let Some(ev) = ev else { break };
                    let fatal = matches!(ev, ServerMsg::Error { fatal: true, .. });
                    if !send(&mut ws, &ev).await || fatal { break }
                }
                _ = ping.tick() => if ws.send(Message::Ping(Default::default())).await.is_err() { break },
            }
        }
    }
    let _ = st.sfu.send(&room, Command::Leave { room: room.clone(), participant: pid, reply: None });
    let _ = ws.send(Message::Close(None)).await;
}

/// Waits for `join` and checks its token; any other outcome is a fatal error to send.
async fn first_join(ws: &mut WebSocket, st: &AppState) -> Result<Claims, ServerMsg> {
    let first = tokio::time::timeout(JOIN_DEADLINE, ws.recv()).await;
    let text = match first {
        Ok(Some(Ok(Message::Text(t)))) => t,
        Ok(_) => return Err(error(ErrorCode::BadRequest, "expected a join message", true)),
        Err(_) => return Err(error(ErrorCode::BadRequest, "no join message within 10 s", true)),
    };
    let token = match serde_json::from_str::<ClientMsg>(&text) {
        Ok(ClientMsg::Join { token }) => token,
        Ok(_) => return Err(error(ErrorCode::BadRequest, "the first message must be join", true)),
        Err(e) => return Err(error(ErrorCode::BadRequest, format!("invalid message: {e}"), true)),
    };
    let claims = st.key.verify(&token, unix_now()).map_err(|e| error(ErrorCode::Unauthorized, e.to_string(), true))?;
    if claims.role == Role::Admin {
        return Err(error(ErrorCode::Forbidden, "an admin token cannot join a lesson", true));
    }
    Ok(claims)
}

enum Step {
    Reply(ServerMsg),
    Continue,
    Leave,
}

async fn on_message(st: &AppState, claims: &Claims, pid: lectern_proto::ParticipantId, msg: Message) -> Step {
    let text = match msg {
        Message::Text(t) => t,
        Message::Close(_) => return Step::Leave,
        Message::Binary(_) => {
            return Step::Reply(error(ErrorCode::BadRequest, "binary messages are not supported", false));
        }
        _ => return Step::Continue,
    };
    let msg = match serde_json::from_str::<ClientMsg>(&text) {
        Ok(m) => m,
        Err(e) => return Step::Reply(error(ErrorCode::BadRequest, format!("invalid message: {e}"), false)),
    };
    let room = claims.room.clone();
    let result: Result<Option<ServerMsg>, ServerMsg> = match msg {
        ClientMsg::Join { .. } => Err(error(ErrorCode::Conflict, "already joined", false)),
        ClientMsg::PublishOffer { sdp } => {
            if !claims.role.can_publish() {
                Err(error(ErrorCode::Forbidden, format!("role '{}' may not publish", claims.role), false))
            } else {
                match SdpOffer::from_sdp_string(&sdp) {
                    Err(e) => Err(error(
                        ErrorCode::BadRequest,
                        format!("invalid SDP offer: {}", super::describe_sdp_error(e)),
                        false,
                    )),
                    Ok(offer) => st
                        .sfu
                        .call(&room, |reply| Command::PublishOffer {
                            room: room.clone(),
                            participant: pid,
                            offer,
                            reply,
                        })
                        .await
                        .map(|a| Some(ServerMsg::PublishAnswer { sdp: a.to_sdp_string() }))
                        .map_err(sfu_error),
                }
            }
        }
        ClientMsg::SubscribeAnswer { sdp } => match SdpAnswer::from_sdp_string(&sdp) {
            Err(e) => Err(error(
                ErrorCode::BadRequest,
                format!("invalid SDP answer: {}", super::describe_sdp_error(e)),
                false,
            )),
            Ok(answer) => st
                .sfu
                .call(&room, |reply| Command::SubscribeAnswer { room: room.clone(), participant: pid, answer, reply })
                .await
                .map(|()| None)
                .map_err(sfu_error),
        },
        // The hub is ICE-lite and its candidates are in its SDP; browser candidates are not needed.
        ClientMsg::Trickle { .. } => Ok(None),
        ClientMsg::SetMuted { kind, muted } => {
            let _ = st.sfu.send(&room, Command::SetMuted { room: room.clone(), participant: pid, kind, muted });
            Ok(None)
        }
        ClientMsg::Leave => return Step::Leave,
    };
    match result {
        Ok(Some(m)) | Err(m) => Step::Reply(m),
        Ok(None) => Step::Continue,
    }
}

fn sfu_error(e: SfuError) -> ServerMsg {
    let code = match e {
        SfuError::BadOffer(_) | SfuError::BadAnswer(_) => ErrorCode::BadRequest,
        SfuError::Conflict(_) => ErrorCode::Conflict,
        SfuError::UnknownParticipant | SfuError::ShardGone => ErrorCode::Internal,
    };
    let fatal = code == ErrorCode::Internal;
    error(code, e.to_string(), fatal)
}
