//! Releases and staged rollouts (`docs/ota.md`): an admin uploads a RAUC bundle (streamed to
//! `<data_dir>/releases/`, size-limited, SHA-256 taken on the way, signature checked with
//! `rauc info --keyring` when the hub has `rauc` and a keyring), then rolls it out ring by ring
//! ([`crate::rollout`]). Boxes hear of it on their control channel (`HubMsg::Update`), fetch the
//! bundle with their device token ([`serve_bundle`]) and report every step, which moves the
//! rollout on or pauses it. Tables: `hub/migrations/0012_ota.sql`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use axum::Json;
use axum::extract::{Extension, Path as UrlPath, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use lectern_proto::RoomId;
use lectern_proto::device::HubMsg;
use lectern_proto::update::{MaintenanceWindow, UpdateOffer, UpdatePhase, UpdateStatus};
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use crate::audit::{self, Entry};
use crate::error::{Error, Result};
use crate::json::{Body, text};
use crate::rollout::{Effect, Member, Rollout, RolloutState};
use crate::session::Caller;
use crate::{AdminState, random_hex};

/// The default window when a site has none: 02:00–05:00 in the hub's zone.
const DEFAULT_WINDOW: (u16, u16) = (120, 300);

/// `[ota]` in hub.toml.
#[derive(Debug, Clone)]
pub struct OtaSettings {
    /// Where bundles are kept (`<data_dir>/releases`); `None`: uploads are refused.
    pub dir: Option<PathBuf>,
    /// Certificates bundles must be signed with (`ota.keyring`).
    pub keyring: Option<PathBuf>,
    /// The `rauc` program (`ota.rauc`, Debian's `rauc` package).
    pub rauc: String,
    /// Development only: accept bundles whose signature cannot be checked here.
    pub allow_unsigned: bool,
    pub max_bytes: u64,
}

impl Default for OtaSettings {
    fn default() -> Self {
        Self { dir: None, keyring: None, rauc: "rauc".to_owned(), allow_unsigned: false, max_bytes: 1 << 30 }
    }
}

/// How the hub checks signatures, as the API and the page say it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Signing {
    /// Signatures are checked (rauc runs and a keyring is set).
    pub available: bool,
    pub allow_unsigned: bool,
    pub detail: String,
}

