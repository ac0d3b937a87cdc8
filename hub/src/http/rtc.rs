//! The browser's signaling socket (`GET /rtc`): translates JSON messages from `lectern-proto`
//! (signaling and classroom commands on one socket) into shard commands, and room events back into
//! JSON. No room logic lives here.

use std::sync::Arc;
use std::time::Duration;

use std::net::{IpAddr, SocketAddr};

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::response::IntoResponse;
use axum::response::Response;
use lectern_common::time::{unix_ms, unix_secs};
use lectern_proto::classroom::ClassroomCommand;
use lectern_proto::signal::{ClientMsg, ErrorCode, MAX_MESSAGE_BYTES, PeerKind, Resume, ServerMsg};
use lectern_proto::{Claims, ParticipantId, Role};
use str0m::change::{SdpAnswer, SdpOffer};
use tokio::sync::mpsc;

use super::AppState;
use super::auth::display_name;
use super::inbound::Inbound;
use super::pace::{Kind, Pace, Verdict};
use crate::classroom::ip_key;
use crate::sfu::command::SIGNAL_BACKLOG;
use crate::sfu::{Command, Ident, SfuError, Socket};
use crate::store::Transport;
use crate::token::random_id;

/// Refusals of a join past its limits (see [`first_join`]): the page shows them as they are.
pub const TOO_MANY_JOINS: &str = "too many joins with this link in a short time; wait a few seconds and try again";
pub const TOO_MANY_BAD_TOKENS: &str = "too many joins with an invalid link from your address; wait a few seconds";
/// A socket that has not sent `join` by then is closed.
const JOIN_DEADLINE: Duration = Duration::from_secs(10);
/// Keeps proxies and NATs from closing an idle socket.
const PING_EVERY: Duration = Duration::from_secs(20);
/// Read and write buffer of each signalling socket; longer messages still pass, in several reads.
const SOCKET_BUFFER_BYTES: usize = 4096;
/// A socket that takes longer than this to take one message (its reader stalled, or its link far
/// too slow for the room) is closed; so is one [`SIGNAL_BACKLOG`] messages behind (see there).
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// The closing frame is a courtesy: a peer that does not take it within this is just dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

pub async fn upgrade(
    State(st): State<Arc<AppState>>,
    // Present when served with connect info (always, outside in-process tests).
    peer: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: axum::http::HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    // A guest removed or turned away is known again by its browser and address.
    let (browser, set_cookie) = match super::access::browser_id(&headers) {
        Some(id) => (id, None),
        None => super::access::new_browser_id(st.admin.secure_cookies),
    };
    let client = peer.map(|p| p.0.0.ip());
    let marks = super::access::guest_marks(Some(&browser), client);
    // Joins are limited once the token is read (see `first_join`): per credential, and per
    // address only for tokens that do not verify. Sockets that never join go after JOIN_DEADLINE.
    // Signalling is small JSON (an SDP is a few KiB) a few times a minute: tungstenite's default
    // 128 KiB read and write buffers cost each participant 100-150 KiB of the hub's memory.
    let mut resp = ws
        .max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        .read_buffer_size(SOCKET_BUFFER_BYTES)
        .write_buffer_size(SOCKET_BUFFER_BYTES)
        .on_upgrade(move |socket| session(socket, st, marks, client))
        .into_response();
    if let Some(cookie) = set_cookie {
        resp.headers_mut().insert(axum::http::header::SET_COOKIE, cookie);
    }
    resp
}

fn error(code: ErrorCode, message: impl Into<String>, fatal: bool) -> ServerMsg {
    ServerMsg::Error { code, message: message.into(), fatal }
}

async fn send(ws: &mut WebSocket, msg: &ServerMsg) -> bool {
    // ServerMsg is plain data; serializing it cannot fail.
    let text = serde_json::to_string(msg).expect("server messages serialize");
    send_frame(ws, Message::Text(text.into())).await
}

