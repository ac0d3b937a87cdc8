//! Where the hub keeps recording files: a narrow [`Storage`] trait (append to a partial object,
//! check it, finish it, read a range, delete, totals) and its local-disk implementation
//! ([`LocalDisk`]: `<data_dir>/recordings/<lesson>/<name>`, partial files as `<name>.part`).
//! An object store fits the same trait: append by keeping parts (or a multipart upload), finish
//! by completing it. The database says how much of a partial object counts; whatever a storage
//! holds past that (a write whose row update was lost) is dropped by the next append.

use std::future::Future;
use std::io::{Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::pin::Pin;

use axum::body::Bytes;
use futures_util::Stream;
use lectern_proto::LessonId;
use sha2::{Digest, Sha256};

use super::upload::check_name;

/// A file of a lesson, as storage names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectKey {
    lesson: LessonId,
    name: String,
}

impl ObjectKey {
    /// `name` must be a valid recording file name (`upload::check_name`), so it is a safe path segment.
    pub fn new(lesson: LessonId, name: &str) -> Result<Self, super::upload::UploadError> {
        check_name(name)?;
        Ok(Self { lesson, name: name.to_owned() })
    }

    /// A file shared in the lesson's chat (`http::files`): `name` is one the hub made, `file-`
    /// then 1–64 of `[A-Za-z0-9_-]` — never the uploader's name — so it is a safe path segment and
    /// cannot be taken for a recording (those end in `.mp4` or `.webm`).
    pub fn shared_file(lesson: LessonId, name: &str) -> Option<Self> {
        let rest = name.strip_prefix("file-")?;
        let ok = (1..=64).contains(&rest.len())
            && rest.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'));
        ok.then(|| Self { lesson, name: name.to_owned() })
    }

    pub fn lesson(&self) -> &LessonId {
        &self.lesson
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.lesson, self.name)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The partial object holds less than the database says (it was lost or cut): the upload
    /// goes on from what is there.
    #[error("{key}: the partial file holds {have} bytes, not the {expected} the upload had reached")]
    Behind { key: String, have: u64, expected: u64 },
    #[error("{key}: no such file")]
    NotFound { key: String },
    #[error("{key}: {source}")]
    Io { key: String, source: std::io::Error },
}

pub type StorageResult<T> = Result<T, StorageError>;
/// What a storage operation returns: a future the HTTP handler awaits.
pub type StorageFuture<'a, T> = Pin<Box<dyn Future<Output = StorageResult<T>> + Send + 'a>>;
/// A range of a finished object, as it is read.
pub type ByteStream = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

/// How much the storage holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    pub files: u64,
    pub bytes: u64,
    /// Uploads not finished yet.
    pub partial_files: u64,
    pub partial_bytes: u64,
}

/// The recordings' storage. Keys are validated ([`ObjectKey`]); offsets come from the database.
pub trait Storage: Send + Sync {
    /// Writes `data` at `offset` of `key`'s partial object, dropping whatever it held past
    /// `offset` first. [`StorageError::Behind`] if it holds less than `offset`.
    fn append<'a>(&'a self, key: &'a ObjectKey, offset: u64, data: Bytes) -> StorageFuture<'a, ()>;
    /// SHA-256 of the first `len` bytes of `key`'s partial object (of the finished one if it was
    /// finished already: a finish whose row update was lost is checked again).
    fn digest<'a>(&'a self, key: &'a ObjectKey, len: u64) -> StorageFuture<'a, [u8; 32]>;
    /// The partial object becomes the finished one, cut to `len` bytes. Done twice, a no-op.
    fn finish<'a>(&'a self, key: &'a ObjectKey, len: u64) -> StorageFuture<'a, ()>;
    /// Bytes `range` of the finished object.
    fn open_range<'a>(&'a self, key: &'a ObjectKey, range: Range<u64>) -> StorageFuture<'a, ByteStream>;
    /// Deletes the object, partial or finished; deleting what is not there is not an error.
    fn delete<'a>(&'a self, key: &'a ObjectKey) -> StorageFuture<'a, ()>;
    fn totals(&self) -> StorageFuture<'_, Totals>;
}

/// Files under a directory: `<root>/<lesson>/<name>`, `<name>.part` while uploading.
#[derive(Debug, Clone)]
pub struct LocalDisk {
    root: PathBuf,
}

const PART: &str = ".part";
const READ_BUF: usize = 64 * 1024;

impl LocalDisk {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where `key`'s finished file is.
    pub fn path(&self, key: &ObjectKey) -> PathBuf {
        self.root.join(key.lesson.as_str()).join(&key.name)
    }

