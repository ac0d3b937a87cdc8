//! WHIP/WHEP over real HTTP against the real `lectern-hub` binary: the error matrix, the room
//! keeps serving after every refusal, and which ICE servers (minted TURN credentials) each answer
//! hands out.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use lectern_common::time::unix_secs;
use lectern_hub::token::TokenKey;
use lectern_proto::{Claims, Role, RoomId};
use str0m::media::{Direction, MediaKind};
use str0m::{Candidate, Rtc};

const SECRET: &str = "test-secret-0123456789abcdef0123456789abcdef";

struct Hub {
    child: Child,
    base: String,
    dir: tempfile::TempDir,
    /// What the hub printed up to and including `listening on`.
    banner: Vec<String>,
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Hub {
    fn start() -> Self {
        Self::start_with(|_| "[[media.ice_servers]]\nurls = [\"stun:stun.test.invalid:3478\"]\n".to_owned())
    }

    /// The hub with the configuration `config(data_dir)`; its log goes to `<data_dir>/hub.log`.
    fn start_with(config: impl FnOnce(&std::path::Path) -> String) -> Self {
        Self::start_in(tempfile::tempdir().unwrap(), config)
    }

    /// The hub on the data dir `dir` (e.g. one a stopped hub left: see [`Hub::restart`]).
    fn start_in(dir: tempfile::TempDir, config: impl FnOnce(&std::path::Path) -> String) -> Self {
        let config_path = dir.path().join("hub.toml");
        std::fs::write(&config_path, config(dir.path())).unwrap();
        let config = config_path;
        let log = std::fs::File::create(dir.path().join("hub.log")).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_lectern-hub"))
            .args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(&config)
            .arg("--data-dir")
            .arg(dir.path())
            .env("LECTERN_SECRET", SECRET)
            .env("LECTERN_UDP_PORT", "0")
            .env("LECTERN_BIND_IP", "127.0.0.1")
            .env("LECTERN_SHARDS", "1")
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("hub binary starts");
        // The hub prints its address once it listens; the read blocks until then (or EOF on failure).
        let mut line = String::new();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut banner = Vec::new();
        while !line.contains("listening on ") {
            line.clear();
            assert!(out.read_line(&mut line).unwrap() > 0, "hub exited before listening");
            banner.push(line.trim().to_owned());
        }
        let base = line.trim().trim_start_matches("listening on ").to_owned();
        Self { child, base, dir, banner }
    }
}

fn token(room: &str, role: Role, exp_offset: i64) -> String {
    let now = unix_secs();
    let claims = Claims {
        sub: "test".into(),
        room: RoomId::parse(room).unwrap(),
        role,
        name: Some("Test".into()),
        exp: (now as i64 + exp_offset) as u64,
        nbf: now - 10,
        jti: lectern_hub::token::random_id(),
        guest: false,
    };
    TokenKey::new(SECRET.as_bytes().to_vec()).issue(&claims)
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into()
}

fn offer(dir: Direction) -> String {
    let _ = std::panic::catch_unwind(|| str0m::crypto::from_feature_flags().install_process_default());
    let mut rtc = Rtc::builder().build(std::time::Instant::now());
    rtc.add_local_candidate(Candidate::host("127.0.0.1:9".parse().unwrap(), "udp").unwrap());
    let mut api = rtc.sdp_api();
    api.add_media(MediaKind::Audio, dir, None, None, None);
    api.add_media(MediaKind::Video, dir, None, None, None);
    api.apply().unwrap().0.to_sdp_string()
}

struct Resp {
    status: u16,
    link: Option<String>,
    www_auth: Option<String>,
    location: Option<String>,
    body: String,
}

fn post(hub: &Hub, path: &str, auth: Option<&str>, ctype: &str, body: &str) -> Resp {
    let mut req = agent().post(format!("{}{path}", hub.base)).header("Content-Type", ctype);
    if let Some(t) = auth {
        req = req.header("Authorization", &format!("Bearer {t}"));
    }
    let mut r = req.send(body).expect("hub answers");
    Resp {
        status: r.status().as_u16(),
        link: r.headers().get("link").map(|v| v.to_str().unwrap().to_owned()),
        www_auth: r.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned()),
        location: r.headers().get("location").map(|v| v.to_str().unwrap().to_owned()),
        body: r.body_mut().read_to_string().unwrap_or_default(),
    }
}

/// After any refusal the room still takes a real publisher.
fn assert_room_serves(hub: &Hub) {
    let device = token("demo", Role::Device, 600);
    let r = post(hub, "/whip/demo", Some(&device), "application/sdp", &offer(Direction::SendOnly));
    assert_eq!(r.status, 201, "valid publish after an error: {}", r.body);
    assert!(r.body.starts_with("v=0"), "answer is an SDP");
    let loc = r.location.expect("Location header");
    let d = agent()
        .delete(format!("{}{loc}", hub.base))
        .header("Authorization", &format!("Bearer {device}"))
        .call()
        .unwrap();
    assert_eq!(d.status().as_u16(), 200);
}

fn patch(hub: &Hub, loc: &str, auth: &str, frag: &str) -> u16 {
    agent()
        .patch(format!("{}{loc}", hub.base))
        .header("Authorization", &format!("Bearer {auth}"))
        .header("Content-Type", "application/trickle-ice-sdpfrag")
        .send(frag)
        .unwrap()
        .status()
        .as_u16()
}

