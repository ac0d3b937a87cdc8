//! Hub settings: defaults, then `hub.toml`, then `LECTERN_*` environment variables, then CLI flags.
//! Every key is documented in `hub/hub.example.toml`; unknown keys are errors, not silently ignored.

use lectern_proto::lesson::{RecordingPolicy, StudentsRecorded};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use lectern_proto::signal::IceServer;

use crate::http::cors::Origins;
use crate::turn::{Secret, TurnServer};
use lectern_common::net::TrustedProxies;
use lectern_coord::redis::RedisUrl;
use serde::Deserialize;

mod storage;
pub use storage::{S3Settings, StorageSettings};

/// The file form: everything optional so a file may set only what it changes.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    secret: Option<String>,
    join_limit: Option<bool>,
    behind_tls: Option<bool>,
    token_grace_minutes: Option<u64>,
    zone: Option<String>,
    http: Option<FileHttp>,
    media: Option<FileMedia>,
    tls: Option<FileTls>,
    admin: Option<FileAdmin>,
    node: Option<FileNode>,
    store: Option<FileStore>,
    recording: Option<FileRecording>,
    files: Option<crate::files::FilesFile>,
    storage: Option<storage::FileStorage>,
    ota: Option<FileOta>,
    coord: Option<FileCoord>,
}

/// `[coord]` as written: how the hubs of a cluster coordinate (docs/cluster.md).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileCoord {
    url: Option<String>,
}

/// `[ota]` as written: over-the-air releases (docs/ota.md).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileOta {
    keyring: Option<PathBuf>,
    rauc: Option<String>,
    allow_unsigned: Option<bool>,
    max_bundle_mb: Option<u64>,
}

/// `[recording]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRecording {
    default: Option<RecordingPolicy>,
    students: Option<StudentsRecorded>,
    retention_days: Option<u32>,
}

/// `[recording]`: whether lessons are recorded where the web admin did not say (see `docs/recording.md`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecordingSettings {
    /// The policy of rooms the admin did not set: `off`, `on_request` (a teacher starts it) or
    /// `always`. Env `LECTERN_RECORDING_DEFAULT`.
    pub default: RecordingPolicy,
    /// Whether students' own cameras and microphones are recorded: `never` (default) or `always`.
    pub students: StudentsRecorded,
    /// How many days after its lesson ends a recording is deleted, in rooms the admin gave no
    /// retention of their own; 0 (default) keeps recordings forever. Env `LECTERN_RECORDING_RETENTION_DAYS`.
    pub retention_days: u32,
}

/// The longest retention a room or `[recording] retention_days` may set (about 100 years).
pub const MAX_RETENTION_DAYS: u32 = 36_500;

/// `[admin]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileAdmin {
    listen: Option<SocketAddr>,
}

/// `[node]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileNode {
    public_url: Option<String>,
    drain_timeout_minutes: Option<u64>,
}

/// `[store]` as written: where the database is (docs/cluster.md).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileStore {
    url: Option<String>,
}

/// `[tls]` as written: the hub terminates HTTPS itself.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTls {
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    redirect_listen: Option<SocketAddr>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileHttp {
    cors_origins: Option<Vec<String>>,
    max_connections: Option<usize>,
    trusted_proxies: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileMedia {
    bind_ip: Option<IpAddr>,
    udp_port: Option<u16>,
    shards: Option<usize>,
    advertise_ips: Option<Vec<IpAddr>>,
    ice_tcp: Option<bool>,
    ice_servers: Option<Vec<IceServer>>,
    turn: Option<Vec<FileTurn>>,
}

/// A `[[media.turn]]` entry as written: exactly one of `secret` and `secret_file`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTurn {
    urls: Vec<String>,
    secret: Option<String>,
    secret_file: Option<PathBuf>,
}

/// Validated settings the hub runs with.
#[derive(Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// Token signing secret from config/env; `None` means use (or create) `<data_dir>/secret`.
    pub secret: Option<String>,
    /// Rate-limit join attempts per client address (10 at once, then 10 a minute).
    pub join_limit: bool,
    /// Browsers reach the hub over HTTPS (a TLS proxy in front, or `[tls]`): the admin's session
    /// cookie gets `Secure`. Always true when `tls` is set.
    pub behind_tls: bool,
    /// How long an open session outlives its token's expiry (a lesson that runs over), in minutes.
    pub token_grace_minutes: u64,
    /// Origins whose pages may call WHIP/WHEP and the lesson API (`[http] cors_origins`).
    pub cors_origins: Origins,
    /// HTTP connections served at once (`[http] max_connections`); past it, new ones wait.
    pub max_connections: usize,
    /// Reverse proxies whose `Forwarded`/`X-Forwarded-For` name the client (`[http] trusted_proxies`).
    pub trusted_proxies: TrustedProxies,
    /// The hub's IANA time zone (`zone`): timetable slots saved without one are in it. Default: the
    /// machine's (`/etc/timezone`), else UTC.
    pub zone: String,
    /// `[admin] listen`: the web admin is served only here, an origin of its own, not on `listen`.
    pub admin_listen: Option<SocketAddr>,
    /// `[node] public_url`: how people reach this hub (`https://hub.school.example`), the base of the
    /// lesson links the admin hands out when it is served on its own origin.
    pub public_url: Option<String>,
    /// `[store] url` (env `LECTERN_DATABASE_URL`): `sqlite://<path>` or `postgres://user@host/db`;
    /// `None`: `sqlite://<data_dir>/lectern.db`. See [`Settings::database_url`].
    pub store_url: Option<String>,
    pub media: MediaSettings,
    /// `[tls]`: the hub serves HTTPS on `listen` itself.
    pub tls: Option<TlsSettings>,
    /// `[ota]`: how uploaded releases are checked (kept in `<data_dir>/releases`).
    pub ota: lectern_admin::releases::OtaSettings,
    pub recording: RecordingSettings,
    /// `[files]`: files shared in the chat (size limit, allowed types, virus-scan hook; docs/files.md).
    pub files: crate::files::FileSettings,
    /// `[storage]`: recordings on the data dir or in an S3-compatible bucket.
    pub storage: StorageSettings,
    /// The `[storage]` keys read so far (file, then env), validated into `storage` at the end.
    storage_keys: storage::StorageKeys,
    /// `[coord] url` (env `LECTERN_COORD_URL`): Redis shared by the hubs of a cluster. Unset, the
    /// hub is on its own. Needs `secret` (shared by every node) and `[node] public_url`.
    pub coord_url: Option<RedisUrl>,
    /// `[node] drain_timeout_minutes` (env `LECTERN_DRAIN_TIMEOUT_MINUTES`, default 120): how long a
    /// cluster node stopped with SIGTERM lets its lessons run before it ends them.
    pub drain_timeout_minutes: u64,
}

