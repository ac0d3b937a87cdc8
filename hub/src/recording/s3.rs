//! Recordings in an S3-compatible bucket ([`S3`]), behind the same [`Storage`] trait as the local disk.
//!
//! A box sends 1 MiB chunks; S3 wants multipart parts of at least 5 MiB (all but the last). So the
//! partial file is staged on the hub's disk ([`LocalDisk`] under `<data_dir>/recordings-staging`),
//! and every time it holds another whole [`PART_BYTES`] part, that part goes to the bucket as part
//! `n` of a multipart upload. `finish` sends the short last part and completes the upload; the
//! staged copy is then removed. The multipart upload's id and the parts' ETags are kept beside the
//! staged file (`<staging>/multipart/<lesson>/<name>.json`, written atomically), so an upload
//! resumes after a hub restart: part `n` always covers bytes `(n-1)·P .. n·P`, and a part whose
//! bytes an append rewrote is simply sent again (S3 keeps the last upload of a part number).
//!
//! Signing is `rusty-s3` (sans-IO: it makes presigned URLs); the requests go through a blocking
//! `ureq` agent on `spawn_blocking`. Each part and single-request object carries `Content-MD5`,
//! so the bucket refuses a damaged one; the whole file's SHA-256 is checked on the staged copy,
//! which is what the bucket received.

use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use base64::Engine;
use md5::Digest as _;
use rusty_s3::actions::{CompleteMultipartUpload, CreateMultipartUpload, ListObjectsV2};
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};
use sha2::{Digest as _, Sha256};

use super::storage::{ByteStream, LocalDisk, ObjectKey, Storage, StorageError, StorageFuture, StorageResult, Totals};
use crate::config::S3Settings;

/// The size of every multipart part but the last (S3's minimum is 5 MiB; 8 MiB is what AWS's
/// own CLI uses). 10,000 parts of it hold 80 GiB, past the uploads' 64 GiB limit.
pub const PART_BYTES: u64 = 8 * 1024 * 1024;
/// How long a signed request stays valid: it is sent at once.
const SIGNED_FOR: Duration = Duration::from_secs(300);
const READ_BUF: usize = 64 * 1024;

/// An S3 bucket holding recordings under a key prefix, with a local staging directory.
#[derive(Clone)]
pub struct S3 {
    inner: Arc<Inner>,
}

struct Inner {
    bucket: Bucket,
    credentials: Credentials,
    agent: ureq::Agent,
    /// Prepended to `<lesson>/<name>`: `recordings/`.
    prefix: String,
    staging: LocalDisk,
    multipart: PathBuf,
}

/// The multipart upload of a staged file: its id and the ETags of parts 1..=n, in order.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct Multipart {
    upload_id: String,
    etags: Vec<String>,
}

/// A request's answer: status, ETag and body (bodies here are small XML documents).
struct Answer {
    status: u16,
    etag: Option<String>,
    length: Option<u64>,
    body: String,
}

impl S3 {
    /// A bucket per `settings`; staged partial files under `staging`; objects under `prefix`.
    pub fn new(settings: &S3Settings, staging: PathBuf, prefix: &str) -> anyhow::Result<Self> {
        let endpoint =
            settings.endpoint.parse().map_err(|e| anyhow::anyhow!("storage.endpoint: '{}': {e}", settings.endpoint))?;
        let bucket = Bucket::new(endpoint, UrlStyle::Path, settings.bucket.clone(), settings.region.clone())
            .map_err(|e| anyhow::anyhow!("storage.bucket: '{}': {e}", settings.bucket))?;
        let credentials = Credentials::new(settings.access_key_id.clone(), settings.secret_access_key.clone());
        Ok(Self {
            inner: Arc::new(Inner {
                bucket,
                credentials,
                agent: agent(),
                prefix: prefix.to_owned(),
                staging: LocalDisk::new(staging.join("data")),
                multipart: staging.join("multipart"),
            }),
        })
    }

