//! The DTLS certificate webrtcbin presents to the hub.
//!
//! GStreamer 1.22 generates an RSA certificate. The hub accepts it since its DTLS stack was patched
//! (`vendor/dimpl`, `docs/dtls.md`), but an older hub's refused RSA client certificates ("no client
//! certificate received"), and ECDSA is what browsers use and cheaper to verify. So the appliance
//! makes an ECDSA P-256 certificate and hands it to webrtcbin's DTLS decoder as it is created.
//!
//! webrtcbin computes the SDP fingerprint before that hook runs, so the offer's
//! `a=fingerprint` lines still name its own certificate: `with_fingerprint` rewrites them
//! to ours before the offer is sent.

use std::fmt::Write;

use gstreamer as gst;
use gstreamer::prelude::*;
use sha2::{Digest, Sha256};

use super::MediaError;

/// A self-signed ECDSA P-256 certificate with its key, and its SHA-256 fingerprint.
#[derive(Clone)]
pub struct DtlsCertificate {
    /// Certificate then private key, PEM, as GStreamer's `dtlssrtpdec` `pem` property wants.
    pem: String,
    fingerprint: String,
}

impl std::fmt::Debug for DtlsCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The PEM holds the private key.
        write!(f, "DtlsCertificate({})", self.fingerprint)
    }
}

impl DtlsCertificate {
    pub fn generate() -> Result<Self, MediaError> {
        let certified = rcgen::generate_simple_self_signed(vec!["lectern-appliance".to_owned()])
            .map_err(|err| MediaError::Certificate(err.to_string()))?;
        let pem = format!("{}{}", certified.cert.pem(), certified.signing_key.serialize_pem());
        let digest = Sha256::digest(certified.cert.der());
        let mut fingerprint = String::with_capacity(digest.len() * 3);
        for (i, byte) in digest.iter().enumerate() {
            let sep = if i == 0 { "" } else { ":" };
            // Writing to a String cannot fail.
            let _ = write!(fingerprint, "{sep}{byte:02X}");
        }
        Ok(Self { pem, fingerprint })
    }

    /// `AA:BB:…` (SHA-256 of the DER certificate), as in `a=fingerprint:sha-256`.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Makes every DTLS transport webrtcbin creates from now on use this certificate. Call
    /// before `create_offer`, which is when webrtcbin creates its transports.
    pub fn install(&self, webrtcbin: &gst::Element) -> Result<(), MediaError> {
        let bin = webrtcbin
            .downcast_ref::<gst::Bin>()
            .ok_or_else(|| MediaError::Certificate("webrtcbin is not a bin".to_owned()))?;
        let pem = self.pem.clone();
        bin.connect_deep_element_added(move |_, _, element| {
            if element.factory().is_some_and(|f| f.name() == "dtlssrtpdec") {
                element.set_property("pem", &pem);
            }
        });
        Ok(())
    }

    /// `sdp` with every `a=fingerprint` line naming this certificate.
    pub fn with_fingerprint(&self, sdp: &str) -> String {
        let mut out = String::with_capacity(sdp.len());
        for line in sdp.lines() {
            if line.starts_with("a=fingerprint:") {
                out.push_str("a=fingerprint:sha-256 ");
                out.push_str(&self.fingerprint);
            } else {
                out.push_str(line);
            }
            out.push_str("\r\n");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_lines_are_replaced_and_line_endings_normalised() {
        let cert = DtlsCertificate::generate().unwrap();
        assert_eq!(cert.fingerprint().len(), 32 * 3 - 1);
        let sdp = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=fingerprint:sha-256 00:11\r\na=mid:video0\r\n";
        let fixed = cert.with_fingerprint(sdp);
        assert!(fixed.contains(&format!("a=fingerprint:sha-256 {}\r\n", cert.fingerprint())));
        assert!(!fixed.contains("00:11"));
        assert!(fixed.ends_with("a=mid:video0\r\n"));
    }

    #[test]
    fn debug_output_does_not_leak_the_private_key() {
        let cert = DtlsCertificate::generate().unwrap();
        assert!(!format!("{cert:?}").contains("PRIVATE KEY"));
    }
}
