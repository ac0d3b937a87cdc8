//! HTTPS served by the hub (`[tls]`): certificates read from PEM files into a slot every new
//! handshake reads, reloaded in place when the files change or on SIGHUP (open connections keep the
//! session they have), and a listener that hands axum finished TLS streams. Start at [`Certs::load`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::config::TlsSettings;

/// How often the certificate files' modification times are compared.
pub const POLL_EVERY: Duration = Duration::from_secs(2);
/// A client that has not finished its handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("tls.cert: {}: {reason}", path.display())]
    Cert { path: PathBuf, reason: String },
    #[error("tls.key: {}: {reason}", path.display())]
    Key { path: PathBuf, reason: String },
    #[error("tls.cert and tls.key: {0}")]
    Mismatch(String),
    #[error("TLS setup: {0}")]
    Setup(String),
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Reads and checks a certificate chain and its key: both parse, the key is usable and matches the
/// leaf. Errors name the file (`tls.cert` / `tls.key`) and the reason.
pub fn load_pair(cert: &Path, key: &Path) -> Result<CertifiedKey, TlsError> {
    let bad_cert = |reason: String| TlsError::Cert { path: cert.to_owned(), reason };
    let bad_key = |reason: String| TlsError::Key { path: key.to_owned(), reason };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| bad_cert(pem_reason(e)))?
        .collect::<Result<_, _>>()
        .map_err(|e| bad_cert(pem_reason(e)))?;
    if chain.is_empty() {
        return Err(bad_cert("no PEM certificate in it".into()));
    }
    let der = PrivateKeyDer::from_pem_file(key).map_err(|e| bad_key(pem_reason(e)))?;
    let signing = provider().key_provider.load_private_key(der).map_err(|e| bad_key(format!("unusable key: {e}")))?;
    let pair = CertifiedKey::new(chain, signing);
    match pair.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => Ok(pair),
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            Err(TlsError::Mismatch("the key is not the certificate's".into()))
        }
        Err(e) => Err(bad_cert(format!("not a usable X.509 certificate: {e}"))),
    }
}

fn pem_reason(e: rustls_pki_types::pem::Error) -> String {
    match e {
        rustls_pki_types::pem::Error::Io(io) => io.to_string(),
        rustls_pki_types::pem::Error::NoItemsFound => "no PEM item of the right kind in it".into(),
        other => format!("not valid PEM: {other:?}"),
    }
}

/// SHA-256 of a certificate's DER, as browsers and `openssl x509 -fingerprint -sha256` show it.
pub fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der).iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

/// The certificate new handshakes get. Swapped whole on reload; a connection keeps the one it
/// was opened with.
#[derive(Debug)]
pub struct Certs {
    current: RwLock<Arc<CertifiedKey>>,
    cert: PathBuf,
    key: PathBuf,
}

impl Certs {
    /// Start-up: the files must be readable and valid, or the hub does not start.
    pub fn load(settings: &TlsSettings) -> Result<Arc<Self>, TlsError> {
        let pair = load_pair(&settings.cert, &settings.key)?;
        Ok(Arc::new(Self {
            current: RwLock::new(Arc::new(pair)),
            cert: settings.cert.clone(),
            key: settings.key.clone(),
        }))
    }

    pub fn current(&self) -> Arc<CertifiedKey> {
        // A poisoned lock still holds a whole Arc: the writer only assigns.
        self.current.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Re-reads the files; on any error the previous certificate stays and the error says why.
    pub fn reload(&self) -> Result<Arc<CertifiedKey>, TlsError> {
        let pair = Arc::new(load_pair(&self.cert, &self.key)?);
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = pair.clone();
        Ok(pair)
    }

    /// The leaf's fingerprint, for logs and `--tls-self-signed`.
    pub fn leaf_fingerprint(&self) -> String {
        self.current().cert.first().map(|c| fingerprint(c.as_ref())).unwrap_or_default()
    }

    /// rustls server settings resolving every handshake through this slot; HTTP/1.1 only (axum's
    /// WebSocket upgrades need it, and the hub is built without HTTP/2).
    pub fn server_config(self: &Arc<Self>) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Setup(e.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }

    /// Reloads when the files' modification times change (checked every [`POLL_EVERY`]) and on
    /// SIGHUP. Runs until the process ends.
    pub fn spawn_reloader(self: &Arc<Self>) {
        let certs = self.clone();
        // Registered now, not when the task first runs: a SIGHUP right after start-up is caught.
        let mut hup = hangups();
        let mut watch = Watch::new(certs.stamps());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(POLL_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                let why = tokio::select! {
                    _ = tick.tick() => {
                        if !watch.changed(certs.stamps()) { continue }
                        "the files changed"
                    }
                    Some(()) = recv(&mut hup) => "SIGHUP",
                };
                match certs.reload() {
                    Ok(pair) => {
                        let sha256 = pair.cert.first().map(|c| fingerprint(c.as_ref())).unwrap_or_default();
                        tracing::info!(why, %sha256, "tls: reloaded the certificate; new connections use it");
                    }
                    Err(error) => {
                        tracing::warn!(why, %error, "tls: reload failed, still serving the previous certificate")
                    }
                }
            }
        });
    }

    fn stamps(&self) -> [Option<Stamp>; 2] {
        [Stamp::of(&self.cert), Stamp::of(&self.key)]
    }
}

