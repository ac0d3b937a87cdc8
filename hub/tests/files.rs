//! Files in the chat, in-process (`tower::ServiceExt::oneshot`, a real store, a real storage
//! directory, real shards, participants joined as `/rtc` joins them): a teacher's file becomes a
//! chat message and downloads byte for byte by its signed link; every refusal has its status
//! (401/403/409/413/415/422/503) and leaves nothing stored; forged and expired links are 403.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{Method, StatusCode, header};
use lectern_common::time::unix_secs;
use lectern_hub::files::FileSettings;
use lectern_hub::http::{AdminAt, AppState, Edge, app};
use lectern_hub::media_io::Outlets;
use lectern_hub::sfu::{Access, Command, Ident, Socket};
use lectern_hub::store::{Store, Transport};
use lectern_proto::classroom::{ClassroomCommand, ClassroomEvent, PolicyPatch};
use lectern_proto::signal::ServerMsg;
use lectern_proto::{Claims, ParticipantId, Role, RoomId};
use tokio::sync::mpsc;

mod in_process;
use in_process::{Resp, claims, issue, send, state, writing_to};

const ROOM: &str = "lab-1";
const PDF: &[u8] = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n";
const EICAR: &str = r"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

struct Hub {
    app: Router,
    state: Arc<AppState>,
    dir: tempfile::TempDir,
}

fn detail(r: &Resp) -> String {
    r.json()["detail"].as_str().unwrap_or_default().to_owned()
}

fn token(room: &str, role: Role, sub: &str) -> String {
    issue(&Claims { name: Some(format!("{role} {sub}")), ..claims(room, role, sub, 600) })
}

/// A hub whose `[files]` is `files` (as hub.toml would say it), its storage in a temp dir.
async fn hub(files: &str) -> Hub {
    let dir = tempfile::tempdir().expect("a temp dir");
    let store = Store::open(dir.path()).await.expect("a store");
    // The store's writer records the lesson as the room opens it (the lessons list reads that row).
    let outlets = writing_to(&store);
    let mut settings = FileSettings { scratch_dir: Some(dir.path().join("scan")), ..FileSettings::default() };
    settings.apply(toml::from_str(files).expect("[files]")).expect("valid [files]");
    let edge = Edge { recordings_dir: Some(dir.path().join("recordings")), files: settings, ..Edge::default() };
    let state = state(store, outlets, Default::default(), edge);
    Hub { app: app(state.clone(), AdminAt::Here), state, dir }
}

/// Someone in the lesson, as `/rtc` joins them; their events arrive on `events`.
struct Member {
    id: ParticipantId,
    events: mpsc::Receiver<ServerMsg>,
}

impl Member {
    /// The next chat message with a file, within a deadline.
    async fn file_message(&mut self) -> lectern_proto::classroom::ChatMessage {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let msg = tokio::time::timeout_at(deadline, self.events.recv()).await.expect("a file message in time");
            if let Some(ServerMsg::Classroom(ClassroomEvent::Chat { message })) = msg
                && message.file.is_some()
            {
                return message;
            }
        }
    }
}

impl Hub {
    async fn join(&self, role: Role, sub: &str) -> Member {
        let (tx, events) = mpsc::channel(256);
        let id = self.state.sfu.new_participant_id();
        let ident = Ident {
            room: RoomId::parse(ROOM).unwrap(),
            participant: id,
            subject: sub.into(),
            name: format!("{role} {sub}"),
            role,
            transport: Transport::Browser,
            guest: false,
            passcode: None,
            access: Access::default(),
        };
        let socket = Socket { id: rand_id(), resume_key: "k".into() };
        let room = ident.room.clone();
        self.state.sfu.call(&room, |reply| Command::Join { ident, events: tx, socket, reply }).await.expect("joined");
        Member { id, events }
    }

    async fn classroom(&self, who: &Member, command: ClassroomCommand) {
        let room = RoomId::parse(ROOM).unwrap();
        let r = self.state.sfu.call(&room, |reply| Command::Classroom {
            room: room.clone(),
            participant: who.id,
            command,
            reply,
        });
        r.await.expect("the command is taken");
    }

