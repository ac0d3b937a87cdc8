//! WHIP ingest (RFC 9725) and WHEP egress: `POST /whip/{room}` publishes, `POST /whep/{room}`
//! receives; `PATCH` the returned Location with a trickle-ice-sdpfrag, `DELETE` it to leave.
//! Validation order: room name, token, content type, size, SDP — each with its own status.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use lectern_proto::{Role, RoomId};
use str0m::Candidate;
use str0m::change::SdpOffer;

use super::AppState;
use super::auth::{authorize, display_name, parse_room};
use super::error::AppError;
use crate::sfu::{Command, Ident};
use crate::store::Transport;

/// Largest SDP accepted; real offers are a few KiB.
pub const MAX_SDP_BYTES: usize = 64 * 1024;

/// Publish or receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Whip,
    Whep,
    /// `/whep/{room}/return`: the classroom appliance receives the remote participants.
    Return,
}

impl Flow {
    fn path(self) -> &'static str {
        match self {
            Flow::Whip => "whip",
            Flow::Whep | Flow::Return => "whep",
        }
    }

    fn roles(self) -> &'static [Role] {
        match self {
            Flow::Whip => &[Role::Device, Role::Teacher, Role::Student],
            Flow::Whep => &[Role::Device, Role::Teacher, Role::Student, Role::Viewer],
            Flow::Return => &[Role::Device],
        }
    }
}

/// A live WHIP/WHEP session, addressed by its unguessable resource id.
#[derive(Debug, Clone)]
pub struct Resource {
    pub flow: Flow,
    pub room: RoomId,
    pub participant: lectern_proto::ParticipantId,
    /// The token's id, so revoking it ends the session.
    pub jti: String,
}

pub async fn whip_post(
    st: State<Arc<AppState>>,
    room: Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    create(st, room, headers, body, Flow::Whip).await
}

pub async fn whep_post(
    st: State<Arc<AppState>>,
    room: Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    create(st, room, headers, body, Flow::Whep).await
}

pub async fn return_post(
    st: State<Arc<AppState>>,
    room: Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    create(st, room, headers, body, Flow::Return).await
}

pub async fn options(State(st): State<Arc<AppState>>) -> Response {
    let mut resp = (
        StatusCode::NO_CONTENT,
        [(header::ALLOW, "OPTIONS, POST"), (header::HeaderName::from_static("accept-post"), "application/sdp")],
    )
        .into_response();
    add_ice_links(resp.headers_mut(), &st.ice_servers);
    resp
}

/// ICE servers as `Link: <url>; rel="ice-server"` headers (RFC 9725 §4.6).
fn add_ice_links(h: &mut HeaderMap, servers: &[lectern_proto::signal::IceServer]) {
    for s in servers {
        for url in &s.urls {
            let mut link = format!("<{url}>; rel=\"ice-server\"");
            if let (Some(user), Some(cred)) = (&s.username, &s.credential) {
                link.push_str(&format!(
                    "; username=\"{}\"; credential=\"{}\"; credential-type=\"password\"",
                    user.replace('"', ""),
                    cred.replace('"', "")
                ));
            }
            if let Ok(v) = HeaderValue::from_str(&link) {
                h.append(header::LINK, v);
            }
        }
    }
}

async fn create(
    State(st): State<Arc<AppState>>,
    Path(room): Path<String>,
    headers: HeaderMap,
    body: Bytes,
    flow: Flow,
) -> Result<Response, AppError> {
    let room = parse_room(&room)?;
    let claims = authorize(&headers, &st.key, &room, flow.roles())?;
    require_content_type(&headers, "application/sdp")?;
    let sdp = sdp_text(&body)?;
    // A classroom box's laptop is a screen share without asking: the box has no hand to raise,
    // and its token already says it is the room. Anyone else asks first (`requestScreenShare`).
    let screen_mid = match (flow, claims.role) {
        (Flow::Whip, Role::Device) => super::slides::slides_mid(sdp),
        _ => None,
    };
    let offer = SdpOffer::from_sdp_string(sdp)
        .map_err(|e| AppError::bad_request(format!("invalid SDP offer: {}", super::describe_sdp_error(e))))?;
    let ident = Ident {
        room: room.clone(),
        participant: st.sfu.new_participant_id(),
        subject: claims.sub.clone(),
        name: display_name(&claims),
        role: claims.role,
        transport: match flow {
            Flow::Whip => Transport::Whip,
            Flow::Whep => Transport::Whep,
            Flow::Return => Transport::Return,
        },
        guest: claims.guest,
        // WHIP/WHEP clients have no way to type one: a guest token meets a passcode-protected room
        // with a refusal, which is what a leaked link should get.
        passcode: None,
    };
    let participant = ident.participant;
    let answer = st
        .sfu
        .call(&room, |reply| match flow {
            Flow::Whip => Command::Whip { ident, offer, screen_mid, reply },
            Flow::Whep => Command::Whep { ident, offer, reply },
            Flow::Return => Command::Return { ident, offer, reply },
        })
        .await?;
    let id = crate::token::random_id();
    st.resources
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(id.clone(), Resource { flow, room: room.clone(), participant, jti: claims.jti.clone() });
    let location = format!("/{}/{room}/{id}", flow.path());
    tracing::info!(%room, %participant, flow = flow.path(), "session created");
    let mut resp = (StatusCode::CREATED, answer.to_sdp_string()).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/sdp"));
    h.insert(header::LOCATION, header_value(&location)?);
    h.insert(header::ETAG, header_value(&format!("\"{id}\""))?);
    h.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static("Location, ETag, Link"));
    add_ice_links(h, &st.ice_servers);
    Ok(resp)
}

