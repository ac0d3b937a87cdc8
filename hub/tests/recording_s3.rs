//! Recordings in S3 (a real one: moto's server, `tests/moto`): the `S3` storage sends whole 8 MiB
//! parts as chunks arrive, survives a hub restart mid-upload (its multipart state is on disk),
//! re-sends a part an append rewrote, completes the object, reads ranges across part boundaries,
//! counts totals and deletes; and through the hub's own endpoints, a box's upload cut by a hub
//! restart finishes, is listed by the lessons API and plays through the signed link with `Range`.

mod in_process;
mod moto;

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{Method, Request, StatusCode, header};
use base64::Engine;
use futures_util::StreamExt;
use lectern_common::time::{unix_ms, unix_secs};
use lectern_hub::config::S3Settings;
use lectern_hub::http::{AdminAt, Edge, app};
use lectern_hub::media_io::Outlets;
use lectern_hub::recording::LessonChange;
use lectern_hub::recording::archive::StorageHandle;
use lectern_hub::recording::s3::{PART_BYTES, S3};
use lectern_hub::recording::storage::{ObjectKey, Storage, StorageError, Totals};
use lectern_hub::store::Store;
use lectern_hub::token::TokenKey;
use lectern_proto::{Claims, LessonId, Role, RoomId};
use sha2::{Digest, Sha256};
use tower::ServiceExt;

use in_process::SECRET;

const MIB: usize = 1024 * 1024;

/// Not a repeating pattern, so a part at a wrong place would show.
fn file(len: usize) -> Vec<u8> {
    (0..len).map(|i| ((i * 7919 + i / 4093) % 251) as u8).collect()
}

fn lesson() -> LessonId {
    LessonId::parse("lab-1.1700000000000").unwrap()
}

async fn read(s: &dyn Storage, key: &ObjectKey, range: Range<u64>) -> Vec<u8> {
    let mut stream = s.open_range(key, range).await.expect("the object opens");
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.expect("a chunk"));
    }
    out
}

async fn append_all(s: &dyn Storage, key: &ObjectKey, data: &[u8], range: Range<usize>) {
    let mut at = range.start;
    while at < range.end {
        let end = (at + MIB).min(range.end);
        s.append(key, at as u64, Bytes::copy_from_slice(&data[at..end])).await.expect("an append");
        at = end;
    }
}