/// Sends one frame within [`SEND_TIMEOUT`]; false if the socket failed or stalled.
async fn send_frame(ws: &mut WebSocket, frame: Message) -> bool {
    match tokio::time::timeout(SEND_TIMEOUT, ws.send(frame)).await {
        Ok(sent) => sent.is_ok(),
        Err(_) => {
            tracing::warn!("a signalling socket took no message for {SEND_TIMEOUT:?}: closing it");
            false
        }
    }
}

/// Says goodbye, without waiting on a peer that does not read.
async fn close(ws: &mut WebSocket) {
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, ws.send(Message::Close(None))).await;
}

async fn session(mut ws: WebSocket, st: Arc<AppState>, marks: Vec<String>, client: Option<IpAddr>) {
    let (claims, join) = match first_join(&mut ws, &st, client).await {
        Ok(c) => c,
        Err(msg) => {
            let _ = send(&mut ws, &msg).await;
            close(&mut ws).await;
            return;
        }
    };
    let (events_tx, mut events) = mpsc::channel(SIGNAL_BACKLOG);
    let room = claims.room.clone();
    let mut join = join;
    // Back on a new socket with its key: the same participant, if the room still has it.
    let resumed = match join.resume.take() {
        Some(Resume { participant_id, key }) => {
            let socket = Socket { id: rand::random(), resume_key: key };
            let events = events_tx.clone();
            let resume = {
                let (room, socket) = (room.clone(), socket.clone());
                |reply| Command::Resume { room, participant: participant_id, socket, events, reply }
            };
            st.sfu.call(&room, resume).await.ok().map(|()| (participant_id, socket))
        }
        None => None,
    };
    let was_resumed = resumed.is_some();
    let (pid, socket) = match resumed {
        Some(taken) => taken,
        None => {
            let ident = ident_for(&st, &claims, join, marks);
            let pid = ident.participant;
            let socket = Socket { id: rand::random(), resume_key: random_id() };
            let join = |reply| Command::Join { ident, events: events_tx, socket: socket.clone(), reply };
            if let Err(e) = st.sfu.call(&room, join).await {
                let _ = send(&mut ws, &sfu_error(e)).await;
                return;
            }
            (pid, socket)
        }
    };
    // The first ping one period from now: an interval's first tick is at once, and a ping could
    // then reach the page before its `joined`.
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
    let mut pace = Pace::default();
    loop {
        tokio::select! {
            msg = ws.recv() => {
                let Some(Ok(msg)) = msg else { break };
                match on_message(&st, &claims, pid, &mut pace, msg).await {
                    Step::Reply(m) => {
                        let fatal = matches!(*m, ServerMsg::Error { fatal: true, .. });
                        if !send(&mut ws, &m).await || fatal { break }
                    }
                    Step::Continue => {}
                    Step::Leave => break,
                }
            }
            ev = events.recv() => {
                // None: the room let go of us (denied, removed, lesson ended, media lost).
                let Some(mut ev) = ev else { break };
                if let ServerMsg::Joined { ice_servers, resume_key: key, resumed: again, .. } = &mut ev {
                    *ice_servers = st.ice.for_participant(pid, unix_secs());
                    *key = Some(socket.resume_key.clone());
                    *again = was_resumed;
                }
                let fatal = matches!(ev, ServerMsg::Error { fatal: true, .. });
                if !send(&mut ws, &ev).await || fatal { break }
            }
            _ = ping.tick() => if !send_frame(&mut ws, Message::Ping(Default::default())).await { break },
        }
    }
    let _ = st.sfu.send(&room, Command::SocketClosed { room: room.clone(), participant: pid, socket });
    close(&mut ws).await;
}

/// What `join` adds to the token: a guest's chosen name and the room passcode they typed, and who
/// a browser coming back on a new socket was.
struct GuestInput {
    name: Option<String>,
    passcode: Option<String>,
    resume: Option<Resume>,
}