#[test]
fn one_token_opens_a_bounded_number_of_sessions_and_they_go_when_their_peers_time_out() {
    let hub = Hub::start();
    let device = token("demo", Role::Device, 600);
    let mut created = Vec::new();
    let mut statuses = Vec::new();
    for _ in 0..12 {
        let r = post(&hub, "/whip/demo", Some(&device), "application/sdp", &offer(Direction::SendOnly));
        statuses.push(r.status);
        if r.status == 201 {
            created.push(r.location.expect("a Location"));
        } else {
            assert!(r.body.contains("DELETE one first"), "{}", r.body);
        }
    }
    assert_eq!(statuses, [&[201; 4][..], &[429; 8][..]].concat(), "four open at once, then refused");
    // Another holder is not affected.
    assert_room_serves(&hub);
    // Nobody connects to these peers: when the hub gives up on them (30 s), their sessions go.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    for loc in &created {
        while patch(&hub, loc, &device, "a=end-of-candidates\r\n") != 404 {
            assert!(std::time::Instant::now() < deadline, "{loc} still open after 120 s");
            std::thread::sleep(Duration::from_millis(500));
        }
    }
    let r = post(&hub, "/whip/demo", Some(&device), "application/sdp", &offer(Direction::SendOnly));
    assert_eq!(r.status, 201, "room for new sessions again: {}", r.body);
}

#[test]
fn a_session_answers_only_the_token_that_opened_it_and_takes_a_bounded_trickle() {
    let hub = Hub::start();
    let device = token("demo", Role::Device, 600);
    let r = post(&hub, "/whip/demo", Some(&device), "application/sdp", &offer(Direction::SendOnly));
    assert_eq!(r.status, 201, "{}", r.body);
    let loc = r.location.unwrap();
    let other = token("demo", Role::Device, 600);
    assert_eq!(patch(&hub, &loc, &other, "a=end-of-candidates\r\n"), 404, "another token's session is unknown");
    let d = agent()
        .delete(format!("{}{loc}", hub.base))
        .header("Authorization", &format!("Bearer {other}"))
        .call()
        .unwrap();
    assert_eq!(d.status().as_u16(), 404);
    let many: String =
        (0..65).map(|i| format!("a=candidate:{i} 1 udp 2130706431 127.0.0.1 {} typ host\r\n", 40000 + i)).collect();
    assert_eq!(patch(&hub, &loc, &device, &many), 400, "65 candidates is more than a client has");
    assert_eq!(patch(&hub, &loc, &device, "a=candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host\r\n"), 204);
    let d = agent()
        .delete(format!("{}{loc}", hub.base))
        .header("Authorization", &format!("Bearer {device}"))
        .call()
        .unwrap();
    assert_eq!(d.status().as_u16(), 200, "the opener still may");
}

#[test]
fn guessing_tokens_is_throttled_per_address() {
    let hub = Hub::start();
    let statuses: Vec<u16> = (0..25)
        .map(|i| post(&hub, "/whip/demo", Some(&format!("not-a-token-{i}")), "application/sdp", "v=0").status)
        .collect();
    assert_eq!(&statuses[..20], &[401; 20], "{statuses:?}");
    assert!(statuses[20..].iter().all(|s| *s == 429), "{statuses:?}");
    // A valid token from the same address still works: only bad ones are counted.
    assert_room_serves(&hub);
}

#[test]
fn whip_and_whep_error_matrix() {
    let hub = Hub::start();
    let good = offer(Direction::SendOnly);
    let device = token("demo", Role::Device, 600);

    let r = post(&hub, "/whip/demo", None, "application/sdp", &good);
    assert_eq!(r.status, 401, "no token");
    assert!(r.www_auth.as_deref().is_some_and(|v| v.starts_with("Bearer")), "401 carries WWW-Authenticate: Bearer");
    assert_room_serves(&hub);

    let r = post(&hub, "/whip/demo", Some(&token("demo", Role::Device, -3600)), "application/sdp", &good);
    assert_eq!(r.status, 401, "expired token: {}", r.body);
    assert!(r.body.contains("expired"), "{}", r.body);
    assert!(r.www_auth.is_some());
    assert_room_serves(&hub);

    let r = post(&hub, "/whip/demo", Some("not.a.jwt"), "application/sdp", &good);
    assert_eq!(r.status, 401, "garbage token");
    let forged = format!("{}x", &device[..device.len() - 1]);
    assert_eq!(post(&hub, "/whip/demo", Some(&forged), "application/sdp", &good).status, 401, "bad signature");

    let r = post(&hub, "/whip/demo", Some(&token("demo", Role::Viewer, 600)), "application/sdp", &good);
    assert_eq!(r.status, 403, "viewer may not publish: {}", r.body);
    assert_room_serves(&hub);

    let r = post(&hub, "/whip/demo", Some(&token("other", Role::Device, 600)), "application/sdp", &good);
    assert_eq!(r.status, 403, "token for another room: {}", r.body);
    assert!(r.body.contains("other"), "{}", r.body);

    let r = post(&hub, "/whip/demo", Some(&device), "text/plain", &good);
    assert_eq!(r.status, 415, "wrong content type");
    assert_room_serves(&hub);

    for junk in ["garbage", "v=0\r\n", "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio"] {
        let r = post(&hub, "/whip/demo", Some(&device), "application/sdp", junk);
        assert_eq!(r.status, 400, "garbage SDP {junk:?}: {}", r.body);
        assert!(r.body.contains("\"detail\""), "error is JSON with a detail: {}", r.body);
    }
    assert_room_serves(&hub);

    let r = post(&hub, "/whip/no%20such", Some(&device), "application/sdp", &good);
    assert_eq!(r.status, 400, "invalid room name");

    let auth = format!("Bearer {device}");
    let d = agent().delete(format!("{}/whip/demo/deadbeef", hub.base)).header("Authorization", &auth).call().unwrap();
    assert_eq!(d.status().as_u16(), 404, "unknown resource");
    let p = agent()
        .patch(format!("{}/whip/demo/deadbeef", hub.base))
        .header("Authorization", &auth)
        .header("Content-Type", "application/trickle-ice-sdpfrag")
        .send("a=candidate:1 1 udp 1 127.0.0.1 9 typ host\r\n")
        .unwrap();
    assert_eq!(p.status().as_u16(), 404, "unknown resource on PATCH");
    assert_room_serves(&hub);

    // WHEP: a viewer may receive, but not with a token for another room.
    let r = post(
        &hub,
        "/whep/demo",
        Some(&token("demo", Role::Viewer, 600)),
        "application/sdp",
        &offer(Direction::RecvOnly),
    );
    assert_eq!(r.status, 201, "viewer receives: {}", r.body);
    let r =
        post(&hub, "/whep/demo", Some(&token("b", Role::Viewer, 600)), "application/sdp", &offer(Direction::RecvOnly));
    assert_eq!(r.status, 403);

    let health = agent().get(format!("{}/healthz", hub.base)).call().unwrap();
    assert_eq!(health.status().as_u16(), 200);
}