    /// Whether the bucket is there and these credentials may use it: the hub refuses to start
    /// otherwise, so a typo shows at once rather than at the first lesson's upload.
    pub async fn check(&self) -> anyhow::Result<()> {
        let inner = Arc::clone(&self.inner);
        let answer = tokio::task::spawn_blocking(move || {
            let url = inner.bucket.head_bucket(Some(&inner.credentials)).sign(SIGNED_FOR);
            inner.send("HEAD", url.as_str(), &[], None)
        })
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .map_err(|e| anyhow::anyhow!("storage: bucket '{}' is not reachable: {e}", self.inner.bucket.name()))?;
        match answer.status {
            200..=299 => Ok(()),
            404 => anyhow::bail!("storage.bucket: '{}' does not exist at the endpoint", self.inner.bucket.name()),
            403 | 401 => anyhow::bail!(
                "storage: the access key may not use bucket '{}' (HTTP {}): check access_key_id and the secret",
                self.inner.bucket.name(),
                answer.status
            ),
            s => anyhow::bail!("storage: bucket '{}' answered HTTP {s}", self.inner.bucket.name()),
        }
    }

    /// Where staged partial files are (for tests and the totals).
    pub fn staging(&self) -> &LocalDisk {
        &self.inner.staging
    }

    /// The object's name in the bucket.
    pub fn object_name(&self, key: &ObjectKey) -> String {
        self.inner.object(key)
    }

    fn blocking<'a, T: Send + 'static>(
        &self,
        key: &ObjectKey,
        f: impl FnOnce(&Inner) -> StorageResult<T> + Send + 'static,
    ) -> StorageFuture<'a, T> {
        let inner = Arc::clone(&self.inner);
        let name = key.to_string();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || f(&inner))
                .await
                .unwrap_or_else(|e| Err(StorageError::Io { key: name, source: std::io::Error::other(e.to_string()) }))
        })
    }
}

/// The agent S3 requests go through: the system's roots, bounded connect and answer times, no
/// whole-request timeout (a download streams as long as the viewer watches).
fn agent() -> ureq::Agent {
    let native = rustls_native_certs::load_native_certs();
    let certs: Vec<ureq::tls::Certificate<'static>> =
        native.certs.iter().map(|c| ureq::tls::Certificate::from_der(c.as_ref()).to_owned()).collect();
    let tls = ureq::tls::TlsConfig::builder()
        .provider(ureq::tls::TlsProvider::Rustls)
        .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .root_certs(ureq::tls::RootCerts::new_with_certs(&certs))
        .build();
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(10)))
        .timeout_recv_response(Some(Duration::from_secs(60)))
        .timeout_per_read(Some(Duration::from_secs(60)))
        .max_redirects(0)
        .tls_config(tls)
        .build()
        .into()
}

fn io(key: &ObjectKey, e: impl std::fmt::Display) -> StorageError {
    StorageError::Io { key: key.to_string(), source: std::io::Error::other(e.to_string()) }
}

/// S3's error code from an error answer's XML (`<Code>NoSuchKey</Code>`), for the log and errors.
fn error_code(body: &str) -> &str {
    body.split_once("<Code>").and_then(|(_, rest)| rest.split_once("</Code>")).map_or("", |(code, _)| code)
}

fn content_md5(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(data))
}

impl Inner {
    fn object(&self, key: &ObjectKey) -> String {
        format!("{}{}/{}", self.prefix, key.lesson(), key.name())
    }

    fn state_path(&self, key: &ObjectKey) -> PathBuf {
        self.multipart.join(key.lesson().as_str()).join(format!("{}.json", key.name()))
    }

