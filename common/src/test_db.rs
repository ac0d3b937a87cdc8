//! Test databases for the store tests, which run on both backends the hub supports: an SQLite file in
//! a temp dir, or a fresh database on a real PostgreSQL server (Debian's `postgresql` package,
//! installed by `scripts/deps.sh --test`). The server is started once per test binary, in a temp dir
//! on a free port with its socket beside it, and goes away with the test process: a shell holds the
//! read end of a pipe whose write end only this process has, and stops the server and removes its
//! files when the pipe closes, however the process ended.
//!
//! A test written once runs on both with [`each_backend!`]:
//! ```ignore
//! each_backend!(rooms_are_listed);
//! async fn rooms_are_listed() { let db = TestDb::current(); ... }
//! ```

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

thread_local! {
    static BACKEND: Cell<Backend> = const { Cell::new(Backend::Sqlite) };
}

/// Sets the backend of the tests on this thread ([`each_backend!`] does, first thing).
pub fn set_backend(b: Backend) {
    BACKEND.with(|c| c.set(b));
}

/// The backend [`each_backend!`] chose for the running test (SQLite outside it).
pub fn backend() -> Backend {
    BACKEND.with(|c| c.get())
}

/// Turns `async fn name()` into two tests, `name::sqlite` and `name::postgres`. Extra arguments go
/// to `#[tokio::test(...)]` (e.g. `flavor = "multi_thread"`). The backend is a thread-local of the
/// test thread, which `#[tokio::test]` runs its body on: read it before spawning tasks.
#[macro_export]
macro_rules! each_backend {
    ($name:ident $(, $($arg:tt)*)?) => {
        mod $name {
            #[tokio::test($($($arg)*)?)]
            async fn sqlite() {
                $crate::test_db::set_backend($crate::test_db::Backend::Sqlite);
                super::$name().await
            }
            #[tokio::test($($($arg)*)?)]
            async fn postgres() {
                $crate::test_db::set_backend($crate::test_db::Backend::Postgres);
                super::$name().await
            }
        }
    };
}

/// One test's database, gone with the test (PostgreSQL's with the server).
#[derive(Debug)]
pub enum TestDb {
    Sqlite(tempfile::TempDir),
    Postgres { url: String },
}

impl TestDb {
    /// A fresh database of the running test's backend.
    pub fn current() -> Self {
        Self::new(backend())
    }

    pub fn new(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => TestDb::Sqlite(tempfile::tempdir().expect("a temp dir")),
            Backend::Postgres => TestDb::Postgres { url: server().create_database() },
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            TestDb::Sqlite(_) => Backend::Sqlite,
            TestDb::Postgres { .. } => Backend::Postgres,
        }
    }

    /// `sqlite://<temp dir>/lectern.db?mode=rwc` or `postgres://postgres@127.0.0.1:<port>/<db>`.
    pub fn url(&self) -> String {
        match self {
            TestDb::Sqlite(dir) => format!("sqlite://{}/lectern.db?mode=rwc", dir.path().display()),
            TestDb::Postgres { url } => url.clone(),
        }
    }
}

/// The PostgreSQL server of this test binary, started on first use.
pub fn server() -> &'static PgServer {
    static SERVER: OnceLock<Result<PgServer, String>> = OnceLock::new();
    match SERVER.get_or_init(PgServer::start) {
        Ok(s) => s,
        Err(e) => panic!("cannot start PostgreSQL for the store tests: {e}"),
    }
}

/// A PostgreSQL server in a temp dir: trust authentication on 127.0.0.1, durability off (tests).
pub struct PgServer {
    dir: PathBuf,
    port: u16,
    bin: PathBuf,
    /// The keeper shell and the write end of its stdin (a static's: closed when the process exits).
    _keeper: Mutex<(Child, ChildStdin)>,
    next_db: AtomicU32,
}

/// Stops the server and removes its files once the test process is gone (its stdin closes).
const KEEPER: &str = r#"
dir=$1 port=$2 bin=$3 as=$4
$as "$bin/postgres" -D "$dir/data" -p "$port" -k "$dir" -c listen_addresses=127.0.0.1 \
    -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300 \
    </dev/null >>"$dir/server.log" 2>&1 &