/// HTTPS served by the hub (`[tls]`, or `--tls-self-signed`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// PEM certificate chain, leaf first; reloaded when it changes and on SIGHUP.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) for the leaf.
    pub key: PathBuf,
    /// A plain-HTTP listener answering every request with 308 to the same URL on `https://`.
    pub redirect_listen: Option<SocketAddr>,
    /// `--tls-self-signed`: `cert` and `key` live in the data dir and are generated when missing.
    pub self_signed: bool,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("join_limit", &self.join_limit)
            .field("behind_tls", &self.behind_tls)
            .field("token_grace_minutes", &self.token_grace_minutes)
            .field("cors_origins", &self.cors_origins)
            .field("max_connections", &self.max_connections)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("zone", &self.zone)
            .field("admin_listen", &self.admin_listen)
            .field("public_url", &self.public_url)
            .field("store_url", &self.store_url.as_deref().map(lectern_admin::db::redact_url))
            .field("media", &self.media)
            .field("tls", &self.tls)
            .field("ota", &self.ota)
            .field("recording", &self.recording)
            .field("files", &self.files)
            .field("storage", &self.storage)
            // RedisUrl's Debug hides its password.
            .field("coord_url", &self.coord_url)
            .field("drain_timeout_minutes", &self.drain_timeout_minutes)
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct MediaSettings {
    /// Address the shards' UDP sockets bind to.
    pub bind_ip: IpAddr,
    /// Shard `i` listens on `udp_port + i`; 0 lets the OS pick (tests).
    pub udp_port: u16,
    pub shards: usize,
    /// Addresses announced in ICE candidates. Empty: the bind address, or every interface
    /// address when bound to 0.0.0.0. Set the public address here behind a 1:1 NAT.
    pub advertise_ips: Vec<IpAddr>,
    /// Also accept ICE over TCP on the same port numbers, for networks that block UDP.
    pub ice_tcp: bool,
    /// STUN/TURN servers handed to clients (WHIP/WHEP `Link` headers, browsers' `iceServers`).
    pub ice_servers: Vec<IceServer>,
    /// coturn relays sharing a secret with the hub, which mints each participant a credential.
    pub turn: Vec<TurnServer>,
}

/// The machine's zone as Debian keeps it (`/etc/timezone`), if it names one; else UTC.
fn system_zone() -> String {
    std::fs::read_to_string("/etc/timezone")
        .ok()
        .map(|z| z.trim().to_owned())
        .filter(|z| lectern_admin::timetable::zone(z).is_ok())
        .unwrap_or_else(|| "UTC".to_owned())
}

/// `https://host[:port]` (or `http://`), without a path: the base other URLs are joined to.
fn public_url(raw: &str) -> Result<String, String> {
    let url = raw.trim().trim_end_matches('/');
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| format!("'{raw}' must start with https:// (or http://)"))?;
    if rest.is_empty() || rest.contains(['/', '?', '#', '@', ' ']) {
        return Err(format!("'{raw}' must be a scheme and a host (and port), nothing else"));
    }
    Ok(url.to_owned())
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 8080),
            data_dir: PathBuf::from("data"),
            secret: None,
            join_limit: true,
            behind_tls: false,
            token_grace_minutes: 60,
            cors_origins: Origins::None,
            max_connections: 10_000,
            trusted_proxies: TrustedProxies::default(),
            zone: system_zone(),
            admin_listen: None,
            public_url: None,
            store_url: None,
            ota: Default::default(),
            media: MediaSettings {
                bind_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                udp_port: 50000,
                shards: 0,
                advertise_ips: Vec::new(),
                ice_tcp: true,
                ice_servers: Vec::new(),
                turn: Vec::new(),
            },
            tls: None,
            recording: RecordingSettings::default(),
            files: Default::default(),
            storage: StorageSettings::Local,
            storage_keys: Default::default(),
            coord_url: None,
            drain_timeout_minutes: 120,
        }
    }
}

/// Command-line values, which win over everything else.
#[derive(Debug, Default)]
pub struct Overrides {
    pub config: Option<PathBuf>,
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    /// `--tls-self-signed`: serve HTTPS with a certificate generated into the data dir.
    pub tls_self_signed: bool,
}

impl Settings {
    /// The database the hub uses: `[store] url`, else `sqlite://<data_dir>/lectern.db`.
    pub fn database_url(&self) -> String {
        self.store_url.clone().unwrap_or_else(|| crate::store::default_url(&self.data_dir))
    }