    /// Where `key`'s partial file is while it is uploaded.
    pub fn part_path(&self, key: &ObjectKey) -> PathBuf {
        self.root.join(key.lesson.as_str()).join(format!("{}{PART}", key.name))
    }
}

/// Runs blocking file work off the async threads.
fn blocking<'a, T: Send + 'static>(
    key: &ObjectKey,
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> StorageFuture<'a, T> {
    let name = key.to_string();
    Box::pin(async move {
        match tokio::task::spawn_blocking(f).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => Err(StorageError::NotFound { key: name }),
            Ok(Err(e)) => Err(io_error(&name, e)),
            Err(e) => Err(io_error(&name, std::io::Error::other(e.to_string()))),
        }
    })
}

fn io_error(key: &str, source: std::io::Error) -> StorageError {
    // `Behind` travels through io::Error from the blocking closure.
    match source.get_ref().and_then(|e| e.downcast_ref::<BehindBy>()) {
        Some(b) => StorageError::Behind { key: key.to_owned(), have: b.have, expected: b.expected },
        None => StorageError::Io { key: key.to_owned(), source },
    }
}

#[derive(Debug)]
struct BehindBy {
    have: u64,
    expected: u64,
}

impl std::fmt::Display for BehindBy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "holds {} of {} bytes", self.have, self.expected)
    }
}

impl std::error::Error for BehindBy {}

impl Storage for LocalDisk {
    fn append<'a>(&'a self, key: &'a ObjectKey, offset: u64, data: Bytes) -> StorageFuture<'a, ()> {
        let part = self.part_path(key);
        blocking(key, move || {
            if let Some(dir) = part.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let mut file = std::fs::OpenOptions::new().create(true).write(true).truncate(false).open(&part)?;
            let have = file.metadata()?.len();
            if have < offset {
                return Err(std::io::Error::other(BehindBy { have, expected: offset }));
            }
            file.set_len(offset)?;
            file.seek(SeekFrom::Start(offset))?;
            file.write_all(&data)?;
            // Acknowledged means on disk: the box deletes its copy once the whole file is ready.
            file.sync_data()
        })
    }