    async fn send(&self, method: Method, path: &str, headers: &[(&str, String)], body: Vec<u8>) -> Resp {
        send(&self.app, method, path, headers, body).await
    }

    async fn upload(&self, auth: Option<&str>, name: &str, data: &[u8]) -> Resp {
        let mut headers = vec![("lectern-filename", name.to_owned()), ("content-type", "application/pdf".into())];
        if let Some(t) = auth {
            headers.push(("authorization", format!("Bearer {t}")));
        }
        self.send(Method::POST, &format!("/api/rooms/{ROOM}/files"), &headers, data.to_vec()).await
    }

    async fn get(&self, path: &str) -> Resp {
        self.send(Method::GET, path, &[], Vec::new()).await
    }

    /// Every file the storage holds (any lesson), and whatever waits in the scan directory.
    fn stored(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        walk(&self.dir.path().join("recordings"), &mut out);
        walk(&self.dir.path().join("scan"), &mut out);
        out
    }

    async fn lesson_files(&self) -> Vec<serde_json::Value> {
        let auth = [("authorization", format!("Bearer {}", token(ROOM, Role::Teacher, "t1")))];
        let r = self.send(Method::GET, &format!("/api/rooms/{ROOM}/lessons"), &auth, Vec::new()).await;
        assert_eq!(r.status, StatusCode::OK);
        r.json().as_array().unwrap().iter().flat_map(|l| l["files"].as_array().unwrap().clone()).collect()
    }
}

fn rand_id() -> u64 {
    u64::from_str_radix(&lectern_hub::token::random_id()[..12], 16).unwrap()
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.path().is_dir() {
            walk(&e.path(), out);
        } else {
            out.push(e.path());
        }
    }
}

#[tokio::test]
async fn a_teachers_file_becomes_a_chat_message_and_downloads_byte_for_byte() {
    let hub = hub("").await;
    let _teacher = hub.join(Role::Teacher, "t1").await;
    let mut student = hub.join(Role::Student, "s1").await;
    let r = hub.upload(Some(&token(ROOM, Role::Teacher, "t1")), "%C3%9Cbung%201.pdf", PDF).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.body));
    let sent = r.json();
    assert_eq!(sent["name"], "Übung 1.pdf");
    assert_eq!(sent["size"], PDF.len());
    assert_eq!(sent["contentType"], "application/pdf");

    let message = student.file_message().await;
    let file = message.file.expect("a file");
    assert_eq!((message.text.as_str(), file.id), ("Übung 1.pdf", sent["id"].as_i64().unwrap()));
    assert!(file.url.starts_with(&format!("/files/{}/_bung_1.pdf?exp=", file.id)), "{}", file.url);

    let got = hub.get(&file.url).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.body, PDF, "the same bytes");
    let h = |name: header::HeaderName| got.headers.get(name).unwrap().to_str().unwrap().to_owned();
    assert_eq!(h(header::CONTENT_TYPE), "application/pdf");
    assert_eq!(h(header::X_CONTENT_TYPE_OPTIONS), "nosniff");
    assert_eq!(
        h(header::CONTENT_DISPOSITION),
        "attachment; filename=\"_bung_1.pdf\"; filename*=UTF-8''%C3%9Cbung%201.pdf"
    );

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let listed = loop {
        let listed = hub.lesson_files().await;
        if !listed.is_empty() || tokio::time::Instant::now() > deadline {
            break listed;
        }
        tokio::time::sleep(Duration::from_millis(50)).await; // polling the lesson row's write, with a deadline
    };
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0]["name"].as_str(), listed[0]["group"].is_null()), (Some("Übung 1.pdf"), true));
    assert_eq!(hub.get(listed[0]["url"].as_str().unwrap()).await.body, PDF, "the lessons list's link works too");
    let row = hub.state.store.shared_file(file.id).await.unwrap().unwrap();
    assert_eq!((row.uploader_subject.as_str(), row.uploader_role.as_str()), ("t1", "teacher"));
    assert_eq!(row.sha256, sent["sha256"].as_str().unwrap());
    assert_eq!(hub.stored().len(), 1, "one object in storage");
}