#[test]
fn whip_session_lifecycle_patch_and_delete() {
    let hub = Hub::start();
    let device = token("demo", Role::Device, 600);
    let r = post(&hub, "/whip/demo", Some(&device), "application/sdp", &offer(Direction::SendOnly));
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.link.as_deref(), Some("<stun:stun.test.invalid:3478>; rel=\"ice-server\""), "ICE servers as Link");
    let loc = r.location.unwrap();
    assert!(loc.starts_with("/whip/demo/"), "{loc}");
    let auth = format!("Bearer {device}");
    let url = format!("{}{loc}", hub.base);
    let p = agent()
        .patch(&url)
        .header("Authorization", &auth)
        .header("Content-Type", "application/trickle-ice-sdpfrag")
        .send("a=ice-ufrag:abcd\r\na=candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host\r\n")
        .unwrap();
    assert_eq!(p.status().as_u16(), 204);
    let p = agent()
        .patch(&url)
        .header("Authorization", &auth)
        .header("Content-Type", "application/trickle-ice-sdpfrag")
        .send("a=candidate:nonsense\r\n")
        .unwrap();
    assert_eq!(p.status().as_u16(), 400, "bad candidate");
    let o = agent().options(format!("{}/whip/demo", hub.base)).call().unwrap();
    assert_eq!(o.status().as_u16(), 204);
    assert_eq!(o.headers().get("accept-post").unwrap(), "application/sdp");
    assert!(o.headers().get("link").is_some(), "OPTIONS lists ICE servers too");
    assert_eq!(agent().delete(&url).header("Authorization", &auth).call().unwrap().status().as_u16(), 200);
    assert_eq!(
        agent().delete(&url).header("Authorization", &auth).call().unwrap().status().as_u16(),
        404,
        "deleted twice"
    );
}