/// Who this socket is: from the token, with a per-connection identity for guests (who share one link).
fn ident_for(st: &AppState, claims: &Claims, join: GuestInput, marks: Vec<String>) -> Ident {
    let name = match (claims.guest, join.name) {
        (true, Some(n)) => crate::classroom::text::guest_name(&n),
        (true, None) => "Guest".to_owned(),
        _ => display_name(claims),
    };
    let subject = if claims.guest { format!("{}:{}", claims.sub, random_id()) } else { claims.sub.clone() };
    Ident {
        room: claims.room.clone(),
        participant: st.sfu.new_participant_id(),
        subject,
        name,
        role: claims.role,
        transport: Transport::Browser,
        guest: claims.guest,
        // Only guests are asked; a personal token's holder has nothing to prove with it.
        passcode: join.passcode.filter(|_| claims.guest),
        access: super::access::access_for(st, claims, marks),
    }
}

/// Waits for `join`, checks its token and the join limits; any other outcome is a fatal error to send.
async fn first_join(
    ws: &mut WebSocket,
    st: &AppState,
    client: Option<IpAddr>,
) -> Result<(Claims, GuestInput), ServerMsg> {
    let first = tokio::time::timeout(JOIN_DEADLINE, ws.recv()).await;
    let text = match first {
        Ok(Some(Ok(Message::Text(t)))) => t,
        Ok(_) => return Err(error(ErrorCode::BadRequest, "expected a join message", true)),
        Err(_) => return Err(error(ErrorCode::BadRequest, "no join message within 10 s", true)),
    };
    let (token, guest) = match serde_json::from_str::<ClientMsg>(&text) {
        Ok(ClientMsg::Join { token, name, passcode, resume }) => (token, GuestInput { name, passcode, resume }),
        Ok(_) => return Err(error(ErrorCode::BadRequest, "the first message must be join", true)),
        Err(e) => return Err(error(ErrorCode::BadRequest, format!("invalid message: {e}"), true)),
    };
    let claims = match st.key.verify(&token, unix_secs()) {
        Ok(c) => c,
        Err(e) => {
            // Guessing tokens is limited per address (an IPv6 /64 as one).
            if let Some(ip) = client
                && !st.admission().bad_token(ip_key(ip), unix_ms())
            {
                return Err(error(ErrorCode::Unauthorized, TOO_MANY_BAD_TOKENS, true));
            }
            return Err(error(ErrorCode::Unauthorized, e.to_string(), true));
        }
    };
    if claims.role == Role::Admin {
        return Err(error(ErrorCode::Forbidden, "an admin token cannot join a lesson", true));
    }
    // A cluster node serves the lessons of rooms it owns; the join page was sent to the owner, so
    // a socket here for another node's room came from a page loaded before the room moved.
    if let Some(cluster) = &st.cluster {
        match cluster.route(&claims.room, true).await {
            Ok(crate::cluster::Route::Here) => {}
            Ok(crate::cluster::Route::Forward { node, .. }) => {
                let detail = format!("this lesson is now served by {}: open your link again", node.public_url);
                return Err(error(ErrorCode::Moved, detail, true));
            }
            Err(e) => return Err(error(ErrorCode::Internal, e.to_string(), false)),
        }
    }
    if let Some(limiter) = &st.join_limiter {
        let key = crate::classroom::join_key(&claims.jti, claims.guest, client);
        if !limiter.lock().unwrap_or_else(|e| e.into_inner()).try_acquire(&key, unix_ms()) {
            return Err(error(ErrorCode::Forbidden, TOO_MANY_JOINS, true));
        }
    }
    Ok((claims, guest))
}

enum Step {
    Reply(Box<ServerMsg>),
    Continue,
    Leave,
}

/// The connection kept sending past its budget: told why, then closed.
fn too_many() -> Step {
    tracing::warn!("a signalling connection sent too many messages: closing it");
    Step::Reply(Box::new(error(ErrorCode::BadRequest, "too many messages: closing the connection", true)))
}