    pub fn load(over: &Overrides, env: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let mut s = Settings::default();
        let mut file_tls = None;
        if let Some(path) = &over.config {
            file_tls = s.apply_file(path)?;
        }
        s.apply_env(env)?;
        if let Some(l) = over.listen {
            s.listen = l;
        }
        if let Some(d) = &over.data_dir {
            s.data_dir = d.clone();
        }
        s.tls = tls_settings(file_tls, over.tls_self_signed, &s.data_dir)?;
        if s.tls.is_some() {
            s.behind_tls = true;
        }
        s.validate()?;
        Ok(s)
    }

    /// Applies the file; `[tls]` comes back apart because `--tls-self-signed` and the final data
    /// dir decide what it means.
    fn apply_file(&mut self, path: &Path) -> anyhow::Result<Option<FileTls>> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading config {}", path.display()))?;
        let f: FileConfig = toml::from_str(&text).with_context(|| format!("invalid config {}", path.display()))?;
        set(&mut self.listen, f.listen);
        set(&mut self.data_dir, f.data_dir);
        if f.secret.is_some() {
            self.secret = f.secret;
        }
        set(&mut self.join_limit, f.join_limit);
        set(&mut self.behind_tls, f.behind_tls);
        set(&mut self.token_grace_minutes, f.token_grace_minutes);
        set(&mut self.zone, f.zone);
        if let Some(admin) = f.admin {
            self.admin_listen = admin.listen.or(self.admin_listen);
        }
        if let Some(files) = f.files {
            self.files.apply(files).with_context(|| format!("invalid config {}", path.display()))?;
        }
        if let Some(r) = f.recording {
            set(&mut self.recording.default, r.default);
            set(&mut self.recording.students, r.students);
            set(&mut self.recording.retention_days, r.retention_days);
        }
        if let Some(st) = f.storage {
            self.storage_keys.apply_file(st);
        }
        if let Some(node) = f.node {
            self.public_url = node.public_url.or(self.public_url.take());
            set(&mut self.drain_timeout_minutes, node.drain_timeout_minutes);
        }
        if let Some(coord) = f.coord
            && let Some(url) = coord.url
        {
            self.coord_url = Some(url.parse().map_err(|e| anyhow::anyhow!("{e}"))?);
        }
        if let Some(store) = f.store {
            self.store_url = store.url.or(self.store_url.take());
        }
        if let Some(ota) = f.ota {
            if let Some(keyring) = ota.keyring {
                if !keyring.is_absolute() {
                    bail!("ota.keyring: '{}' is not an absolute path", keyring.display());
                }
                self.ota.keyring = Some(keyring);
            }
            set(&mut self.ota.rauc, ota.rauc);
            set(&mut self.ota.allow_unsigned, ota.allow_unsigned);
            if let Some(mb) = ota.max_bundle_mb {
                if !(1..=16_384).contains(&mb) {
                    bail!("ota.max_bundle_mb: {mb} is out of range 1..=16384");
                }
                self.ota.max_bytes = mb << 20;
            }
        }
        if let Some(http) = f.http {
            if let Some(origins) = http.cors_origins {
                self.cors_origins = Origins::parse(&origins).map_err(|e| anyhow::anyhow!("http.cors_origins: {e}"))?;
            }
            set(&mut self.max_connections, http.max_connections);
            if let Some(blocks) = http.trusted_proxies {
                self.trusted_proxies =
                    TrustedProxies::parse(&blocks).map_err(|e| anyhow::anyhow!("http.trusted_proxies: {e}"))?;
            }
        }
        if let Some(m) = f.media {
            set(&mut self.media.bind_ip, m.bind_ip);
            set(&mut self.media.udp_port, m.udp_port);
            set(&mut self.media.shards, m.shards);
            set(&mut self.media.advertise_ips, m.advertise_ips);
            set(&mut self.media.ice_tcp, m.ice_tcp);
            set(&mut self.media.ice_servers, m.ice_servers);
            if let Some(turn) = m.turn {
                self.media.turn =
                    turn.into_iter().enumerate().map(|(i, t)| turn_server(i, t)).collect::<Result<_, _>>()?;
            }
        }
        Ok(f.tls)
    }

    fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<()> {
        fn parse<T: std::str::FromStr>(key: &str, v: String) -> anyhow::Result<T>
        where
            T::Err: std::fmt::Display,
        {
            v.trim().parse().map_err(|e| anyhow::anyhow!("{key}={v:?}: {e}"))
        }
        if let Some(v) = env("LECTERN_RECORDING_DEFAULT") {
            self.recording.default = RecordingPolicy::parse(v.trim()).ok_or_else(|| {
                anyhow::anyhow!("LECTERN_RECORDING_DEFAULT={v:?}: expected off, on_request or always")
            })?;
        }
        if let Some(v) = env("LECTERN_RECORDING_RETENTION_DAYS") {
            self.recording.retention_days = parse("LECTERN_RECORDING_RETENTION_DAYS", v)?;
        }
        self.storage_keys.apply_env(env);
        if let Some(v) = env("LECTERN_LISTEN") {
            self.listen = parse("LECTERN_LISTEN", v)?;
        }
        if let Some(v) = env("LECTERN_DATA_DIR") {
            self.data_dir = PathBuf::from(v);
        }
        if let Some(v) = env("LECTERN_SECRET") {
            self.secret = Some(v);
        }
        if let Some(v) = env("LECTERN_JOIN_LIMIT") {
            self.join_limit = parse("LECTERN_JOIN_LIMIT", v)?;
        }
        if let Some(v) = env("LECTERN_BEHIND_TLS") {
            self.behind_tls = parse("LECTERN_BEHIND_TLS", v)?;
        }
        if let Some(v) = env("LECTERN_TOKEN_GRACE_MINUTES") {
            self.token_grace_minutes = parse("LECTERN_TOKEN_GRACE_MINUTES", v)?;
        }
        if let Some(v) = env("LECTERN_CORS_ORIGINS") {
            let list: Vec<String> = v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect();
            self.cors_origins = Origins::parse(&list).map_err(|e| anyhow::anyhow!("LECTERN_CORS_ORIGINS: {e}"))?;
        }
        if let Some(v) = env("LECTERN_TRUSTED_PROXIES") {
            let list: Vec<String> = v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect();
            self.trusted_proxies =
                TrustedProxies::parse(&list).map_err(|e| anyhow::anyhow!("LECTERN_TRUSTED_PROXIES: {e}"))?;
        }
        if let Some(v) = env("LECTERN_ZONE") {
            self.zone = v.trim().to_owned();
        }
        if let Some(v) = env("LECTERN_ADMIN_LISTEN") {
            self.admin_listen = Some(parse("LECTERN_ADMIN_LISTEN", v)?);
        }
        if let Some(v) = env("LECTERN_DRAIN_TIMEOUT_MINUTES") {
            self.drain_timeout_minutes = parse("LECTERN_DRAIN_TIMEOUT_MINUTES", v)?;
        }
        if let Some(v) = env("LECTERN_COORD_URL") {
            self.coord_url = Some(v.trim().parse().map_err(|e| anyhow::anyhow!("LECTERN_COORD_URL: {e}"))?);
        }
        if let Some(v) = env("LECTERN_PUBLIC_URL") {
            self.public_url = Some(v.trim().to_owned());
        }
        if let Some(v) = env("LECTERN_DATABASE_URL") {
            self.store_url = Some(v.trim().to_owned());
        }
        if let Some(v) = env("LECTERN_MAX_CONNECTIONS") {
            self.max_connections = parse("LECTERN_MAX_CONNECTIONS", v)?;
        }
        if let Some(v) = env("LECTERN_BIND_IP") {
            self.media.bind_ip = parse("LECTERN_BIND_IP", v)?;
        }
        if let Some(v) = env("LECTERN_UDP_PORT") {
            self.media.udp_port = parse("LECTERN_UDP_PORT", v)?;
        }
        if let Some(v) = env("LECTERN_SHARDS") {
            self.media.shards = parse("LECTERN_SHARDS", v)?;
        }
        if let Some(v) = env("LECTERN_ICE_TCP") {
            self.media.ice_tcp = parse("LECTERN_ICE_TCP", v)?;
        }
        if let Some(v) = env("LECTERN_ADVERTISE_IPS") {
            self.media.advertise_ips = v
                .split(',')
                .filter(|s| !s.trim().is_empty())
                .map(|s| parse("LECTERN_ADVERTISE_IPS", s.to_owned()))
                .collect::<anyhow::Result<_>>()?;
        }
        Ok(())
    }

    fn validate(&mut self) -> anyhow::Result<()> {
        if let Some(secret) = &self.secret
            && secret.len() < 32
        {
            bail!("secret: must be at least 32 characters (or leave it unset to generate one)");
        }
        if self.recording.retention_days > MAX_RETENTION_DAYS {
            bail!("recording.retention_days: {} is more than {MAX_RETENTION_DAYS}", self.recording.retention_days);
        }
        self.storage = std::mem::take(&mut self.storage_keys).settings()?;
        if self.max_connections == 0 {
            bail!("http.max_connections: must be at least 1");
        }
        lectern_admin::timetable::zone(&self.zone).map_err(|e| anyhow::anyhow!("zone: {e}"))?;
        if let Some(url) = &mut self.public_url {
            *url = public_url(url).map_err(|e| anyhow::anyhow!("node.public_url: {e}"))?;
        }
        if self.drain_timeout_minutes > 24 * 60 {
            bail!("node.drain_timeout_minutes: {} is more than a day", self.drain_timeout_minutes);
        }
        if self.coord_url.is_some() {
            // Every node verifies every other's tokens and forwarded requests with it.
            if self.secret.is_none() {
                bail!("coord.url: the hubs of a cluster share one `secret` (or LECTERN_SECRET); set it on every node");
            }
            if self.public_url.is_none() {
                bail!("coord.url: set [node] public_url (or LECTERN_PUBLIC_URL), where the other nodes reach this one");
            }
        }
        if let Some(url) = &self.store_url {
            lectern_admin::db::Dialect::of_url(url).map_err(|e| anyhow::anyhow!("store.url: {e}"))?;
        }
        if self.admin_listen.is_some_and(|a| a == self.listen && a.port() != 0) {
            bail!("admin.listen: {} is the hub's own listen address; give the admin another", self.listen);
        }
        if self.token_grace_minutes > 7 * 24 * 60 {
            bail!("token_grace_minutes: {} is more than a week", self.token_grace_minutes);
        }
        if self.media.shards == 0 {
            self.media.shards = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        }
        if self.media.shards > 256 {
            bail!("media.shards: {} is more than 256", self.media.shards);
        }
        if self.media.udp_port != 0 && usize::from(self.media.udp_port) + self.media.shards > 65536 {
            bail!("media.udp_port: {} + {} shards runs past port 65535", self.media.udp_port, self.media.shards);
        }
        for (i, server) in self.media.ice_servers.iter().enumerate() {
            if server.urls.is_empty() {
                bail!("media.ice_servers[{i}].urls: at least one stun:, turn: or turns: URL is needed");
            }
            for url in &server.urls {
                let scheme = url.split(':').next().unwrap_or("");
                if !matches!(scheme, "stun" | "stuns" | "turn" | "turns") || url.contains(['<', '>', '"', '\n', '\r']) {
                    bail!("media.ice_servers[{i}].urls: '{url}' is not a stun:, turn: or turns: URL");
                }
                if scheme.starts_with("turn") && (server.username.is_none() || server.credential.is_none()) {
                    bail!("media.ice_servers[{i}]: TURN server '{url}' needs username and credential");
                }
            }
        }
        if self.media.advertise_ips.iter().any(|ip| ip.is_unspecified()) {
            bail!("media.advertise_ips: 0.0.0.0 / :: cannot be announced to peers");
        }
        if let Some(redirect) = self.tls.as_ref().and_then(|t| t.redirect_listen)
            && redirect.port() != 0
            && redirect.port() == self.listen.port()
        {
            bail!("tls.redirect_listen: {redirect} uses the port of listen ({}), which serves HTTPS", self.listen);
        }
        Ok(())
    }
}