impl ResolvesServerCert for Certs {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

#[cfg(unix)]
type Hangups = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangups = Option<()>;

#[cfg(unix)]
fn hangups() -> Hangups {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(error) => {
            tracing::warn!(%error, "tls: no SIGHUP handler; certificates reload only when the files change");
            None
        }
    }
}

#[cfg(not(unix))]
fn hangups() -> Hangups {
    None
}

/// Without `[tls]` there is nothing to reload: SIGHUP is logged instead of ending the process.
pub fn ignore_hangups() {
    let mut hup = hangups();
    tokio::spawn(async move {
        while recv(&mut hup).await.is_some() {
            tracing::info!("SIGHUP: nothing to reload without [tls]");
        }
    });
}

#[cfg(unix)]
async fn recv(hup: &mut Hangups) -> Option<()> {
    match hup {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

#[cfg(not(unix))]
async fn recv(_: &mut Hangups) -> Option<()> {
    std::future::pending().await
}

/// What a file looked like at the last poll: a rewrite changes the time or the size, a file
/// renamed into place (even one copied with its old time) the inode. Symlinks are followed, so
/// certbot's `live/` links moving to a new `archive/` file count too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

impl Stamp {
    fn of(path: &Path) -> Option<Self> {
        let meta = std::fs::metadata(path).ok()?;
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(&meta);
        #[cfg(not(unix))]
        let inode = 0;
        Some(Self { modified: meta.modified().ok(), len: meta.len(), inode })
    }
}

/// Remembers the last stamps seen (not the last that loaded), so a half-written pair is retried
/// when its second file lands, and a broken file is reported once, not every poll.
#[derive(Debug)]
struct Watch {
    seen: [Option<Stamp>; 2],
}

impl Watch {
    fn new(seen: [Option<Stamp>; 2]) -> Self {
        Self { seen }
    }

    fn changed(&mut self, now: [Option<Stamp>; 2]) -> bool {
        let changed = now != self.seen;
        self.seen = now;
        changed
    }
}

/// Accepts TCP connections and finishes their TLS handshakes off the accept loop (a slow client
/// never holds up the next); axum gets only established streams.
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    pub fn new(tcp: TcpListener, config: Arc<rustls::ServerConfig>) -> std::io::Result<Self> {
        let local = tcp.local_addr()?;
        let (tx, ready) = mpsc::channel(64);
        let acceptor = TlsAcceptor::from(config);
        tokio::spawn(async move {
            loop {
                let (stream, peer) = tokio::select! {
                    _ = tx.closed() => return,
                    accepted = tcp.accept() => match accepted {
                        Ok(a) => a,
                        Err(error) => {
                            // Out of file descriptors and the like: back off instead of spinning.
                            tracing::warn!(%error, "accepting a TCP connection");
                            tokio::time::sleep(Duration::from_millis(200)).await;
                            continue;
                        }
                    },
                };
                let _ = stream.set_nodelay(true);
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(error)) => tracing::debug!(%peer, %error, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(Self { ready, local })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(conn) => conn,
            // The accept loop only ends when this listener is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

/// `Strict-Transport-Security` on every response served over TLS: a year, as browsers' HSTS
/// guidance suggests once HTTPS is the only way in.
pub async fn hsts(mut response: axum::response::Response) -> axum::response::Response {
    response.headers_mut().insert(
        axum::http::header::STRICT_TRANSPORT_SECURITY,
        axum::http::HeaderValue::from_static("max-age=31536000"),
    );
    response
}

/// `--tls-self-signed`: makes a certificate and key for this machine's names and addresses when
/// they are not there yet (reused on later starts). Returns true when it generated them.
pub fn ensure_self_signed(settings: &TlsSettings) -> anyhow::Result<bool> {
    use anyhow::Context;
    if settings.cert.exists() && settings.key.exists() {
        return Ok(false);
    }
    let mut names = vec!["localhost".to_owned()];
    if let Ok(host) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        let host = host.trim();
        if !host.is_empty() && host != "localhost" {
            names.push(host.to_owned());
            if !host.contains('.') {
                names.push(format!("{host}.local"));
            }
        }
    }
    let mut ips: Vec<std::net::IpAddr> = vec![[127, 0, 0, 1].into(), std::net::Ipv6Addr::LOCALHOST.into()];
    for iface in if_addrs::get_if_addrs().unwrap_or_default() {
        if !ips.contains(&iface.ip()) {
            ips.push(iface.ip());
        }
    }
    names.extend(ips.iter().map(|ip| ip.to_string()));
    let key = rcgen::KeyPair::generate().context("--tls-self-signed: generating a key")?;
    let mut params = rcgen::CertificateParams::new(names).context("--tls-self-signed: certificate names")?;
    params.distinguished_name.push(rcgen::DnType::CommonName, "Lectern hub (self-signed)");
    let cert = params.self_signed(&key).context("--tls-self-signed: signing the certificate")?;
    let dir = settings.cert.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    write_private(&settings.key, key.serialize_pem().as_bytes())
        .with_context(|| format!("writing {}", settings.key.display()))?;
    std::fs::write(&settings.cert, cert.pem()).with_context(|| format!("writing {}", settings.cert.display()))?;
    Ok(true)
}

/// A key file only its owner can read (0600), replaced whole.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair_files(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let ck = rcgen::generate_simple_self_signed(vec![name.to_owned()]).unwrap();
        let (cert, key) = (dir.join(format!("{name}.crt")), dir.join(format!("{name}.key")));
        std::fs::write(&cert, ck.cert.pem()).unwrap();
        std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
        (cert, key)
    }

    fn settings(cert: &Path, key: &Path) -> TlsSettings {
        TlsSettings { cert: cert.to_owned(), key: key.to_owned(), redirect_listen: None, self_signed: false }
    }

    #[test]
    fn a_valid_pair_loads_and_errors_name_the_key_and_reason() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = pair_files(dir.path(), "a.test");
        let (_, other_key) = pair_files(dir.path(), "b.test");
        assert!(load_pair(&cert, &key).is_ok());
        let missing = dir.path().join("missing.pem");
        let err = load_pair(&missing, &key).unwrap_err().to_string();
        assert!(err.starts_with("tls.cert:") && err.contains("missing.pem") && err.contains("No such file"), "{err}");
        let err = load_pair(&cert, &missing).unwrap_err().to_string();
        assert!(err.starts_with("tls.key:") && err.contains("missing.pem"), "{err}");
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(&garbage, "not a certificate\n").unwrap();
        let err = load_pair(&garbage, &key).unwrap_err().to_string();
        assert!(err.starts_with("tls.cert:") && err.contains("no PEM certificate"), "{err}");
        let err = load_pair(&cert, &garbage).unwrap_err().to_string();
        assert!(err.starts_with("tls.key:") && err.contains("garbage.pem"), "{err}");
        // A key in the certificate's place, and a certificate whose body is not X.509.
        let err = load_pair(&key, &key).unwrap_err().to_string();
        assert!(err.starts_with("tls.cert:"), "{err}");
        let bogus = dir.path().join("bogus.pem");
        std::fs::write(&bogus, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").unwrap();
        let err = load_pair(&bogus, &key).unwrap_err().to_string();
        assert!(err.starts_with("tls.cert:") && err.contains("X.509"), "{err}");
        let err = load_pair(&cert, &other_key).unwrap_err().to_string();
        assert!(err.contains("tls.cert and tls.key") && err.contains("not the certificate's"), "{err}");
    }

    #[test]
    fn a_failed_reload_keeps_the_previous_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = pair_files(dir.path(), "a.test");
        let certs = Certs::load(&settings(&cert, &key)).unwrap();
        let before = certs.leaf_fingerprint();
        std::fs::write(&cert, "garbage").unwrap();
        assert!(certs.reload().unwrap_err().to_string().starts_with("tls.cert:"));
        assert_eq!(certs.leaf_fingerprint(), before);
        let (cert2, key2) = pair_files(dir.path(), "b.test");
        std::fs::rename(&cert2, &cert).unwrap();
        std::fs::rename(&key2, &key).unwrap();
        certs.reload().unwrap();
        assert_ne!(certs.leaf_fingerprint(), before);
    }

    #[test]
    fn the_watch_fires_once_per_change_and_again_when_the_second_file_lands() {
        let t = |s| Some(Stamp { modified: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(s)), len: 10, inode: 1 });
        let mut w = Watch::new([t(1), t(1)]);
        assert!(!w.changed([t(1), t(1)]));
        assert!(w.changed([t(2), t(1)]), "certificate rewritten");
        assert!(!w.changed([t(2), t(1)]), "reported once");
        assert!(w.changed([t(2), t(3)]), "then the key");
        assert!(w.changed([None, t(3)]), "a removed file is a change too");
        let at = |len, inode| Some(Stamp { modified: Some(SystemTime::UNIX_EPOCH), len, inode });
        let mut w = Watch::new([at(1, 1), at(1, 1)]);
        assert!(w.changed([at(2, 1), at(1, 1)]), "same time, new size");
        assert!(w.changed([at(2, 7), at(1, 1)]), "same time and size, another file renamed into place");
    }

    #[test]
    fn self_signed_is_generated_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = crate::config::self_signed_paths(dir.path());
        let s = TlsSettings { self_signed: true, ..settings(&cert, &key) };
        assert!(ensure_self_signed(&s).unwrap());
        let first = Certs::load(&s).unwrap().leaf_fingerprint();
        assert!(!ensure_self_signed(&s).unwrap(), "reused");
        assert_eq!(Certs::load(&s).unwrap().leaf_fingerprint(), first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
        }
        assert_eq!(first.len(), 32 * 3 - 1);
    }
}
