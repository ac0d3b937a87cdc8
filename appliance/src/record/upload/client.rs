//! The uploader's HTTP edge: the hub's upload endpoints (`lectern_proto::upload`) over the box's
//! `ureq` agent and TLS settings, each answer turned into the queue's [`Input`]. Blocking, on the
//! upload thread; the chunk's body goes through the bandwidth cap ([`Pace`]).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use lectern_proto::upload::{
    CHECKSUM_HEADER, CHUNK_CONTENT_TYPE, OFFSET_HEADER, RecordingState, UploadCreate, UploadStatus,
};
use sha2::{Digest, Sha256};

use super::pace::Pace;
use super::queue::{HubView, Input, LocalFile};
use crate::config::HubList;
use crate::tls::HubTls;
use crate::whip::Token;

/// The hub's answers are small JSON documents.
const MAX_ANSWER: u64 = 64 * 1024;
/// Waiting for the hub's answer after the body went (it checks a whole file's SHA-256 on the last chunk).
const ANSWER_WITHIN: Duration = Duration::from_secs(60);
/// What the body may take beyond what the cap makes it take.
const SEND_SLACK: Duration = Duration::from_secs(30);
/// The cap is applied per piece of the body.
const PIECE: usize = 16 * 1024;

pub struct HubUploads {
    agent: ureq::Agent,
    /// The box's hubs (`[hub] url`), shared with its WHIP clients: uploads go where the box is.
    hubs: Arc<HubList>,
    /// `/api/rooms/{room}/uploads`, after the current hub's URL.
    path: String,
    authorization: String,
    /// Bytes per second of the cap, for the send timeout; `None`: no cap.
    rate: Option<u64>,
}

/// How a request ended, before it is an [`Input`].
enum Reply {
    Status(u16, Option<u64>, Vec<u8>),
    Transport(String),
}

