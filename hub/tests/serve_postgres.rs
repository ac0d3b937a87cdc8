//! The hub binary on PostgreSQL (`LECTERN_DATABASE_URL`, a real server from `lectern_common::test_db`):
//! `lectern-hub db migrate` prepares the database, `serve` starts on it with no SQLite file in the
//! data dir, the first admin is created through the setup link, and a restarted hub on the same
//! database knows that admin (no new setup link, the login works).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use lectern_common::test_db::{Backend, TestDb};
use serde_json::{Value, json};

const SECRET: &str = "test-secret-0123456789abcdef0123456789abcdef";

struct Hub {
    child: Child,
    base: String,
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(dir: &Path, url: &str) -> Hub {
    let log = std::fs::File::create(dir.join("hub.log")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_lectern-hub"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .env("LECTERN_DATABASE_URL", url)
        .env("LECTERN_SECRET", SECRET)
        .env("LECTERN_UDP_PORT", "0")
        .env("LECTERN_BIND_IP", "127.0.0.1")
        .env("LECTERN_SHARDS", "1")
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("hub binary starts");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("listening on ") {
        line.clear();
        let n = out.read_line(&mut line).unwrap();
        assert!(n > 0, "hub exited before listening: {}", std::fs::read_to_string(dir.join("hub.log")).unwrap());
    }
    let base = line.trim().trim_start_matches("listening on ").to_owned();
    Hub { child, base }
}

fn post(hub: &Hub, path: &str, body: Value) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into();
    let mut resp = agent
        .post(format!("{}{path}", hub.base))
        .header("Content-Type", "application/json")
        .send(body.to_string())
        .expect("the hub answers");
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    (resp.status().as_u16(), serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

#[test]
fn the_hub_runs_on_postgresql_and_keeps_its_admin_across_a_restart() {
    let db = TestDb::new(Backend::Postgres);
    let dir = tempfile::tempdir().unwrap();
    let migrate = Command::new(env!("CARGO_BIN_EXE_lectern-hub"))
        .args(["db", "migrate", "--data-dir"])
        .arg(dir.path())
        .env("LECTERN_DATABASE_URL", db.url())
        .output()
        .unwrap();
    assert!(migrate.status.success(), "{}", String::from_utf8_lossy(&migrate.stderr));
    // The newest PostgreSQL migration is the one applied.
    let newest = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations-pg"))
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().to_str()?.split('_').next()?.parse::<u32>().ok())
        .max()
        .unwrap();
    let said = String::from_utf8_lossy(&migrate.stdout);
    assert!(said.trim_end().ends_with(&format!("is at migration {newest}")), "{said}");

    let hub = serve(dir.path(), &db.url());
    assert!(!dir.path().join("lectern.db").exists(), "no SQLite file beside a PostgreSQL store");
    let link = std::fs::read_to_string(dir.path().join("admin-setup-link")).expect("a first-run setup link");
    let code = link.trim().rsplit_once("code=").expect("a code in the link").1.to_owned();
    let (status, body) =
        post(&hub, "/admin/api/setup", json!({ "code": code, "username": "ada", "password": "first admin password" }));
    assert_eq!(status, 201, "{body}");
    drop(hub);

    let hub = serve(dir.path(), &db.url());
    assert!(!dir.path().join("admin-setup-link").exists(), "an admin exists: no new setup link");
    let (status, body) =
        post(&hub, "/admin/api/login", json!({ "username": "ada", "password": "first admin password" }));
    assert_eq!(status, 200, "{body}");
    assert!(body["csrfToken"].is_string(), "{body}");
}