/// Where `--tls-self-signed` keeps its certificate and key, inside the data dir.
pub fn self_signed_paths(data_dir: &Path) -> (PathBuf, PathBuf) {
    let dir = data_dir.join("tls");
    (dir.join("self-signed-cert.pem"), dir.join("self-signed-key.pem"))
}

/// `[tls]` and `--tls-self-signed` combined; errors name the key. The files themselves are read at
/// start-up (`tls::Certs::load`), so a missing one is reported there, naming `tls.cert` or `tls.key`.
fn tls_settings(file: Option<FileTls>, self_signed: bool, data_dir: &Path) -> anyhow::Result<Option<TlsSettings>> {
    let redirect_listen = file.as_ref().and_then(|f| f.redirect_listen);
    if self_signed {
        if let Some(f) = &file
            && (f.cert.is_some() || f.key.is_some())
        {
            bail!("--tls-self-signed: tls.cert and tls.key are set in the config; use one or the other");
        }
        let (cert, key) = self_signed_paths(data_dir);
        return Ok(Some(TlsSettings { cert, key, redirect_listen, self_signed: true }));
    }
    let Some(f) = file else { return Ok(None) };
    let (cert, key) = match (f.cert, f.key) {
        (Some(c), Some(k)) => (c, k),
        (None, _) => {
            bail!("tls.cert: needed when [tls] is set (a PEM certificate chain), or start with --tls-self-signed")
        }
        (_, None) => bail!("tls.key: needed when [tls] is set (the PEM private key of tls.cert)"),
    };
    Ok(Some(TlsSettings { cert, key, redirect_listen, self_signed: false }))
}

