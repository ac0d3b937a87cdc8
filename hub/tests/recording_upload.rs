//! The recordings' upload and download endpoints in-process (`tower::ServiceExt::oneshot`, a real
//! store and a real recordings directory): a file sent in chunks is `ready` only once whole and
//! checked, every bad request is refused with its status and leaves the stored bytes as they were,
//! and the lessons API's signed link serves the file with `Range`, refusing expired or forged links.

use std::path::PathBuf;

use axum::Router;
use axum::http::{Method, StatusCode, header};
use base64::Engine;
use lectern_common::time::{unix_ms, unix_secs};
use lectern_hub::config::RecordingSettings;
use lectern_hub::http::{AdminAt, Edge, app};
use lectern_hub::media_io::Outlets;
use lectern_hub::recording::{EndReason, LessonChange};
use lectern_hub::store::Store;
use lectern_hub::token::TokenKey;
use lectern_proto::{LessonId, Role, RoomId};
use sha2::{Digest, Sha256};

mod in_process;
use in_process::{Resp, SECRET, claims, issue, send, state};

const MIB: usize = 1024 * 1024;

struct Hub {
    app: Router,
    recordings: PathBuf,
    lesson: LessonId,
    _dir: tempfile::TempDir,
}

fn offset(r: &Resp) -> Option<u64> {
    r.headers.get("upload-offset")?.to_str().ok()?.parse().ok()
}

fn token(room: &str, role: Role, exp_offset: i64) -> String {
    issue(&claims(room, role, "test", exp_offset))
}

fn device() -> String {
    token("lab-1", Role::Device, 600)
}

async fn hub() -> Hub {
    hub_with(None).await
}

/// A hub whose lesson started a minute ago, or (`ended_days_ago`) ended that many days ago, with
/// a 30-day retention.
async fn hub_with(ended_days_ago: Option<u64>) -> Hub {
    let dir = tempfile::tempdir().expect("a temp dir");
    let store = Store::open(dir.path()).await.expect("a store");
    let room = RoomId::parse("lab-1").expect("a room");
    const DAY_MS: u64 = 24 * 3600 * 1000;
    let started = unix_ms() - 60_000 - ended_days_ago.map_or(0, |d| d * DAY_MS);
    let lesson = LessonId::new(&room, started);
    store
        .write_lesson(&LessonChange::Started { lesson: lesson.clone(), room, at: started }, 0)
        .await
        .expect("a lesson row");
    if ended_days_ago.is_some() {
        let ended = LessonChange::Ended { lesson: lesson.clone(), at: started + 30_000, reason: EndReason::Api };
        assert!(store.write_lesson(&ended, 0).await.expect("the lesson ends"));
    }
    let recordings = dir.path().join("recordings");
    let recording = RecordingSettings { retention_days: 30, ..RecordingSettings::default() };
    let edge = Edge { recordings_dir: Some(recordings.clone()), recording, ..Edge::default() };
    let state = state(store, Outlets::default(), Default::default(), edge);
    Hub { app: app(state, AdminAt::Here), recordings, lesson, _dir: dir }
}

impl Hub {
    async fn send(&self, method: Method, path: &str, headers: &[(&str, String)], body: Vec<u8>) -> Resp {
        send(&self.app, method, path, headers, body).await
    }

    async fn create(&self, auth: &str, name: &str, data: &[u8], sha: Option<&str>) -> Resp {
        let body = serde_json::json!({
            "lesson": self.lesson.as_str(), "kind": "camera", "name": name, "size": data.len(),
            "sha256": sha.map_or_else(|| hex(&Sha256::digest(data)), str::to_owned), "durationMs": 30_000,
        });
        let headers = [("authorization", format!("Bearer {auth}")), ("content-type", "application/json".into())];
        self.send(Method::POST, "/api/rooms/lab-1/uploads", &headers, body.to_string().into_bytes()).await
    }