    /// Sends one signed request. The URL carries the signature: errors name the method and status, never it.
    fn send(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, String)],
        body: Option<Vec<u8>>,
    ) -> std::io::Result<Answer> {
        let mut req = ureq::http::Request::builder().method(method).uri(url);
        for (name, value) in headers {
            req = req.header(*name, value);
        }
        let req = req.body(body.unwrap_or_default()).map_err(std::io::Error::other)?;
        let mut resp = self.agent.run(req).map_err(|e| std::io::Error::other(format!("S3 {method}: {e}")))?;
        let header = |name: &str| resp.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let etag = header("etag");
        let length = header("content-length").and_then(|v| v.parse().ok());
        let status = resp.status().as_u16();
        let body = if method == "HEAD" {
            String::new()
        } else {
            resp.body_mut().with_config().limit(1 << 20).read_to_string().unwrap_or_default()
        };
        Ok(Answer { status, etag, length, body })
    }

    /// `send`, where anything but 2xx is an error naming S3's code.
    fn send_ok(
        &self,
        key: &ObjectKey,
        what: &str,
        method: &str,
        url: &str,
        headers: &[(&str, String)],
        body: Option<Vec<u8>>,
    ) -> StorageResult<Answer> {
        let answer = self.send(method, url, headers, body).map_err(|e| io(key, e))?;
        if !(200..300).contains(&answer.status) {
            return Err(io(key, format!("S3 {what}: HTTP {} {}", answer.status, error_code(&answer.body))));
        }
        Ok(answer)
    }

    fn load(&self, key: &ObjectKey) -> StorageResult<Option<Multipart>> {
        match std::fs::read(self.state_path(key)) {
            Ok(bytes) => Ok(serde_json::from_slice(&bytes).ok()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(key, e)),
        }
    }

    /// Written to a temporary file, synced, renamed: a crash leaves the old state or the new one.
    fn save(&self, key: &ObjectKey, m: &Multipart) -> StorageResult<()> {
        let path = self.state_path(key);
        let write = || -> std::io::Result<()> {
            let dir = path.parent().ok_or_else(|| std::io::Error::other("no parent"))?;
            std::fs::create_dir_all(dir)?;
            let tmp = path.with_extension("json.tmp");
            let mut file = std::fs::File::create(&tmp)?;
            std::io::Write::write_all(&mut file, &serde_json::to_vec(m).map_err(std::io::Error::other)?)?;
            file.sync_all()?;
            std::fs::rename(&tmp, &path)?;
            std::fs::File::open(dir)?.sync_all()
        };
        write().map_err(|e| io(key, e))
    }

    fn forget(&self, key: &ObjectKey) -> StorageResult<()> {
        let path = self.state_path(key);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(key, e)),
            _ => {}
        }
        if let Some(dir) = path.parent() {
            let _ = std::fs::remove_dir(dir);
        }
        Ok(())
    }

    /// Bytes `range` of the staged partial file.
    fn staged(&self, key: &ObjectKey, range: Range<u64>) -> StorageResult<Vec<u8>> {
        let read = || -> std::io::Result<Vec<u8>> {
            let mut file = std::fs::File::open(self.staging.part_path(key))?;
            file.seek(SeekFrom::Start(range.start))?;
            let mut buf = Vec::with_capacity(usize::try_from(range.end - range.start).unwrap_or(0));
            file.take(range.end - range.start).read_to_end(&mut buf)?;
            if (buf.len() as u64) < range.end - range.start {
                return Err(std::io::Error::other(format!("the staged file ends before byte {}", range.end)));
            }
            Ok(buf)
        };
        read().map_err(|e| io(key, e))
    }

    fn create_upload(&self, key: &ObjectKey) -> StorageResult<Multipart> {
        let object = self.object(key);
        // Signed by hand: rusty-s3 sends `?uploads=1`, which moto (and strict routers) do not take
        // for CreateMultipartUpload; `?uploads=` is what AWS's own SDKs send.
        let url = rusty_s3::signing::sign(
            &jiff::Timestamp::now(),
            rusty_s3::Method::Post,
            self.bucket.object_url(&object),
            self.credentials.key(),
            self.credentials.secret(),
            self.credentials.token(),
            self.bucket.region(),
            SIGNED_FOR.as_secs(),
            std::iter::once(("uploads", "")),
            std::iter::empty(),
        );
        let answer = self.send_ok(key, "CreateMultipartUpload", "POST", url.as_str(), &[], None)?;
        let parsed = CreateMultipartUpload::parse_response(&answer.body).map_err(|e| io(key, e))?;
        Ok(Multipart { upload_id: parsed.upload_id().to_owned(), etags: Vec::new() })
    }

    /// Sends part `n` (1-based) of the staged file, `n·P` or `end` long, and records its ETag.
    fn put_part(&self, key: &ObjectKey, m: &mut Multipart, end: u64) -> StorageResult<()> {
        let n = m.etags.len() as u64 + 1;
        let start = (n - 1) * PART_BYTES;
        let data = self.staged(key, start..end.min(n * PART_BYTES))?;
        let number = u16::try_from(n).map_err(|_| io(key, "more than 65535 parts"))?;
        let object = self.object(key);
        let url = self.bucket.upload_part(Some(&self.credentials), &object, number, &m.upload_id).sign(SIGNED_FOR);
        let headers = [("content-md5", content_md5(&data))];
        let answer = self.send_ok(key, "UploadPart", "PUT", url.as_str(), &headers, Some(data))?;
        let etag = answer.etag.ok_or_else(|| io(key, "S3 UploadPart: no ETag in the answer"))?;
        m.etags.push(etag);
        self.save(key, m)
    }

    /// After an append that left the staged file `end` bytes long, rewriting from `offset`:
    /// parts touched by the rewrite are forgotten, whole parts not sent yet are sent.
    fn flush(&self, key: &ObjectKey, offset: u64, end: u64) -> StorageResult<()> {
        let mut state = self.load(key)?;
        if let Some(m) = &mut state {
            let keep = usize::try_from(offset / PART_BYTES).unwrap_or(usize::MAX).min(m.etags.len());
            if keep < m.etags.len() {
                m.etags.truncate(keep);
                self.save(key, m)?;
            }
        }
        if end < PART_BYTES * (state.as_ref().map_or(0, |m| m.etags.len() as u64) + 1) {
            return Ok(());
        }
        let mut m = match state {
            Some(m) => m,
            None => {
                let m = self.create_upload(key)?;
                self.save(key, &m)?;
                m
            }
        };
        while (m.etags.len() as u64 + 1) * PART_BYTES <= end {
            self.put_part(key, &mut m, end)?;
        }
        Ok(())
    }

    fn head(&self, key: &ObjectKey) -> StorageResult<Option<u64>> {
        let object = self.object(key);
        let url = self.bucket.head_object(Some(&self.credentials), &object).sign(SIGNED_FOR);
        let answer = self.send("HEAD", url.as_str(), &[], None).map_err(|e| io(key, e))?;
        match answer.status {
            200..=299 => Ok(Some(answer.length.unwrap_or(0))),
            404 => Ok(None),
            s => Err(io(key, format!("S3 HeadObject: HTTP {s}"))),
        }
    }

    fn finish(&self, key: &ObjectKey, len: u64) -> StorageResult<()> {
        let staged = self.staging.part_path(key);
        let staged_len = std::fs::metadata(&staged).map(|m| m.len()).ok();
        // Done before (the row's update was lost, or a crash came after completing): the object is there.
        if self.head(key)? == Some(len) {
            return self.clean(key);
        }
        let Some(staged_len) = staged_len else {
            return Err(StorageError::NotFound { key: key.to_string() });
        };
        if staged_len < len {
            return Err(StorageError::Behind { key: key.to_string(), have: staged_len, expected: len });
        }
        let object = self.object(key);
        match self.load(key)? {
            // Small enough for one request (or only the last, short part would be sent): a plain PUT.
            None if len <= PART_BYTES => {
                let data = self.staged(key, 0..len)?;
                let url = self.bucket.put_object(Some(&self.credentials), &object).sign(SIGNED_FOR);
                let headers = [("content-md5", content_md5(&data))];
                self.send_ok(key, "PutObject", "PUT", url.as_str(), &headers, Some(data))?;
            }
            state => {
                let mut m = match state {
                    Some(m) => m,
                    None => self.create_upload(key)?,
                };
                let keep = usize::try_from(len / PART_BYTES).unwrap_or(usize::MAX).min(m.etags.len());
                m.etags.truncate(keep);
                while (m.etags.len() as u64) * PART_BYTES < len {
                    self.put_part(key, &mut m, len)?;
                }
                let etags = m.etags.iter().map(String::as_str);
                let complete =
                    CompleteMultipartUpload::new(&self.bucket, Some(&self.credentials), &object, &m.upload_id, etags);
                let url = complete.sign(SIGNED_FOR);
                let answer = self.send_ok(
                    key,
                    "CompleteMultipartUpload",
                    "POST",
                    url.as_str(),
                    &[],
                    Some(complete.body().into_bytes()),
                )?;
                // S3 may answer 200 with an error document once it has started sending.
                if answer.body.contains("<Error>") {
                    return Err(io(key, format!("S3 CompleteMultipartUpload: {}", error_code(&answer.body))));
                }
            }
        }
        match self.head(key)? {
            Some(have) if have == len => self.clean(key),
            other => Err(io(key, format!("the bucket holds {other:?} bytes after the upload, not {len}"))),
        }
    }

    /// The staged copy and the multipart state go once the object is complete.
    fn clean(&self, key: &ObjectKey) -> StorageResult<()> {
        let part = self.staging.part_path(key);
        match std::fs::remove_file(&part) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(key, e)),
            _ => {}
        }
        if let Some(dir) = part.parent() {
            let _ = std::fs::remove_dir(dir);
        }
        self.forget(key)
    }

    fn delete(&self, key: &ObjectKey) -> StorageResult<()> {
        let object = self.object(key);
        if let Some(m) = self.load(key)? {
            let url =
                self.bucket.abort_multipart_upload(Some(&self.credentials), &object, &m.upload_id).sign(SIGNED_FOR);
            let answer = self.send("DELETE", url.as_str(), &[], None).map_err(|e| io(key, e))?;
            // 404: completed or aborted already.
            if !(200..300).contains(&answer.status) && answer.status != 404 {
                return Err(io(key, format!("S3 AbortMultipartUpload: HTTP {}", answer.status)));
            }
        }
        let url = self.bucket.delete_object(Some(&self.credentials), &object).sign(SIGNED_FOR);
        let answer = self.send("DELETE", url.as_str(), &[], None).map_err(|e| io(key, e))?;
        if !(200..300).contains(&answer.status) && answer.status != 404 {
            return Err(io(key, format!("S3 DeleteObject: HTTP {} {}", answer.status, error_code(&answer.body))));
        }
        self.clean(key)
    }

    /// Files and bytes of the finished objects under the prefix (every page of the listing).
    fn listed(&self) -> std::io::Result<(u64, u64)> {
        let (mut files, mut bytes) = (0, 0);
        let mut token: Option<String> = None;
        loop {
            let mut list = ListObjectsV2::new(&self.bucket, Some(&self.credentials));
            list.with_prefix(self.prefix.as_str());
            if let Some(t) = &token {
                list.with_continuation_token(t.as_str());
            }
            let url = list.sign(SIGNED_FOR);
            let answer = self.send("GET", url.as_str(), &[], None)?;
            if !(200..300).contains(&answer.status) {
                return Err(std::io::Error::other(format!(
                    "S3 ListObjectsV2: HTTP {} {}",
                    answer.status,
                    error_code(&answer.body)
                )));
            }
            let page = ListObjectsV2::parse_response(&answer.body).map_err(std::io::Error::other)?;
            for object in &page.contents {
                files += 1;
                bytes += object.size.unwrap_or(0);
            }
            match page.next_continuation_token {
                Some(t) => token = Some(t),
                None => return Ok((files, bytes)),
            }
        }
    }
}

