//! The policy findings of issue 19 over real sockets against the hub's own router and media
//! shards (in-process, so the test can revoke as the web admin does): a revoked `jti` loses its
//! `/rtc`, WHIP and `/device/ws` sessions at once; an expired token cannot join or reconnect; a
//! publish offer with too many tracks is refused before anything is built; a guest's browser is
//! given the cookie it is known by.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use lectern_common::time::unix_secs;
use lectern_hub::config::MediaSettings;
use lectern_hub::http::{AdminAt, AppState, Edge, app};
use lectern_hub::media_io::{Outlets, Sfu};
use lectern_hub::store::Store;
use lectern_hub::token::TokenKey;
use lectern_proto::{Claims, Role, RoomId};
use str0m::media::{Direction, MediaKind};
use str0m::{Candidate, Rtc};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const SECRET: &str = "test-secret-0123456789abcdef0123456789abcdef";
/// Generous: the hub does it at once; a loaded CI machine may take a while to schedule it.
const DEADLINE: Duration = Duration::from_secs(10);

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

struct Hub {
    state: Arc<AppState>,
    base: String,
    _dir: tempfile::TempDir,
}

async fn hub() -> Hub {
    let _ = std::panic::catch_unwind(|| str0m::crypto::from_feature_flags().install_process_default());
    let dir = tempfile::tempdir().expect("a temp dir");
    let store = Store::open(dir.path()).await.expect("a store");
    let media = MediaSettings {
        bind_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        udp_port: 0,
        shards: 2,
        advertise_ips: Vec::new(),
        ice_tcp: false,
        ice_servers: Vec::new(),
        turn: Vec::new(),
    };
    let (sessions_tx, mut sessions) = tokio::sync::mpsc::channel(lectern_hub::media_io::shard::OUTLET_QUEUE);
    let sfu = Sfu::start(&media, Outlets { sessions: Some(sessions_tx), ..Outlets::default() }).expect("media shards");
    let key = TokenKey::new(SECRET.as_bytes().to_vec());
    let state = AppState::new(key, sfu, store, Default::default(), Edge::default());
    // As `serve` wires it: a participant the room let go of loses its WHIP/WHEP resource.
    let weak = Arc::downgrade(&state);
    tokio::spawn(async move {
        while let Some((room, participant)) = sessions.recv().await {
            let Some(app) = weak.upgrade() else { return };
            app.resources.forget_participant(&room, participant);
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = app(state.clone(), AdminAt::Here);
    tokio::spawn(lectern_hub::http_serve::serve(listener, router, 100, std::future::pending()));
    Hub { state, base, _dir: dir }
}

fn claims(room: &str, role: Role, jti: &str, exp_offset: i64) -> Claims {
    let now = unix_secs();
    Claims {
        sub: format!("sub-{jti}"),
        room: RoomId::parse(room).unwrap(),
        role,
        name: Some("Test".into()),
        exp: (now as i64 + exp_offset) as u64,
        nbf: now - 10,
        jti: jti.to_owned(),
        guest: false,
    }
}

fn token(c: &Claims) -> String {
    TokenKey::new(SECRET.as_bytes().to_vec()).issue(c)
}

/// Opens `/rtc` and sends `join` with `token`; returns the socket and the `Set-Cookie` answer.
async fn rtc(hub: &Hub, token: &str) -> (Ws, Option<String>) {
    let url = format!("{}/rtc", hub.base.replace("http://", "ws://"));
    let (mut ws, resp) = tokio_tungstenite::connect_async(url).await.unwrap();
    let cookie = resp.headers().get("set-cookie").map(|v| v.to_str().unwrap().to_owned());
    let join = serde_json::json!({ "type": "join", "token": token });
    ws.send(Message::text(join.to_string())).await.unwrap();
    (ws, cookie)
}

/// The next text message whose `type` is one of `types`, within the deadline.
async fn next_of(ws: &mut Ws, types: &[&str]) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next()).await.expect("a message in time");
        let t = match msg {
            Some(Ok(Message::Text(t))) => t,
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("socket ended while waiting for {types:?}: {other:?}"),
        };
        let v: serde_json::Value = serde_json::from_str(&t).unwrap();
        if types.iter().any(|ty| v["type"] == *ty) {
            return v;
        }
    }
}