pub async fn whip_patch(
    st: State<Arc<AppState>>,
    p: Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    patch(st, p, headers, body, Flow::Whip).await
}

pub async fn whep_patch(
    st: State<Arc<AppState>>,
    p: Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    patch(st, p, headers, body, Flow::Whep).await
}

/// Trickled candidates from the client (`a=candidate:` lines of a trickle-ice-sdpfrag).
async fn patch(
    State(st): State<Arc<AppState>>,
    Path((room, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
    flow: Flow,
) -> Result<Response, AppError> {
    let (room, res) = lookup(&st, &room, &id, &headers, flow)?;
    require_content_type(&headers, "application/trickle-ice-sdpfrag")?;
    let frag = sdp_text(&body)?;
    let candidates = frag
        .lines()
        .filter_map(|l| l.trim().strip_prefix("a="))
        .filter(|l| l.starts_with("candidate:"))
        .map(|l| Candidate::from_sdp_string(l).map_err(|e| AppError::bad_request(format!("invalid candidate: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let participant = res.participant;
    st.sfu
        .call(&room, |reply| Command::RemoteCandidates { room: room.clone(), participant, candidates, reply })
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn whip_delete(
    st: State<Arc<AppState>>,
    p: Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    delete(st, p, headers, Flow::Whip).await
}

pub async fn whep_delete(
    st: State<Arc<AppState>>,
    p: Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    delete(st, p, headers, Flow::Whep).await
}

async fn delete(
    State(st): State<Arc<AppState>>,
    Path((room, id)): Path<(String, String)>,
    headers: HeaderMap,
    flow: Flow,
) -> Result<Response, AppError> {
    let (room, res) = lookup(&st, &room, &id, &headers, flow)?;
    st.resources.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
    let participant = res.participant;
    // Already gone (ICE timed out) is fine: the session is over either way.
    let _ = st.sfu.call(&room, |reply| Command::Leave { room: room.clone(), participant, reply: Some(reply) }).await;
    Ok(StatusCode::OK.into_response())
}

/// The room let go of `participant`: its WHIP/WHEP resource, if it has one, is gone too.
pub fn forget_session(st: &AppState, room: &RoomId, participant: lectern_proto::ParticipantId) {
    let mut resources = st.resources.lock().unwrap_or_else(|e| e.into_inner());
    resources.retain(|_, r| !(r.participant == participant && &r.room == room));
}

/// Authorizes a request on an existing resource; unknown ids are 404 whoever asks.
fn lookup(
    st: &AppState,
    room: &str,
    id: &str,
    headers: &HeaderMap,
    flow: Flow,
) -> Result<(RoomId, Resource), AppError> {
    let room = parse_room(room)?;
    authorize(headers, &st.key, &room, flow.roles())?;
    let res = st.resources.lock().unwrap_or_else(|e| e.into_inner()).get(id).cloned();
    match res {
        Some(r) if r.room == room && r.flow.path() == flow.path() => Ok((room, r)),
        _ => Err(AppError::not_found(format!(
            "no {} session '{}' in room '{room}'",
            flow.path(),
            id.chars().take(64).collect::<String>()
        ))),
    }
}

fn require_content_type(headers: &HeaderMap, want: &str) -> Result<(), AppError> {
    let got = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let mime = got.split(';').next().unwrap_or("").trim();
    if mime.eq_ignore_ascii_case(want) {
        Ok(())
    } else if got.is_empty() {
        Err(AppError::unsupported_media_type(format!("missing Content-Type: expected {want}")))
    } else {
        Err(AppError::unsupported_media_type(format!(
            "Content-Type '{}' is not {want}",
            got.chars().take(100).collect::<String>()
        )))
    }
}

fn sdp_text(body: &Bytes) -> Result<&str, AppError> {
    if body.len() > MAX_SDP_BYTES {
        return Err(AppError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("SDP is larger than {MAX_SDP_BYTES} bytes"),
        ));
    }
    if body.is_empty() {
        return Err(AppError::bad_request("the request body is empty: expected an SDP"));
    }
    std::str::from_utf8(body).map_err(|_| AppError::bad_request("the SDP is not UTF-8"))
}

fn header_value(s: &str) -> Result<HeaderValue, AppError> {
    HeaderValue::from_str(s)
        .map_err(|_| AppError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "could not build a response header"))
}
