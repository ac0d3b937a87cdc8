//! Releases and staged rollouts (`docs/ota.md`): an admin uploads a RAUC bundle (streamed to
//! `<data_dir>/releases/`, size-limited, SHA-256 taken on the way, signature checked with
//! `rauc info --keyring` when the hub has `rauc` and a keyring), then rolls it out ring by ring
//! ([`crate::rollout`]). Boxes hear of it on their control channel (`HubMsg::Update`), fetch the
//! bundle with their device token ([`delivery::serve_bundle`]) and report every step, which moves the
//! rollout on or pauses it. Tables: `hub/migrations/0012_ota.sql`.

mod delivery;
mod rollouts;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use axum::Json;
use axum::extract::{Extension, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::audit::{self, Entry};
use crate::error::{Error, Result};
use crate::json::text;
use crate::session::Caller;
use crate::{AdminState, random_hex};

pub use delivery::{offer_for, parse_range, serve_bundle, set_window, utc_window, windows};
use rollouts::rollout_view;
pub use rollouts::{get_rollout, on_update_status, pause, progress_by_device, resume, start_rollout};

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
    let taken: Option<i64> = sqlx::query_scalar("SELECT id FROM ota_releases WHERE version = $1")
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
    let kept = keep(&st, &caller, &dir, &partial, (&version, &notes, &sha256, size, signature), now).await;
    let id = match kept {
        Ok(id) => id,
        Err(e) => {
            // The same version uploaded twice at once, or the disk: nothing is left half-kept.
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(e);
        }
    };
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

/// The release's row, its audit entry and its file, together (`id` of the new row).
async fn keep(
    st: &AdminState,
    caller: &Caller,
    dir: &Path,
    partial: &Path,
    (version, notes, sha256, size, signature): (&str, &str, &str, u64, &str),
    now: i64,
) -> Result<i64> {
    let mut tx = st.pool.begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO ota_releases (version, notes, sha256, size, signature, uploaded_at, uploaded_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(version)
    .bind(notes)
    .bind(sha256)
    .bind(size as i64)
    .bind(signature)
    .bind(now)
    .bind(&caller.username)
    .fetch_one(&mut *tx)
    .await?;
    let details = json!({ "id": id, "sha256": sha256, "size": size, "signature": signature });
    audit::record(&mut *tx, &Entry::by(caller, now as u64, "release.upload", version, details)).await?;
    tokio::fs::rename(partial, bundle_path(dir, id))
        .await
        .map_err(|e| Error::Internal(format!("keeping the bundle: {e}")))?;
    tx.commit().await?;
    Ok(id)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_are_decoded() {
        let p = query_params("version=1.2.0&notes=Fixes+the+%E2%9C%93+camera%21&x");
        assert_eq!(p["version"], "1.2.0");
        assert_eq!(p["notes"], "Fixes the ✓ camera!");
        assert_eq!(decode("100%"), "100%");
    }
}