fn bucket_for(settings: &S3Settings, staging: &Path) -> S3 {
    S3::new(settings, staging.to_path_buf(), "recordings/").expect("an S3 storage")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parts_go_up_as_they_fill_survive_a_restart_and_the_object_reads_back_by_range() {
    let moto = moto::server();
    let settings = moto.bucket();
    let dir = tempfile::tempdir().unwrap();
    let key = ObjectKey::new(lesson(), "1700000000100-camera-000.mp4").unwrap();
    let data = file(2 * PART_BYTES as usize + 3 * MIB + 777);

    let s3 = bucket_for(&settings, dir.path());
    s3.check().await.expect("the bucket is there");
    append_all(&s3, &key, &data, 0..10 * MIB).await;
    assert!(moto.objects(&settings, "recordings/").is_empty(), "nothing is an object before it is finished");
    let t = s3.totals().await.unwrap();
    assert_eq!((t.files, t.partial_files, t.partial_bytes), (0, 1, 10 * MIB as u64));

    // The hub restarts: a new storage on the same staging dir goes on where the upload was.
    drop(s3);
    let s3 = bucket_for(&settings, dir.path());
    append_all(&s3, &key, &data, 10 * MIB..12 * MIB).await;
    // A chunk acknowledged by storage but not by the database is sent again, inside part 1: the
    // part is sent again too.
    append_all(&s3, &key, &data, 5 * MIB..data.len()).await;
    assert_eq!(s3.digest(&key, data.len() as u64).await.unwrap(), <[u8; 32]>::from(Sha256::digest(&data)));
    s3.finish(&key, data.len() as u64).await.expect("the upload completes");
    s3.finish(&key, data.len() as u64).await.expect("finishing twice is a no-op");
    assert_eq!(moto.objects(&settings, "recordings/"), vec![(s3.object_name(&key), data.len() as u64)]);
    assert!(!s3.staging().part_path(&key).exists(), "the staged copy is gone");
    assert_eq!(read(&s3, &key, 0..data.len() as u64).await, data, "byte-identical");
    let across = PART_BYTES - 10..PART_BYTES + 10;
    assert_eq!(read(&s3, &key, across.clone()).await, &data[across.start as usize..across.end as usize]);
    // A finish whose row update was lost is checked again against what the bucket holds.
    assert_eq!(s3.digest(&key, data.len() as u64).await.unwrap(), <[u8; 32]>::from(Sha256::digest(&data)));
    let t = s3.totals().await.unwrap();
    assert_eq!(t, Totals { files: 1, bytes: data.len() as u64, partial_files: 0, partial_bytes: 0 });

    s3.delete(&key).await.expect("deleted");
    s3.delete(&key).await.expect("deleting what is gone is not an error");
    assert!(moto.objects(&settings, "recordings/").is_empty());
    assert!(matches!(s3.open_range(&key, 0..10).await, Err(StorageError::NotFound { .. })));
    assert_eq!(s3.totals().await.unwrap(), Totals::default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_file_is_one_put_and_a_gap_or_an_unfinished_read_is_refused() {
    let moto = moto::server();
    let settings = moto.bucket();
    let dir = tempfile::tempdir().unwrap();
    let s3 = bucket_for(&settings, dir.path());
    let key = ObjectKey::new(lesson(), "1700000000100-slides-000.mp4").unwrap();
    s3.append(&key, 0, Bytes::from_static(b"hello ")).await.unwrap();
    match s3.append(&key, 10, Bytes::from_static(b"gap")).await {
        Err(StorageError::Behind { have: 6, expected: 10, .. }) => {}
        other => panic!("{other:?}"),
    }
    s3.append(&key, 6, Bytes::from_static(b"world")).await.unwrap();
    assert!(matches!(s3.open_range(&key, 0..1).await, Err(StorageError::NotFound { .. })), "not finished yet");
    s3.finish(&key, 11).await.unwrap();
    assert_eq!(read(&s3, &key, 0..11).await, b"hello world");
    assert_eq!(read(&s3, &key, 6..9).await, b"wor");
    // A missing bucket is named at start-up.
    let mut wrong = settings.clone();
    wrong.bucket = "no-such-bucket-here".into();
    let err = bucket_for(&wrong, dir.path()).check().await.unwrap_err().to_string();
    assert!(err.contains("no-such-bucket-here") && !err.contains(moto::SECRET_KEY), "{err}");
}

// ---- Through the hub's endpoints ----

fn token(role: Role) -> String {
    let now = unix_secs();
    let claims = Claims {
        sub: "test".into(),
        room: RoomId::parse("lab-1").unwrap(),
        role,
        name: Some("Test".into()),
        exp: now + 600,
        nbf: now - 10,
        jti: lectern_hub::token::random_id(),
        guest: false,
    };
    TokenKey::new(SECRET.as_bytes().to_vec()).issue(&claims)
}

/// A hub on `dir` (its database) storing recordings in the bucket, staging under `dir`.
async fn hub(dir: &Path, settings: &S3Settings) -> Router {
    let store = Store::open(dir).await.expect("a store");
    let s3 = S3::new(settings, dir.join("recordings-staging"), "recordings/").expect("an S3 storage");
    let edge = Edge { storage: Some(StorageHandle(Arc::new(s3))), ..Edge::default() };
    let state = in_process::state(store, Outlets::default(), Default::default(), edge);
    app(state, AdminAt::Here)
}

async fn send(
    app: &Router,
    method: Method,
    path: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let mut req = Request::builder().method(method).uri(path);
    for (name, value) in headers {
        req = req.header(*name, value);
    }
    let resp = app.clone().oneshot(req.body(Body::from(body)).unwrap()).await.expect("the router answers");
    let (status, headers) = (resp.status(), resp.headers().clone());
    let body = axum::body::to_bytes(resp.into_body(), 64 * MIB).await.expect("a body").to_vec();
    (status, headers, body)
}

fn json(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(body)))
}

async fn patch(app: &Router, id: i64, offset: usize, chunk: &[u8]) -> (StatusCode, serde_json::Value) {
    let headers = [
        ("authorization", format!("Bearer {}", token(Role::Device))),
        ("content-type", "application/offset+octet-stream".to_owned()),
        ("upload-offset", offset.to_string()),
        (
            "upload-checksum",
            format!("sha256 {}", base64::engine::general_purpose::STANDARD.encode(Sha256::digest(chunk))),
        ),
        ("content-length", chunk.len().to_string()),
    ];
    let (status, _, body) =
        send(app, Method::PATCH, &format!("/api/rooms/lab-1/uploads/{id}"), &headers, chunk.to_vec()).await;
    (status, json(&body))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_cut_by_a_hub_restart_finishes_in_s3_and_plays_through_the_signed_link() {
    let moto = moto::server();
    let settings = moto.bucket();
    let dir = tempfile::tempdir().unwrap();
    let room = RoomId::parse("lab-1").unwrap();
    let started = unix_ms() - 60_000;
    let lesson = LessonId::new(&room, started);
    {
        let store = Store::open(dir.path()).await.unwrap();
        store.write_lesson(&LessonChange::Started { lesson: lesson.clone(), room, at: started }, 0).await.unwrap();
    }
    let data = file(PART_BYTES as usize + 2 * MIB + 4321);
    let name = "1700000000100-camera-000.mp4";
    let hex: String = Sha256::digest(&data).iter().map(|b| format!("{b:02x}")).collect();
    let create = serde_json::json!({
        "lesson": lesson.as_str(), "kind": "camera", "name": name, "size": data.len(), "sha256": hex, "durationMs": 30_000,
    });
    let device =
        [("authorization", format!("Bearer {}", token(Role::Device))), ("content-type", "application/json".into())];

    let first = hub(dir.path(), &settings).await;
    let (status, _, body) =
        send(&first, Method::POST, "/api/rooms/lab-1/uploads", &device, create.to_string().into_bytes()).await;
    assert_eq!(status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&body));
    let id = json(&body)["id"].as_i64().unwrap();
    for at in (0..9 * MIB).step_by(MIB) {
        assert_eq!(patch(&first, id, at, &data[at..at + MIB]).await.0, StatusCode::OK);
    }
    drop(first);

    // The restarted hub knows the offset and takes the rest.
    let app = hub(dir.path(), &settings).await;
    let (status, _, body) =
        send(&app, Method::GET, &format!("/api/rooms/lab-1/uploads/{id}"), &device[..1], Vec::new()).await;
    assert_eq!((status, json(&body)["offset"].as_u64()), (StatusCode::OK, Some(9 * MIB as u64)));
    let mut at = 9 * MIB;
    let mut last = serde_json::Value::Null;
    while at < data.len() {
        let end = (at + MIB).min(data.len());
        let (status, body) = patch(&app, id, at, &data[at..end]).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        (at, last) = (end, body);
    }
    assert_eq!(last["state"], "ready");
    assert_eq!(
        moto.objects(&settings, "recordings/"),
        vec![(format!("recordings/{lesson}/{name}"), data.len() as u64)]
    );

    let teacher = [("authorization", format!("Bearer {}", token(Role::Teacher)))];
    let (status, _, body) = send(&app, Method::GET, "/api/rooms/lab-1/lessons", &teacher, Vec::new()).await;
    assert_eq!(status, StatusCode::OK);
    let lessons = json(&body);
    let rec = &lessons[0]["recordings"][0];
    assert_eq!((rec["state"].as_str(), rec["bytes"].as_u64()), (Some("ready"), Some(data.len() as u64)), "{lessons}");
    let url = rec["url"].as_str().expect("a signed link").to_owned();
    let (status, headers, body) = send(&app, Method::GET, &url, &[], Vec::new()).await;
    assert_eq!((status, body.len()), (StatusCode::OK, data.len()));
    assert!(body == data, "the whole file comes back byte-identical");
    assert_eq!(headers[header::ACCEPT_RANGES], "bytes");
    let (from, to) = (PART_BYTES as usize - 100, PART_BYTES as usize + 99);
    let (status, headers, body) =
        send(&app, Method::GET, &url, &[("range", format!("bytes={from}-{to}"))], Vec::new()).await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(body, &data[from..=to]);
    assert_eq!(headers[header::CONTENT_RANGE], format!("bytes {from}-{to}/{}", data.len()).as_str());
    let (status, _, _) = send(&app, Method::GET, &url.replace("sig=", "sig=AAAA"), &[], Vec::new()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a forged link opens nothing");
}

#[test]
fn deps_sh_installs_moto_for_these_tests() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let out =
        std::process::Command::new(repo.join("scripts/deps.sh")).arg("--list-pypi").output().expect("deps.sh runs");
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(listed.lines().any(|l| l.starts_with("moto[server]")), "scripts/deps.sh --list-pypi: {listed}");
}