/// A `[[media.turn]]` entry checked and its secret read: errors name `media.turn[i].<key>`.
fn turn_server(i: usize, t: FileTurn) -> anyhow::Result<TurnServer> {
    if t.urls.is_empty() {
        bail!("media.turn[{i}].urls: at least one turn: or turns: URL is needed");
    }
    for url in &t.urls {
        let scheme = url.split(':').next().unwrap_or("");
        let rest = url.get(scheme.len() + 1..).unwrap_or("");
        if !matches!(scheme, "turn" | "turns") || rest.is_empty() || url.contains(['<', '>', '"', ' ', '\n', '\r']) {
            bail!("media.turn[{i}].urls: '{url}' is not a turn: or turns: URL");
        }
    }
    let secret = match (t.secret, t.secret_file) {
        (Some(s), None) => s,
        (None, Some(path)) => std::fs::read_to_string(&path)
            .with_context(|| format!("media.turn[{i}].secret_file: cannot read {}", path.display()))?
            .trim()
            .to_owned(),
        (Some(_), Some(_)) => bail!("media.turn[{i}]: set secret or secret_file, not both"),
        (None, None) => bail!("media.turn[{i}]: secret or secret_file is needed"),
    };
    if secret.is_empty() {
        bail!("media.turn[{i}].secret: is empty");
    }
    Ok(TurnServer { urls: t.urls, secret: Secret::new(secret) })
}

/// Servers in `[[media.ice_servers]]` with a fixed TURN password: it goes to every participant and
/// never expires, so start-up warns about it (`[[media.turn]]` mints short-lived ones instead).
pub fn static_turn_passwords(servers: &[IceServer]) -> impl Iterator<Item = &str> {
    servers.iter().filter(|s| s.credential.is_some()).flat_map(|s| s.urls.iter().map(String::as_str))
}

