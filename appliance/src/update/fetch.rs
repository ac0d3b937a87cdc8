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

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;

    use super::*;

    /// A one-file HTTP server honouring `Range: bytes=N-`; the first response is cut after `cut`
    /// bytes of body (the connection closes), later ones are whole. Returns its URL and the ranges asked.
    fn server(body: Vec<u8>, cut: usize) -> (String, std::sync::mpsc::Receiver<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/bundle", listener.local_addr().unwrap());
        let (tx, asked) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for (n, stream) in listener.incoming().enumerate() {
                let Ok(mut stream) = stream else { return };
                let mut range = String::new();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("range: bytes=") {
                        range = v.trim().trim_end_matches('-').to_owned();
                    }
                }
                let _ = tx.send(range.clone());
                let start: usize = range.parse().unwrap_or(0);
                let len = body.len() - start;
                let head = format!(
                    "HTTP/1.1 206 Partial Content\r\nContent-Length: {len}\r\nContent-Range: bytes {start}-{}/{}\r\nConnection: close\r\n\r\n",
                    body.len() - 1,
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let end = if n == 0 { (start + cut).min(body.len()) } else { body.len() };
                let _ = stream.write_all(&body[start..end]);
            }
        });
        (url, asked)
    }

    #[test]
    fn a_cut_download_resumes_with_a_range_and_ends_whole() {
        let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let (url, asked) = server(body.clone(), 100_000);
        let dir = tempfile::tempdir().unwrap();
        let partial = dir.path().join("bundle.raucb");
        let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
        let src = Source { agent: &agent, url: &url, authorization: "Bearer t" };
        let mut seen = Vec::new();
        let first = fetch(&src, &partial, 0, body.len() as u64, &mut |have| seen.push(have));
        let Fetched::Failed { have, reason } = first else { panic!("the cut was not noticed: {first:?}") };
        assert_eq!(have, 100_000, "{reason}");
        assert!(!seen.is_empty() && seen.iter().all(|&h| h <= 100_000), "progress: {seen:?}");
        let second = fetch(&src, &partial, have, body.len() as u64, &mut |_| {});
        assert_eq!(second, Fetched::Complete { have: body.len() as u64 });
        assert_eq!(asked.try_iter().collect::<Vec<_>>(), ["0", "100000"]);
        assert_eq!(std::fs::read(&partial).unwrap(), body);
        let sha = sha256_file(&partial).unwrap();
        assert_eq!(sha.len(), 64);
        // Resuming from more than is on disk starts from what is there.
        std::fs::write(&partial, &body[..10]).unwrap();
        let (url, asked) = server(body.clone(), body.len());
        let src = Source { agent: &agent, url: &url, authorization: "Bearer t" };
        assert_eq!(
            fetch(&src, &partial, 50, body.len() as u64, &mut |_| {}),
            Fetched::Complete { have: body.len() as u64 }
        );
        assert_eq!(asked.try_iter().collect::<Vec<_>>(), ["10"]);
        assert_eq!(std::fs::read(&partial).unwrap(), body);
    }
}