#[test]
fn a_box_publishing_again_takes_over_and_deleting_the_old_session_keeps_it_in_the_room() {
    let hub = Hub::start();
    let device = token("demo", Role::Device, 600);
    let first = post(&hub, "/whip/demo", Some(&device), "application/sdp", &offer(Direction::SendOnly));
    assert_eq!(first.status, 201, "{}", first.body);
    let second = post(&hub, "/whip/demo", Some(&device), "application/sdp", &offer(Direction::SendOnly));
    assert_eq!(second.status, 201, "the box publishes again: {}", second.body);
    let (old, new) = (first.location.unwrap(), second.location.unwrap());
    assert_ne!(old, new);
    let delete = |loc: &str| {
        agent()
            .delete(format!("{}{loc}", hub.base))
            .header("Authorization", &format!("Bearer {device}"))
            .call()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(delete(&old), 200, "the superseded session is forgotten");
    // The shard handles commands in order: had that DELETE ended the box's participant, this
    // trickle for the new session would find nobody.
    let frag = "a=candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host\r\n";
    assert_eq!(patch(&hub, &new, &device, frag), 204, "the new session still holds the box's place");
    assert_eq!(delete(&old), 404, "deleted once");
    assert_eq!(delete(&new), 200, "the current session ends the box's participant");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while patch(&hub, &new, &device, frag) != 404 {
        assert!(std::time::Instant::now() < deadline, "{new} still open after its DELETE");
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = std::fs::read_to_string(hub.dir.path().join("hub.log")).unwrap();
    assert!(log.contains("a classroom box's new WHIP session is taking over its old one"), "{log}");
}

#[test]
fn lesson_exports_need_a_teacher_token_for_that_room() {
    let hub = Hub::start();
    let url = |f: &str| format!("{}/api/rooms/demo/{f}", hub.base);
    let get = |u: String, t: Option<String>| {
        let mut r = agent().get(u);
        if let Some(t) = t {
            r = r.header("Authorization", &format!("Bearer {t}"));
        }
        let mut resp = r.call().unwrap();
        (resp.status().as_u16(), resp.body_mut().read_to_string().unwrap_or_default())
    };
    assert_eq!(get(url("attendance.csv"), None).0, 401);
    assert_eq!(get(url("attendance.csv"), Some(token("demo", Role::Student, 600))).0, 403);
    assert_eq!(get(url("attendance.csv"), Some(token("other", Role::Teacher, 600))).0, 403);
    let teacher = token("demo", Role::Teacher, 600);
    assert_eq!(get(url("attendance.csv"), Some(teacher.clone())).0, 404, "no lesson yet");
    assert_eq!(get(url("secrets.txt"), Some(teacher.clone())).0, 404);

    // The classroom box joins: now there is a lesson with one attendee.
    let r = post(
        &hub,
        "/whip/demo",
        Some(&token("demo", Role::Device, 600)),
        "application/sdp",
        &offer(Direction::SendOnly),
    );
    assert_eq!(r.status, 201);
    let (status, csv) = get(url("attendance.csv"), Some(teacher.clone()));
    assert_eq!(status, 200, "{csv}");
    assert!(csv.starts_with("name,role,joined_at"), "{csv}");
    assert!(csv.contains("Test,device"), "{csv}");
    let (status, json) = get(url("polls.json"), Some(teacher.clone()));
    assert_eq!((status, json.trim()), (200, "[]"));
    let (status, csv) = get(url("chat.csv"), Some(teacher));
    assert_eq!(status, 200);
    assert!(csv.starts_with("sent_at,from,text,private,deleted"), "{csv}");
}

#[test]
fn classroom_box_control_channel_takes_commands_and_reports_telemetry() {
    use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};
    let hub = Hub::start();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let ws_url = format!("{}/device/ws", hub.base.replace("http://", "ws://"));
    rt.block_on(async {
        use futures_util::{SinkExt, StreamExt};
        // A bad token and a student token: refused before the upgrade.
        let mut req = ws_url.as_str().into_client_request().unwrap();
        req.headers_mut().insert("authorization", "Bearer not.a.token".parse().unwrap());
        let err = tokio_tungstenite::connect_async(req).await.unwrap_err().to_string();
        assert!(err.contains("401"), "{err}");
        // No token at all: a new box, which may only ask for a claim code.
        let (mut fresh, _) = tokio_tungstenite::connect_async(ws_url.as_str()).await.unwrap();
        let key = "0123456789abcdef".repeat(4);
        fresh
            .send(Message::text(format!(r#"{{"type":"enroll","boxKey":"{key}","version":"0.1.0","hostname":"t"}}"#)))
            .await
            .unwrap();
        let reply = tokio::time::timeout(Duration::from_secs(10), fresh.next()).await.unwrap().unwrap().unwrap();
        assert!(reply.to_text().unwrap().contains(r#""type":"claimCode""#), "{reply:?}");
        let (mut stranger, _) = tokio_tungstenite::connect_async(ws_url.as_str()).await.unwrap();
        stranger.send(Message::text(r#"{"type":"hello","version":"0.1.0"}"#)).await.unwrap();
        let reply = tokio::time::timeout(Duration::from_secs(10), stranger.next()).await.unwrap().unwrap().unwrap();
        assert!(reply.to_text().unwrap().contains("only message is enroll"), "{reply:?}");
        let mut req = ws_url.as_str().into_client_request().unwrap();
        req.headers_mut()
            .insert("authorization", format!("Bearer {}", token("demo", Role::Student, 600)).parse().unwrap());
        let err = tokio_tungstenite::connect_async(req).await.unwrap_err().to_string();
        assert!(err.contains("403"), "{err}");

        let mut req = ws_url.as_str().into_client_request().unwrap();
        req.headers_mut()
            .insert("authorization", format!("Bearer {}", token("demo", Role::Device, 600)).parse().unwrap());
        let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
        ws.send(Message::text(r#"{"type":"hello","version":"0.1.0"}"#)).await.unwrap();
        ws.send(Message::text(r#"{"type":"telemetry","state":"idle","status":"waiting for a lesson","uptimeSecs":3}"#))
            .await
            .unwrap();
        ws.send(Message::text(r#"{"type":"telemetry","oops":1}"#)).await.unwrap();
        let reply = tokio::time::timeout(Duration::from_secs(10), ws.next()).await.unwrap().unwrap().unwrap();
        assert!(reply.to_text().unwrap().contains("\"error\""), "a bad message is answered, not fatal: {reply:?}");

        // A teacher starts the room's camera: the box is told to go live.
        let teacher = format!("Bearer {}", token("demo", Role::Teacher, 600));
        let base = hub.base.clone();
        let t = teacher.clone();
        let status = tokio::task::spawn_blocking(move || {
            agent()
                .post(format!("{base}/api/rooms/demo/live"))
                .header("Authorization", &t)
                .send_empty()
                .unwrap()
                .status()
                .as_u16()
        })
        .await
        .unwrap();
        assert_eq!(status, 202);
        let cmd = tokio::time::timeout(Duration::from_secs(10), ws.next()).await.unwrap().unwrap().unwrap();
        assert_eq!(cmd.to_text().unwrap(), r#"{"type":"goLive"}"#);

        let base = hub.base.clone();
        let body = tokio::task::spawn_blocking(move || {
            let mut r =
                agent().get(format!("{base}/api/rooms/demo/device")).header("Authorization", &teacher).call().unwrap();
            (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
        })
        .await
        .unwrap();
        assert_eq!(body.0, 200, "{}", body.1);
        assert!(body.1.contains("waiting for a lesson") && body.1.contains("0.1.0"), "{}", body.1);
    });
}

/// Joins over `/rtc` with `token`, `n` times, each on a new socket from the client `forwarded_for`
/// names (an `X-Forwarded-For` header, if any): the type and message of the hub's first answer to each.
fn joins_as(hub: &Hub, forwarded_for: Option<&str>, token: &str, n: usize) -> Vec<String> {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let url = format!("{}/rtc", hub.base.replace("http://", "ws://"));
    rt.block_on(async {
        let mut answers = Vec::new();
        for _ in 0..n {
            let mut req = url.as_str().into_client_request().unwrap();
            if let Some(f) = forwarded_for {
                req.headers_mut().insert("x-forwarded-for", f.parse().unwrap());
            }
            let (mut ws, _) = tokio_tungstenite::connect_async(req).await.expect("the socket opens");
            ws.send(Message::text(format!(r#"{{"type":"join","token":"{token}"}}"#))).await.unwrap();
            let first = tokio::time::timeout(Duration::from_secs(10), ws.next()).await.unwrap().unwrap().unwrap();
            let v: serde_json::Value = serde_json::from_str(first.to_text().unwrap()).unwrap();
            answers.push(format!("{} {}", v["type"].as_str().unwrap_or(""), v["message"].as_str().unwrap_or("")));
        }
        answers
    })
}

const TOO_MANY_JOINS: &str = "too many joins with this link";
const TOO_MANY_BAD: &str = "too many joins with an invalid link from your address";

#[test]
fn joins_are_limited_per_credential_and_guessed_tokens_per_address() {
    let hub = Hub::start();
    let student = token("demo", Role::Student, 600);
    let answers = joins_as(&hub, None, &student, 12);
    assert!(answers[..10].iter().all(|a| a.starts_with("joined")), "a burst of 10 is fine: {answers:?}");
    assert!(answers[11].contains(TOO_MANY_JOINS), "then this token waits: {answers:?}");
    // Another person from the same address (a school's network) is not held up.
    assert!(joins_as(&hub, None, &token("demo", Role::Student, 600), 1)[0].starts_with("joined"));
    // Guessing tokens is limited per address.
    let guesses = joins_as(&hub, None, "not-a-token", 22);
    assert!(guesses[0].starts_with("error") && !guesses[0].contains(TOO_MANY_BAD), "{guesses:?}");
    assert!(guesses[21].contains(TOO_MANY_BAD), "{guesses:?}");
    // Other endpoints are not affected.
    assert_eq!(agent().get(format!("{}/healthz", hub.base)).call().unwrap().status().as_u16(), 200);
}

#[test]
fn behind_a_trusted_proxy_limits_key_by_the_forwarded_client_and_nobody_else_can_forge_one() {
    let proxied = Hub::start_with(|_| "[http]\ntrusted_proxies = [\"127.0.0.1/32\"]\n".to_owned());
    let guesses = joins_as(&proxied, Some("203.0.113.7, 127.0.0.1"), "not-a-token", 22);
    assert!(guesses[21].contains(TOO_MANY_BAD), "one client behind the proxy is throttled: {guesses:?}");
    let other = joins_as(&proxied, Some("198.51.100.20"), "not-a-token", 1);
    assert!(!other[0].contains(TOO_MANY_BAD), "another client behind the same proxy is not: {other:?}");
    // Without trusted proxies the header is the client's own word, and changes nothing.
    let direct = Hub::start();
    let guesses = joins_as(&direct, Some("203.0.113.7"), "not-a-token", 22);
    assert!(guesses[21].contains(TOO_MANY_BAD), "{guesses:?}");
    let forged = joins_as(&direct, Some("198.51.100.20"), "not-a-token", 1);
    assert!(forged[0].contains(TOO_MANY_BAD), "a forged X-Forwarded-For does not escape the limit: {forged:?}");
}

#[test]
fn a_signalling_message_larger_than_the_socket_buffer_arrives_whole() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let hub = Hub::start();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let url = format!("{}/rtc", hub.base.replace("http://", "ws://"));
    rt.block_on(async {
        let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str()).await.unwrap();
        let join = serde_json::json!({ "type": "join", "token": token("demo", Role::Student, 600) });
        ws.send(Message::text(join.to_string())).await.unwrap();
        let next = async |ws: &mut tokio_tungstenite::WebSocketStream<_>| loop {
            let msg = tokio::time::timeout(Duration::from_secs(10), ws.next()).await.unwrap().unwrap().unwrap();
            if let Message::Text(t) = msg {
                break serde_json::from_str::<serde_json::Value>(t.as_str()).unwrap();
            }
        };
        assert_eq!(next(&mut ws).await["type"], "joined");
        // 40 KiB of SDP-like lines, ten times the 4 KiB buffer: the hub must read all of it to
        // find that it is no offer, and answer so without closing the socket.
        let sdp = "a=x-filler:0123456789abcdef0123456789abcdef0123456789abcdef\r\n".repeat(700);
        assert!(sdp.len() > 40_000 && sdp.len() < lectern_proto::signal::MAX_MESSAGE_BYTES);
        let offer = serde_json::json!({ "type": "publishOffer", "sdp": sdp });
        ws.send(Message::text(offer.to_string())).await.unwrap();
        let reply = loop {
            let v = next(&mut ws).await;
            if v["type"] == "error" {
                break v;
            }
        };
        assert_eq!(reply["fatal"], false, "{reply}");
        assert!(reply["message"].as_str().unwrap().starts_with("invalid SDP offer"), "{reply}");
        ws.send(Message::text(r#"{"type":"leave"}"#)).await.unwrap();
    });
}

#[test]
fn a_joined_student_gets_a_minted_turn_credential_and_options_gets_none() {
    use futures_util::{SinkExt, StreamExt};
    use lectern_hub::turn::{LIFETIME_SECS, Secret, TurnServer};
    use lectern_proto::signal::ServerMsg;
    use tokio_tungstenite::tungstenite::Message;
    const TURN_SECRET: &str = "coturn-shared-secret-for-the-test";
    let relay_urls = ["turn:relay.test.invalid:3478?transport=udp", "turns:relay.test.invalid:443"];
    let hub = Hub::start_with(|dir| {
        let secret_file = dir.join("turn-secret");
        std::fs::write(&secret_file, format!("{TURN_SECRET}\n")).unwrap();
        format!(
            "[[media.ice_servers]]\nurls = [\"stun:stun.test.invalid:3478\"]\n\
             [[media.ice_servers]]\nurls = [\"turn:old.test.invalid:3478\"]\nusername = \"u\"\ncredential = \"static-pw\"\n\
             [[media.turn]]\nurls = {relay_urls:?}\nsecret_file = {:?}\n",
            secret_file.display().to_string()
        )
    });
    let log = std::fs::read_to_string(hub.dir.path().join("hub.log")).unwrap();
    assert!(log.contains("fixed TURN password") && log.contains("turn:old.test.invalid:3478"), "{log}");

    let options = agent().options(format!("{}/whip/demo", hub.base)).call().expect("hub answers");
    let links: Vec<_> = options.headers().get_all("link").iter().map(|v| v.to_str().unwrap().to_owned()).collect();
    assert_eq!(links, ["<stun:stun.test.invalid:3478>; rel=\"ice-server\""]);

    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let url = format!("{}/rtc", hub.base.replace("http://", "ws://"));
    let before = unix_secs();
    let joined = rt.block_on(async {
        let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str()).await.unwrap();
        let join = serde_json::json!({ "type": "join", "token": token("demo", Role::Student, 600) });
        ws.send(Message::text(join.to_string())).await.unwrap();
        let msg = loop {
            let msg = tokio::time::timeout(Duration::from_secs(10), ws.next()).await.unwrap().unwrap().unwrap();
            if let Message::Text(t) = msg {
                break serde_json::from_str::<ServerMsg>(t.as_str()).unwrap();
            }
        };
        ws.send(Message::text(r#"{"type":"leave"}"#)).await.unwrap();
        msg
    });
    let ServerMsg::Joined { participant_id, ice_servers, .. } = joined else { panic!("not joined: {joined:?}") };
    assert_eq!(ice_servers.len(), 3, "{ice_servers:?}");
    let minted = &ice_servers[2];
    assert_eq!(minted.urls, relay_urls);
    let expiry: u64 = minted.username.as_deref().and_then(|u| u.split(':').next()?.parse().ok()).unwrap();
    assert!((before + LIFETIME_SECS..=unix_secs() + LIFETIME_SECS).contains(&expiry), "{minted:?}");
    let relay = TurnServer { urls: relay_urls.map(str::to_owned).to_vec(), secret: Secret::new(TURN_SECRET.into()) };
    assert_eq!(minted, &relay.mint(participant_id, expiry - LIFETIME_SECS), "minted from the file's secret");
    let log = std::fs::read_to_string(hub.dir.path().join("hub.log")).unwrap();
    assert!(!log.contains(TURN_SECRET), "the TURN secret is logged: {log}");
}

impl Hub {
    /// Stops this hub and starts another on its data dir.
    fn restart(mut self) -> Self {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
        Self::start_in(dir, |_| String::new())
    }
}

/// A box without a credential asks `hub` for a claim code as `box_key`.
fn claim_code(hub: &Hub, box_key: &str) -> String {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let ws_url = format!("{}/device/ws", hub.base.replace("http://", "ws://"));
    rt.block_on(async {
        let (mut ws, _) = tokio_tungstenite::connect_async(ws_url.as_str()).await.unwrap();
        let enroll = format!(r#"{{"type":"enroll","boxKey":"{box_key}","version":"0.1.0","hostname":"lab-box"}}"#);
        ws.send(Message::text(enroll)).await.unwrap();
        let reply = tokio::time::timeout(Duration::from_secs(10), ws.next()).await.unwrap().unwrap().unwrap();
        let v: serde_json::Value = serde_json::from_str(reply.to_text().unwrap()).unwrap();
        assert_eq!(v["type"], "claimCode", "{v}");
        v["code"].as_str().unwrap().to_owned()
    })
}

#[test]
fn with_an_admin_listen_address_the_admin_is_served_there_only() {
    let hub = Hub::start_with(|_| {
        "[admin]\nlisten = \"127.0.0.1:0\"\n[node]\npublic_url = \"https://hub.school.example\"\n".to_owned()
    });
    let admin = hub
        .banner
        .iter()
        .find_map(|l| l.split("admin served on ").nth(1))
        .unwrap_or_else(|| panic!("no admin address in {:?}", hub.banner))
        .to_owned();
    let status = |url: String| agent().get(url).call().unwrap().status().as_u16();
    assert_eq!(status(format!("{}/admin", hub.base)), 404, "not on the lessons' origin");
    assert_eq!(status(format!("{}/admin/api/me", hub.base)), 404);
    assert_eq!(status(format!("{}/healthz", hub.base)), 200, "the hub itself is there");
    assert_eq!(status(format!("{admin}/admin/login")), 200, "the admin on its own origin");
    assert_eq!(status(format!("{admin}/admin/api/me")), 401, "its API asks for a session");
    assert_eq!(status(format!("{admin}/join/demo")), 404, "and nothing else is served there");
    let link = std::fs::read_to_string(hub.dir.path().join("admin-setup-link")).unwrap();
    assert!(
        link.starts_with(&format!("{admin}/admin/setup?code=")),
        "the setup link is on the admin's address: {link}"
    );
}

#[test]
fn a_waiting_box_keeps_its_claim_code_across_a_hub_restart() {
    let hub = Hub::start();
    let code = claim_code(&hub, "box-secret-key-0123456789abcdef-0123456789");
    let other = claim_code(&hub, "another-box-key-0123456789abcdef-0123456789");
    assert_ne!(code, other);
    // Saved a moment after they change (a code drawn in the instant before a crash may be lost).
    let db = hub.dir.path().join("lectern.db");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display())).await.unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let n: i64 = sqlx::query_scalar("SELECT count(*) FROM pending_enrollments").fetch_one(&pool).await.unwrap();
            if n == 2 {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{n} waiting boxes saved after 20 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        pool.close().await;
    });
    let hub = hub.restart();
    assert_eq!(
        claim_code(&hub, "box-secret-key-0123456789abcdef-0123456789"),
        code,
        "the code on the box's screen stays"
    );
    assert_eq!(claim_code(&hub, "another-box-key-0123456789abcdef-0123456789"), other);
}

#[test]
fn a_boxs_control_channel_ends_when_its_credential_expires_plus_the_grace() {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let hub = Hub::start_with(|_| "token_grace_minutes = 0\n".to_owned());
    let device = token("demo", Role::Device, 2);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let ws_url = format!("{}/device/ws", hub.base.replace("http://", "ws://"));
    rt.block_on(async {
        let mut req = ws_url.as_str().into_client_request().unwrap();
        req.headers_mut().insert("authorization", format!("Bearer {device}").parse().unwrap());
        let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
        // Two seconds to expiry, no grace: told why, then closed (generous deadline).
        let said = tokio::time::timeout(Duration::from_secs(30), async {
            let mut said = String::new();
            while let Some(Ok(m)) = ws.next().await {
                if let Ok(t) = m.to_text() {
                    said.push_str(t);
                }
            }
            said
        })
        .await
        .expect("the channel closed");
        assert!(said.contains("credential expired"), "{said}");
    });
}

#[test]
fn a_flooding_box_is_told_off_then_cut_off_and_its_text_is_clipped() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};
    let hub = Hub::start();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let ws_url = format!("{}/device/ws", hub.base.replace("http://", "ws://"));
    let device = token("demo", Role::Device, 600);
    rt.block_on(async {
        let connect = || {
            let mut req = ws_url.as_str().into_client_request().unwrap();
            req.headers_mut().insert("authorization", format!("Bearer {device}").parse().unwrap());
            tokio_tungstenite::connect_async(req)
        };
        let (mut ws, _) = connect().await.unwrap();
        // Hellos past the write budget are answered, not stored.
        for _ in 0..8 {
            ws.send(Message::text(r#"{"type":"hello","version":"0.1.0"}"#)).await.unwrap();
        }
        let reply = tokio::time::timeout(Duration::from_secs(10), ws.next()).await.unwrap().unwrap().unwrap();
        assert!(reply.to_text().unwrap().contains("hello too often"), "{reply:?}");
        // A long status line is kept clipped.
        let status = "x".repeat(5_000);
        let telemetry = format!(r#"{{"type":"telemetry","state":"idle","status":"{status}","uptimeSecs":1}}"#);
        ws.send(Message::text(telemetry)).await.unwrap();
        let teacher = format!("Bearer {}", token("demo", Role::Teacher, 600));
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let view = loop {
            let base = hub.base.clone();
            let teacher = teacher.clone();
            let body = tokio::task::spawn_blocking(move || {
                let mut r =
                    agent().get(format!("{base}/api/rooms/demo/device")).header("Authorization", &teacher).call();
                r.as_mut().map(|r| r.body_mut().read_to_string().unwrap_or_default()).unwrap_or_default()
            })
            .await
            .unwrap();
            if body.contains("xxxx") {
                break body;
            }
            assert!(std::time::Instant::now() < deadline, "telemetry never shown: {body}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let longest = view.split('"').map(str::len).max().unwrap_or(0);
        assert!(longest <= 500, "a {longest}-character field came back");
        // A flood closes the channel.
        let flood = r#"{"type":"telemetry","state":"idle","status":"ok","uptimeSecs":1}"#;
        let mut closed = false;
        for _ in 0..500 {
            if ws.send(Message::text(flood)).await.is_err() {
                closed = true;
                break;
            }
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while !closed {
            match tokio::time::timeout_at(deadline, ws.next()).await {
                Ok(Some(Ok(Message::Text(t)))) if t.contains("too many messages") => {}
                Ok(None | Some(Err(_)) | Some(Ok(Message::Close(_)))) => closed = true,
                Ok(Some(Ok(_))) => {}
                Err(_) => panic!("the flooding box was never cut off"),
            }
        }
        // It may come back and behave.
        let (mut again, _) = connect().await.unwrap();
        again.send(Message::text(flood)).await.unwrap();
    });
}

#[test]
fn slow_loris_connections_are_closed_and_the_connection_cap_holds() {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    let hub = Hub::start_with(|_| "[http]\nmax_connections = 8\n".to_owned());
    let addr = hub.base.trim_start_matches("http://").to_owned();
    // Eight clients take every slot, each trickling a header that never ends.
    let mut slow: Vec<TcpStream> = (0..8)
        .map(|_| {
            let mut s = TcpStream::connect(&addr).unwrap();
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").unwrap();
            s
        })
        .collect();
    // A ninth waits for a slot.
    let mut ninth = TcpStream::connect(&addr).unwrap();
    ninth.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    ninth.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut buf = [0u8; 512];
    assert!(ninth.read(&mut buf).is_err(), "served while every slot was taken");
    // Keep trickling: the header timeout counts from the start of the request, not the last byte.
    let started = std::time::Instant::now();
    let mut open = slow.len();
    while open > 0 {
        assert!(started.elapsed() < Duration::from_secs(60), "{open} slow-loris connections still open after 60 s");
        open = 0;
        for s in &mut slow {
            s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
            let gone = matches!(s.read(&mut buf), Ok(0)) || s.write_all(b"X-Slow: 1\r\n").is_err();
            if !gone {
                open += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    // Their slots are free: the ninth client is answered.
    ninth.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut answer = String::new();
    let _ = ninth.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[test]
fn the_admin_setup_link_is_kept_in_a_private_file_and_not_printed_to_a_log() {
    use std::os::unix::fs::PermissionsExt;
    let hub = Hub::start();
    let path = hub.dir.path().join("admin-setup-link");
    let link = std::fs::read_to_string(&path).expect("the setup link file");
    assert!(link.trim().starts_with(&format!("{}/admin/setup?code=", hub.base)), "{link}");
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    let code = link.trim().rsplit('=').next().unwrap();
    assert!(hub.banner.iter().all(|l| !l.contains(code)), "the code was printed: {:?}", hub.banner);
    assert!(hub.banner.iter().any(|l| l.contains(&path.display().to_string())), "{:?}", hub.banner);
    let log = std::fs::read_to_string(hub.dir.path().join("hub.log")).unwrap_or_default();
    assert!(!log.contains(code), "the code is in the log");
}

#[test]
fn a_student_flooding_mute_toggles_reaches_the_room_a_bounded_number_of_times_then_is_cut_off() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let hub = Hub::start();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let url = format!("{}/rtc", hub.base.replace("http://", "ws://"));
    rt.block_on(async {
        let join = |role| {
            let url = url.clone();
            async move {
                let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str()).await.unwrap();
                let join = serde_json::json!({ "type": "join", "token": token("demo", role, 600) });
                ws.send(Message::text(join.to_string())).await.unwrap();
                loop {
                    let msg = tokio::time::timeout(Duration::from_secs(10), ws.next()).await.unwrap().unwrap().unwrap();
                    if msg.to_text().is_ok_and(|t| t.contains(r#""type":"joined""#)) {
                        break ws;
                    }
                }
            }
        };
        let mut teacher = join(Role::Teacher).await;
        let mut student = join(Role::Student).await;
        // A viewer has nothing to mute.
        let mut viewer = join(Role::Viewer).await;
        viewer.send(Message::text(r#"{"type":"setMuted","kind":"audio","muted":true}"#)).await.unwrap();
        let refused = loop {
            let m = tokio::time::timeout(Duration::from_secs(10), viewer.next()).await.unwrap().unwrap().unwrap();
            if m.to_text().is_ok_and(|t| t.contains(r#""type":"error""#)) {
                break m.into_text().unwrap().to_string();
            }
        };
        assert!(refused.contains("forbidden") && refused.contains("nothing to mute"), "{refused}");

        let mut sent = 0;
        for i in 0..2000 {
            let toggle = format!(r#"{{"type":"setMuted","kind":"audio","muted":{}}}"#, i % 2 == 0);
            if student.send(Message::text(toggle)).await.is_err() {
                break;
            }
            sent += 1;
        }
        // The student is cut off (the reason it is sent may be lost in the reset of a socket
        // still being written to: the hub's log says it).
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            match tokio::time::timeout_at(deadline, student.next()).await {
                Ok(Some(Ok(Message::Close(_)) | Err(_)) | None) => break,
                Ok(Some(Ok(_))) => {}
                Err(_) => panic!("the flooding student was never cut off ({sent} sent)"),
            }
        }
        let log = std::fs::read_to_string(hub.dir.path().join("hub.log")).unwrap();
        assert!(log.contains("sent too many messages"), "{log}");
        // The teacher heard a handful of the toggles, not thousands.
        let mut toggles = 0;
        while let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_secs(2), teacher.next()).await {
            if m.to_text().is_ok_and(|t| t.contains(r#""type":"trackMuted""#)) {
                toggles += 1;
            }
        }
        assert!(toggles <= 20, "{toggles} of {sent} toggles reached the teacher");
    });
}
