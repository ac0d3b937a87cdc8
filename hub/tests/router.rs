//! The hub's router in-process (`tower::ServiceExt::oneshot`, no sockets for HTTP): the access rules
//! of its route table, the README's protocol list against that table, the WHIP error matrix and the
//! lesson export API.

use axum::Router;
use axum::http::{HeaderMap, Method, StatusCode, header};
use lectern_admin::routes::Access;
use lectern_common::time::unix_secs;
use lectern_hub::http::cors::Origins;
use lectern_hub::http::{AdminAt, Edge, app, routes};
use lectern_hub::store::Store;
use lectern_hub::turn::{IceServers, LIFETIME_SECS, Secret, TurnServer};
use lectern_proto::signal::IceServer;
use lectern_proto::{ParticipantId, Role};
use str0m::media::{Direction, MediaKind};
use str0m::{Candidate, Rtc};

mod in_process;
use in_process::{Resp, bearer, claims, issue, send, state, writing_to};

const ROLES: [Role; 5] = [Role::Teacher, Role::Student, Role::Device, Role::Viewer, Role::Admin];

struct Hub {
    app: Router,
    _dir: tempfile::TempDir,
}

async fn hub() -> Hub {
    hub_with(IceServers::default()).await
}

async fn hub_with(ice: IceServers) -> Hub {
    hub_at_edge(ice, Edge::default()).await
}

async fn hub_at_edge(ice: IceServers, edge: Edge) -> Hub {
    let dir = tempfile::tempdir().expect("a temp dir");
    let store = Store::open(dir.path()).await.expect("a store");
    // What rooms report is written to the store, as in `serve` (lessons, chat, sessions).
    let state = state(store.clone(), writing_to(&store), ice, edge);
    Hub { app: app(state, AdminAt::Here), _dir: dir }
}

fn token(room: &str, role: Role, exp_offset: i64) -> String {
    issue(&claims(room, role, "test", exp_offset))
}

fn offer(dir: Direction) -> String {
    let _ = std::panic::catch_unwind(|| str0m::crypto::from_feature_flags().install_process_default());
    let mut rtc = Rtc::builder().build(std::time::Instant::now());
    rtc.add_local_candidate(Candidate::host("127.0.0.1:9".parse().expect("an address"), "udp").expect("a host"));
    let mut api = rtc.sdp_api();
    api.add_media(MediaKind::Audio, dir, None, None, None);
    api.add_media(MediaKind::Video, dir, None, None, None);
    api.apply().expect("an offer").0.to_sdp_string()
}

impl Hub {
    async fn call(&self, method: Method, path: &str, auth: Option<&str>, ctype: Option<&str>, body: &str) -> Resp {
        let headers: Vec<_> =
            auth.map(bearer).into_iter().chain(ctype.map(|c| ("content-type", c.to_owned()))).collect();
        send(&self.app, method, path, &headers, body.as_bytes().to_vec()).await
    }

    /// A request with only these headers and no body.
    async fn bare(&self, method: Method, path: &str, headers: &[(&str, &str)]) -> Resp {
        let headers: Vec<_> = headers.iter().map(|(name, value)| (*name, (*value).to_owned())).collect();
        send(&self.app, method, path, &headers, Vec::new()).await
    }

    async fn get(&self, path: &str, auth: Option<&str>) -> Resp {
        self.call(Method::GET, path, auth, None, "").await
    }

    async fn post_sdp(&self, path: &str, auth: Option<&str>, sdp: &str) -> Resp {
        self.call(Method::POST, path, auth, Some("application/sdp"), sdp).await
    }
}

/// A concrete request path for a route pattern in room `lab-1`.
fn concrete(path: &str) -> String {
    path.replace("{room}", "lab-1").replace("{id}", "deadbeef").replace("{file}", "attendance.csv")
}