impl Storage for S3 {
    fn append<'a>(&'a self, key: &'a ObjectKey, offset: u64, data: Bytes) -> StorageFuture<'a, ()> {
        Box::pin(async move {
            let end = offset + data.len() as u64;
            self.inner.staging.append(key, offset, data).await?;
            let k = key.clone();
            self.blocking(key, move |inner| inner.flush(&k, offset, end)).await
        })
    }

    fn digest<'a>(&'a self, key: &'a ObjectKey, len: u64) -> StorageFuture<'a, [u8; 32]> {
        Box::pin(async move {
            match self.inner.staging.digest(key, len).await {
                Err(StorageError::NotFound { .. }) => {}
                other => return other,
            }
            // Finished already (a finish whose row update was lost): hash what the bucket holds.
            let mut stream = self.open_range(key, 0..len).await?;
            let mut hasher = Sha256::new();
            while let Some(chunk) = futures_util::StreamExt::next(&mut stream).await {
                hasher.update(chunk.map_err(|e| io(key, e))?);
            }
            Ok(hasher.finalize().into())
        })
    }

    fn finish<'a>(&'a self, key: &'a ObjectKey, len: u64) -> StorageFuture<'a, ()> {
        let k = key.clone();
        self.blocking(key, move |inner| inner.finish(&k, len))
    }

