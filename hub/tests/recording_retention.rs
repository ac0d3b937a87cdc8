//! Retention and legal hold with an injected clock, on both storages (the data dir and a real
//! S3, moto) and both databases (`each_backend!`): a lesson's recordings are deleted exactly when
//! its room's retention (else the hub's default) has passed since it ended — files leave storage,
//! rows are marked deleted and vanish from the lessons API's listing, the deletion is audited —
//! while held lessons, lessons still on and rooms that keep forever are never touched.

mod moto;

use std::sync::Arc;

use axum::body::Bytes;
use lectern_common::each_backend;
use lectern_common::test_db::TestDb;
use lectern_hub::recording::EndReason;
use lectern_hub::recording::LessonChange;
use lectern_hub::recording::retention::sweep;
use lectern_hub::recording::s3::S3;
use lectern_hub::recording::storage::{LocalDisk, ObjectKey, Storage, StorageError};
use lectern_hub::store::Store;
use lectern_proto::upload::{RecordingKind, UploadCreate};
use lectern_proto::{LessonId, RoomId};
use sha2::{Digest, Sha256};

const DAY: u64 = 24 * 3600 * 1000;
const T0: u64 = 1_700_000_000_000;
/// `[recording] retention_days` of this hub.
const DEFAULT_DAYS: u32 = 30;

async fn room(store: &Store, id: &str, retention_days: Option<i64>) {
    sqlx::query(
        "INSERT INTO admin_rooms (id, name, building, capacity, everyone_waits, recording, created_at, updated_at, \
         retention_days) VALUES ($1, $1, '', 30, $2, $2, 0, 0, $3)",
    )
    .bind(id)
    .bind(false)
    .bind(retention_days)
    .execute(store.pool())
    .await
    .expect("a room");
}

/// A lesson of `room` that started at `T0 - 1 h` and ended at `T0` (or is still on).
async fn lesson(store: &Store, room: &str, n: u64, ended: bool) -> LessonId {
    let room = RoomId::parse(room).unwrap();
    let at = T0 - 3_600_000 + n;
    let lesson = LessonId::new(&room, at);
    store.write_lesson(&LessonChange::Started { lesson: lesson.clone(), room, at }, 0).await.unwrap();
    if ended {
        let end = LessonChange::Ended { lesson: lesson.clone(), at: T0, reason: EndReason::Teacher };
        store.write_lesson(&end, 0).await.unwrap();
    }
    lesson
}

/// A file of `lesson` in storage and in the table: whole and ready, or half uploaded.
async fn file(store: &Store, storage: &dyn Storage, lesson: &LessonId, name: &str, whole: bool) -> ObjectKey {
    let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    let hex: String = Sha256::digest(&data).iter().map(|b| format!("{b:02x}")).collect();
    let create = UploadCreate {
        lesson: lesson.clone(),
        kind: RecordingKind::Camera,
        name: name.into(),
        size: data.len() as u64,
        sha256: hex,
        duration_ms: Some(1000),
        started_at: Some(T0),
    };
    let (row, _) = store.create_upload(&create, T0).await.unwrap();
    let key = ObjectKey::new(lesson.clone(), name).unwrap();
    let sent = if whole { data.len() } else { 4000 };
    storage.append(&key, 0, Bytes::copy_from_slice(&data[..sent])).await.unwrap();
    assert!(store.advance_upload(row.id, 0, sent as u64).await.unwrap());
    if whole {
        storage.finish(&key, data.len() as u64).await.unwrap();
        store.mark_ready(row.id).await.unwrap();
    }
    key
}

async fn stored(storage: &dyn Storage, key: &ObjectKey) -> bool {
    match storage.digest(key, 1).await {
        Ok(_) => true,
        Err(StorageError::NotFound { .. }) => false,
        Err(e) => panic!("{e}"),
    }
}

async fn hold(store: &Store, lesson: &LessonId, on: bool) {
    sqlx::query("UPDATE lessons SET legal_hold = $1 WHERE id = $2")
        .bind(on)
        .bind(lesson.as_str())
        .execute(store.pool())
        .await
        .unwrap();
}

async fn listed(store: &Store, room: &str) -> usize {
    store.recordings_of_room(&RoomId::parse(room).unwrap()).await.unwrap().len()
}