impl OtaSettings {
    pub fn signing(&self) -> Signing {
        let rauc = std::process::Command::new(&self.rauc).arg("--version").output().is_ok_and(|o| o.status.success());
        let (available, detail) = match (&self.keyring, rauc) {
            (Some(k), true) => {
                (true, format!("bundles are checked with `{} info --keyring {}`", self.rauc, k.display()))
            }
            (None, _) => (false, "no ota.keyring is set: signatures cannot be checked".to_owned()),
            (Some(_), false) => (
                false,
                format!("'{}' cannot be run (install Debian's rauc package): signatures cannot be checked", self.rauc),
            ),
        };
        let detail = match (available, self.allow_unsigned) {
            (false, true) => format!("{detail}; ota.allow_unsigned accepts them unchecked (development only)"),
            (false, false) => {
                format!("{detail}; uploads are refused (set ota.keyring, or ota.allow_unsigned for development)")
            }
            _ => detail,
        };
        Signing { available, allow_unsigned: self.allow_unsigned, detail }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct Release {
    pub id: i64,
    pub version: String,
    pub notes: String,
    pub sha256: String,
    pub size: i64,
    pub signature: String,
    pub uploaded_at: i64,
    pub uploaded_by: String,
}

/// A box's part in the newest rollout that reached it, for the fleet view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BoxUpdate {
    pub rollout: i64,
    pub release: i64,
    pub version: String,
    /// An `UpdatePhase` name, or `waiting` while its ring has not opened.
    pub phase: String,
    pub detail: Option<String>,
    pub bytes: Option<i64>,
    pub size: i64,
}

const RELEASE_COLUMNS: &str = "id, version, notes, sha256, size, signature, uploaded_at, uploaded_by";

fn bundle_path(dir: &Path, id: i64) -> PathBuf {
    dir.join(format!("{id}.raucb"))
}

/// `GET /admin/api/releases`: releases, rollouts and whether signatures can be checked.
pub async fn list(State(st): State<AdminState>) -> Result<Json<serde_json::Value>> {
    let sql = format!("SELECT {RELEASE_COLUMNS} FROM ota_releases ORDER BY id DESC");
    let releases: Vec<Release> = sqlx::query_as(&sql).fetch_all(&st.pool).await?;
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM ota_rollouts ORDER BY id DESC").fetch_all(&st.pool).await?;
    let mut rollouts = Vec::new();
    for id in ids {
        rollouts.push(rollout_view(&st, id).await?);
    }
    let signing = tokio::task::spawn_blocking({
        let ota = st.ota.clone();
        move || ota.signing()
    })
    .await
    .map_err(|e| Error::Internal(e.to_string()))?;
    Ok(Json(json!({ "signing": signing, "releases": releases, "rollouts": rollouts })))
}

/// `POST /admin/api/releases?version=…&notes=…` with the bundle as the body
/// (`application/octet-stream`) → `201 release`. Streamed to disk; refused past `ota.max_bundle_mb`,
/// without a valid signature, or with a version already uploaded.
pub async fn upload(
    State(st): State<AdminState>,
    Extension(caller): Extension<Caller>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<(StatusCode, Json<Release>)> {
    let dir =
        st.ota.dir.clone().ok_or_else(|| Error::Unavailable("this hub keeps no releases (no data dir)".into()))?;
    let params = query_params(query.as_deref().unwrap_or(""));
    let version = text("version", params.get("version").map(String::as_str).unwrap_or(""), 1, 64)?;
    if !version.chars().all(|c| c.is_ascii_alphanumeric() || "._+-~".contains(c)) {
        return Err(Error::invalid("version: letters, digits and . _ + - ~ only"));
    }
    let notes = text("notes", params.get("notes").map(String::as_str).unwrap_or(""), 0, 2000)?;
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if content_type != "application/octet-stream" {
        return Err(Error::UnsupportedMediaType("send the bundle as application/octet-stream".into()));
    }
    if let Some(len) =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok())
        && len > st.ota.max_bytes
    {
        return Err(too_large(st.ota.max_bytes));
    }
    let taken: Option<i64> = sqlx::query_scalar("SELECT id FROM ota_releases WHERE version = ?")
        .bind(&version)
        .fetch_optional(&st.pool)
        .await?;
    if taken.is_some() {
        return Err(Error::Conflict(format!("version: '{version}' was uploaded already")));
    }
    tokio::fs::create_dir_all(&dir).await.map_err(|e| Error::Internal(format!("{}: {e}", dir.display())))?;
    let partial = dir.join(format!("upload-{}.partial", random_hex()));
    let stored = store_upload(body, &partial, st.ota.max_bytes).await;
    let (sha256, size) = match stored {
        Ok(v) => v,
        Err(e) => {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(e);
        }
    };
    let signature = match check_signature(&st.ota, &partial, &version).await {
        Ok(s) => s,
        Err(e) => {
            let _ = tokio::fs::remove_file(&partial).await;
            let entry = Entry::by(&caller, st.now(), "release.refused", &version, json!({ "reason": e.to_string() }));
            audit::record(&st.pool, &entry).await?;
            return Err(e);
        }
    };
    let now = st.now() as i64;
    let mut tx = st.pool.begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO ota_releases (version, notes, sha256, size, signature, uploaded_at, uploaded_by) \
         VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(&version)
    .bind(&notes)
    .bind(&sha256)
    .bind(size as i64)
    .bind(signature)
    .bind(now)
    .bind(&caller.username)
    .fetch_one(&mut *tx)
    .await?;
    let details = json!({ "id": id, "sha256": sha256, "size": size, "signature": signature });
    audit::record(&mut *tx, &Entry::by(&caller, now as u64, "release.upload", &version, details)).await?;
    tokio::fs::rename(&partial, bundle_path(&dir, id))
        .await
        .map_err(|e| Error::Internal(format!("keeping the bundle: {e}")))?;
    tx.commit().await?;
    let release = Release {
        id,
        version,
        notes,
        sha256,
        size: size as i64,
        signature: signature.to_owned(),
        uploaded_at: now,
        uploaded_by: caller.username.clone(),
    };
    Ok((StatusCode::CREATED, Json(release)))
}

fn too_large(max: u64) -> Error {
    Error::PayloadTooLarge(format!("a bundle may be at most {} MiB (ota.max_bundle_mb)", max >> 20))
}

fn query_params(query: &str) -> HashMap<String, String> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

/// `application/x-www-form-urlencoded` decoding; bad escapes are kept as written.
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Streams the body into `path`, hashing as it goes; refuses more than `max` bytes.
async fn store_upload(body: axum::body::Body, path: &Path, max: u64) -> Result<(String, u64)> {
    use futures_util::StreamExt;
    let io = |e: std::io::Error| Error::Internal(format!("{}: {e}", path.display()));
    let mut file = tokio::fs::File::create(path).await.map_err(io)?;
    let mut stream = body.into_data_stream();
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| Error::invalid(format!("body: the upload broke off: {e}")))?;
        size += chunk.len() as u64;
        if size > max {
            return Err(too_large(max));
        }
        hasher.update(&chunk);
        file.write_all(&chunk).await.map_err(io)?;
    }
    if size == 0 {
        return Err(Error::invalid("body: empty; send the bundle"));
    }
    file.sync_all().await.map_err(io)?;
    Ok((hasher.finalize().iter().map(|b| format!("{b:02x}")).collect(), size))
}