#[tokio::test]
async fn refusals_have_their_status_and_keep_nothing() {
    let hub = hub("max_mb = 1\nallow = [\"pdf\", \"png\", \"txt\"]").await;
    let teacher_token = token(ROOM, Role::Teacher, "t1");
    // No lesson yet: nobody is in the room.
    let r = hub.upload(Some(&teacher_token), "a.pdf", PDF).await;
    assert_eq!((r.status, detail(&r).as_str()), (StatusCode::CONFLICT, "no lesson is on in this room"));
    let teacher = hub.join(Role::Teacher, "t1").await;
    let mut student = hub.join(Role::Student, "s1").await;

    let r = hub.upload(None, "a.pdf", PDF).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = hub.upload(Some(&token("lab-2", Role::Teacher, "t1")), "a.pdf", PDF).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "another room's token");
    let r = hub.upload(Some(&token(ROOM, Role::Viewer, "v1")), "a.pdf", PDF).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "a viewer");
    let r = hub.upload(Some(&token(ROOM, Role::Teacher, "t-not-here")), "a.pdf", PDF).await;
    assert_eq!((r.status, detail(&r).as_str()), (StatusCode::CONFLICT, "join the lesson before sharing a file"));

    let student_token = token(ROOM, Role::Student, "s1");
    let r = hub.upload(Some(&student_token), "mine.pdf", PDF).await;
    assert_eq!(
        (r.status, detail(&r).as_str()),
        (StatusCode::FORBIDDEN, "the teacher has not allowed students to share files")
    );

    let big = [PDF, &vec![b' '; 1024 * 1024]].concat();
    let r = hub.upload(Some(&teacher_token), "big.pdf", &big).await;
    assert_eq!(
        (r.status, detail(&r).as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, "the file is larger than the limit of 1 MB")
    );
    let headers = [
        ("authorization", format!("Bearer {teacher_token}")),
        ("lectern-filename", "big.pdf".into()),
        ("content-length", big.len().to_string()),
    ];
    let r = hub.send(Method::POST, &format!("/api/rooms/{ROOM}/files"), &headers, big.clone()).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "announced too big: refused before reading");

    let r = hub.upload(Some(&teacher_token), "setup.exe", b"MZ\x90\0").await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(detail(&r), "'setup.exe' is not a type this hub takes; allowed types: pdf, png, txt");
    let r = hub.upload(Some(&teacher_token), "slides.docx", PDF).await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "docx is not on this hub's list");
    // Sniffed: a page of HTML named .pdf, a PDF named .png.
    let r = hub.upload(Some(&teacher_token), "notes.pdf", b"<html><script>alert(1)</script></html>").await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(detail(&r), "'notes.pdf' is named .pdf but its content is text; allowed types: pdf, png, txt");
    let r = hub.upload(Some(&teacher_token), "photo.png", PDF).await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let r = hub.upload(Some(&teacher_token), "empty.txt", b"").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = hub.upload(Some(&teacher_token), "%FF.pdf", PDF).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "a name that is not UTF-8");
    assert!(hub.stored().is_empty(), "nothing stored: {:?}", hub.stored());
    assert!(hub.lesson_files().await.is_empty());

    // The teacher allows students: the same upload goes through.
    hub.classroom(
        &teacher,
        ClassroomCommand::SetPolicy(PolicyPatch { students_may_share_files: Some(true), ..Default::default() }),
    )
    .await;
    let r = hub.upload(Some(&student_token), "mine.pdf", PDF).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", detail(&r));
    assert_eq!(student.file_message().await.text, "mine.pdf");
    let row = hub.state.store.shared_file(r.json()["id"].as_i64().unwrap()).await.unwrap().unwrap();
    assert_eq!((row.uploader_subject.as_str(), row.uploader_role.as_str()), ("s1", "student"));
    // A participant id that is not the token holder's is not theirs to speak for.
    let headers = [
        ("authorization", format!("Bearer {student_token}")),
        ("lectern-filename", "x.pdf".into()),
        ("lectern-participant", teacher.id.0.to_string()),
    ];
    let r = hub.send(Method::POST, &format!("/api/rooms/{ROOM}/files"), &headers, PDF.to_vec()).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn forged_and_expired_links_are_refused() {
    let hub = hub("").await;
    let _teacher = hub.join(Role::Teacher, "t1").await;
    let r = hub.upload(Some(&token(ROOM, Role::Teacher, "t1")), "plan.txt", b"the plan").await;
    assert_eq!(r.status, StatusCode::CREATED);
    let id = r.json()["id"].as_i64().unwrap();
    let url = r.json()["url"].as_str().unwrap().to_owned();
    assert_eq!(hub.get(&url).await.body, b"the plan");
    let forged = format!("{}AAAA", &url[..url.len() - 4]);
    let r = hub.get(&forged).await;
    assert_eq!((r.status, detail(&r).as_str()), (StatusCode::FORBIDDEN, "the download link's signature is not valid"));
    let later = url.replace("exp=", "exp=9");
    assert_eq!(hub.get(&later).await.status, StatusCode::FORBIDDEN, "a later expiry is not signed");
    let expired = hub.state.files.url(id, "plan.txt", unix_secs() - 1);
    let r = hub.get(&expired).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(detail(&r).contains("expired"), "{}", detail(&r));
    assert_eq!(hub.get(&format!("/files/{id}/plan.txt")).await.status, StatusCode::FORBIDDEN, "no signature");
    // A recording's link scheme under the recordings' key does not open a file.
    let recording_style =
        hub.state.archive.links().url(id, "plan.txt", unix_secs() + 60).replace("/recordings/", "/files/");
    assert_eq!(hub.get(&recording_style).await.status, StatusCode::FORBIDDEN);
    // Signed for another name: 404 even with a valid signature.
    let other = hub.state.files.url(id, "other.txt", unix_secs() + 60);
    assert_eq!(hub.get(&other).await.status, StatusCode::NOT_FOUND);
}