async fn on_message(st: &AppState, claims: &Claims, pid: ParticipantId, pace: &mut Pace, msg: Message) -> Step {
    let text = match msg {
        Message::Text(t) => t,
        Message::Close(_) => return Step::Leave,
        Message::Binary(_) => {
            return match pace.check(Kind::Other, unix_ms()) {
                Verdict::Go => {
                    Step::Reply(Box::new(error(ErrorCode::BadRequest, "binary messages are not supported", false)))
                }
                Verdict::Drop => Step::Continue,
                Verdict::Close => too_many(),
            };
        }
        _ => return Step::Continue,
    };
    let parsed = serde_json::from_str::<Inbound>(&text);
    let kind = match &parsed {
        Ok(Inbound::Signal(ClientMsg::SetMuted { .. }))
        | Ok(Inbound::Classroom(ClassroomCommand::RaiseHand | ClassroomCommand::LowerHand { .. })) => Kind::FanOut,
        Ok(Inbound::Signal(ClientMsg::PublishOffer { .. })) => Kind::PublishOffer,
        _ => Kind::Other,
    };
    match pace.check(kind, unix_ms()) {
        Verdict::Go => {}
        Verdict::Drop => return Step::Continue,
        Verdict::Close => return too_many(),
    }
    let msg = match parsed {
        Ok(Inbound::Signal(m)) => m,
        Ok(Inbound::Classroom(command)) => return classroom(st, claims, pid, command).await,
        Err(e) => return Step::Reply(Box::new(error(ErrorCode::BadRequest, format!("invalid message: {e}"), false))),
    };
    let room = claims.room.clone();
    let result: Result<Option<ServerMsg>, ServerMsg> = match msg {
        ClientMsg::Join { .. } => Err(error(ErrorCode::Conflict, "already joined", false)),
        ClientMsg::PublishOffer { sdp, screen_mid } => {
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
                            screen_mid,
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
        ClientMsg::RestartIce { pc: PeerKind::Subscribe } => st
            .sfu
            .call(&room, |reply| Command::RestartIce { room: room.clone(), participant: pid, reply })
            .await
            .map(|()| None)
            .map_err(sfu_error),
        ClientMsg::RestartIce { pc: PeerKind::Publish } => Err(error(
            ErrorCode::BadRequest,
            "restart ICE on the publish connection with a new publishOffer (new ice-ufrag and ice-pwd)",
            false,
        )),
        ClientMsg::SetMuted { .. } if !claims.role.can_publish() => {
            Err(error(ErrorCode::Forbidden, format!("role '{}' publishes nothing to mute", claims.role), false))
        }
        ClientMsg::SetMuted { kind, muted } => {
            let _ = st.sfu.send(&room, Command::SetMuted { room: room.clone(), participant: pid, kind, muted });
            Ok(None)
        }
        ClientMsg::SetAudioOnly { audio_only } => {
            let _ = st.sfu.send(&room, Command::SetAudioOnly { room: room.clone(), participant: pid, audio_only });
            Ok(None)
        }
        ClientMsg::Leave => return Step::Leave,
    };
    match result {
        Ok(Some(m)) | Err(m) => Step::Reply(Box::new(m)),
        Ok(None) => Step::Continue,
    }
}

async fn classroom(st: &AppState, claims: &Claims, pid: ParticipantId, command: ClassroomCommand) -> Step {
    let room = claims.room.clone();
    match st.sfu.call(&room, |reply| Command::Classroom { room: room.clone(), participant: pid, command, reply }).await
    {
        Ok(()) => Step::Continue,
        Err(e) => Step::Reply(Box::new(sfu_error(e))),
    }
}

fn sfu_error(e: SfuError) -> ServerMsg {
    let (code, fatal) = match &e {
        SfuError::BadOffer(_) | SfuError::BadAnswer(_) => (ErrorCode::BadRequest, false),
        SfuError::Conflict(_) => (ErrorCode::Conflict, false),
        // Waiting in the lobby: not in the room yet.
        SfuError::UnknownParticipant => (ErrorCode::Conflict, false),
        SfuError::Classroom(c) => (c.code(), false),
        SfuError::Denied(_) => (ErrorCode::Forbidden, true),
        SfuError::ShardGone => (ErrorCode::Internal, true),
        // Shed under load: this command did nothing, the next may pass.
        SfuError::Busy => (ErrorCode::Internal, false),
    };
    error(code, e.to_string(), fatal)
}