/// `verified` after `rauc info --keyring` accepted its signature (and its manifest names
/// `version`) and `rauc extract --keyring` its payload; `unchecked` when allowed without a check.
/// `rauc info` checks the signed manifest only: for a verity bundle the payload is checked against
/// the manifest's root hash when it is read, so the hub extracts it once to a scratch directory.
async fn check_signature(ota: &OtaSettings, bundle: &Path, version: &str) -> Result<&'static str> {
    let signing = tokio::task::spawn_blocking({
        let ota = ota.clone();
        move || ota.signing()
    })
    .await
    .map_err(|e| Error::Internal(e.to_string()))?;
    if !signing.available {
        return if ota.allow_unsigned { Ok("unchecked") } else { Err(Error::Unavailable(signing.detail)) };
    }
    let keyring = ota.keyring.clone().unwrap_or_default();
    let refused =
        |why: &str| Error::invalid(format!("bundle: not signed by a certificate of ota.keyring, or damaged: {why}"));
    let info =
        rauc(ota, &["info", "--output-format=json"], &keyring, bundle, None).await?.map_err(|why| refused(&why))?;
    let manifest: serde_json::Value = serde_json::from_str(&info).map_err(|e| refused(&format!("rauc info: {e}")))?;
    let named = manifest.get("version").and_then(|v| v.as_str()).unwrap_or_default();
    if named != version {
        return Err(Error::invalid(format!("version: the bundle's manifest says '{named}', not '{version}'")));
    }
    let scratch = bundle.with_extension("extract");
    let extracted = rauc(ota, &["extract"], &keyring, bundle, Some(&scratch)).await;
    let _ = tokio::fs::remove_dir_all(&scratch).await;
    extracted?.map_err(|why| refused(&why))?;
    Ok("verified")
}

/// Runs `rauc ARGS --keyring KEYRING BUNDLE [DIR]`: its stdout, or the last line it complained with.
async fn rauc(
    ota: &OtaSettings,
    args: &[&str],
    keyring: &Path,
    bundle: &Path,
    dir: Option<&Path>,
) -> Result<Result<String, String>> {
    let mut cmd = tokio::process::Command::new(&ota.rauc);
    cmd.args(args).arg("--keyring").arg(keyring).arg(bundle);
    if let Some(dir) = dir {
        cmd.arg(dir);
    }
    let out = cmd.output().await.map_err(|e| Error::Internal(format!("running {}: {e}", ota.rauc)))?;
    if out.status.success() {
        return Ok(Ok(String::from_utf8_lossy(&out.stdout).into_owned()));
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let why = stderr.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("").chars().take(300).collect();
    Ok(Err(why))
}

/// The bundle of release `id` for a box (the hub checked its device token), honouring
/// `Range: bytes=N-` and `bytes=N-M` so a cut download resumes.
pub async fn serve_bundle(st: &AdminState, id: i64, headers: &HeaderMap) -> Result<Response> {
    let dir = st.ota.dir.clone().ok_or_else(|| Error::NotFound("this hub keeps no releases".into()))?;
    let path = bundle_path(&dir, id);
    let mut file = tokio::fs::File::open(&path).await.map_err(|_| Error::NotFound(format!("no release {id}")))?;
    let size = file.metadata().await.map_err(|e| Error::Internal(e.to_string()))?.len();
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let (status, start, end) = match range.map(|r| parse_range(r, size)) {
        None => (StatusCode::OK, 0, size),
        Some(Some((start, end))) => (StatusCode::PARTIAL_CONTENT, start, end),
        Some(None) => {
            let mut resp = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            resp.headers_mut().insert(header::CONTENT_RANGE, hv(&format!("bytes */{size}")));
            return Ok(resp);
        }
    };
    file.seek(std::io::SeekFrom::Start(start)).await.map_err(|e| Error::Internal(e.to_string()))?;
    let reader = file.take(end - start);
    let stream = futures_util::stream::unfold(reader, |mut r| async move {
        let mut buf = vec![0u8; 64 * 1024];
        match r.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(axum::body::Bytes::from(buf)), r))
            }
            Err(e) => Some((Err(e), r)),
        }
    });
    let mut resp = (status, axum::body::Body::from_stream(stream)).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CONTENT_LENGTH, hv(&(end - start).to_string()));
    if status == StatusCode::PARTIAL_CONTENT {
        h.insert(header::CONTENT_RANGE, hv(&format!("bytes {start}-{}/{size}", end - 1)));
    }
    Ok(resp)
}