impl HubUploads {
    pub fn new(
        hubs: Arc<HubList>,
        room: &lectern_proto::RoomId,
        token: &Token,
        tls: Option<&HubTls>,
        kbps: u32,
    ) -> Self {
        let mut config = ureq::Agent::config_builder();
        if let Some(tls) = tls {
            config = config.tls_config(tls.ureq());
        }
        let agent = config
            .max_redirects(0)
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(5)))
            .timeout_recv_response(Some(ANSWER_WITHIN))
            .timeout_recv_body(Some(Duration::from_secs(30)))
            .build()
            .into();
        Self {
            agent,
            hubs,
            path: format!("/api/rooms/{room}/uploads"),
            authorization: token.bearer(),
            rate: (kbps > 0).then(|| u64::from(kbps) * 1000 / 8),
        }
    }

    /// The current hub's uploads URL (`suffix` after it), and that hub's index in the list.
    fn url(&self, suffix: &str) -> (String, usize) {
        let index = self.hubs.index();
        (format!("{}{}{suffix}", self.hubs.urls()[index].trim_end_matches('/'), self.path), index)
    }

    /// A hub that cannot be reached, or says it cannot serve (a draining node's 503, a proxy's
    /// 502/504), sends the next request to the next hub of the list; one that answered keeps it.
    fn settle(&self, index: usize, reply: Reply) -> Reply {
        match &reply {
            Reply::Transport(_) | Reply::Status(502..=504, ..) => {
                self.hubs.failed(index);
            }
            Reply::Status(..) => self.hubs.worked(index),
        }
        reply
    }

    /// Hashes `file` and creates (or finds) its upload.
    pub fn open(&self, file: &LocalFile) -> Input {
        let (size, sha256, duration_ms) = match describe(file) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Input::Vanished,
            Err(e) => return Input::Failed(format!("{}: {e}", file.path.display())),
        };
        let create = UploadCreate {
            lesson: file.lesson.clone(),
            kind: file.kind,
            name: file.name.clone(),
            size,
            sha256,
            duration_ms,
            started_at: started_at(file),
        };
        // Plain data: serializing it cannot fail.
        let body = serde_json::to_vec(&create).unwrap_or_default();
        let (url, hub) = self.url("");
        let reply = self
            .agent
            .post(&url)
            .header("Authorization", &self.authorization)
            .header("Content-Type", "application/json")
            .send(&body[..]);
        match self.settle(hub, answer(reply)) {
            Reply::Status(200 | 201, _, body) => hub_view(&body),
            // The lesson is unknown here, the name is taken by another file, the request is bad:
            // trying again will not help.
            Reply::Status(410, _, body) => Input::Expired(refusal(410, &body)),
            Reply::Status(code @ (400 | 403 | 404 | 409 | 413), _, body) => Input::Refused(refusal(code, &body)),
            Reply::Status(code, _, body) => Input::Failed(refusal(code, &body)),
            Reply::Transport(e) => Input::Failed(e),
        }
    }

    /// How much of upload `id` the hub holds.
    pub fn ask(&self, id: i64) -> Input {
        let (url, hub) = self.url(&format!("/{id}"));
        let reply = self.agent.get(&url).header("Authorization", &self.authorization).call();
        match self.settle(hub, answer(reply)) {
            Reply::Status(200, _, body) => hub_view(&body),
            Reply::Status(404, _, _) => Input::Lost,
            Reply::Status(code, _, body) => Input::Failed(refusal(code, &body)),
            Reply::Transport(e) => Input::Failed(e),
        }
    }

    /// Sends bytes `offset..offset + len` of `file` to upload `id` (of `size` bytes), paced.
    pub fn send(&self, file: &LocalFile, id: i64, offset: u64, len: u64, size: u64, pace: &mut Pace) -> Input {
        let data = match read_at(&file.path, offset, len) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Input::Vanished,
            Err(e) => return Input::Failed(format!("{}: {e}", file.path.display())),
        };
        let checksum = format!("sha256 {}", B64.encode(Sha256::digest(&data)));
        let send_within = self.rate.map_or(SEND_SLACK, |r| Duration::from_secs(len / r.max(1) * 2) + SEND_SLACK);
        let mut body = Paced { data: &data, at: 0, pace };
        let (url, hub) = self.url(&format!("/{id}"));
        let reply = self
            .agent
            .patch(&url)
            .header("Authorization", &self.authorization)
            .header("Content-Type", CHUNK_CONTENT_TYPE)
            .header("Content-Length", &data.len().to_string())
            .header(OFFSET_HEADER, &offset.to_string())
            .header(CHECKSUM_HEADER, &checksum)
            .config()
            .timeout_send_body(Some(send_within))
            .build()
            .send(ureq::SendBody::from_reader(&mut body));
        match self.settle(hub, answer(reply)) {
            Reply::Status(200, _, body) => hub_view(&body),
            // Not where the hub is (an earlier chunk did arrive, or the hub lost some): go on from its offset.
            // (All of it: the queue asks, and the hub settles the file.)
            Reply::Status(409, Some(at), _) => {
                Input::Hub(HubView { id, offset: at, size, state: RecordingState::Uploading })
            }
            Reply::Status(404, _, _) => Input::Lost,
            Reply::Status(413, _, body) => Input::Refused(refusal(413, &body)),
            // A damaged chunk, a whole file that did not check out (the hub starts it over), 5xx.
            Reply::Status(code, _, body) => Input::Failed(refusal(code, &body)),
            Reply::Transport(e) => Input::Failed(e),
        }
    }
}

fn answer(reply: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Reply {
    match reply {
        Ok(mut r) => {
            let offset =
                r.headers().get(OFFSET_HEADER).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok());
            let body = r.body_mut().with_config().limit(MAX_ANSWER).read_to_vec().unwrap_or_default();
            Reply::Status(r.status().as_u16(), offset, body)
        }
        Err(e) => Reply::Transport(e.to_string()),
    }
}

fn hub_view(body: &[u8]) -> Input {
    match serde_json::from_slice::<UploadStatus>(body) {
        Ok(s) => Input::Hub(HubView { id: s.id, offset: s.offset, size: s.size, state: s.state }),
        Err(e) => Input::Failed(format!("the hub's answer is not an upload status: {e}")),
    }
}

/// "the hub answered 409: <its detail>".
fn refusal(code: u16, body: &[u8]) -> String {
    let detail = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["detail"].as_str().map(str::to_owned))
        .unwrap_or_default();
    format!("the hub answered {code}: {detail}")
}

/// Where `file` starts on the lesson's timeline (unix ms): its `.start` sidecar, which the recorder
/// writes as the file opens; without one (a file from before sidecars), the first fragment of a
/// recording starts at the name's `<ms>` prefix (when recording started, a keyframe before its
/// first sample), and a later fragment's start is not known.
pub fn started_at(file: &LocalFile) -> Option<u64> {
    if let Some(ms) = crate::record::recorder::read_start(&file.path) {
        return Some(ms);
    }
    let stem = file.name.strip_suffix(".mp4")?;
    let mut parts = stem.split('-');
    let prefix = parts.next()?.parse::<u64>().ok()?;
    (parts.nth(1)? == "000").then_some(prefix)
}

