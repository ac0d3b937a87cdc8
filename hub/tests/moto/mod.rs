//! A real S3 for the storage tests: moto's server (PyPI `moto[server]`, installed by
//! `scripts/deps.sh --test` into its venv), started once per test binary on a free port in a temp
//! dir. It goes away with the test process: a keeper shell holds the read end of a pipe only this
//! process writes to, and stops the server when the pipe closes, however the process ended.
//! Each test makes a bucket of its own.
#![allow(dead_code)] // each test file uses part of it

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use lectern_hub::config::S3Settings;
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};

/// moto takes any key; the secret must still never appear in the hub's output.
pub const ACCESS_KEY: &str = "AKIDLECTERNTEST";
pub const SECRET_KEY: &str = "moto-secret-never-logged";

pub struct Moto {
    pub endpoint: String,
    _dir: tempfile::TempDir,
    _keeper: Mutex<(Child, ChildStdin)>,
    next: AtomicU32,
}

const KEEPER: &str = r#"
"$1" -H 127.0.0.1 -p "$2" >"$3/moto.log" 2>&1 &
pid=$!
cat >/dev/null
kill "$pid" 2>/dev/null
"#;

/// `LECTERN_MOTO_SERVER`, else deps.sh's venv, else `moto_server` on the PATH.
fn binary() -> PathBuf {
    if let Some(p) = std::env::var_os("LECTERN_MOTO_SERVER") {
        return p.into();
    }
    let venv =
        std::env::var_os("LECTERN_TEST_VENV").map_or_else(|| PathBuf::from("/opt/lectern/test-venv"), PathBuf::from);
    let in_venv = venv.join("bin/moto_server");
    if in_venv.exists() {
        return in_venv;
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("moto_server"))
        .find(|p| p.exists());
    on_path.unwrap_or_else(|| {
        panic!("moto_server not found: run scripts/deps.sh --test (it installs moto[server] into {})", venv.display())
    })
}

/// The server of this test binary, started on first use.
pub fn server() -> &'static Moto {
    static SERVER: OnceLock<Moto> = OnceLock::new();
    SERVER.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temp dir");
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let mut child = Command::new("sh")
            .args(["-c", KEEPER, "moto-keeper"])
            .arg(binary())
            .arg(port.to_string())
            .arg(dir.path())
            .current_dir(dir.path())
            .stdin(Stdio::piped())
            .spawn()
            .expect("sh starts");
        let stdin = child.stdin.take().expect("a pipe");
        let endpoint = format!("http://127.0.0.1:{port}");
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if agent.get(&endpoint).call().is_ok() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "moto did not answer within 60 s: {}",
                std::fs::read_to_string(dir.path().join("moto.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto { endpoint, _dir: dir, _keeper: Mutex::new((child, stdin)), next: AtomicU32::new(0) }
    })
}

impl Moto {
    /// A new, empty bucket and the settings that reach it.
    pub fn bucket(&self) -> S3Settings {
        let name = format!("lectern-{}-{}", std::process::id(), self.next.fetch_add(1, Ordering::Relaxed));
        let settings = S3Settings {
            endpoint: self.endpoint.clone(),
            bucket: name.clone(),
            region: "us-east-1".into(),
            access_key_id: ACCESS_KEY.into(),
            secret_access_key: SECRET_KEY.into(),
        };
        let bucket =
            Bucket::new(self.endpoint.parse().expect("a URL"), UrlStyle::Path, name, "us-east-1").expect("a bucket");
        let creds = Credentials::new(ACCESS_KEY, SECRET_KEY);
        let url = bucket.create_bucket(&creds).sign(Duration::from_secs(60));
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let resp = agent.put(url.as_str()).send_empty().expect("moto answers");
        assert!(resp.status().is_success(), "creating a bucket: {}", resp.status());
        settings
    }

    /// Every object under `prefix` in the bucket, with its size.
    pub fn objects(&self, settings: &S3Settings, prefix: &str) -> Vec<(String, u64)> {
        let bucket =
            Bucket::new(self.endpoint.parse().expect("a URL"), UrlStyle::Path, settings.bucket.clone(), "us-east-1")
                .expect("a bucket");
        let creds = Credentials::new(ACCESS_KEY, SECRET_KEY);
        let mut list = bucket.list_objects_v2(Some(&creds));
        list.with_prefix(prefix);
        let url = list.sign(Duration::from_secs(60));
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let body = agent.get(url.as_str()).call().expect("moto answers").body_mut().read_to_string().expect("a body");
        let page = rusty_s3::actions::ListObjectsV2::parse_response(&body).expect("a listing");
        page.contents.into_iter().map(|o| (o.key, o.size.unwrap_or(0))).collect()
    }
}