fn hv(s: &str) -> HeaderValue {
    // Digits, spaces, '-', '/' and '*' only.
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

/// `bytes=N-` or `bytes=N-M` → the half-open span `[N, M+1)`; `None` when unsatisfiable.
pub fn parse_range(header: &str, size: u64) -> Option<(u64, u64)> {
    let spec = header.trim().strip_prefix("bytes=")?;
    let (a, b) = spec.split_once('-')?;
    let start: u64 = a.trim().parse().ok()?;
    let end = match b.trim() {
        "" => size,
        b => b.parse::<u64>().ok()?.saturating_add(1).min(size),
    };
    (start < end).then_some((start, end))
}

/// `POST /admin/api/releases/{id}/rollouts`
/// `{"rings": [{"devices": [...]}, {"building": "North"}, {"everyone": true}], "maxFailurePercent": 20}`
/// → `201 rollout`: the first ring is offered the release at once.
pub async fn start_rollout(
    State(st): State<AdminState>,
    Extension(caller): Extension<Caller>,
    UrlPath(id): UrlPath<i64>,
    body: Body,
) -> Result<(StatusCode, Json<serde_json::Value>)> {
    body.only(&["rings", "maxFailurePercent"])?;
    let release: Option<String> =
        sqlx::query_scalar("SELECT version FROM ota_releases WHERE id = ?").bind(id).fetch_optional(&st.pool).await?;
    let version = release.ok_or_else(|| Error::NotFound(format!("no release {id}")))?;
    let max = body.opt_u64("maxFailurePercent")?.unwrap_or(10);
    if max > 100 {
        return Err(Error::invalid("maxFailurePercent: 0..=100"));
    }
    let specs = body.opt_array("rings")?.ok_or_else(|| Error::invalid("rings: required"))?;
    if specs.is_empty() || specs.len() > 10 {
        return Err(Error::invalid("rings: 1 to 10 rings"));
    }
    let devices: Vec<(String, String)> = sqlx::query_as(
        "SELECT d.id, COALESCE(r.building, '') FROM admin_devices d LEFT JOIN admin_rooms r ON r.id = d.room_id \
         WHERE d.revoked_at IS NULL ORDER BY d.id",
    )
    .fetch_all(&st.pool)
    .await?;
    let mut rings = Vec::new();
    for (i, spec) in specs.into_iter().enumerate() {
        let ring = Body::element(&format!("rings[{i}]"), spec)?;
        ring.only(&["devices", "building", "everyone"])?;
        let members: Vec<String> = if let Some(list) = ring.opt_array("devices")? {
            let wanted: Vec<String> = list.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect();
            if let Some(unknown) = wanted.iter().find(|w| !devices.iter().any(|(d, _)| d == *w)) {
                return Err(Error::invalid(format!("rings[{i}].devices: no enrolled box '{unknown}'")));
            }
            wanted
        } else if let Some(building) = ring.opt_string("building")? {
            devices.iter().filter(|(_, b)| *b == building).map(|(d, _)| d.clone()).collect()
        } else if ring.opt_bool("everyone")? == Some(true) {
            devices.iter().map(|(d, _)| d.clone()).collect()
        } else {
            return Err(Error::invalid(format!("rings[{i}]: give devices, building or everyone")));
        };
        rings.push(members);
    }
    let active: Option<i64> = sqlx::query_scalar("SELECT id FROM ota_rollouts WHERE state != 'done' LIMIT 1")
        .fetch_optional(&st.pool)
        .await?;
    if let Some(other) = active {
        return Err(Error::Conflict(format!("rollout {other} is not done; finish or pause it first")));
    }
    let mut rollout = Rollout::new(rings, max as u8);
    let effects = rollout.start();
    let now = st.now() as i64;
    let mut tx = st.pool.begin().await?;
    let rid: i64 = sqlx::query_scalar(
        "INSERT INTO ota_rollouts (release_id, rings, ring, state, max_failure_percent, created_at, created_by) \
         VALUES (?, ?, 0, 'running', ?, ?, ?) RETURNING id",
    )
    .bind(id)
    .bind(rollout.rings as i64)
    .bind(max as i64)
    .bind(now)
    .bind(&caller.username)
    .fetch_one(&mut *tx)
    .await?;
    for (device, m) in &rollout.members {
        sqlx::query(
            "INSERT INTO ota_rollout_boxes (rollout_id, device_id, ring, phase, updated_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(rid)
        .bind(device)
        .bind(m.ring as i64)
        .bind(m.phase.map(UpdatePhase::name))
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    let details =
        json!({ "rollout": rid, "rings": rollout.rings, "boxes": rollout.members.len(), "maxFailurePercent": max });
    audit::record(&mut *tx, &Entry::by(&caller, now as u64, "rollout.start", &version, details)).await?;
    save(&mut tx, rid, &rollout, now).await?;
    tx.commit().await?;
    apply_effects(&st, rid, &effects).await?;
    Ok((StatusCode::CREATED, Json(rollout_view(&st, rid).await?)))
}

/// `GET /admin/api/rollouts/{id}`: the rollout and each box's progress.
pub async fn get_rollout(State(st): State<AdminState>, UrlPath(id): UrlPath<i64>) -> Result<Json<serde_json::Value>> {
    Ok(Json(rollout_view(&st, id).await?))
}

/// `POST /admin/api/rollouts/{id}/resume`: go on after an automatic (or manual) pause.
pub async fn resume(
    State(st): State<AdminState>,
    Extension(caller): Extension<Caller>,
    UrlPath(id): UrlPath<i64>,
) -> Result<Json<serde_json::Value>> {
    let (mut rollout, _) = load(&st.pool, id).await?.ok_or_else(|| Error::NotFound(format!("no rollout {id}")))?;
    if !matches!(rollout.state, RolloutState::Paused { .. }) {
        return Err(Error::Conflict(format!("rollout {id} is not paused")));
    }
    let effects = rollout.resume();
    let now = st.now();
    let mut tx = st.pool.begin().await?;
    save(&mut tx, id, &rollout, now as i64).await?;
    audit::record(&mut *tx, &Entry::by(&caller, now, "rollout.resume", &id.to_string(), json!({}))).await?;
    tx.commit().await?;
    apply_effects(&st, id, &effects).await?;
    Ok(Json(rollout_view(&st, id).await?))
}

/// `POST /admin/api/rollouts/{id}/pause`: no new ring opens until resumed.
pub async fn pause(
    State(st): State<AdminState>,
    Extension(caller): Extension<Caller>,
    UrlPath(id): UrlPath<i64>,
) -> Result<Json<serde_json::Value>> {
    let (mut rollout, _) = load(&st.pool, id).await?.ok_or_else(|| Error::NotFound(format!("no rollout {id}")))?;
    if rollout.state != RolloutState::Running {
        return Err(Error::Conflict(format!("rollout {id} is not running")));
    }
    rollout.state = RolloutState::Paused { reason: format!("paused by {}", caller.username) };
    let now = st.now();
    let mut tx = st.pool.begin().await?;
    save(&mut tx, id, &rollout, now as i64).await?;
    audit::record(&mut *tx, &Entry::by(&caller, now, "rollout.pause", &id.to_string(), json!({}))).await?;
    tx.commit().await?;
    Ok(Json(rollout_view(&st, id).await?))
}

type RolloutRow = (i64, i64, i64, String, Option<String>, i64);
/// device, rollout, release, version, phase, detail, bytes, size.
type ProgressRow = (String, i64, i64, String, Option<String>, Option<String>, Option<i64>, i64);
/// device, ring, phase, detail, bytes, boots, updated_at, room.
type BoxRow = (String, i64, Option<String>, Option<String>, Option<i64>, Option<i64>, Option<i64>, Option<String>);

/// A rollout from its rows, and its release id.
async fn load(pool: &sqlx::SqlitePool, id: i64) -> Result<Option<(Rollout, i64)>> {
    let row: Option<RolloutRow> = sqlx::query_as(
        "SELECT release_id, rings, ring, state, paused_reason, max_failure_percent FROM ota_rollouts WHERE id = ?",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?;
    let Some((release, rings, ring, state, reason, max)) = row else { return Ok(None) };
    let boxes: Vec<(String, i64, Option<String>)> =
        sqlx::query_as("SELECT device_id, ring, phase FROM ota_rollout_boxes WHERE rollout_id = ?")
            .bind(id)
            .fetch_all(pool)
            .await?;
    let members = boxes
        .into_iter()
        .map(|(d, ring, phase)| {
            (d, Member { ring: ring as usize, phase: phase.as_deref().and_then(UpdatePhase::parse) })
        })
        .collect();
    let state = match state.as_str() {
        "paused" => RolloutState::Paused { reason: reason.unwrap_or_default() },
        "done" => RolloutState::Done,
        _ => RolloutState::Running,
    };
    let rollout =
        Rollout { rings: rings as usize, current: ring as usize, state, max_failure_percent: max as u8, members };
    Ok(Some((rollout, release)))
}

/// Writes the rollout's state and every box's phase (`detail` and `bytes` are the reports').
async fn save(tx: &mut sqlx::SqliteConnection, id: i64, r: &Rollout, now: i64) -> Result<()> {
    let (state, reason) = match &r.state {
        RolloutState::Running => ("running", None),
        RolloutState::Paused { reason } => ("paused", Some(reason.as_str())),
        RolloutState::Done => ("done", None),
    };
    sqlx::query("UPDATE ota_rollouts SET ring = ?, state = ?, paused_reason = ? WHERE id = ?")
        .bind(r.current as i64)
        .bind(state)
        .bind(reason)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    for (device, m) in &r.members {
        sqlx::query(
            "UPDATE ota_rollout_boxes SET phase = ?, updated_at = COALESCE(updated_at, ?) \
             WHERE rollout_id = ? AND device_id = ? AND phase IS NOT ?",
        )
        .bind(m.phase.map(UpdatePhase::name))
        .bind(now)
        .bind(id)
        .bind(device)
        .bind(m.phase.map(UpdatePhase::name))
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// Offers to the boxes of a ring that opened; pauses and completions go to the audit trail.
async fn apply_effects(st: &AdminState, rollout: i64, effects: &[Effect]) -> Result<()> {
    for effect in effects {
        match effect {
            Effect::Offer(devices) => {
                for device in devices {
                    if let Some((room, offer)) = offer_for(st, device).await? {
                        st.fleet.send(&room, HubMsg::Update(offer));
                    }
                }
            }
            Effect::Paused(reason) => {
                let entry = Entry {
                    at: st.now(),
                    actor: "hub",
                    action: "rollout.paused",
                    target: &rollout.to_string(),
                    ip: "",
                    details: json!({ "reason": reason }),
                };
                audit::record(&st.pool, &entry).await?;
                tracing::warn!(rollout, %reason, "rollout paused");
            }
            Effect::Done => {
                let entry = Entry {
                    at: st.now(),
                    actor: "hub",
                    action: "rollout.done",
                    target: &rollout.to_string(),
                    ip: "",
                    details: json!({}),
                };
                audit::record(&st.pool, &entry).await?;
            }
        }
    }
    Ok(())
}

/// The release `device` should be offered (its ring opened, not finished with it), with its
/// room: sent after the box's `hello` and when its ring opens.
pub async fn offer_for(st: &AdminState, device: &str) -> Result<Option<(RoomId, UpdateOffer)>> {
    let row: Option<(i64, String, i64, String, String, String)> = sqlx::query_as(
        "SELECT r.id, r.version, r.size, r.sha256, d.room_id, COALESCE(rm.building, '') \
         FROM ota_rollout_boxes b JOIN ota_rollouts o ON o.id = b.rollout_id \
         JOIN ota_releases r ON r.id = o.release_id JOIN admin_devices d ON d.id = b.device_id \
         LEFT JOIN admin_rooms rm ON rm.id = d.room_id \
         WHERE b.device_id = ? AND d.revoked_at IS NULL AND b.phase IS NOT NULL \
           AND b.phase NOT IN ('good', 'failed', 'rolledBack') \
         ORDER BY o.id DESC LIMIT 1",
    )
    .bind(device)
    .fetch_optional(&st.pool)
    .await?;
    let Some((release, version, size, sha256, room, building)) = row else { return Ok(None) };
    let Ok(room) = RoomId::parse(&room) else { return Ok(None) };
    let room_path = room.as_str().to_owned();
    let window = window_for(st, &building).await?;
    let offer = UpdateOffer {
        release,
        version,
        path: format!("/device/{room_path}/releases/{release}/bundle"),
        size: size as u64,
        sha256,
        window,
    };
    Ok(Some((room, offer)))
}

/// `GET /admin/api/release-windows`: each site's maintenance window (local `HH:MM` in the hub's
/// zone; building `""` is the default for the rest; without any row 02:00–05:00).
pub async fn windows(State(st): State<AdminState>) -> Result<Json<serde_json::Value>> {
    let rows: Vec<(String, i64, i64)> =
        sqlx::query_as("SELECT building, start_minute, end_minute FROM ota_windows ORDER BY building")
            .fetch_all(&st.pool)
            .await?;
    let hhmm = |m: i64| format!("{:02}:{:02}", m / 60, m % 60);
    let list: Vec<_> =
        rows.into_iter().map(|(b, s, e)| json!({ "building": b, "start": hhmm(s), "end": hhmm(e) })).collect();
    Ok(Json(json!({ "zone": st.zone, "windows": list })))
}

/// `PUT /admin/api/release-windows` `{"building": "North", "start": "02:00", "end": "05:00"}` →
/// `200`: boxes of that building reboot into a new release only then (`start` = `end`: any time).
pub async fn set_window(
    State(st): State<AdminState>,
    Extension(caller): Extension<Caller>,
    body: Body,
) -> Result<Json<serde_json::Value>> {
    body.only(&["building", "start", "end"])?;
    let building = text("building", &body.opt_string("building")?.unwrap_or_default(), 0, 100)?;
    let minute = |field: &str, v: String| {
        crate::timetable::parse_hhmm(&v, false).map_err(|e| Error::invalid(format!("{field}: {e}")))
    };
    let start = minute("start", body.string("start")?)?;
    let end = minute("end", body.string("end")?)?;
    let mut tx = st.pool.begin().await?;
    sqlx::query(
        "INSERT INTO ota_windows (building, start_minute, end_minute) VALUES (?, ?, ?)          ON CONFLICT(building) DO UPDATE SET start_minute = excluded.start_minute, end_minute = excluded.end_minute",
    )
    .bind(&building)
    .bind(start)
    .bind(end)
    .execute(&mut *tx)
    .await?;
    let details = json!({ "start": start, "end": end });
    audit::record(&mut *tx, &Entry::by(&caller, st.now(), "release.window", &building, details)).await?;
    tx.commit().await?;
    // Boxes on their way to a release hear the new window now, not at their next connection.
    let on_the_way: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT b.device_id FROM ota_rollout_boxes b JOIN ota_rollouts o ON o.id = b.rollout_id \
         WHERE o.state != 'done' AND b.phase IS NOT NULL AND b.phase NOT IN ('good', 'failed', 'rolledBack')",
    )
    .fetch_all(&st.pool)
    .await?;
    for device in on_the_way {
        if let Some((room, offer)) = offer_for(&st, &device).await? {
            st.fleet.send(&room, HubMsg::Update(offer));
        }
    }
    windows(State(st)).await
}

/// The site's window in the hub's zone, as UTC minutes for today.
async fn window_for(st: &AdminState, building: &str) -> Result<MaintenanceWindow> {
    let row: Option<(i64, i64)> = sqlx::query_as(
        "SELECT start_minute, end_minute FROM ota_windows WHERE building IN (?, '') ORDER BY building = '' LIMIT 1",
    )
    .bind(building)
    .fetch_optional(&st.pool)
    .await?;
    let (start, end) = row.map_or(DEFAULT_WINDOW, |(s, e)| (s.clamp(0, 1439) as u16, e.clamp(0, 1439) as u16));
    Ok(utc_window(&st.zone, start, end, st.now()))
}

/// A local window `start..end` (minutes after local midnight) in `zone` as UTC minutes, taken on
/// the day of `unix_secs` (the hub sends it again with each offer, so DST changes follow).
pub fn utc_window(zone: &str, start: u16, end: u16, unix_secs: u64) -> MaintenanceWindow {
    let length = (end + 1440 - start) % 1440;
    let length = if length == 0 { 1440 } else { length };
    let offset_min = crate::timetable::zone(zone)
        .ok()
        .and_then(|tz| {
            let ts = jiff::Timestamp::from_second(unix_secs as i64).ok()?;
            Some(tz.to_offset(ts).seconds() / 60)
        })
        .unwrap_or(0);
    let start_utc = (i32::from(start) - offset_min).rem_euclid(1440) as u16;
    MaintenanceWindow { start_utc_minute: start_utc, length_minutes: length }
}

/// A box reported a step: its row, then the rollout (which may open a ring or pause).
pub async fn on_update_status(st: &AdminState, device: &str, status: &UpdateStatus) -> Result<()> {
    let rollout: Option<i64> = sqlx::query_scalar(
        "SELECT b.rollout_id FROM ota_rollout_boxes b JOIN ota_rollouts o ON o.id = b.rollout_id \
         WHERE b.device_id = ? AND o.release_id = ? AND b.phase IS NOT NULL ORDER BY o.id DESC LIMIT 1",
    )
    .bind(device)
    .bind(status.release)
    .fetch_optional(&st.pool)
    .await?;
    let Some(id) = rollout else { return Ok(()) };
    let now = st.now() as i64;
    sqlx::query(
        "UPDATE ota_rollout_boxes SET detail = ?, bytes = COALESCE(?, bytes), boots = COALESCE(?, boots), updated_at = ? \
         WHERE rollout_id = ? AND device_id = ?",
    )
    .bind(&status.detail)
    .bind(status.bytes.map(|b| b as i64))
    .bind(status.boots.map(i64::from))
    .bind(now)
    .bind(id)
    .bind(device)
    .execute(&st.pool)
    .await?;
    let Some((mut rollout, _)) = load(&st.pool, id).await? else { return Ok(()) };
    let effects = rollout.report(device, status.phase);
    let mut tx = st.pool.begin().await?;
    save(&mut tx, id, &rollout, now).await?;
    tx.commit().await?;
    apply_effects(st, id, &effects).await
}

/// Each box's part in the newest rollout that includes it, by device id (the fleet view).
pub async fn progress_by_device(pool: &sqlx::SqlitePool) -> Result<HashMap<String, BoxUpdate>> {
    let rows: Vec<ProgressRow> = sqlx::query_as(
        "SELECT b.device_id, o.id, r.id, r.version, b.phase, b.detail, b.bytes, r.size \
         FROM ota_rollout_boxes b JOIN ota_rollouts o ON o.id = b.rollout_id JOIN ota_releases r ON r.id = o.release_id \
         ORDER BY o.id",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(device, rollout, release, version, phase, detail, bytes, size)| {
            let phase = phase.unwrap_or_else(|| "waiting".to_owned());
            (device, BoxUpdate { rollout, release, version, phase, detail, bytes, size })
        })
        .collect())
}

async fn rollout_view(st: &AdminState, id: i64) -> Result<serde_json::Value> {
    let (rollout, release) = load(&st.pool, id).await?.ok_or_else(|| Error::NotFound(format!("no rollout {id}")))?;
    let version: String =
        sqlx::query_scalar("SELECT version FROM ota_releases WHERE id = ?").bind(release).fetch_one(&st.pool).await?;
    let boxes: Vec<BoxRow> = sqlx::query_as(
        "SELECT b.device_id, b.ring, b.phase, b.detail, b.bytes, b.boots, b.updated_at, d.room_id \
             FROM ota_rollout_boxes b LEFT JOIN admin_devices d ON d.id = b.device_id \
             WHERE b.rollout_id = ? ORDER BY b.ring, b.device_id",
    )
    .bind(id)
    .fetch_all(&st.pool)
    .await?;
    let rings: Vec<_> = (0..rollout.rings)
        .map(|r| {
            let (done, failed, size) = rollout.ring_counts(r);
            json!({ "ring": r, "size": size, "done": done, "failed": failed })
        })
        .collect();
    let boxes: Vec<_> = boxes
        .into_iter()
        .map(|(device, ring, phase, detail, bytes, boots, updated_at, room)| {
            json!({ "device": device, "room": room, "ring": ring, "phase": phase.unwrap_or_else(|| "waiting".into()),
                    "detail": detail, "bytes": bytes, "boots": boots, "updatedAt": updated_at })
        })
        .collect();
    Ok(json!({
        "id": id, "release": release, "version": version, "state": rollout.state, "ring": rollout.current,
        "maxFailurePercent": rollout.max_failure_percent, "rings": rings, "boxes": boxes,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_resume_and_refuse_what_cannot_be_served() {
        assert_eq!(parse_range("bytes=0-", 10), Some((0, 10)));
        assert_eq!(parse_range("bytes=4-", 10), Some((4, 10)));
        assert_eq!(parse_range("bytes=2-5", 10), Some((2, 6)));
        assert_eq!(parse_range("bytes=2-50", 10), Some((2, 10)));
        assert_eq!(parse_range("bytes=10-", 10), None);
        assert_eq!(parse_range("bytes=-5", 10), None, "suffix ranges are not needed by boxes");
        assert_eq!(parse_range("items=1-", 10), None);
    }

    #[test]
    fn a_local_window_becomes_utc_minutes_with_the_zone_of_the_day() {
        // 2027-01-15 and 2027-07-15, Europe/Berlin (UTC+1, then UTC+2): 02:00–05:00 local.
        let winter = utc_window("Europe/Berlin", 120, 300, 1_800_000_000);
        assert_eq!(winter, MaintenanceWindow { start_utc_minute: 60, length_minutes: 180 });
        let summer = utc_window("Europe/Berlin", 120, 300, 1_815_000_000);
        assert_eq!(summer.start_utc_minute, 0);
        let over_midnight = utc_window("UTC", 23 * 60, 60, 0);
        assert_eq!(over_midnight, MaintenanceWindow { start_utc_minute: 1380, length_minutes: 120 });
    }

    #[test]
    fn query_parameters_are_decoded() {
        let p = query_params("version=1.2.0&notes=Fixes+the+%E2%9C%93+camera%21&x");
        assert_eq!(p["version"], "1.2.0");
        assert_eq!(p["notes"], "Fixes the ✓ camera!");
        assert_eq!(decode("100%"), "100%");
    }
}
