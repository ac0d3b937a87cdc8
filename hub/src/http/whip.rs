//! WHIP ingest (RFC 9725) and WHEP egress: `POST /whip/{room}` publishes, `POST /whep/{room}`
//! receives; `PATCH` the returned Location with a trickle-ice-sdpfrag, `DELETE` it to leave.
//! Validation order: room name, token, content type, size, SDP — each with its own status. The
//! protocol pieces (links, trickle fragments, slides, the session table) are in [`crate::whip`].

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use lectern_common::time::{unix_ms, unix_secs};
use lectern_proto::{Role, RoomId};
use str0m::change::SdpOffer;

use super::AppState;
use super::auth::{authorize, display_name, parse_room};
use super::client::ClientAddr;
use super::error::HttpError;
use super::routing;
use crate::sfu::{Command, Ident, SfuError};
use crate::store::Transport;
use crate::whip::admission::{Holder, MAX_TRICKLED, Refusal};
use crate::whip::{self, Flow, Resource};

/// Largest SDP accepted; real offers are a few KiB.
pub const MAX_SDP_BYTES: usize = 64 * 1024;

pub async fn whip_post(
    st: State<Arc<AppState>>,
    room: Path<String>,
    client: ClientAddr,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, HttpError> {
    create(st, room, client, uri, headers, body, Flow::Whip).await
}

pub async fn whep_post(
    st: State<Arc<AppState>>,
    room: Path<String>,
    client: ClientAddr,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, HttpError> {
    create(st, room, client, uri, headers, body, Flow::Whep).await
}

pub async fn return_post(
    st: State<Arc<AppState>>,
    room: Path<String>,
    client: ClientAddr,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, HttpError> {
    create(st, room, client, uri, headers, body, Flow::Return).await
}

pub async fn options(State(st): State<Arc<AppState>>) -> Response {
    let mut resp = (
        StatusCode::NO_CONTENT,
        [(header::ALLOW, "OPTIONS, POST"), (header::HeaderName::from_static("accept-post"), "application/sdp")],
    )
        .into_response();
    // Unauthenticated: STUN only, never a TURN credential.
    add_ice_links(resp.headers_mut(), &st.ice.public());
    resp
}

/// ICE servers as `Link` headers (see [`crate::whip::link`]).
fn add_ice_links(h: &mut HeaderMap, servers: &[lectern_proto::signal::IceServer]) {
    for link in whip::ice_server_links(servers) {
        if let Ok(v) = HeaderValue::from_str(&link) {
            h.append(header::LINK, v);
        }
    }
}

async fn create(
    State(st): State<Arc<AppState>>,
    Path(room): Path<String>,
    ClientAddr(client): ClientAddr,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
    flow: Flow,
) -> Result<Response, HttpError> {
    let room = parse_room(&room)?;
    let claims = authorize(&headers, &st.key, &room, flow.roles()).map_err(|e| st.count_refusal(e, client))?;
    // A cluster node passes a room another node owns on to it (see `routing`).
    if let Some(answer) = routing::elsewhere(&st, &room, Method::POST, &uri, &headers, &body, client).await? {
        return Ok(answer);
    }
    require_content_type(&headers, "application/sdp")?;
    let sdp = sdp_text(&body)?;
    let open = st.resources.open_by(&claims.jti, flow, client);
    let holder = if claims.guest { Holder::Shared } else { Holder::Personal };
    st.admission().post(&claims.jti, holder, client, open, unix_ms()).map_err(|r| match r {
        Refusal::TooFast { retry_after } => HttpError::Throttled {
            detail: format!("too many {} sessions opened with this token; try again in {retry_after} s", flow.path()),
            retry_after,
        },
        Refusal::TooMany => HttpError::Throttled {
            detail: format!(
                "this token already has {} {} sessions open from your address: DELETE one first",
                holder.max_open(),
                flow.path()
            ),
            retry_after: 10,
        },
    })?;
    // A classroom box's laptop is a screen share without asking: the box has no hand to raise,
    // and its token already says it is the room. Anyone else asks first (`requestScreenShare`).
    let screen_mid = match (flow, claims.role) {
        (Flow::Whip, Role::Device) => whip::slides_mid(sdp),
        _ => None,
    };
    let offer = SdpOffer::from_sdp_string(sdp)
        .map_err(|e| HttpError::invalid(format!("invalid SDP offer: {}", super::describe_sdp_error(e))))?;
    // A classroom box that lost its path publishes again before it DELETEs its old session
    // (make-before-break; GStreamer's webrtcbin cannot restart ICE): the new session takes over
    // the participant the old one holds, so nobody sees the room leave.
    let takeover = match (flow, claims.role) {
        (Flow::Whip, Role::Device) => st.resources.participant_of(&claims.jti, &room, Flow::Whip),
        _ => None,
    };
    let mut ident = Ident {
        room: room.clone(),
        participant: takeover.unwrap_or_else(|| st.sfu.new_participant_id()),
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
        access: super::access::access_for(&st, &claims, super::access::guest_marks(None, Some(client))),
    };
    let command = |ident: Ident, offer: SdpOffer, takeover: bool| {
        let screen_mid = screen_mid.clone();
        move |reply| match flow {
            Flow::Whip => Command::Whip { ident, offer, screen_mid, takeover, reply },
            Flow::Whep => Command::Whep { ident, offer, reply },
            Flow::Return => Command::Return { ident, offer, reply },
        }
    };
    let answer = match st.sfu.call(&room, command(ident.clone(), offer.clone().into(), takeover.is_some())).await {
        // The old session ended meanwhile: the box comes back as a new participant.
        Err(SfuError::UnknownParticipant) if takeover.is_some() => {
            ident.participant = st.sfu.new_participant_id();
            st.sfu.call(&room, command(ident.clone(), offer, false)).await?
        }
        res => res?,
    };
    let participant = ident.participant;
    let id = crate::token::random_id();
    let resource = Resource {
        flow,
        room: room.clone(),
        participant,
        jti: claims.jti.clone(),
        client,
        trickled: 0,
        superseded: false,
    };
    st.resources.insert(id.clone(), resource);
    if takeover == Some(participant) {
        st.resources.supersede(&room, participant, flow, &id);
        tracing::info!(%room, %participant, "a classroom box's new WHIP session is taking over its old one");
    }
    let location = format!("/{}/{room}/{id}", flow.path());
    tracing::info!(%room, %participant, flow = flow.path(), "session created");
    let mut resp = (StatusCode::CREATED, answer.to_sdp_string()).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/sdp"));
    h.insert(header::LOCATION, header_value(&location)?);
    h.insert(header::ETAG, header_value(&format!("\"{id}\""))?);
    add_ice_links(h, &st.ice.for_participant(participant, unix_secs()));
    routing::name_node(st.cluster.as_ref(), h);
    Ok(resp)
}

pub async fn whip_patch(
    st: State<Arc<AppState>>,
    p: Path<(String, String)>,
    client: ClientAddr,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, HttpError> {
    patch(st, p, client, uri, headers, body, Flow::Whip).await
}

pub async fn whep_patch(
    st: State<Arc<AppState>>,
    p: Path<(String, String)>,
    client: ClientAddr,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, HttpError> {
    patch(st, p, client, uri, headers, body, Flow::Whep).await
}

/// Trickled candidates from the client (`a=candidate:` lines of a trickle-ice-sdpfrag).
async fn patch(
    State(st): State<Arc<AppState>>,
    Path((room, id)): Path<(String, String)>,
    ClientAddr(client): ClientAddr,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
    flow: Flow,
) -> Result<Response, HttpError> {
    if let Some(answer) = held_elsewhere(&st, &room, &id, Method::PATCH, &uri, &headers, &body, client, flow).await? {
        return Ok(answer);
    }
    let (room, res) = lookup(&st, &room, &id, &headers, flow)?;
    require_content_type(&headers, "application/trickle-ice-sdpfrag")?;
    let frag = sdp_text(&body)?;
    let candidates = whip::candidates(frag).map_err(|e| HttpError::invalid(e.to_string()))?;
    if res.superseded {
        // For a connection the box's newer session replaced: nothing to add them to.
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    if !st.resources.trickle(&id, candidates.len(), MAX_TRICKLED) {
        return Err(HttpError::invalid(format!("a session takes at most {MAX_TRICKLED} trickled candidates")));
    }
    let participant = res.participant;
    st.sfu
        .call(&room, |reply| Command::RemoteCandidates { room: room.clone(), participant, candidates, reply })
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn whip_delete(
    st: State<Arc<AppState>>,
    p: Path<(String, String)>,
    client: ClientAddr,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    delete(st, p, client, uri, headers, Flow::Whip).await
}

pub async fn whep_delete(
    st: State<Arc<AppState>>,
    p: Path<(String, String)>,
    client: ClientAddr,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, HttpError> {
    delete(st, p, client, uri, headers, Flow::Whep).await
}

async fn delete(
    State(st): State<Arc<AppState>>,
    Path((room, id)): Path<(String, String)>,
    ClientAddr(client): ClientAddr,
    uri: Uri,
    headers: HeaderMap,
    flow: Flow,
) -> Result<Response, HttpError> {
    let none = Bytes::new();
    if let Some(answer) = held_elsewhere(&st, &room, &id, Method::DELETE, &uri, &headers, &none, client, flow).await? {
        return Ok(answer);
    }
    let (room, res) = lookup(&st, &room, &id, &headers, flow)?;
    st.resources.remove(&id);
    if res.superseded {
        // Its participant lives on in the box's newer session.
        return Ok(StatusCode::OK.into_response());
    }
    let participant = res.participant;
    // Already gone (ICE timed out) is fine: the session is over either way.
    let _ = st.sfu.call(&room, |reply| Command::Leave { room: room.clone(), participant, reply: Some(reply) }).await;
    Ok(StatusCode::OK.into_response())
}

/// Ends every WHIP/WHEP session opened with token `jti` (it was revoked).
pub fn end_sessions_of(app: Arc<AppState>, jti: &str) {
    let ended = app.resources.take_by_jti(jti);
    if ended.is_empty() {
        return;
    }
    tracing::info!(sessions = ended.len(), "ending a revoked token's media sessions");
    tokio::spawn(async move {
        for r in ended {
            let (room, participant) = (r.room.clone(), r.participant);
            let leave = |reply| Command::Leave { room: room.clone(), participant, reply: Some(reply) };
            let _ = app.sfu.call(&room, leave).await;
        }
    });
}

/// On a cluster node, a resource this node does not hold lives with the room's owner (the
/// session was created through this node and forwarded): the token is checked here, then the
/// request goes there.
#[allow(clippy::too_many_arguments)] // one request's parts, passed on as they came
async fn held_elsewhere(
    st: &AppState,
    room: &str,
    id: &str,
    method: Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
    client: std::net::IpAddr,
    flow: Flow,
) -> Result<Option<Response>, HttpError> {
    if st.cluster.is_none() {
        return Ok(None);
    }
    let room = parse_room(room)?;
    if st.resources.find(id, &room, flow).is_some() {
        return Ok(None);
    }
    authorize(headers, &st.key, &room, flow.roles())?;
    routing::elsewhere(st, &room, method, uri, headers, body, client).await
}

/// Authorizes a request on an existing resource; unknown ids are 404 whoever asks.
fn lookup(
    st: &AppState,
    room: &str,
    id: &str,
    headers: &HeaderMap,
    flow: Flow,
) -> Result<(RoomId, Resource), HttpError> {
    let room = parse_room(room)?;
    let claims = authorize(headers, &st.key, &room, flow.roles())?;
    // Another token's session is as unknown as a made-up id.
    match st.resources.find(id, &room, flow).filter(|r| r.jti == claims.jti) {
        Some(r) => Ok((room, r)),
        None => Err(HttpError::not_found(format!(
            "no {} session '{}' in room '{room}'",
            flow.path(),
            id.chars().take(64).collect::<String>()
        ))),
    }
}

fn require_content_type(headers: &HeaderMap, want: &str) -> Result<(), HttpError> {
    let got = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let mime = got.split(';').next().unwrap_or("").trim();
    if mime.eq_ignore_ascii_case(want) {
        Ok(())
    } else if got.is_empty() {
        Err(HttpError::unsupported_media_type(format!("missing Content-Type: expected {want}")))
    } else {
        Err(HttpError::unsupported_media_type(format!(
            "Content-Type '{}' is not {want}",
            got.chars().take(100).collect::<String>()
        )))
    }
}

fn sdp_text(body: &Bytes) -> Result<&str, HttpError> {
    if body.len() > MAX_SDP_BYTES {
        return Err(HttpError::PayloadTooLarge(format!("SDP is larger than {MAX_SDP_BYTES} bytes")));
    }
    if body.is_empty() {
        return Err(HttpError::invalid("the request body is empty: expected an SDP"));
    }
    std::str::from_utf8(body).map_err(|_| HttpError::invalid("the SDP is not UTF-8"))
}

fn header_value(s: &str) -> Result<HeaderValue, HttpError> {
    HeaderValue::from_str(s).map_err(|e| HttpError::internal("building a response header", e))
}
