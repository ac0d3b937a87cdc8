//! One node passing a request on to the room's owner over the cluster's HTTP, and proving to the
//! owner that it did: `Lectern-Forwarded-By: <node> <unix ms> <hmac>`, an HMAC-SHA256 with the
//! secret every node shares over the node, the time, the method and the path. The owner trusts
//! such a request's `X-Forwarded-For` (the client's address, for its per-client limits) and never
//! forwards it again. The end user's own `Authorization` goes along unchanged: the owner checks the
//! token itself.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const FORWARDED_BY: &str = "lectern-forwarded-by";
/// Set by a node that chose the target by placement: the target takes the room itself.
pub const PLACED: &str = "lectern-placed";
/// Names the node that owns the room (its public URL) on every WHIP/WHEP answer.
pub const NODE: &str = "lectern-node";
/// A forwarded request older (or further in the future) than this is refused.
const MAX_SKEW_MS: u64 = 30_000;
/// Request headers the owner needs.
const PASS_ON: [&str; 4] = ["authorization", "content-type", "if-match", "accept"];
/// Response headers the client needs.
const PASS_BACK: [&str; 8] =
    ["content-type", "location", "etag", "link", "accept-patch", "retry-after", "lectern-node", "allow"];

/// The signature over one forwarded request.
fn sign(secret: &[u8], node: &str, at_ms: u64, method: &Method, path: &str) -> String {
    // Invariant: HMAC takes keys of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts any key length");
    mac.update(format!("lectern-forward\n{node}\n{at_ms}\n{method}\n{path}").as_bytes());
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// The `Lectern-Forwarded-By` value for a request this node forwards.
pub fn forwarded_by(secret: &[u8], node: &str, at_ms: u64, method: &Method, path: &str) -> String {
    format!("{node} {at_ms} {}", sign(secret, node, at_ms, method, path))
}

/// The forwarding node, if the request carries a valid `Lectern-Forwarded-By`.
pub fn verify(secret: &[u8], headers: &HeaderMap, method: &Method, path: &str, now_ms: u64) -> Option<String> {
    let value = headers.get(FORWARDED_BY)?.to_str().ok()?;
    let mut parts = value.split(' ');
    let (node, at, mac) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let at_ms: u64 = at.parse().ok()?;
    if now_ms.abs_diff(at_ms) > MAX_SKEW_MS {
        return None;
    }
    let expected = sign(secret, node, at_ms, method, path);
    // Compared without an early exit on the first differing byte.
    let same = expected.len() == mac.len() && expected.bytes().zip(mac.bytes()).fold(0u8, |d, (a, b)| d | (a ^ b)) == 0;
    same.then(|| node.to_owned())
}

/// What the owner answered.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error("the owner node {0} did not answer: {1}")]
    Unreachable(String, String),
}

/// One forward, with its request already authenticated at this node.
pub struct Forward<'a> {
    pub base_url: &'a str,
    pub method: Method,
    /// Path and query, as received.
    pub path_and_query: String,
    pub headers: &'a HeaderMap,
    pub body: Vec<u8>,
    pub client: std::net::IpAddr,
    pub forwarded_by: String,
    pub placed: bool,
}

/// Sends `f` to its node (blocking: call it off the runtime) and brings the answer back.
pub fn send(agent: &ureq::Agent, f: Forward<'_>) -> Result<Answer, ForwardError> {
    let url = format!("{}{}", f.base_url, f.path_and_query);
    let unreachable = |e: String| ForwardError::Unreachable(f.base_url.to_owned(), e);
    let mut req = ureq::http::Request::builder().method(f.method.clone()).uri(&url);
    for name in PASS_ON {
        for v in f.headers.get_all(name) {
            req = req.header(name, v);
        }
    }
    req = req.header("x-forwarded-for", f.client.to_string()).header(FORWARDED_BY, &f.forwarded_by);
    if f.placed {
        req = req.header(PLACED, "1");
    }
    let req = req.body(f.body).map_err(|e| unreachable(e.to_string()))?;
    let mut resp = agent.run(req).map_err(|e| unreachable(e.to_string()))?;
    let status = StatusCode::from_u16(resp.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut headers = HeaderMap::new();
    for name in PASS_BACK {
        for v in resp.headers().get_all(name) {
            if let Ok(v) = HeaderValue::from_bytes(v.as_bytes()) {
                headers.append(HeaderName::from_static(name), v);
            }
        }
    }
    let body = resp.body_mut().with_config().limit(1 << 20).read_to_vec().map_err(|e| unreachable(e.to_string()))?;
    Ok(Answer { status, headers, body })
}

/// The agent forwards go through: errors are answers, a few seconds at most, the system's roots.
pub fn agent() -> ureq::Agent {
    let native = rustls_native_certs::load_native_certs();
    let certs: Vec<ureq::tls::Certificate<'static>> =
        native.certs.iter().map(|c| ureq::tls::Certificate::from_der(c.as_ref()).to_owned()).collect();
    let tls = ureq::tls::TlsConfig::builder()
        .provider(ureq::tls::TlsProvider::Rustls)
        .unversioned_rustls_crypto_provider(std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .root_certs(ureq::tls::RootCerts::new_with_certs(&certs))
        .build();
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .max_redirects(0)
        .tls_config(tls)
        .build()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forward_is_proved_by_the_shared_secret_only_for_its_own_request() {
        let secret = b"0123456789abcdef0123456789abcdef";
        let mut h = HeaderMap::new();
        let v = forwarded_by(secret, "https://a.example", 1_000_000, &Method::POST, "/whip/lab");
        h.insert(FORWARDED_BY, HeaderValue::from_str(&v).unwrap());
        assert_eq!(verify(secret, &h, &Method::POST, "/whip/lab", 1_010_000).as_deref(), Some("https://a.example"));
        assert_eq!(verify(secret, &h, &Method::POST, "/whep/lab", 1_010_000), None, "another path");
        assert_eq!(verify(secret, &h, &Method::DELETE, "/whip/lab", 1_010_000), None, "another method");
        assert_eq!(verify(secret, &h, &Method::POST, "/whip/lab", 1_031_000), None, "too old");
        assert_eq!(verify(b"another secret of thirty-two bytes", &h, &Method::POST, "/whip/lab", 1_000_000), None);
        h.insert(FORWARDED_BY, HeaderValue::from_static("https://a.example 1000000 00ff"));
        assert_eq!(verify(secret, &h, &Method::POST, "/whip/lab", 1_000_000), None);
        h.insert(FORWARDED_BY, HeaderValue::from_static("garbage"));
        assert_eq!(verify(secret, &h, &Method::POST, "/whip/lab", 1_000_000), None);
    }
}
