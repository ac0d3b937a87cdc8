//! The resumable download: `GET` with the device token and `Range: bytes={have}-`, appended to a
//! partial file in the data dir, so a cut connection costs only what was in flight. Blocking
//! (ureq), on the update thread.

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use sha2::{Digest, Sha256};

/// How a download ended: with `have` bytes on disk either way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    Complete { have: u64 },
    Failed { have: u64, reason: String },
}

/// Where the bytes come from.
pub struct Source<'a> {
    pub agent: &'a ureq::Agent,
    pub url: &'a str,
    /// `Bearer …`.
    pub authorization: &'a str,
}

/// Size of the partial file (0 when there is none).
pub fn have(partial: &Path) -> u64 {
    std::fs::metadata(partial).map(|m| m.len()).unwrap_or(0)
}

/// Fetches bytes `from..size` into `partial` (truncated to `from` first), calling `progress`
/// with the bytes on disk every `every` bytes.
pub fn fetch(src: &Source<'_>, partial: &Path, from: u64, size: u64, progress: &mut dyn FnMut(u64)) -> Fetched {
    let failed = |have: u64, reason: String| Fetched::Failed { have, reason };
    let mut file = match OpenOptions::new().create(true).write(true).truncate(false).open(partial) {
        Ok(f) => f,
        Err(e) => return failed(0, format!("{}: {e}", partial.display())),
    };
    let start = from.min(have(partial));
    if let Err(e) = file.set_len(start) {
        return failed(0, format!("{}: {e}", partial.display()));
    }
    if start >= size {
        return Fetched::Complete { have: start };
    }
    let response = src
        .agent
        .get(src.url)
        .header("Authorization", src.authorization)
        .header("Range", &format!("bytes={start}-"))
        .config()
        .http_status_as_error(false)
        .timeout_global(None)
        .timeout_recv_body(Some(Duration::from_secs(30)))
        .build()
        .call();
    let mut response = match response {
        Ok(r) => r,
        Err(e) => return failed(start, e.to_string()),
    };
    let status = response.status().as_u16();
    let mut at = match status {
        206 => {
            let range = response.headers().get("content-range").and_then(|v| v.to_str().ok()).unwrap_or_default();
            if !range.starts_with(&format!("bytes {start}-")) {
                return failed(start, format!("the hub answered range '{range}' to bytes={start}-"));
            }
            start
        }
        // The whole file: start again from the first byte.
        200 => {
            if let Err(e) = file.set_len(0) {
                return failed(0, format!("{}: {e}", partial.display()));
            }
            0
        }
        s => return failed(start, format!("the hub answered {s}")),
    };
    use std::io::Seek;
    if let Err(e) = file.seek(std::io::SeekFrom::Start(at)) {
        return failed(at, format!("{}: {e}", partial.display()));
    }
    let mut body = response.body_mut().with_config().limit(size.saturating_sub(at).saturating_add(1)).reader();
    let mut buf = vec![0u8; 64 * 1024];
    let mut reported = at;
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => return failed(at, e.to_string()),
        };
        if let Err(e) = file.write_all(&buf[..n]) {
            return failed(at, format!("{}: {e}", partial.display()));
        }
        at += n as u64;
        if at > size {
            return failed(at, format!("more than the {size} bytes offered"));
        }
        if at - reported > size / 20 {
            reported = at;
            progress(at);
        }
    }
    if let Err(e) = file.sync_all() {
        return failed(at, format!("{}: {e}", partial.display()));
    }
    if at < size {
        failed(at, format!("connection closed at {at} of {size} bytes"))
    } else {
        Fetched::Complete { have: at }
    }
}

/// SHA-256 of a file, lower-case hex.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}