    fn digest<'a>(&'a self, key: &'a ObjectKey, len: u64) -> StorageFuture<'a, [u8; 32]> {
        let (part, done) = (self.part_path(key), self.path(key));
        blocking(key, move || {
            let file = match std::fs::File::open(&part) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::fs::File::open(&done)?,
                other => other?,
            };
            let mut hasher = Sha256::new();
            let mut reader = file.take(len);
            let mut buf = vec![0u8; READ_BUF];
            loop {
                let n = reader.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
            }
            Ok(hasher.finalize().into())
        })
    }

    fn finish<'a>(&'a self, key: &'a ObjectKey, len: u64) -> StorageFuture<'a, ()> {
        let (part, done) = (self.part_path(key), self.path(key));
        blocking(key, move || {
            match std::fs::OpenOptions::new().write(true).open(&part) {
                Ok(file) => {
                    file.set_len(len)?;
                    file.sync_all()?;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && done.exists() => return Ok(()),
                Err(e) => return Err(e),
            }
            std::fs::rename(&part, &done)?;
            if let Some(dir) = done.parent() {
                // The rename itself survives a power cut only once the directory is synced.
                std::fs::File::open(dir)?.sync_all()?;
            }
            Ok(())
        })
    }

    fn open_range<'a>(&'a self, key: &'a ObjectKey, range: Range<u64>) -> StorageFuture<'a, ByteStream> {
        let path = self.path(key);
        let name = key.to_string();
        Box::pin(async move {
            use tokio::io::{AsyncReadExt, AsyncSeekExt};
            let mut file = tokio::fs::File::open(&path).await.map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => StorageError::NotFound { key: name.clone() },
                _ => io_error(&name, e),
            })?;
            file.seek(SeekFrom::Start(range.start)).await.map_err(|e| io_error(&name, e))?;
            let left = range.end.saturating_sub(range.start);
            let stream = futures_util::stream::unfold((file, left), |(mut file, left)| async move {
                if left == 0 {
                    return None;
                }
                let want = usize::try_from(left).unwrap_or(usize::MAX).min(READ_BUF);
                let mut buf = vec![0u8; want];
                match file.read(&mut buf).await {
                    // The file is shorter than its row says: end the body; the client sees it cut.
                    Ok(0) => None,
                    Ok(n) => {
                        buf.truncate(n);
                        Some((Ok(Bytes::from(buf)), (file, left - n as u64)))
                    }
                    Err(e) => Some((Err(e), (file, 0))),
                }
            });
            Ok(Box::pin(stream) as ByteStream)
        })
    }

    fn delete<'a>(&'a self, key: &'a ObjectKey) -> StorageFuture<'a, ()> {
        let (part, done) = (self.part_path(key), self.path(key));
        blocking(key, move || {
            for path in [&part, &done] {
                match std::fs::remove_file(path) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
            }
            // The lesson's folder goes with its last file (an error here only means it is not empty).
            if let Some(dir) = done.parent() {
                let _ = std::fs::remove_dir(dir);
            }
            Ok(())
        })
    }

    fn totals(&self) -> StorageFuture<'_, Totals> {
        let root = self.root.clone();
        Box::pin(async move {
            let walk = move || {
                let mut t = Totals::default();
                let lessons = std::fs::read_dir(&root).into_iter().flatten().flatten();
                for lesson in lessons.filter(|e| e.file_type().is_ok_and(|t| t.is_dir())) {
                    for f in std::fs::read_dir(lesson.path()).into_iter().flatten().flatten() {
                        let Ok(meta) = f.metadata() else { continue };
                        if !meta.is_file() {
                            continue;
                        }
                        if f.file_name().to_string_lossy().ends_with(PART) {
                            t.partial_files += 1;
                            t.partial_bytes += meta.len();
                        } else {
                            t.files += 1;
                            t.bytes += meta.len();
                        }
                    }
                }
                t
            };
            tokio::task::spawn_blocking(walk)
                .await
                .map_err(|e| io_error("recordings", std::io::Error::other(e.to_string())))
        })
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;

    use super::*;

    fn key(name: &str) -> ObjectKey {
        ObjectKey::new(LessonId::parse("lab-1.1700000000000").unwrap(), name).unwrap()
    }

    async fn read(disk: &LocalDisk, key: &ObjectKey, range: Range<u64>) -> Vec<u8> {
        let mut stream = disk.open_range(key, range).await.unwrap();
        let mut out = Vec::new();
        while let Some(chunk) = stream.next().await {
            out.extend_from_slice(&chunk.unwrap());
        }
        out
    }

    #[tokio::test]
    async fn appended_chunks_become_one_file_that_reads_back_by_range() {
        let dir = tempfile::tempdir().unwrap();
        let disk = LocalDisk::new(dir.path().join("recordings"));
        let k = key("1-camera-000.mp4");
        disk.append(&k, 0, Bytes::from_static(b"hello ")).await.unwrap();
        // A write past what the row acknowledged (its update was lost) is dropped by the next append.
        disk.append(&k, 6, Bytes::from_static(b"LOST")).await.unwrap();
        disk.append(&k, 6, Bytes::from_static(b"world")).await.unwrap();
        let digest = disk.digest(&k, 11).await.unwrap();
        assert_eq!(digest, <[u8; 32]>::from(Sha256::digest(b"hello world")));
        assert!(matches!(disk.open_range(&k, 0..1).await, Err(StorageError::NotFound { .. })), "not finished yet");
        let t = disk.totals().await.unwrap();
        assert_eq!((t.files, t.partial_files, t.partial_bytes), (0, 1, 11));
        disk.finish(&k, 11).await.unwrap();
        disk.finish(&k, 11).await.unwrap();
        assert_eq!(disk.digest(&k, 11).await.unwrap(), digest, "the finished file is checked the same");
        assert_eq!(std::fs::read(disk.path(&k)).unwrap(), b"hello world");
        assert_eq!(read(&disk, &k, 0..11).await, b"hello world");
        assert_eq!(read(&disk, &k, 6..9).await, b"wor");
        let t = disk.totals().await.unwrap();
        assert_eq!((t.files, t.bytes, t.partial_files), (1, 11, 0));
        disk.delete(&k).await.unwrap();
        disk.delete(&k).await.unwrap();
        assert!(!disk.path(&k).exists());
        assert_eq!(disk.totals().await.unwrap(), Totals::default());
    }

    #[tokio::test]
    async fn an_append_past_what_the_partial_file_holds_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let disk = LocalDisk::new(dir.path());
        let k = key("x.mp4");
        disk.append(&k, 0, Bytes::from_static(b"abc")).await.unwrap();
        match disk.append(&k, 10, Bytes::from_static(b"def")).await {
            Err(StorageError::Behind { have: 3, expected: 10, .. }) => {}
            other => panic!("{other:?}"),
        }
        assert_eq!(std::fs::read(dir.path().join("lab-1.1700000000000/x.mp4.part")).unwrap(), b"abc", "kept");
    }
}