pg=$!
cat >/dev/null
kill -INT "$pg" 2>/dev/null
wait "$pg"
rm -rf "$dir"
"#;

impl PgServer {
    fn start() -> Result<Self, String> {
        let bin = pg_bin()?;
        let dir = tempfile::Builder::new().prefix("lectern-pg-").tempdir().map_err(|e| e.to_string())?.keep();
        // The server refuses to run as root: as root (CI, this machine) it runs as `postgres`.
        let as_user = match run(Command::new("id").arg("-u"))?.trim() {
            "0" => {
                let uid = run(Command::new("id").args(["-u", "postgres"]))?;
                let gid = run(Command::new("id").args(["-g", "postgres"]))?;
                run(Command::new("chown").arg(format!("{}:{}", uid.trim(), gid.trim())).arg(&dir))?;
                format!("setpriv --reuid={} --regid={} --clear-groups", uid.trim(), gid.trim())
            }
            _ => String::new(),
        };
        let mut initdb = Command::new("sh");
        initdb
            .arg("-c")
            .arg(format!("{as_user} \"$0/initdb\" -D \"$1/data\" -U postgres -A trust -E UTF8 --no-locale --no-sync"));
        run(initdb.arg(&bin).arg(&dir).current_dir(&dir))?;
        let port = free_port()?;
        let mut keeper = Command::new("sh")
            .arg("-c")
            .arg(KEEPER)
            .arg("sh")
            .arg(&dir)
            .arg(port.to_string())
            .arg(&bin)
            .arg(&as_user)
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting the server's keeper: {e}"))?;
        let stdin = keeper.stdin.take().ok_or("no stdin for the keeper")?;
        let server = PgServer { dir, port, bin, _keeper: Mutex::new((keeper, stdin)), next_db: AtomicU32::new(0) };
        server.wait_ready(Duration::from_secs(60))?;
        Ok(server)
    }

    fn wait_ready(&self, limit: Duration) -> Result<(), String> {
        let deadline = Instant::now() + limit;
        loop {
            match self.psql("postgres", "SELECT 1") {
                Ok(out) if out.trim() == "1" => return Ok(()),
                Ok(_) | Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
                Ok(out) => return Err(format!("unexpected answer {out:?}")),
                Err(e) => {
                    let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
                    return Err(format!("not ready after {limit:?}: {e}\nserver log:\n{log}"));
                }
            }
        }
    }

    /// Runs one SQL command with `psql` on database `db`; its output, unaligned.
    pub fn psql(&self, db: &str, sql: &str) -> Result<String, String> {
        run(Command::new(self.bin.join("psql"))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-U", "postgres"])
            .args(["-p", &self.port.to_string(), "-d", db, "-c", sql]))
    }

    /// A new, empty database; its URL.
    pub fn create_database(&self) -> String {
        let name = format!("t{}_{}", std::process::id(), self.next_db.fetch_add(1, Ordering::Relaxed));
        // FILE_COPY copies the template's files; with fsync off it measured as fast as WAL_LOG
        // (docs/cluster.md) and needs no WAL for the copy.
        if let Err(e) = self.psql("postgres", &format!("CREATE DATABASE {name} STRATEGY = FILE_COPY")) {
            panic!("creating test database {name}: {e}");
        }
        self.url(&name)
    }

    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's directory (data, socket, log).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// `LECTERN_PG_BIN`, else the newest `/usr/lib/postgresql/<version>/bin` with `initdb` in it.
fn pg_bin() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("LECTERN_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|e| format!("/usr/lib/postgresql: {e} (install Debian's postgresql: scripts/deps.sh --test)"))?
        .filter_map(|e| e.ok())
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin)| bin.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).ok_or_else(|| "no /usr/lib/postgresql/*/bin/initdb".to_owned())
}

fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

/// Runs a command to its end; its stdout, or why it failed.
fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.stdin(Stdio::null()).output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{cmd:?}: {}: {}", out.status, String::from_utf8_lossy(&out.stderr).trim()));
    }
    String::from_utf8(out.stdout).map_err(|e| e.to_string())
}