    fn open_range<'a>(&'a self, key: &'a ObjectKey, range: Range<u64>) -> StorageFuture<'a, ByteStream> {
        let inner = Arc::clone(&self.inner);
        let k = key.clone();
        Box::pin(async move {
            if range.is_empty() {
                return Ok(Box::pin(futures_util::stream::empty()) as ByteStream);
            }
            let opened = tokio::task::spawn_blocking(move || -> StorageResult<_> {
                let object = inner.object(&k);
                let url = inner.bucket.get_object(Some(&inner.credentials), &object).sign(SIGNED_FOR);
                let req = ureq::http::Request::builder()
                    .method("GET")
                    .uri(url.as_str())
                    .header("range", format!("bytes={}-{}", range.start, range.end - 1))
                    .body(())
                    .map_err(|e| io(&k, e))?;
                let resp = inner.agent.run(req).map_err(|e| io(&k, format!("S3 GetObject: {e}")))?;
                match resp.status().as_u16() {
                    206 => Ok(resp.into_body().into_reader()),
                    // A server that ignores `Range` sends the whole object: right only from byte 0.
                    200 if range.start == 0 => Ok(resp.into_body().into_reader()),
                    200 => Err(io(&k, "S3 GetObject: the server ignored the Range header")),
                    404 => Err(StorageError::NotFound { key: k.to_string() }),
                    s => Err(io(&k, format!("S3 GetObject: HTTP {s}"))),
                }
            })
            .await
            .map_err(|e| io(key, e))??;
            // The body is read on a blocking thread and handed over a small channel: a slow viewer
            // holds at most a few buffers.
            let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(4);
            let left = range.end - range.start;
            tokio::task::spawn_blocking(move || {
                let mut reader = opened.take(left);
                loop {
                    let mut buf = vec![0u8; READ_BUF];
                    match reader.read(&mut buf) {
                        Ok(0) => return,
                        Ok(n) => {
                            buf.truncate(n);
                            if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                                return;
                            }
                        }
                        Err(e) => {
                            let _ = tx.blocking_send(Err(e));
                            return;
                        }
                    }
                }
            });
            let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) });
            Ok(Box::pin(stream) as ByteStream)
        })
    }

    fn delete<'a>(&'a self, key: &'a ObjectKey) -> StorageFuture<'a, ()> {
        let k = key.clone();
        self.blocking(key, move |inner| inner.delete(&k))
    }

    fn totals(&self) -> StorageFuture<'_, Totals> {
        Box::pin(async move {
            let staged = self.inner.staging.totals().await?;
            let inner = Arc::clone(&self.inner);
            let (files, bytes) = tokio::task::spawn_blocking(move || inner.listed())
                .await
                .map_err(|e| StorageError::Io {
                    key: "recordings".into(),
                    source: std::io::Error::other(e.to_string()),
                })?
                .map_err(|e| StorageError::Io { key: "recordings".into(), source: e })?;
            Ok(Totals { files, bytes, partial_files: staged.partial_files, partial_bytes: staged.partial_bytes })
        })
    }
}