    async fn offset(&self, id: i64) -> u64 {
        let r = self
            .send(
                Method::GET,
                &format!("/api/rooms/lab-1/uploads/{id}"),
                &[("authorization", format!("Bearer {}", device()))],
                Vec::new(),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(offset(&r), r.json()["offset"].as_u64(), "header and body agree");
        r.json()["offset"].as_u64().expect("an offset")
    }

    /// A chunk with the right headers unless `tweak` changes them.
    async fn patch(
        &self,
        id: i64,
        offset: u64,
        data: &[u8],
        tweak: impl FnOnce(&mut Vec<(&'static str, String)>),
    ) -> Resp {
        let mut headers = vec![
            ("authorization", format!("Bearer {}", device())),
            ("content-type", "application/offset+octet-stream".to_owned()),
            ("upload-offset", offset.to_string()),
            ("upload-checksum", checksum(data)),
            ("content-length", data.len().to_string()),
        ];
        tweak(&mut headers);
        self.send(Method::PATCH, &format!("/api/rooms/lab-1/uploads/{id}"), &headers, data.to_vec()).await
    }

    fn part(&self, name: &str) -> PathBuf {
        self.recordings.join(self.lesson.as_str()).join(format!("{name}.part"))
    }

    fn finished(&self, name: &str) -> PathBuf {
        self.recordings.join(self.lesson.as_str()).join(name)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn checksum(data: &[u8]) -> String {
    format!("sha256 {}", base64::engine::general_purpose::STANDARD.encode(Sha256::digest(data)))
}

/// Not a repeating pattern, so a chunk at a wrong place would show.
fn file(len: usize) -> Vec<u8> {
    (0..len).map(|i| ((i * 7919) % 251) as u8).collect()
}

fn set(headers: &mut Vec<(&'static str, String)>, name: &'static str, value: &str) {
    headers.retain(|(n, _)| *n != name);
    headers.push((name, value.to_owned()));
}

#[tokio::test]
async fn a_file_sent_in_chunks_is_ready_once_whole_and_plays_through_a_signed_link_with_range() {
    let hub = hub().await;
    let data = file(2 * MIB + 12_345);
    let name = "1700000000100-camera-000.mp4";
    let r = hub.create(&device(), name, &data, None).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.body));
    let id = r.json()["id"].as_i64().expect("an id");
    assert_eq!(r.json()["state"], "uploading");
    assert_eq!(r.headers[header::LOCATION], format!("/api/rooms/lab-1/uploads/{id}").as_str());
    // A retried create (the box restarted) finds the same upload.
    let again = hub.create(&device(), name, &data, None).await;
    assert_eq!((again.status, again.json()["id"].as_i64()), (StatusCode::OK, Some(id)));

    // tus-minded clients ask with HEAD: the same headers, no body.
    let head = hub
        .send(
            Method::HEAD,
            &format!("/api/rooms/lab-1/uploads/{id}"),
            &[("authorization", format!("Bearer {}", device()))],
            Vec::new(),
        )
        .await;
    assert_eq!((head.status, offset(&head), head.body.len()), (StatusCode::OK, Some(0), 0));
    assert_eq!(head.headers["upload-length"], data.len().to_string().as_str());
    let mut at = 0;
    for chunk in data.chunks(MIB) {
        assert_eq!(hub.offset(id).await, at as u64);
        let r = hub.patch(id, at as u64, chunk, |_| {}).await;
        assert_eq!(r.status, StatusCode::OK, "{}", String::from_utf8_lossy(&r.body));
        at += chunk.len();
        let state = r.json()["state"].as_str().map(str::to_owned);
        assert_eq!(state.as_deref(), Some(if at == data.len() { "ready" } else { "uploading" }), "at {at}");
    }
    assert_eq!(std::fs::read(hub.finished(name)).expect("the stored file"), data, "byte-identical");
    assert!(!hub.part(name).exists(), "no partial file left");
    // Complete: a late chunk is refused, the offset says all of it.
    let late = hub.patch(id, data.len() as u64, b"x", |_| {}).await;
    assert_eq!((late.status, offset(&late)), (StatusCode::CONFLICT, Some(data.len() as u64)));

    let teacher = token("lab-1", Role::Teacher, 600);
    let r = hub
        .send(Method::GET, "/api/rooms/lab-1/lessons", &[("authorization", format!("Bearer {teacher}"))], Vec::new())
        .await;
    let lessons = r.json();
    let rec = &lessons[0]["recordings"][0];
    assert_eq!(
        (&rec["kind"], &rec["state"], rec["bytes"].as_u64(), rec["durationMs"].as_u64()),
        (&serde_json::json!("camera"), &serde_json::json!("ready"), Some(data.len() as u64), Some(30_000)),
        "{lessons}"
    );
    let url = rec["url"].as_str().expect("a link").to_owned();
    assert!(url.starts_with(&format!("/recordings/{id}/{name}?exp=")), "{url}");

    let whole = hub.send(Method::GET, &url, &[], Vec::new()).await;
    assert_eq!(whole.status, StatusCode::OK);
    assert_eq!(whole.body, data);
    assert_eq!(whole.headers[header::ACCEPT_RANGES], "bytes");
    assert_eq!(whole.headers[header::CONTENT_TYPE], "video/mp4");
    let head = hub.send(Method::HEAD, &url, &[], Vec::new()).await;
    assert_eq!((head.status, head.body.len()), (StatusCode::OK, 0));
    assert_eq!(head.headers[header::CONTENT_LENGTH], data.len().to_string().as_str());
    // As a <video> seeks.
    let part = hub.send(Method::GET, &url, &[("range", "bytes=1048570-1048585".into())], Vec::new()).await;
    assert_eq!(part.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.body, &data[1_048_570..=1_048_585]);
    assert_eq!(part.headers[header::CONTENT_RANGE], format!("bytes 1048570-1048585/{}", data.len()).as_str());
    let tail = hub.send(Method::GET, &url, &[("range", "bytes=-100".into())], Vec::new()).await;
    assert_eq!((tail.status, tail.body.as_slice()), (StatusCode::PARTIAL_CONTENT, &data[data.len() - 100..]));
    let past = hub.send(Method::GET, &url, &[("range", format!("bytes={}-", data.len()))], Vec::new()).await;
    assert_eq!(past.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(past.headers[header::CONTENT_RANGE], format!("bytes */{}", data.len()).as_str());

    // Forged and expired links are refused.
    let (path, query) = url.split_once('?').expect("a query");
    let sig = query.split("sig=").nth(1).expect("a signature");
    let exp: u64 =
        query.split("exp=").nth(1).and_then(|s| s.split('&').next()).and_then(|s| s.parse().ok()).expect("exp");
    for bad in [
        format!("{path}?exp={}&sig={sig}", exp + 3600),
        format!("{path}?exp={exp}&sig={}", sig.replace(&sig[..4], "AAAA")),
        format!("/recordings/{}/{name}?exp={exp}&sig={sig}", id + 1),
        path.to_owned(),
    ] {
        let r = hub.send(Method::GET, &bad, &[], Vec::new()).await;
        assert_eq!((r.status, r.json()["error"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")), "{bad}");
    }
    let key = lectern_hub::recording::link::LinkKey::new(
        TokenKey::new(SECRET.as_bytes().to_vec()).derive(b"lectern recording download links"),
    );
    let expired = key.url(id, name, unix_secs() - 5);
    let r = hub.send(Method::GET, &expired, &[], Vec::new()).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.json()["detail"].as_str().is_some_and(|d| d.contains("expired")), "{}", r.json());
}

#[tokio::test]
async fn bad_chunks_and_callers_are_refused_and_nothing_stored_is_lost() {
    let hub = hub().await;
    let data = file(3 * MIB);
    let name = "1700000000100-camera-001.mp4";
    let id = hub.create(&device(), name, &data, None).await.json()["id"].as_i64().expect("an id");
    assert_eq!(hub.patch(id, 0, &data[..MIB], |_| {}).await.status, StatusCode::OK);
    let stored = data[..MIB].to_vec();
    let intact = |what: &str| {
        let on_disk = std::fs::read(hub.part(name)).expect("the partial file");
        assert!(on_disk == stored, "{what}: the stored bytes changed");
    };
    let next = &data[MIB..2 * MIB];

    let r = hub.patch(id, MIB as u64, next, |h| set(h, "upload-checksum", &checksum(b"something else"))).await;
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_request")),
        "wrong checksum"
    );
    intact("wrong checksum");
    let r = hub.patch(id, 0, &data[..MIB], |_| {}).await;
    assert_eq!((r.status, offset(&r)), (StatusCode::CONFLICT, Some(MIB as u64)), "an offset behind the hub's");
    assert!(r.json()["detail"].as_str().is_some_and(|d| d.contains(&MIB.to_string())), "the answer names the offset");
    intact("offset behind");
    let r = hub.patch(id, 2 * MIB as u64, next, |_| {}).await;
    assert_eq!((r.status, offset(&r)), (StatusCode::CONFLICT, Some(MIB as u64)), "an offset ahead of the hub's");
    intact("offset ahead");
    let oversize = file(8 * MIB + 1);
    let big = hub.create(&device(), "1700000000100-camera-002.mp4", &file(20 * MIB), None).await.json()["id"]
        .as_i64()
        .expect("id");
    let r = hub.patch(big, 0, &oversize, |_| {}).await;
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large")),
        "over one chunk"
    );
    let r = hub.patch(id, MIB as u64, &file(2 * MIB + 1), |_| {}).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "past the announced size");
    intact("past the size");
    // The same without a content-length: the body is read up to the limit and refused.
    let r = hub.patch(id, MIB as u64, &file(2 * MIB + 1), |h| h.retain(|(n, _)| *n != "content-length")).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    intact("chunked, past the size");
    for (what, tweak) in [
        (
            "no checksum",
            Box::new(|h: &mut Vec<(&'static str, String)>| h.retain(|(n, _)| *n != "upload-checksum"))
                as Box<dyn FnOnce(&mut Vec<(&'static str, String)>)>,
        ),
        ("no offset", Box::new(|h: &mut Vec<(&'static str, String)>| h.retain(|(n, _)| *n != "upload-offset"))),
        ("a bad offset", Box::new(|h: &mut Vec<(&'static str, String)>| set(h, "upload-offset", "-5"))),
    ] {
        let r = hub.patch(id, MIB as u64, next, tweak).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{what}");
        intact(what);
    }
    let r = hub.patch(id, MIB as u64, next, |h| set(h, "content-type", "application/json")).await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // Callers: no token, another role, another room's box, an unknown upload.
    let r = hub.patch(id, MIB as u64, next, |h| h.retain(|(n, _)| *n != "authorization")).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.headers.contains_key(header::WWW_AUTHENTICATE));
    let r = hub
        .patch(id, MIB as u64, next, |h| {
            set(h, "authorization", &format!("Bearer {}", token("lab-1", Role::Teacher, 600)))
        })
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "a teacher does not upload");
    let r = hub
        .patch(id, MIB as u64, next, |h| {
            set(h, "authorization", &format!("Bearer {}", token("lab-1", Role::Device, -600)))
        })
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "an expired token");
    let other = token("lab-2", Role::Device, 600);
    let r = hub
        .send(
            Method::PATCH,
            &format!("/api/rooms/lab-2/uploads/{id}"),
            &[
                ("authorization", format!("Bearer {other}")),
                ("content-type", "application/offset+octet-stream".into()),
                ("upload-offset", MIB.to_string()),
                ("upload-checksum", checksum(next)),
            ],
            next.to_vec(),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "another room's box does not see this upload");
    let r = hub.patch(id, MIB as u64, next, |h| set(h, "authorization", &format!("Bearer {other}"))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "another room's token on this room's path");
    let r = hub.patch(id + 100, 0, next, |_| {}).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    intact("callers");
    assert_eq!(hub.offset(id).await, MIB as u64, "every refusal left the offset where it was");

    // Creates: a lesson of another room, an unknown lesson, a different file under a used name.
    let r = hub.create(&token("lab-1", Role::Student, 600), name, &data, None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let body = serde_json::json!({"lesson": "lab-2.1700000000000", "kind": "camera", "name": name, "size": 10, "sha256": "0".repeat(64)});
    let other_room = hub
        .send(
            Method::POST,
            "/api/rooms/lab-1/uploads",
            &[("authorization", format!("Bearer {}", device()))],
            body.to_string().into_bytes(),
        )
        .await;
    assert_eq!(other_room.status, StatusCode::FORBIDDEN, "{}", other_room.json());
    let body = serde_json::json!({"lesson": "lab-1.1600000000000", "kind": "camera", "name": name, "size": 10, "sha256": "0".repeat(64)});
    let r = hub
        .send(
            Method::POST,
            "/api/rooms/lab-1/uploads",
            &[("authorization", format!("Bearer {}", device()))],
            body.to_string().into_bytes(),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.json());
    let r = hub.create(&device(), name, &data[..10], None).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "another file under a name the lesson has: {}", r.json());
    let r = hub
        .send(
            Method::POST,
            "/api/rooms/lab-1/uploads",
            &[("authorization", format!("Bearer {}", device()))],
            b"{\"lesson\": 5}".to_vec(),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    intact("creates");

    // And the upload goes on from where it was.
    for (i, chunk) in data[MIB..].chunks(MIB).enumerate() {
        let r = hub.patch(id, ((i + 1) * MIB) as u64, chunk, |_| {}).await;
        assert_eq!(r.status, StatusCode::OK);
    }
    assert_eq!(std::fs::read(hub.finished(name)).expect("stored"), data);
}

#[tokio::test]
async fn a_whole_file_that_does_not_match_its_announced_checksum_starts_over() {
    let hub = hub().await;
    let data = file(100_000);
    let name = "1700000000100-slides-000.mp4";
    let wrong = hex(&Sha256::digest(b"another file"));
    let id = hub.create(&device(), name, &data, Some(&wrong)).await.json()["id"].as_i64().expect("an id");
    let r = hub.patch(id, 0, &data, |_| {}).await;
    assert_eq!((r.status, offset(&r)), (StatusCode::BAD_REQUEST, Some(0)), "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(hub.offset(id).await, 0);
    assert!(!hub.finished(name).exists() && !hub.part(name).exists(), "nothing kept that does not check out");
    let teacher = token("lab-1", Role::Teacher, 600);
    let r = hub
        .send(Method::GET, "/api/rooms/lab-1/lessons", &[("authorization", format!("Bearer {teacher}"))], Vec::new())
        .await;
    let rec = &r.json()[0]["recordings"][0];
    assert_eq!(
        (&rec["state"], &rec["url"]),
        (&serde_json::json!("uploading"), &serde_json::Value::Null),
        "no link until ready"
    );
}

#[tokio::test]
async fn a_lesson_past_its_retention_takes_no_upload_and_says_gone() {
    // A box offline for weeks comes back with a file of a lesson whose recordings retention has
    // deleted: 410, which the box takes as "never" (it stops retrying), where 404 would mean "again".
    let data = file(1000);
    let old = hub_with(Some(40)).await;
    let r = old.create(&device(), "1700000000100-camera-000.mp4", &data, None).await;
    assert_eq!(r.status, StatusCode::GONE, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["error"], "gone");
    assert!(r.json()["detail"].as_str().is_some_and(|d| d.contains("retention")), "{}", r.json());
    assert!(!old.part("1700000000100-camera-000.mp4").exists(), "nothing stored");
    // Within its retention the same upload is taken.
    let recent = hub_with(Some(20)).await;
    let r = recent.create(&device(), "1700000000100-camera-000.mp4", &data, None).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.body));
}
