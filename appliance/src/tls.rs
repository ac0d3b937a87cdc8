//! TLS to an `https://` hub, for both the WHIP/WHEP requests (ureq) and the control channel
//! (tungstenite): the system's trust store plus, for a school's own CA, the certificates in
//! `hub.ca_file`. rustls with the aws-lc-rs provider the build already has (str0m, rcgen).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("hub.ca_file {}: {reason}", path.display())]
    CaFile { path: PathBuf, reason: String },
    #[error("no trusted certificates: the system store is empty and hub.ca_file is not set")]
    NoRoots,
    #[error("TLS setup: {0}")]
    Setup(String),
}

/// The certificates an `https://` hub's must chain to. Cheap to clone.
#[derive(Clone, Debug)]
pub struct HubTls {
    roots: Arc<Vec<CertificateDer<'static>>>,
}

impl HubTls {
    /// The system store (`/etc/ssl/certs` on Debian) and the PEM certificates in `ca_file`.
    pub fn load(ca_file: Option<&Path>) -> Result<Self, TlsError> {
        let native = rustls_native_certs::load_native_certs();
        for err in &native.errors {
            tracing::debug!(%err, "skipped part of the system trust store");
        }
        let mut roots = native.certs;
        if let Some(path) = ca_file {
            let bad = |reason: String| TlsError::CaFile { path: path.to_owned(), reason };
            let extra: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .map_err(|e| bad(e.to_string()))?
                .collect::<Result<_, _>>()
                .map_err(|e| bad(e.to_string()))?;
            if extra.is_empty() {
                return Err(bad("no PEM certificate in it".to_owned()));
            }
            roots.extend(extra);
        }
        if roots.is_empty() {
            return Err(TlsError::NoRoots);
        }
        Ok(Self { roots: Arc::new(roots) })
    }

    /// For the control channel's WebSocket.
    pub fn rustls(&self) -> Result<Arc<rustls::ClientConfig>, TlsError> {
        let mut store = rustls::RootCertStore::empty();
        let (_, ignored) = store.add_parsable_certificates(self.roots.iter().cloned());
        if ignored > 0 {
            tracing::debug!(ignored, "trust store certificates rustls cannot use");
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Setup(e.to_string()))?
            .with_root_certificates(store)
            .with_no_client_auth();
        Ok(Arc::new(config))
    }

    /// For the WHIP/WHEP HTTP client.
    pub fn ureq(&self) -> ureq::tls::TlsConfig {
        let certs: Vec<ureq::tls::Certificate<'static>> =
            self.roots.iter().map(|c| ureq::tls::Certificate::from_der(c.as_ref()).to_owned()).collect();
        ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::Rustls)
            .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .root_certs(ureq::tls::RootCerts::new_with_certs(&certs))
            .build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_adds_to_the_roots_and_a_bad_one_names_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["hub.school.example".into()]).unwrap().self_signed(&key).unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, cert.pem()).unwrap();
        let base = HubTls::load(None).map(|t| t.roots.len()).unwrap_or(0);
        let tls = HubTls::load(Some(&ca)).unwrap();
        assert_eq!(tls.roots.len(), base + 1);
        tls.rustls().unwrap();
        let _ = tls.ureq();

        std::fs::write(&ca, "not a certificate").unwrap();
        let err = HubTls::load(Some(&ca)).unwrap_err().to_string();
        assert!(err.starts_with("hub.ca_file") && err.contains("no PEM certificate"), "{err}");
        let err = HubTls::load(Some(&dir.path().join("missing.pem"))).unwrap_err().to_string();
        assert!(err.starts_with("hub.ca_file"), "{err}");
    }
}