/// The stub scanner: "infected" (exit 1) when the file holds the EICAR test string, exit 2 when it
/// holds "BREAK", clean otherwise.
fn stub_scanner(dir: &Path) -> PathBuf {
    let path = dir.join("stub-scan.sh");
    std::fs::write(
        &path,
        "#!/bin/sh\nif grep -q 'EICAR-STANDARD-ANTIVIRUS-TEST-FILE' \"$1\"; then echo \"$1: Eicar-Test-Signature FOUND\"; exit 1; fi\n\
         if grep -q BREAK \"$1\"; then echo 'cannot reach clamd' >&2; exit 2; fi\nexit 0\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[tokio::test]
async fn the_scan_hook_refuses_infected_files_422_and_failed_scans_503() {
    let bin = tempfile::tempdir().unwrap();
    let scanner = stub_scanner(bin.path());
    let hub = hub(&format!("scan_command = \"{} {{path}}\"", scanner.display())).await;
    let _teacher = hub.join(Role::Teacher, "t1").await;
    let t = token(ROOM, Role::Teacher, "t1");

    let r = hub.upload(Some(&t), "eicar.txt", EICAR.as_bytes()).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["error"], "infected");
    assert_eq!(detail(&r), "the virus scanner flagged this file: it was deleted and not shared");
    assert!(hub.stored().is_empty(), "the bytes are deleted: {:?}", hub.stored());

    let r = hub.upload(Some(&t), "odd.txt", b"BREAK the scanner").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(detail(&r).starts_with("scan failed"), "{}", detail(&r));
    assert!(hub.stored().is_empty());
    assert!(hub.lesson_files().await.is_empty(), "neither is offered nor listed");

    let r = hub.upload(Some(&t), "clean.txt", b"nothing to see").await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", detail(&r));
    assert_eq!(hub.stored().len(), 1, "only the clean file is kept, the scan copy is gone");
}

#[tokio::test]
async fn a_hub_without_storage_refuses_503() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    let state = state(store, Outlets::default(), Default::default(), Edge::default());
    let bare = Hub { app: app(state.clone(), AdminAt::Here), state, dir };
    let r = bare.upload(Some(&token(ROOM, Role::Teacher, "t1")), "a.pdf", PDF).await;
    assert_eq!((r.status, detail(&r).as_str()), (StatusCode::SERVICE_UNAVAILABLE, "this hub keeps no files"));
}