#[tokio::test]
async fn every_bearer_route_enforces_the_roles_of_its_table_row() {
    let hub = hub().await;
    let mut checked = 0;
    for route in routes::table() {
        let Access::Bearer(roles) = route.access else { continue };
        let (method, path, label) =
            (route.method.clone(), concrete(route.path), format!("{} {}", route.method, route.path));
        let r = hub.call(method.clone(), &path, None, None, "").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{label} without a token: {}", r.text());
        assert!(r.headers[header::WWW_AUTHENTICATE].to_str().is_ok_and(|v| v.starts_with("Bearer")), "{label}");
        for role in ROLES {
            let r = hub.call(method.clone(), &path, Some(&token("lab-1", role, 600)), None, "").await;
            if roles.contains(&role) {
                assert!(
                    ![StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN].contains(&r.status),
                    "{label} as {role}: {}",
                    r.text()
                );
                let r = hub.call(method.clone(), &path, Some(&token("lab-2", role, 600)), None, "").await;
                assert_eq!(r.status, StatusCode::FORBIDDEN, "{label} as {role} of another room: {}", r.text());
            } else {
                assert_eq!(r.status, StatusCode::FORBIDDEN, "{label} as {role}: {}", r.text());
                assert_eq!(r.json()["error"], "forbidden", "{label}");
            }
        }
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} bearer routes in the table");
}

/// `METHOD /path` spans of the README's "Protocols" section.
fn documented_protocol_routes() -> Vec<(String, String)> {
    let readme = include_str!("../../README.md");
    let start = readme.find("## Protocols").expect("a Protocols section");
    let section = &readme[start + 3..];
    let section = &section[..section.find("\n## ").unwrap_or(section.len())];
    section
        .split('`')
        .skip(1)
        .step_by(2)
        .filter_map(|span| span.split_once(' '))
        .filter(|(m, p)| {
            Method::from_bytes(m.as_bytes()).is_ok() && m.chars().all(|c| c.is_ascii_uppercase()) && p.starts_with('/')
        })
        .map(|(m, p)| (m.to_owned(), p.to_owned()))
        .collect()
}

/// A documented path matches a route pattern segment by segment; `{…}` on either side is any one segment.
fn matches(pattern: &str, path: &str) -> bool {
    let (a, b): (Vec<_>, Vec<_>) = (pattern.split('/').collect(), path.split('/').collect());
    a.len() == b.len() && a.iter().zip(&b).all(|(x, y)| x == y || x.starts_with('{') || y.starts_with('{'))
}

#[test]
fn the_readme_protocol_list_and_the_route_table_agree() {
    let table = routes::table();
    let documented = documented_protocol_routes();
    assert!(documented.len() >= 10, "{documented:?}");
    for (method, path) in &documented {
        assert!(
            table.iter().any(|r| r.method.as_str() == method && matches(r.path, path)),
            "README documents {method} {path}, which the hub does not route"
        );
    }
    // Every route that needs a credential is documented.
    for r in table.iter().filter(|r| r.access != Access::Anyone) {
        assert!(
            documented.iter().any(|(m, p)| m == r.method.as_str() && matches(r.path, p)),
            "{} {} is not in the README's Protocols section",
            r.method,
            r.path
        );
    }
}