/// Size, SHA-256 (hex) and duration of a file.
fn describe(file: &LocalFile) -> std::io::Result<(u64, String, Option<u64>)> {
    let size = std::fs::metadata(&file.path)?.len();
    let sha256 = crate::update::fetch::sha256_file(&file.path)?;
    let duration = File::open(&file.path).ok().and_then(|mut f| super::mp4::duration_ms(&mut f));
    Ok((size, sha256, duration))
}

fn read_at(path: &std::path::Path, offset: u64, len: u64) -> std::io::Result<Vec<u8>> {
    let mut f = File::open(path)?;
    f.seek(SeekFrom::Start(offset))?;
    let mut data = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    f.take(len).read_to_end(&mut data)?;
    if (data.len() as u64) < len {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "the file is shorter than when it was opened",
        ));
    }
    Ok(data)
}

/// A chunk's body, let out no faster than the cap.
struct Paced<'a> {
    data: &'a [u8],
    at: usize,
    pace: &'a mut Pace,
}

impl Read for Paced<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(PIECE).min(self.data.len() - self.at);
        if n == 0 {
            return Ok(0);
        }
        // The upload thread's own pace: sleeping here holds back only the upload.
        let wait = self.pace.delay(Instant::now(), n);
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
        buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;

    use super::*;

    /// A hub that answers every request with one upload status, and says which requests it had.
    fn live_hub(requests: usize) -> (String, std::thread::JoinHandle<Vec<String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        let url = format!("http://{}", listener.local_addr().expect("bound"));
        let served = std::thread::spawn(move || {
            let mut lines = Vec::new();
            for _ in 0..requests {
                let (mut conn, _) = listener.accept().expect("a request");
                let mut reader = BufReader::new(conn.try_clone().expect("the socket"));
                let mut line = String::new();
                reader.read_line(&mut line).expect("a request line");
                lines.push(line.trim().to_owned());
                let mut header = String::new();
                while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
                    header.clear();
                }
                let body = r#"{"id":7,"offset":5,"size":9,"state":"uploading"}"#;
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                conn.write_all(head.as_bytes()).and_then(|()| conn.write_all(body.as_bytes())).expect("answered");
            }
            lines
        });
        (url, served)
    }

    #[test]
    fn a_file_starts_where_its_sidecar_says_else_the_first_fragment_at_its_prefix() {
        let root = tempfile::tempdir().expect("tempdir");
        let lesson = root.path().join("lab.1700000000000");
        std::fs::create_dir_all(&lesson).expect("mkdir");
        let file = |name: &str| LocalFile::of(lesson.join(name)).expect("a recorder's name");
        let first = file("1700000000500-camera-000.mp4");
        let second = file("1700000000500-camera-001.mp4");
        assert_eq!(started_at(&first), Some(1_700_000_000_500), "no sidecar: the prefix");
        assert_eq!(started_at(&second), None, "a later fragment without a sidecar: unknown");
        std::fs::write(crate::record::recorder::start_marker(&second.path), "1700000600620").expect("write");
        assert_eq!(started_at(&second), Some(1_700_000_600_620));
        std::fs::write(crate::record::recorder::start_marker(&first.path), "1700000000540\n").expect("write");
        assert_eq!(started_at(&first), Some(1_700_000_000_540), "the sidecar wins over the prefix");
        std::fs::write(crate::record::recorder::start_marker(&second.path), "garbage").expect("write");
        assert_eq!(started_at(&second), None, "an unreadable sidecar is no start");
    }

    #[test]
    fn an_unreachable_hub_moves_the_uploads_to_the_next_of_the_list_which_keeps_them() {
        // A port nobody listens on: bound, then let go.
        let dead = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port");
        let (live, served) = live_hub(2);
        let hubs = Arc::new(HubList::new(vec![format!("http://{dead}"), live]));
        let room = lectern_proto::RoomId::parse("lab").expect("a room");
        let uploads = HubUploads::new(hubs.clone(), &room, &Token::new("t"), None, 0);
        assert!(matches!(uploads.ask(7), Input::Failed(_)), "the first hub is down");
        assert_eq!(hubs.index(), 1, "the list moved on");
        for _ in 0..2 {
            assert!(matches!(uploads.ask(7), Input::Hub(HubView { id: 7, offset: 5, size: 9, .. })));
            assert_eq!(hubs.index(), 1, "and stays on the hub that answers");
        }
        let lines = served.join().expect("the hub thread");
        assert_eq!(lines, ["GET /api/rooms/lab/uploads/7 HTTP/1.1"; 2]);
    }
}