fn set<T>(slot: &mut T, v: Option<T>) {
    if let Some(v) = v {
        *slot = v;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn example_config_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("hub.example.toml");
        let over = Overrides { config: Some(path), ..Default::default() };
        let s = Settings::load(&over, &no_env).unwrap();
        assert_eq!(s.listen.port(), 8080);
        assert_eq!(s.media.udp_port, 50000);
    }

    #[test]
    fn the_store_url_comes_from_the_file_then_the_environment_and_defaults_to_sqlite_in_the_data_dir() {
        let dir = tempfile::tempdir().unwrap();
        let s =
            Settings::load(&Overrides { data_dir: Some(dir.path().into()), ..Default::default() }, &no_env).unwrap();
        assert_eq!(s.database_url(), format!("sqlite://{}/lectern.db?mode=rwc", dir.path().display()));
        let path = dir.path().join("hub.toml");
        std::fs::write(&path, "[store]\nurl = \"postgres://lectern:pw@db/lectern\"\n").unwrap();
        let over = Overrides { config: Some(path.clone()), ..Default::default() };
        let s = Settings::load(&over, &no_env).unwrap();
        assert_eq!(s.database_url(), "postgres://lectern:pw@db/lectern");
        assert!(!format!("{s:?}").contains("pw@"), "the password stays out of logs: {s:?}");
        let env = |k: &str| (k == "LECTERN_DATABASE_URL").then(|| "postgresql://other/x".to_owned());
        assert_eq!(Settings::load(&over, &env).unwrap().database_url(), "postgresql://other/x");
        std::fs::write(&path, "[store]\nurl = \"mysql://root:hunter2@db/x\"\n").unwrap();
        let err = format!("{:#}", Settings::load(&over, &no_env).unwrap_err());
        assert!(err.starts_with("store.url:") && !err.contains("hunter2"), "{err}");
    }

    #[test]
    fn the_recording_policy_comes_from_the_file_then_the_environment() {
        assert_eq!(Settings::load(&Overrides::default(), &no_env).unwrap().recording, RecordingSettings::default());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hub.toml");
        std::fs::write(&path, "[recording]\ndefault = \"on_request\"\nstudents = \"always\"\n").unwrap();
        let over = Overrides { config: Some(path.clone()), ..Default::default() };
        let s = Settings::load(&over, &no_env).unwrap();
        assert_eq!((s.recording.default, s.recording.students), (RecordingPolicy::OnRequest, StudentsRecorded::Always));
        let env = |k: &str| (k == "LECTERN_RECORDING_DEFAULT").then(|| "always".to_owned());
        assert_eq!(Settings::load(&over, &env).unwrap().recording.default, RecordingPolicy::Always);
        let env = |k: &str| (k == "LECTERN_RECORDING_DEFAULT").then(|| "true".to_owned());
        let err = Settings::load(&over, &env).unwrap_err().to_string();
        assert!(err.contains("LECTERN_RECORDING_DEFAULT") && err.contains("on_request"), "{err}");
        for bad in
            ["[recording]\ndefault = \"yes\"\n", "[recording]\nstudents = \"sometimes\"\n", "[recording]\nkeep = 1\n"]
        {
            std::fs::write(&path, bad).unwrap();
            assert!(Settings::load(&over, &no_env).is_err(), "{bad}");
        }
    }

    #[test]
    fn storage_and_retention_come_from_the_file_then_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hub.toml");
        std::fs::write(
            &path,
            "[recording]\nretention_days = 30\n[storage]\nkind = \"s3\"\nendpoint = \"http://127.0.0.1:9000\"\n\
             bucket = \"rec\"\naccess_key_id = \"AK\"\nsecret_access_key = \"from-the-file\"\n",
        )
        .unwrap();
        let over = Overrides { config: Some(path.clone()), ..Default::default() };
        let s = Settings::load(&over, &no_env).unwrap();
        assert_eq!(s.recording.retention_days, 30);
        let StorageSettings::S3(s3) = &s.storage else { panic!("{:?}", s.storage) };
        assert_eq!((s3.bucket.as_str(), s3.secret_access_key.as_str()), ("rec", "from-the-file"));
        assert!(!format!("{s:?}").contains("from-the-file"), "the secret is never printed");
        let env = |k: &str| match k {
            "LECTERN_STORAGE_SECRET_ACCESS_KEY" => Some("from-env".to_owned()),
            "LECTERN_RECORDING_RETENTION_DAYS" => Some("7".to_owned()),
            _ => None,
        };
        let s = Settings::load(&over, &env).unwrap();
        let StorageSettings::S3(s3) = &s.storage else { panic!("{:?}", s.storage) };
        assert_eq!((s3.secret_access_key.as_str(), s.recording.retention_days), ("from-env", 7));
        let env = |k: &str| (k == "LECTERN_RECORDING_RETENTION_DAYS").then(|| "40000".to_owned());
        assert!(Settings::load(&over, &env).unwrap_err().to_string().contains("recording.retention_days"));
        std::fs::write(&path, "[storage]\nkind = \"s3\"\n").unwrap();
        assert!(Settings::load(&over, &no_env).unwrap_err().to_string().contains("storage.endpoint"));
        std::fs::write(&path, "[storage]\nsecret = \"x\"\n").unwrap();
        assert!(Settings::load(&over, &no_env).is_err(), "unknown keys are refused");
        assert_eq!(Settings::load(&Overrides::default(), &no_env).unwrap().storage, StorageSettings::Local);
    }

    #[test]
    fn token_grace_is_an_hour_unless_set_and_at_most_a_week() {
        assert_eq!(Settings::load(&Overrides::default(), &no_env).unwrap().token_grace_minutes, 60);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hub.toml");
        std::fs::write(&path, "token_grace_minutes = 0\n").unwrap();
        let over = Overrides { config: Some(path), ..Default::default() };
        assert_eq!(Settings::load(&over, &no_env).unwrap().token_grace_minutes, 0);
        let env = |k: &str| (k == "LECTERN_TOKEN_GRACE_MINUTES").then(|| "20000".to_owned());
        let err = Settings::load(&Overrides::default(), &env).unwrap_err().to_string();
        assert!(err.contains("token_grace_minutes"), "{err}");
    }

    #[test]
    fn a_cluster_node_needs_the_shared_secret_and_its_public_url() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hub.toml");
        let load = |text: &str, env: &dyn Fn(&str) -> Option<String>| {
            std::fs::write(&path, text).unwrap();
            Settings::load(&Overrides { config: Some(path.clone()), ..Default::default() }, env)
                .map_err(|e| format!("{e:#}"))
        };
        let secret = "secret = \"0123456789abcdef0123456789abcdef\"\n";
        let node = "[node]\npublic_url = \"https://a.school.example\"\n";
        let s = load(&format!("{secret}[coord]\nurl = \"redis://:pw@10.0.0.9:6380/1\"\n{node}"), &no_env).unwrap();
        let url = s.coord_url.as_ref().unwrap();
        assert_eq!((url.host.as_str(), url.port, url.db), ("10.0.0.9", 6380, 1));
        assert!(!format!("{s:?}").contains("pw@"), "the Redis password stays out of logs");
        let env = |k: &str| (k == "LECTERN_COORD_URL").then(|| "redis://127.0.0.1:7000".to_owned());
        assert_eq!(load(&format!("{secret}{node}"), &env).unwrap().coord_url.unwrap().port, 7000);
        for (text, says) in [
            (format!("[coord]\nurl = \"redis://r\"\n{node}"), "share one `secret`"),
            (format!("{secret}[coord]\nurl = \"redis://r\"\n"), "public_url"),
            (format!("{secret}{node}[coord]\nurl = \"http://r\"\n"), "coord.url"),
            (format!("{secret}{node}[coord]\nhost = \"r\"\n"), "unknown field"),
        ] {
            let err = load(&text, &no_env).unwrap_err();
            assert!(err.contains(says), "{text}: {err}");
        }
    }

    #[test]
    fn the_admin_address_and_the_public_url_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hub.toml");
        let load = |text: &str| {
            std::fs::write(&path, text).unwrap();
            Settings::load(&Overrides { config: Some(path.clone()), ..Default::default() }, &no_env)
        };
        let s = load("[admin]\nlisten = \"127.0.0.1:8081\"\n[node]\npublic_url = \"https://hub.school.example/\"\n")
            .unwrap();
        assert_eq!(s.admin_listen, Some("127.0.0.1:8081".parse().unwrap()));
        assert_eq!(s.public_url.as_deref(), Some("https://hub.school.example"));
        for (text, key) in [
            ("[node]\npublic_url = \"hub.school.example\"\n", "node.public_url"),
            ("[node]\npublic_url = \"https://hub.school.example/lessons\"\n", "node.public_url"),
            ("listen = \"0.0.0.0:8080\"\n[admin]\nlisten = \"0.0.0.0:8080\"\n", "admin.listen"),
            ("[admin]\nlisten = \"nonsense\"\n", "invalid socket address"),
        ] {
            let err = format!("{:#}", load(text).unwrap_err());
            assert!(err.contains(key), "{text}: {err}");
        }
    }

    #[test]
    fn unknown_key_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hub.toml");
        std::fs::write(&path, "[media]\nudp_prot = 5\n").unwrap();
        let over = Overrides { config: Some(path), ..Default::default() };
        let err = format!("{:#}", Settings::load(&over, &no_env).unwrap_err());
        assert!(err.contains("udp_prot"), "{err}");
    }

    #[test]
    fn a_bad_cors_origin_is_an_error_naming_the_key_and_the_entry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hub.toml");
        std::fs::write(&path, "[http]\ncors_origins = [\"https://portal.test/lessons\"]\n").unwrap();
        let over = Overrides { config: Some(path.clone()), ..Default::default() };
        let err = format!("{:#}", Settings::load(&over, &no_env).unwrap_err());
        assert!(err.contains("http.cors_origins") && err.contains("https://portal.test/lessons"), "{err}");
        std::fs::write(&path, "[http]\ncors_origins = [\"https://Portal.test\"]\n").unwrap();
        let s = Settings::load(&over, &no_env).unwrap();
        assert_eq!(s.cors_origins, Origins::List(vec!["https://portal.test".into()]));
        let env = |k: &str| (k == "LECTERN_CORS_ORIGINS").then(|| "*".to_owned());
        assert_eq!(Settings::load(&Overrides::default(), &env).unwrap().cors_origins, Origins::Any);
    }

    #[test]
    fn env_overrides_file_and_flags_override_env() {
        let env = |k: &str| match k {
            "LECTERN_UDP_PORT" => Some("0".to_owned()),
            "LECTERN_LISTEN" => Some("127.0.0.1:9".to_owned()),
            "LECTERN_ADVERTISE_IPS" => Some("203.0.113.7, 127.0.0.1".to_owned()),
            _ => None,
        };
        let over = Overrides { listen: Some("127.0.0.1:10".parse().unwrap()), ..Default::default() };
        let s = Settings::load(&over, &env).unwrap();
        assert_eq!(s.media.udp_port, 0);
        assert_eq!(s.listen.port(), 10);
        assert_eq!(s.media.advertise_ips.len(), 2);
    }

    #[test]
    fn bad_env_value_names_the_variable() {
        let env = |k: &str| (k == "LECTERN_UDP_PORT").then(|| "lots".to_owned());
        let err = Settings::load(&Overrides::default(), &env).unwrap_err().to_string();
        assert!(err.contains("LECTERN_UDP_PORT"), "{err}");
    }

    #[test]
    fn ice_servers_are_validated_with_the_key_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hub.toml");
        std::fs::write(&path, "[[media.ice_servers]]\nurls = [\"turn:t.example:3478\"]\n").unwrap();
        let over = Overrides { config: Some(path.clone()), ..Default::default() };
        let err = Settings::load(&over, &no_env).unwrap_err().to_string();
        assert!(err.contains("media.ice_servers[0]") && err.contains("username"), "{err}");
        std::fs::write(&path, "[[media.ice_servers]]\nurls = [\"http://x\"]\n").unwrap();
        assert!(Settings::load(&over, &no_env).is_err());
        std::fs::write(&path, "[[media.ice_servers]]\nurls = [\"stun:s.example:3478\"]\n").unwrap();
        assert_eq!(Settings::load(&over, &no_env).unwrap().media.ice_servers.len(), 1);
    }

    fn load_text(text: &str) -> anyhow::Result<Settings> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hub.toml");
        std::fs::write(&path, text).unwrap();
        Settings::load(&Overrides { config: Some(path), ..Default::default() }, &no_env)
    }

    fn turn_error(text: &str) -> String {
        format!("{:#}", load_text(text).unwrap_err())
    }

    #[test]
    fn turn_entries_are_validated_with_the_key_named() {
        let urls = "urls = [\"turn:t.example:3478?transport=udp\"]\n";
        let err = turn_error(&format!("[[media.turn]]\n{urls}"));
        assert!(err.contains("media.turn[0]") && err.contains("secret or secret_file"), "{err}");
        let err = turn_error(&format!("[[media.turn]]\n{urls}secret = \"a\"\nsecret_file = \"/x\"\n"));
        assert!(err.contains("media.turn[0]") && err.contains("not both"), "{err}");
        let err = turn_error("[[media.turn]]\nurls = []\nsecret = \"s\"\n");
        assert!(err.contains("media.turn[0].urls"), "{err}");
        let err = turn_error("[[media.turn]]\nurls = [\"stun:t.example:3478\"]\nsecret = \"s\"\n");
        assert!(err.contains("media.turn[0].urls") && err.contains("stun:t.example"), "{err}");
        let err = turn_error(&format!("[[media.turn]]\n{urls}secret = \"\"\n"));
        assert!(err.contains("media.turn[0].secret") && err.contains("empty"), "{err}");
        let err = turn_error(&format!("[[media.turn]]\n{urls}secret = \"s\"\npassword = \"p\"\n"));
        assert!(err.contains("password"), "{err}");
    }

    #[test]
    fn an_unreadable_secret_file_fails_naming_the_key_and_never_shows_the_secret() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing");
        let err = turn_error(&format!(
            "[[media.turn]]\nurls = [\"turn:t.example:3478\"]\nsecret_file = \"{}\"\n",
            missing.display()
        ));
        assert!(err.contains("media.turn[0].secret_file") && err.contains("missing"), "{err}");
        let file = dir.path().join("turn-secret");
        std::fs::write(&file, "shared-with-coturn\n").unwrap();
        let s = load_text(&format!(
            "[[media.turn]]\nurls = [\"turn:t.example:3478?transport=tcp\", \"turns:t.example:443\"]\nsecret_file = \"{}\"\n",
            file.display()
        ))
        .unwrap();
        assert_eq!(s.media.turn.len(), 1);
        assert_eq!(s.media.turn[0].secret, Secret::new("shared-with-coturn".into()), "trailing newline trimmed");
        assert!(!format!("{s:?}").contains("shared-with-coturn"));
    }

    #[test]
    fn static_turn_passwords_are_found_for_the_start_up_warning() {
        let s = load_text(
            "[[media.ice_servers]]\nurls = [\"stun:s.example:3478\"]\n\
             [[media.ice_servers]]\nurls = [\"turn:t.example:3478\"]\nusername = \"u\"\ncredential = \"c\"\n",
        )
        .unwrap();
        assert_eq!(static_turn_passwords(&s.media.ice_servers).collect::<Vec<_>>(), ["turn:t.example:3478"]);
    }

    #[test]
    fn tls_section_implies_behind_tls_and_names_missing_keys() {
        let s = load_text("[tls]\ncert = \"/c.pem\"\nkey = \"/k.pem\"\nredirect_listen = \"0.0.0.0:80\"\n").unwrap();
        let tls = s.tls.unwrap();
        assert_eq!((tls.cert.to_str(), tls.key.to_str()), (Some("/c.pem"), Some("/k.pem")));
        assert_eq!(tls.redirect_listen, Some("0.0.0.0:80".parse().unwrap()));
        assert!(s.behind_tls, "[tls] implies behind_tls");
        assert!(!load_text("").unwrap().behind_tls);
        let err = format!("{:#}", load_text("[tls]\nkey = \"/k.pem\"\n").unwrap_err());
        assert!(err.contains("tls.cert"), "{err}");
        let err = format!("{:#}", load_text("[tls]\ncert = \"/c.pem\"\n").unwrap_err());
        assert!(err.contains("tls.key"), "{err}");
        let err = format!("{:#}", load_text("[tls]\ncert = \"/c\"\nkey = \"/k\"\nredirect = 80\n").unwrap_err());
        assert!(err.contains("redirect"), "{err}");
        let err = format!(
            "{:#}",
            load_text(
                "listen = \"0.0.0.0:8443\"\n[tls]\ncert = \"/c\"\nkey = \"/k\"\nredirect_listen = \"127.0.0.1:8443\"\n"
            )
            .unwrap_err()
        );
        assert!(err.contains("tls.redirect_listen"), "{err}");
    }

    #[test]
    fn self_signed_flag_uses_the_data_dir_and_refuses_configured_files() {
        let over = Overrides { data_dir: Some("/var/lib/x".into()), tls_self_signed: true, ..Default::default() };
        let tls = Settings::load(&over, &no_env).unwrap().tls.unwrap();
        assert!(tls.self_signed && tls.cert.starts_with("/var/lib/x/tls") && tls.key.starts_with("/var/lib/x/tls"));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hub.toml");
        std::fs::write(&path, "[tls]\ncert = \"/c\"\nkey = \"/k\"\n").unwrap();
        let over = Overrides { config: Some(path), tls_self_signed: true, ..Default::default() };
        let err = format!("{:#}", Settings::load(&over, &no_env).unwrap_err());
        assert!(err.contains("--tls-self-signed") && err.contains("tls.cert"), "{err}");
    }

    #[test]
    fn secret_is_redacted_in_debug() {
        let s = Settings { secret: Some("x".repeat(40)), ..Default::default() };
        assert!(!format!("{s:?}").contains("xxxx"));
    }
}