#[tokio::test]
async fn whip_error_matrix() {
    let hub = hub().await;
    let good = offer(Direction::SendOnly);
    let device = token("lab-1", Role::Device, 600);

    let r = hub.post_sdp("/whip/lab-1", None, &good).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers[header::WWW_AUTHENTICATE], "Bearer realm=\"lectern\"");
    assert_eq!(r.json()["error"], "unauthorized");
    let r = hub.post_sdp("/whip/lab-1", Some(&token("lab-1", Role::Device, -3600)), &good).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers[header::WWW_AUTHENTICATE], "Bearer realm=\"lectern\", error=\"invalid_token\"");
    assert!(r.json()["detail"].as_str().is_some_and(|d| d.contains("expired")), "{}", r.text());

    let r = hub.post_sdp("/whip/lab-1", Some(&token("lab-1", Role::Viewer, 600)), &good).await;
    assert_eq!((r.status, r.json()["error"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")));
    let r = hub.post_sdp("/whip/lab-1", Some(&token("lab-2", Role::Device, 600)), &good).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.json()["detail"].as_str().is_some_and(|d| d.contains("lab-2")), "{}", r.text());

    let r = hub.call(Method::POST, "/whip/lab-1", Some(&device), Some("text/plain"), &good).await;
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, Some("unsupported_media_type"))
    );
    let r = hub.call(Method::POST, "/whip/lab-1", Some(&device), None, &good).await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let r = hub.post_sdp("/whip/lab-1", Some(&device), "garbage").await;
    assert_eq!((r.status, r.json()["error"].as_str()), (StatusCode::BAD_REQUEST, Some("bad_request")));
    assert!(r.json()["detail"].as_str().is_some_and(|d| d.starts_with("invalid SDP offer: ")), "{}", r.text());
    let r = hub.post_sdp("/whip/no%20such", Some(&device), &good).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    let r = hub.post_sdp("/whip/lab-1", Some(&device), &"v".repeat(lectern_hub::http::whip::MAX_SDP_BYTES + 1)).await;
    assert_eq!((r.status, r.json()["error"].as_str()), (StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large")));

    let frag = "a=candidate:1 1 udp 1 127.0.0.1 9 typ host\r\n";
    let r = hub
        .call(Method::PATCH, "/whip/lab-1/deadbeef", Some(&device), Some("application/trickle-ice-sdpfrag"), frag)
        .await;
    assert_eq!((r.status, r.json()["error"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
    let r = hub.call(Method::DELETE, "/whip/lab-1/deadbeef", Some(&device), None, "").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // After every refusal the room still takes a publisher.
    let r = hub.post_sdp("/whip/lab-1", Some(&device), &good).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(r.headers[header::CONTENT_TYPE], "application/sdp");
    let location = r.headers[header::LOCATION].to_str().expect("a Location").to_owned();
    assert!(location.starts_with("/whip/lab-1/"), "{location}");
    let r = hub.call(Method::DELETE, &location, Some(&device), None, "").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
}

#[tokio::test]
async fn lesson_exports_and_box_commands() {
    let hub = hub().await;
    let teacher = token("lab-1", Role::Teacher, 600);
    let t = Some(teacher.as_str());
    let r = hub.get("/api/rooms/lab-1/attendance.csv", t).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "no lesson yet: {}", r.text());
    assert_eq!(r.json()["detail"], "no lesson recorded for room 'lab-1'");
    for bad in ["grades.csv", "polls.xml", "attendance.CSV", "notes.json", "chat.md"] {
        let r = hub.get(&format!("/api/rooms/lab-1/{bad}"), t).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{bad}");
        assert_eq!(
            r.json()["detail"],
            "available: attendance, polls and chat, each .csv or .json; notes.md; breakouts.json",
            "{bad}"
        );
    }
    let r = hub.get("/api/rooms/lab-1/notes.md", t).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "no lesson yet: {}", r.text());
    assert_eq!(r.json()["detail"], "no notes recorded for room 'lab-1'");
    let r = hub.get("/api/rooms/lab-1/attendance", t).await;
    assert_eq!(r.json()["detail"], "expected e.g. attendance.csv");

    let r = hub.get("/api/rooms/lab-1/chat.csv", t).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers[header::CONTENT_TYPE], "text/csv; charset=utf-8");
    assert!(r.text().starts_with("sent_at,from,text,private,deleted"), "{}", r.text());
    let r = hub.get("/api/rooms/lab-1/chat.json", t).await;
    assert_eq!((r.status, r.text().trim()), (StatusCode::OK, "[]"));
    assert_eq!(r.headers[header::CONTENT_TYPE], "application/json");
    // Deleted messages are for admins; the parameter means nothing elsewhere.
    let r = hub.get("/api/rooms/lab-1/chat.csv?deleted=1", t).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    let admin = token("lab-1", Role::Admin, 600);
    assert_eq!(hub.get("/api/rooms/lab-1/chat.csv?deleted=1", Some(&admin)).await.status, StatusCode::OK);
    assert_eq!(hub.get("/api/rooms/lab-1/polls.csv?deleted=1", Some(&admin)).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(hub.get("/api/rooms/lab-1/chat.csv?all=1", t).await.status, StatusCode::BAD_REQUEST);
    // `?lesson=` picks the lesson of breakouts.json: one of this room, well formed; nothing else takes it.
    let r = hub.get("/api/rooms/lab-1/breakouts.json?lesson=lab-1.1700000000000", t).await;
    assert_eq!((r.status, r.text().trim()), (StatusCode::OK, "[]"));
    let r = hub.get("/api/rooms/lab-1/breakouts.json?lesson=lab-2.1700000000000", t).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "another room's lesson: {}", r.text());
    assert_eq!(hub.get("/api/rooms/lab-1/breakouts.json?lesson=nope", t).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        hub.get("/api/rooms/lab-1/chat.csv?lesson=lab-1.1700000000000", t).await.status,
        StatusCode::BAD_REQUEST
    );

    // A box publishes: the live lesson has an attendee.
    let r = hub.post_sdp("/whip/lab-1", Some(&token("lab-1", Role::Device, 600)), &offer(Direction::SendOnly)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let r = hub.get("/api/rooms/lab-1/attendance.csv", t).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(r.text().starts_with("name,role,joined_at") && r.text().contains("Test,device"), "{}", r.text());
    assert_eq!(r.headers[header::CONTENT_DISPOSITION], "attachment; filename=\"lab-1-attendance.csv\"");
    assert_eq!(r.headers[header::CACHE_CONTROL], "no-store");
    let r = hub.get("/api/rooms/lab-1/polls.json", t).await;
    assert_eq!((r.status, r.text().trim()), (StatusCode::OK, "[]"));
    let r = hub.get("/api/rooms/lab-1/notes.md", t).await;
    assert_eq!((r.status, r.text().as_str()), (StatusCode::OK, ""), "the live lesson's notes, empty");
    assert_eq!(r.headers[header::CONTENT_TYPE], "text/markdown; charset=utf-8");

    // No box on its control channel: going live has nowhere to go; ending ends the hub's lesson.
    let r = hub.call(Method::POST, "/api/rooms/lab-1/live", t, None, "").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json()["detail"], "no classroom box is connected for room 'lab-1'");
    let r = hub.call(Method::POST, "/api/rooms/lab-1/end", t, None, "").await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "the box's lesson was on: {}", r.text());
    let r = hub.call(Method::POST, "/api/rooms/lab-1/end", t, None, "").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "nothing left to end");
    assert_eq!(r.json()["detail"], "no lesson is on and no classroom box is connected in room 'lab-1'");
    // The lesson the box opened is listed, closed, newest first.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let r = hub.get("/api/rooms/lab-1/lessons", t).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let lessons = r.json();
        let first = &lessons[0];
        if first["endedAt"].is_i64() {
            assert_eq!(lessons.as_array().map(Vec::len), Some(1), "{lessons}");
            let id = first["id"].as_str().unwrap_or_default();
            assert!(id.starts_with("lab-1.") && lectern_proto::LessonId::parse(id).is_ok(), "{id}");
            assert!(first["startedAt"].as_i64() <= first["endedAt"].as_i64(), "{first}");
            assert_eq!(first["recordings"], serde_json::json!([]));
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the lesson was not listed as ended: {lessons}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(hub.get("/api/rooms/lab-1/lessons", None).await.status, StatusCode::UNAUTHORIZED);
    let other = token("lab-2", Role::Teacher, 600);
    assert_eq!(hub.get("/api/rooms/lab-1/lessons", Some(&other)).await.status, StatusCode::FORBIDDEN);
    let student = token("lab-1", Role::Student, 600);
    assert_eq!(hub.get("/api/rooms/lab-1/lessons", Some(&student)).await.status, StatusCode::FORBIDDEN);
    // Whether it is recorded, for the join page: any token of the room.
    let r = hub.get("/api/rooms/lab-1/recording", Some(&student)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json(), serde_json::json!({ "recording": false, "policy": "off" }));
    assert_eq!(r.headers[header::CACHE_CONTROL], "no-store");
    assert_eq!(hub.get("/api/rooms/lab-1/recording", None).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(hub.get("/api/rooms/lab-1/recording", Some(&other)).await.status, StatusCode::FORBIDDEN);
    let r = hub.call(Method::POST, "/api/rooms/lab-1/dance", t, None, "").await;
    assert_eq!((r.status, r.json()["detail"].as_str()), (StatusCode::NOT_FOUND, Some("expected /live or /end")));
    let r = hub.call(Method::POST, "/api/rooms/lab-1/dance", None, None, "").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "the token is checked before the action");
}