async fn retention_on(storage: Arc<dyn Storage>) {
    let db = TestDb::current();
    let store = Store::connect(&db.url()).await.expect("a store");
    let s = storage.as_ref();
    room(&store, "lab-1", Some(7)).await;
    room(&store, "lab-3", Some(0)).await;
    // lab-2 has no admin row: the hub's default applies.
    let week = lesson(&store, "lab-1", 1, true).await;
    let held = lesson(&store, "lab-1", 2, true).await;
    let running = lesson(&store, "lab-1", 3, false).await;
    let default = lesson(&store, "lab-2", 4, true).await;
    let forever = lesson(&store, "lab-3", 5, true).await;
    let week_files = [
        file(&store, s, &week, "1-camera-000.mp4", true).await,
        file(&store, s, &week, "1-camera-001.mp4", false).await,
    ];
    let held_file = file(&store, s, &held, "2-camera-000.mp4", true).await;
    let running_file = file(&store, s, &running, "3-camera-000.mp4", true).await;
    let default_file = file(&store, s, &default, "4-camera-000.mp4", true).await;
    let forever_file = file(&store, s, &forever, "5-camera-000.mp4", true).await;
    hold(&store, &held, true).await;
    assert_eq!(listed(&store, "lab-1").await, 4);

    let swept = sweep(&store, s, DEFAULT_DAYS, T0 + 7 * DAY - 1).await.unwrap();
    assert!(swept.lessons.is_empty(), "not a moment early: {swept:?}");
    let swept = sweep(&store, s, DEFAULT_DAYS, T0 + 7 * DAY).await.unwrap();
    assert_eq!((swept.lessons.clone(), swept.files, swept.bytes), (vec![week.clone()], 2, 14_000));
    for key in &week_files {
        assert!(!stored(s, key).await, "{key} is gone from storage, the partial upload too");
    }
    assert!(stored(s, &held_file).await && stored(s, &running_file).await);
    assert_eq!(listed(&store, "lab-1").await, 2, "the deleted files are no longer listed");
    let audited: Vec<(String, String)> =
        sqlx::query_as("SELECT actor, target FROM admin_audit WHERE action = 'recording.delete'")
            .fetch_all(store.pool())
            .await
            .unwrap();
    assert_eq!(audited, vec![("retention".to_owned(), week.to_string())]);
    // A second sweep at the same time finds nothing more to do.
    assert!(sweep(&store, s, DEFAULT_DAYS, T0 + 7 * DAY).await.unwrap().lessons.is_empty());

    // A hold set between reading the candidates and deleting wins: the claim re-reads it.
    assert!(store.claim_for_deletion(&held, T0 + 8 * DAY).await.unwrap().is_empty());
    assert!(stored(s, &held_file).await);

    let swept = sweep(&store, s, DEFAULT_DAYS, T0 + 365 * DAY).await.unwrap();
    assert_eq!(
        swept.lessons,
        vec![default.clone()],
        "the default's 30 days; not held, running or keep-forever lessons"
    );
    assert!(!stored(s, &default_file).await);
    assert!(stored(s, &held_file).await && stored(s, &running_file).await && stored(s, &forever_file).await);

    // Released, the held lesson goes at the next sweep.
    hold(&store, &held, false).await;
    let swept = sweep(&store, s, DEFAULT_DAYS, T0 + 366 * DAY).await.unwrap();
    assert_eq!(swept.lessons, vec![held.clone()]);
    assert!(!stored(s, &held_file).await);
    let t = s.totals().await.unwrap();
    assert_eq!((t.files, t.partial_files), (2, 0), "the running lesson's and the keep-forever room's files remain");
}

each_backend!(retention_on_local_disk, flavor = "multi_thread", worker_threads = 2);
async fn retention_on_local_disk() {
    let dir = tempfile::tempdir().unwrap();
    retention_on(Arc::new(LocalDisk::new(dir.path().join("recordings")))).await;
}

each_backend!(retention_on_s3, flavor = "multi_thread", worker_threads = 2);
async fn retention_on_s3() {
    let settings = moto::server().bucket();
    let dir = tempfile::tempdir().unwrap();
    retention_on(Arc::new(S3::new(&settings, dir.path().join("staging"), "recordings/").unwrap())).await;
}