/// Waits for the hub to close `ws`; returns the error messages it was told on the way.
async fn closed(ws: &mut Ws) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let mut told = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Ok(None | Some(Err(_)) | Some(Ok(Message::Close(_)))) => return told,
            Ok(Some(Ok(Message::Text(t)))) if t.contains(r#""type":"error""#) => told.push(t.to_string()),
            Ok(Some(Ok(_))) => {}
            Err(_) => panic!("the hub did not close the socket within {DEADLINE:?} (told {told:?})"),
        }
    }
}

fn offer_with(kinds: &[MediaKind]) -> String {
    // One codec of each kind keeps an m-line short: many fit under the SDP size limit.
    let builder = Rtc::builder().clear_codecs().enable_opus(true, false).enable_vp8(true);
    let mut rtc = builder.build(std::time::Instant::now());
    rtc.add_local_candidate(Candidate::host("127.0.0.1:9".parse().unwrap(), "udp").unwrap());
    let mut api = rtc.sdp_api();
    for k in kinds {
        api.add_media(*k, Direction::SendOnly, None, None, None);
    }
    api.apply().unwrap().0.to_sdp_string()
}

/// POSTs `sdp` to `path` with `token`: status and body (blocking client off the runtime).
async fn post(hub: &Hub, path: &str, token: &str, sdp: String) -> (u16, String) {
    let (url, auth) = (format!("{}{path}", hub.base), format!("Bearer {token}"));
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent =
            ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(DEADLINE)).build().into();
        let mut r = agent
            .post(url)
            .header("Content-Type", "application/sdp")
            .header("Authorization", &auth)
            .send(sdp)
            .expect("the hub answers");
        (r.status().as_u16(), r.body_mut().read_to_string().unwrap_or_default())
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_box_ends_its_rtc_whip_and_control_sessions_at_once() {
    let hub = hub().await;
    let teacher = token(&claims("demo", Role::Teacher, "t-1", 600));
    let (mut teacher_ws, _) = rtc(&hub, &teacher).await;
    next_of(&mut teacher_ws, &["joined"]).await;
    let box_token = token(&claims("demo", Role::Device, "box-1", 600));
    // Someone opened the lesson page with the box's credential, and the box publishes.
    let (mut console, _) = rtc(&hub, &box_token).await;
    next_of(&mut console, &["joined"]).await;
    let (status, body) = post(&hub, "/whip/demo", &box_token, offer_with(&[MediaKind::Audio])).await;
    assert_eq!(status, 201, "{body}");
    let mut req = format!("{}/device/ws", hub.base.replace("http://", "ws://")).into_client_request().unwrap();
    req.headers_mut().insert("authorization", format!("Bearer {box_token}").parse().unwrap());
    let (mut control, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    control.send(Message::text(r#"{"type":"hello","version":"0.1.0"}"#)).await.unwrap();
    // Both the console and the box's WHIP session are in the room.
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while hub.state.resources.is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "the WHIP session is recorded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let until_hello = tokio::time::Instant::now() + DEADLINE;
    while !lectern_admin::Fleet::devices(&*hub.state.devices).iter().any(|d| d.room.as_str() == "demo") {
        assert!(tokio::time::Instant::now() < until_hello, "the box's control channel is registered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let revoked_at = tokio::time::Instant::now();
    lectern_admin::Fleet::revoke(&*hub.state.devices, "box-1");
    let told = closed(&mut console).await;
    eprintln!("revocation closed the console's /rtc socket in {:?}", revoked_at.elapsed());
    assert!(told.iter().any(|t| t.contains("revoked")), "the console is told why: {told:?}");
    closed(&mut control).await;
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !hub.state.resources.is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "the box's WHIP resource is gone");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The teacher hears both leave and stays.
    for _ in 0..2 {
        next_of(&mut teacher_ws, &["participantLeft"]).await;
    }
    teacher_ws.send(Message::text(r#"{"type":"raiseHand"}"#)).await.unwrap();
    // The revoked credential opens nothing again.
    let (mut again, _) = rtc(&hub, &box_token).await;
    let refused = next_of(&mut again, &["error"]).await;
    assert!(refused["message"].as_str().unwrap().contains("revoked"), "{refused}");
    let (status, _) = post(&hub, "/whip/demo", &box_token, offer_with(&[MediaKind::Audio])).await;
    assert_eq!(status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_can_neither_join_nor_come_back_on_a_new_socket() {
    let hub = hub().await;
    let expired = token(&claims("demo", Role::Student, "old-link", -3600));
    let (mut ws, _) = rtc(&hub, &expired).await;
    let refused = next_of(&mut ws, &["error", "joined"]).await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert!(refused["message"].as_str().unwrap().contains("expired"), "{refused}");
    // Coming back with a resume key does not get around it.
    let (mut ws, _) = rtc(&hub, &expired).await;
    drop(ws.close(None).await);
    let url = format!("{}/rtc", hub.base.replace("http://", "ws://"));
    let (mut back, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let resume = serde_json::json!({
        "type": "join", "token": expired, "resume": { "participantId": 1, "key": "guessed" }
    });
    back.send(Message::text(resume.to_string())).await.unwrap();
    let refused = next_of(&mut back, &["error", "joined"]).await;
    assert!(refused["message"].as_str().unwrap().contains("expired"), "{refused}");
    let (status, body) = post(&hub, "/whip/demo", &expired, offer_with(&[MediaKind::Audio])).await;
    assert_eq!(status, 401, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_offer_with_too_many_tracks_is_refused_naming_the_limit() {
    let hub = hub().await;
    let student = token(&claims("demo", Role::Student, "s-1", 600));
    // As many as fit under the SDP size limit with str0m's verbose m-lines (the rule's unit test
    // takes 300 short ones).
    let many = vec![MediaKind::Video; 40];
    let (status, body) = post(&hub, "/whip/demo", &student, offer_with(&many)).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("40 camera tracks") && body.contains("at most 1 camera"), "{body}");
    let (status, body) = post(&hub, "/whip/demo", &student, offer_with(&[MediaKind::Audio, MediaKind::Audio])).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("at most 1"), "{body}");
    assert_eq!(hub.state.resources.len(), 0, "nothing was built for the refused offers");
    // One microphone and one camera is a publisher.
    let (status, body) = post(&hub, "/whip/demo", &student, offer_with(&[MediaKind::Audio, MediaKind::Video])).await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_is_given_the_cookie_it_is_known_by_once() {
    let hub = hub().await;
    let guest = token(&Claims { guest: true, ..claims("demo", Role::Student, "link", 600) });
    let (_ws, cookie) = rtc(&hub, &guest).await;
    let cookie = cookie.expect("a browser without the cookie is given one");
    assert!(cookie.starts_with("lectern_browser=") && cookie.contains("HttpOnly"), "{cookie}");
    let value = cookie.split(';').next().unwrap().to_owned();
    let url = format!("{}/rtc", hub.base.replace("http://", "ws://"));
    let mut req = url.into_client_request().unwrap();
    req.headers_mut().insert("cookie", value.parse().unwrap());
    let (_ws, resp) = tokio_tungstenite::connect_async(req).await.unwrap();
    assert!(resp.headers().get("set-cookie").is_none(), "a browser that has one keeps it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admins_room_capacity_is_read_at_start_and_followed_when_changed() {
    let hub = hub().await;
    sqlx::query(
        "INSERT INTO admin_rooms (id, name, building, capacity, everyone_waits, recording, created_at, updated_at) \
         VALUES ('demo', 'Demo', '', 1, FALSE, FALSE, 0, 0)",
    )
    .execute(hub.state.store.pool())
    .await
    .unwrap();
    // What `serve` does at start-up.
    assert_eq!(hub.state.room_settings.load(&hub.state.admin).await.unwrap(), 1);
    let (mut teacher, _) = rtc(&hub, &token(&claims("demo", Role::Teacher, "t", 600))).await;
    next_of(&mut teacher, &["joined"]).await;
    let (mut first, _) = rtc(&hub, &token(&claims("demo", Role::Student, "s1", 600))).await;
    next_of(&mut first, &["joined"]).await;
    let (mut second, _) = rtc(&hub, &token(&claims("demo", Role::Student, "s2", 600))).await;
    let denied = next_of(&mut second, &["denied", "joined"]).await;
    assert_eq!(denied["reason"], "roomFull", "{denied}");
    // The admin raises it: the next one in gets a seat.
    let room = RoomId::parse("demo").unwrap();
    hub.state.admin.room_watch.tell(
        &room,
        Some(lectern_admin::rooms::Enforced {
            capacity: 2,
            everyone_waits: false,
            recording: lectern_proto::lesson::RecordingPolicy::Off,
        }),
    );
    let (mut third, _) = rtc(&hub, &token(&claims("demo", Role::Student, "s3", 600))).await;
    next_of(&mut third, &["joined"]).await;
}