#[tokio::test]
async fn room_stats_refuse_precisely_and_describe_each_participant() {
    let hub = hub().await;
    let teacher = token("lab-1", Role::Teacher, 600);
    let t = Some(teacher.as_str());
    let r = hub.get("/api/rooms/lab-1/stats", None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text());
    let r = hub.get("/api/rooms/lab-1/stats", Some(&token("lab-1", Role::Student, 600))).await;
    assert_eq!((r.status, r.json()["error"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")), "a student");
    let r = hub.get("/api/rooms/lab-1/stats", Some(&token("lab-2", Role::Teacher, 600))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "another room's teacher: {}", r.text());
    let r = hub.get("/api/rooms/Lab%201/stats", t).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert!(r.json()["detail"].as_str().is_some_and(|d| d.starts_with("invalid room name")), "{}", r.text());
    let r = hub.get("/api/rooms/lab-1/stats", t).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());
    assert_eq!(r.json()["detail"], "room 'lab-1' is not live on this hub");

    // A box publishes audio and video, a viewer receives both.
    let r = hub.post_sdp("/whip/lab-1", Some(&token("lab-1", Role::Device, 600)), &offer(Direction::SendOnly)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let r = hub.post_sdp("/whep/lab-1", Some(&token("lab-1", Role::Viewer, 600)), &offer(Direction::RecvOnly)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let r = hub.get("/api/rooms/lab-1/stats", Some(&token("lab-1", Role::Admin, 600))).await;
    assert_eq!(r.status, StatusCode::OK, "an admin token: {}", r.text());
    let r = hub.get("/api/rooms/lab-1/stats", t).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.headers[header::CACHE_CONTROL], "no-store");
    let body = r.json();
    let people = body["participants"].as_array().expect("a participants array");
    assert_eq!(people.len(), 2, "{body}");
    let (boxed, viewer) = (&people[0], &people[1]);
    assert_eq!(boxed["role"], "device", "{body}");
    assert_eq!(boxed["tracks"], serde_json::json!([]), "a publisher receives nothing: {body}");
    assert_eq!(viewer["role"], "viewer", "{body}");
    for key in ["participantId", "name", "estimateKbps", "level", "audioOnly", "paused", "lossPct", "tracks"] {
        assert!(viewer.get(key).is_some(), "{key} missing: {body}");
    }
    assert_eq!((viewer["audioOnly"].as_bool(), viewer["paused"].as_u64()), (Some(false), Some(0)), "{body}");
    assert_eq!(viewer["estimateKbps"], serde_json::Value::Null, "not connected: no estimate yet: {body}");
    // Neither peer connects here, so no track flows yet (tests/simulcast.rs checks the tracks of
    // connected ones).
    assert_eq!(viewer["tracks"], serde_json::json!([]), "{body}");
    assert_ne!(viewer["participantId"], boxed["participantId"]);
}

/// `(url, username, credential)` of each `rel="ice-server"` Link header.
fn ice_links(h: &HeaderMap) -> Vec<(String, Option<String>, Option<String>)> {
    let param = |link: &str, name: &str| {
        let start = link.find(&format!("; {name}=\"")).map(|i| i + name.len() + 4)?;
        link[start..].split('"').next().map(str::to_owned)
    };
    h.get_all(header::LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter(|l| l.contains("rel=\"ice-server\""))
        .map(|l| {
            let url = l.trim_start_matches('<').split('>').next().unwrap_or("").to_owned();
            (url, param(l, "username"), param(l, "credential"))
        })
        .collect()
}

#[tokio::test]
async fn whip_answers_carry_a_minted_turn_credential_and_options_carries_none() {
    let urls = ["turn:relay.test:3478?transport=udp", "turn:relay.test:3478?transport=tcp", "turns:relay.test:443"];
    let relay = TurnServer { urls: urls.map(str::to_owned).to_vec(), secret: Secret::new("relay-secret".into()) };
    let stun = IceServer { urls: vec!["stun:stun.test:3478".into()], username: None, credential: None };
    let static_turn = IceServer {
        urls: vec!["turn:old.test:3478".into()],
        username: Some("lectern".into()),
        credential: Some("static-password".into()),
    };
    let hub = hub_with(IceServers { fixed: vec![stun, static_turn], turn: vec![relay.clone()] }).await;

    let r = hub.call(Method::OPTIONS, "/whip/lab-1", None, None, "").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(ice_links(&r.headers), [("stun:stun.test:3478".to_owned(), None, None)]);

    let before = unix_secs();
    let r = hub.post_sdp("/whip/lab-1", Some(&token("lab-1", Role::Device, 600)), &offer(Direction::SendOnly)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let links = ice_links(&r.headers);
    let minted: Vec<_> = links.iter().filter(|(url, ..)| url.contains("relay.test")).collect();
    assert_eq!(minted.iter().map(|(url, ..)| url.as_str()).collect::<Vec<_>>(), urls);
    let (_, Some(user), Some(cred)) = minted[0] else { panic!("no credential in {links:?}") };
    let (expiry, participant) = user.split_once(':').expect("<expiry>:<participant>");
    let expiry: u64 = expiry.parse().expect("a unix time");
    assert!((before + LIFETIME_SECS..=unix_secs() + LIFETIME_SECS).contains(&expiry), "{user}");
    let id: u64 = participant.strip_prefix('p').and_then(|p| p.parse().ok()).expect("a participant id");
    let expected = relay.mint(ParticipantId(id), expiry - LIFETIME_SECS);
    assert_eq!((Some(user), Some(cred)), (expected.username.as_ref(), expected.credential.as_ref()));
    assert!(minted.iter().all(|(_, u, c)| u.as_ref() == Some(user) && c.as_ref() == Some(cred)));
    // Authenticated answers still carry the fixed servers.
    assert!(links.iter().any(|(url, ..)| url == "turn:old.test:3478"));

    let r = hub.post_sdp("/whep/lab-1", Some(&token("lab-1", Role::Viewer, 600)), &offer(Direction::RecvOnly)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let whep_user = ice_links(&r.headers).into_iter().find(|(url, ..)| url == urls[2]).and_then(|(_, u, _)| u);
    assert!(whep_user.is_some_and(|u| &u != user), "each session is its own participant");

    let r = hub.call(Method::OPTIONS, "/whep/lab-1", None, None, "").await;
    assert!(ice_links(&r.headers).iter().all(|(_, u, c)| u.is_none() && c.is_none()));
    assert!(!r.headers.get_all(header::LINK).iter().any(|v| v.to_str().is_ok_and(|l| l.contains("turn:"))));
}

fn header_of(r: &Resp, name: header::HeaderName) -> Option<&str> {
    r.headers.get(name).and_then(|v| v.to_str().ok())
}

const PORTAL: &str = "https://portal.school.test";

#[tokio::test]
async fn a_preflight_from_a_listed_origin_is_the_whip_options_answer_with_cors_headers() {
    let stun = IceServer { urls: vec!["stun:stun.test:3478".into()], username: None, credential: None };
    let edge = Edge { cors: Origins::parse(&[PORTAL.to_owned()]).expect("an origin"), ..Edge::default() };
    let hub = hub_at_edge(IceServers { fixed: vec![stun], turn: Vec::new() }, edge).await;
    let preflight = |path: &'static str, method: &'static str| {
        let hub = &hub;
        async move {
            hub.bare(
                Method::OPTIONS,
                path,
                &[
                    ("origin", PORTAL),
                    ("access-control-request-method", method),
                    ("access-control-request-headers", "authorization,content-type"),
                ],
            )
            .await
        }
    };

    for path in ["/whip/lab-1", "/whep/lab-1"] {
        let r = preflight(path, "POST").await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{path}");
        assert_eq!(header_of(&r, header::ACCESS_CONTROL_ALLOW_ORIGIN), Some(PORTAL), "{path}");
        assert_eq!(header_of(&r, header::ACCESS_CONTROL_ALLOW_METHODS), Some("OPTIONS, POST"));
        assert_eq!(header_of(&r, header::ACCESS_CONTROL_ALLOW_HEADERS), Some("Authorization, Content-Type, If-Match"));
        assert!(r.headers.get(header::ACCESS_CONTROL_ALLOW_CREDENTIALS).is_none());
        // The same answer is WHIP's OPTIONS: its ICE servers are there.
        assert_eq!(ice_links(&r.headers), [("stun:stun.test:3478".to_owned(), None, None)]);
    }
    for (path, methods) in [
        ("/whip/lab-1/deadbeef", "OPTIONS, PATCH, DELETE"),
        ("/whep/lab-1/deadbeef", "OPTIONS, PATCH, DELETE"),
        ("/api/rooms/lab-1/attendance.csv", "OPTIONS, GET, POST"),
    ] {
        let r = preflight(path, "PATCH").await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{path}: {}", r.text());
        assert_eq!(header_of(&r, header::ACCESS_CONTROL_ALLOW_METHODS), Some(methods), "{path}");
        assert_eq!(header_of(&r, header::ACCESS_CONTROL_ALLOW_ORIGIN), Some(PORTAL), "{path}");
    }

    // The real request: even a refusal is readable by the page, with the headers WHIP needs exposed.
    let r = hub.bare(Method::POST, "/whip/lab-1", &[("origin", PORTAL), ("content-type", "application/sdp")]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(header_of(&r, header::ACCESS_CONTROL_ALLOW_ORIGIN), Some(PORTAL));
    assert_eq!(header_of(&r, header::ACCESS_CONTROL_EXPOSE_HEADERS), Some("Location, Link, ETag, Accept-Patch"));
    assert!(r.headers.get_all(header::VARY).iter().any(|v| v == "Origin"));

    // Another origin gets no CORS headers; the admin never does.
    let other = hub
        .bare(
            Method::OPTIONS,
            "/whip/lab-1",
            &[("origin", "https://evil.test"), ("access-control-request-method", "POST")],
        )
        .await;
    assert!(other.headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
    assert!(other.headers.get(header::ACCESS_CONTROL_ALLOW_METHODS).is_none());
    let admin = hub.bare(Method::GET, "/admin/api/devices", &[("origin", PORTAL)]).await;
    assert!(admin.headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
}

#[tokio::test]
async fn without_cors_origins_no_page_elsewhere_may_call_the_hub() {
    let hub = hub().await;
    let r = hub
        .bare(Method::OPTIONS, "/whip/lab-1", &[("origin", PORTAL), ("access-control-request-method", "POST")])
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "WHIP's OPTIONS still answers");
    assert!(r.headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
    let r = hub.bare(Method::GET, "/api/rooms/lab-1/attendance.csv", &[("origin", PORTAL)]).await;
    assert!(r.headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
}

#[tokio::test]
async fn any_origin_is_a_star_never_with_credentials() {
    let edge = Edge { cors: Origins::Any, ..Edge::default() };
    let hub = hub_at_edge(IceServers::default(), edge).await;
    let r = hub.bare(Method::GET, "/api/rooms/lab-1/attendance.csv", &[("origin", "https://anywhere.test")]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(header_of(&r, header::ACCESS_CONTROL_ALLOW_ORIGIN), Some("*"));
    assert!(r.headers.get(header::ACCESS_CONTROL_ALLOW_CREDENTIALS).is_none());
}
