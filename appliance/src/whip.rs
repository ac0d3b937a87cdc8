//! WHIP client (RFC 9725): POST an SDP offer, get an SDP answer and a resource URL, DELETE it
//! to leave. The return feed's WHEP endpoint works the same way (the appliance offers, the hub
//! answers), so one client serves both. Blocking HTTP (ureq); call from the runner thread,
//! never from GStreamer's threads.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use lectern_proto::RoomId;

use crate::config::HubList;
use crate::tls::HubTls;
use ureq::http::{StatusCode, Uri};

/// The hub's WHIP answer or error body is small; anything bigger is not a real hub.
const MAX_BODY: u64 = 256 * 1024;
/// Longest hub error message we keep for logs.
const MAX_MESSAGE_CHARS: usize = 300;

/// A bearer token. Never printed: `Debug` and `Display` redact it.
#[derive(Clone)]
pub struct Token(String);

impl Token {
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// Non-empty visible ASCII, so it fits an `Authorization` header (JWTs always do).
    pub(crate) fn is_valid(&self) -> bool {
        !self.0.is_empty() && self.0.bytes().all(|b| b.is_ascii_graphic())
    }

    pub(crate) fn bearer(&self) -> String {
        format!("Bearer {}", self.0)
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WhipError {
    #[error("invalid hub URL '{url}': {reason}")]
    InvalidUrl { url: String, reason: &'static str },
    #[error("the token is empty or contains characters not allowed in an HTTP header")]
    InvalidToken,
    #[error("hub rejected the credentials ({status}): {message}")]
    CredentialsRejected { status: u16, message: String },
    #[error("hub refused the offer ({status}): {message}")]
    Refused { status: u16, message: String },
    #[error("hub failed ({status}): {message}")]
    HubError { status: u16, message: String },
    #[error("could not reach the hub")]
    Network(#[source] ureq::Error),
    #[error("unexpected answer from the hub: {0}")]
    Protocol(String),
}

impl WhipError {
    /// Network trouble and hub-side failures are worth a quick retry (the hub may be
    /// restarting); a refusal will be repeated until someone changes the token or the config.
    pub fn is_retryable(&self) -> bool {
        matches!(self, WhipError::Network(_) | WhipError::HubError { .. } | WhipError::Protocol(_))
    }
}

/// A published WHIP session: where to DELETE it, and the hub's SDP answer.
#[derive(Debug, Clone)]
pub struct WhipSession {
    pub resource_url: String,
    pub answer: String,
}

pub struct WhipClient {
    agent: ureq::Agent,
    /// Per hub of `hubs`, in the same order: the endpoint and the origin its Location resolves on.
    targets: Vec<Target>,
    hubs: Arc<HubList>,
    token: Token,
}

struct Target {
    endpoint: String,
    origin: String,
}

impl WhipClient {
    /// A client publishing to `{hub}/whip/{room}`. An `https://` hub needs `tls`.
    pub fn new(hub: &str, room: &RoomId, token: Token, tls: Option<&HubTls>) -> Result<Self, WhipError> {
        Self::at(Arc::new(HubList::new(vec![hub.to_owned()])), &format!("whip/{room}"), token, tls)
    }

    /// A client receiving the classroom's return feed from `{hub}/whep/{room}/return`.
    pub fn return_feed(hub: &str, room: &RoomId, token: Token, tls: Option<&HubTls>) -> Result<Self, WhipError> {
        Self::at(Arc::new(HubList::new(vec![hub.to_owned()])), &format!("whep/{room}/return"), token, tls)
    }

    /// [`new`](Self::new) over several hubs (`hub.url` as a list): each publish goes to the
    /// current hub of `hubs` and moves on to the next when it cannot be reached.
    pub fn publish_over(
        hubs: Arc<HubList>,
        room: &RoomId,
        token: Token,
        tls: Option<&HubTls>,
    ) -> Result<Self, WhipError> {
        Self::at(hubs, &format!("whip/{room}"), token, tls)
    }

    /// [`return_feed`](Self::return_feed) over several hubs.
    pub fn return_feed_over(
        hubs: Arc<HubList>,
        room: &RoomId,
        token: Token,
        tls: Option<&HubTls>,
    ) -> Result<Self, WhipError> {
        Self::at(hubs, &format!("whep/{room}/return"), token, tls)
    }

    fn at(hubs: Arc<HubList>, path: &str, token: Token, tls: Option<&HubTls>) -> Result<Self, WhipError> {
        let targets = hubs.urls().iter().map(|hub| target(hub, path, tls)).collect::<Result<Vec<_>, _>>()?;
        if !token.is_valid() {
            return Err(WhipError::InvalidToken);
        }
        let mut config = ureq::Agent::config_builder();
        if let Some(tls) = tls {
            config = config.tls_config(tls.ureq());
        }
        let config = config
            .http_status_as_error(false)
            // A redirect would need the offer re-sent with credentials to another host: refuse.
            .max_redirects(0)
            .timeout_connect(Some(Duration::from_secs(3)))
            .timeout_global(Some(Duration::from_secs(10)))
            .build();
        Ok(Self { agent: config.into(), targets, hubs, token })
    }

    /// The endpoint of the hub called now.
    pub fn endpoint(&self) -> &str {
        &self.targets[self.hubs.index() % self.targets.len()].endpoint
    }

    /// POSTs `offer` to the current hub, and to the next ones in turn while a hub cannot be
    /// reached or fails (5xx, a draining node's 503); on `201 Created` returns the resource URL
    /// and the SDP answer, and the box sticks to that hub. A refusal (4xx) is final.
    pub fn publish(&self, offer: &str) -> Result<WhipSession, WhipError> {
        let mut index = self.hubs.index();
        let mut tries = self.targets.len();
        loop {
            let result = self.publish_to(&self.targets[index % self.targets.len()], offer);
            tries -= 1;
            match result {
                Ok(session) => {
                    self.hubs.worked(index);
                    return Ok(session);
                }
                Err(e) if tries > 0 && matches!(e, WhipError::Network(_) | WhipError::HubError { .. }) => {
                    let next = self.hubs.failed(index);
                    tracing::warn!(
                        hub = %self.hubs.urls()[index % self.targets.len()],
                        next = %self.hubs.urls()[next],
                        error = %e,
                        "hub unavailable: trying the next one"
                    );
                    index = next;
                }
                Err(e) => {
                    if e.is_retryable() {
                        // The next attempt (after the supervisor's backoff) starts at the next hub.
                        self.hubs.failed(index);
                    }
                    return Err(e);
                }
            }
        }
    }

    fn publish_to(&self, target: &Target, offer: &str) -> Result<WhipSession, WhipError> {
        let mut response = self
            .agent
            .post(&target.endpoint)
            .header("Content-Type", "application/sdp")
            .header("Accept", "application/sdp")
            .header("Authorization", self.token.bearer())
            .send(offer)
            .map_err(WhipError::Network)?;
        let status = response.status();
        let location = response.headers().get("location").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let body = response.body_mut().with_config().limit(MAX_BODY).read_to_string().map_err(WhipError::Network)?;
        if status != StatusCode::CREATED {
            return Err(status_error(status, &body));
        }
        let location = location.ok_or_else(|| WhipError::Protocol("201 without a Location header".to_owned()))?;
        if !body.starts_with("v=0") {
            return Err(WhipError::Protocol("201 without an SDP answer".to_owned()));
        }
        let resource_url = resolve(&target.origin, &target.endpoint, &location)?;
        Ok(WhipSession { resource_url, answer: body })
    }

    /// Ends the session. Best effort: the hub also drops sessions whose media stops.
    pub fn delete(&self, session: &WhipSession) -> Result<(), WhipError> {
        let response = self
            .agent
            .delete(&session.resource_url)
            .header("Authorization", self.token.bearer())
            .config()
            .timeout_global(Some(Duration::from_secs(2)))
            .build()
            .call()
            .map_err(WhipError::Network)?;
        match response.status() {
            s if s.is_success() || s == StatusCode::NOT_FOUND => Ok(()),
            s => Err(status_error(s, "")),
        }
    }
}

/// Checks one hub URL and makes its endpoint for `path`.
fn target(hub: &str, path: &str, tls: Option<&HubTls>) -> Result<Target, WhipError> {
    let base = hub.trim_end_matches('/');
    let invalid = |reason| WhipError::InvalidUrl { url: hub.to_owned(), reason };
    let uri: Uri = base.parse().map_err(|_| invalid("not a URL"))?;
    let scheme = match (uri.scheme_str(), tls) {
        (Some("http"), _) => "http",
        (Some("https"), Some(_)) => "https",
        (Some("https"), None) => return Err(invalid("https needs the TLS trust store, which was not loaded")),
        _ => return Err(invalid("must start with http:// or https://")),
    };
    let authority = uri.authority().ok_or_else(|| invalid("has no host"))?;
    Ok(Target { endpoint: format!("{base}/{path}"), origin: format!("{scheme}://{authority}") })
}

fn status_error(status: StatusCode, body: &str) -> WhipError {
    let message = hub_message(body);
    let status = status.as_u16();
    match status {
        401 | 403 => WhipError::CredentialsRejected { status, message },
        400..=499 => WhipError::Refused { status, message },
        500..=599 => WhipError::HubError { status, message },
        _ => WhipError::Protocol(format!("status {status}: {message}")),
    }
}

/// The hub answers errors as `{"error": "...", "detail": "..."}`; other servers may send
/// text or HTML. Either way keep it short and printable for the log.
fn hub_message(body: &str) -> String {
    let from_json = serde_json::from_str::<serde_json::Value>(body).ok().and_then(|json| {
        let error = json.get("error")?.as_str()?.to_owned();
        Some(match json.get("detail").and_then(|d| d.as_str()) {
            Some(detail) if !detail.is_empty() => format!("{error}: {detail}"),
            _ => error,
        })
    });
    let text = from_json.unwrap_or_else(|| body.trim().to_owned());
    let clean: String = text.chars().filter(|c| !c.is_control()).take(MAX_MESSAGE_CHARS).collect();
    if clean.is_empty() { "(no message)".to_owned() } else { clean }
}

/// Resolves a `Location` header: absolute URL, absolute path (against the hub's origin), or
/// a path relative to the endpoint. The box sends its token to the resource (to end the session),
/// so an absolute URL must be on the hub it is configured with: another host is refused.
fn resolve(origin: &str, endpoint: &str, location: &str) -> Result<String, WhipError> {
    if location.starts_with("http://") || location.starts_with("https://") {
        let same_origin = location.strip_prefix(origin).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
        if !same_origin {
            let shown: String = location.chars().filter(|c| !c.is_control()).take(200).collect();
            return Err(WhipError::Protocol(format!(
                "the hub's Location {shown} is not on {origin}: the box's token goes only to its own hub"
            )));
        }
        Ok(location.to_owned())
    } else if location.starts_with('/') {
        Ok(format!("{origin}{location}"))
    } else {
        let dir = endpoint.rsplit_once('/').map_or(endpoint, |(dir, _)| dir);
        Ok(format!("{dir}/{location}"))
    }
}

/// Whether `url` is plain `http://` to a host other than this machine: the box's token and the
/// room's signalling would cross the network unencrypted.
pub fn plain_http_off_host(url: &str) -> bool {
    let Ok(uri) = url.parse::<Uri>() else { return false };
    if uri.scheme_str() != Some("http") {
        return false;
    }
    let host = uri.host().unwrap_or("").trim_start_matches('[').trim_end_matches(']');
    let loopback =
        host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    !loopback
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room() -> RoomId {
        RoomId::parse("demo").unwrap()
    }

    #[test]
    fn endpoint_is_hub_whip_room_without_double_slash() {
        let c = WhipClient::new("http://127.0.0.1:8080/", &room(), Token::new("t"), None).unwrap();
        assert_eq!(c.endpoint(), "http://127.0.0.1:8080/whip/demo");
    }

    #[test]
    fn return_feed_endpoint_is_hub_whep_room_return() {
        let c = WhipClient::return_feed("http://127.0.0.1:8080/", &room(), Token::new("t"), None).unwrap();
        assert_eq!(c.endpoint(), "http://127.0.0.1:8080/whep/demo/return");
        assert_eq!(
            resolve(&c.targets[0].origin, c.endpoint(), "/whep/demo/abc").unwrap(),
            "http://127.0.0.1:8080/whep/demo/abc"
        );
    }

    #[test]
    fn hub_url_must_be_http_or_https_with_a_host() {
        for bad in ["ftp://x", "https://hub.example", "not a url", "/whip"] {
            assert!(WhipClient::new(bad, &room(), Token::new("t"), None).is_err(), "{bad}");
        }
        // https needs the trust store; with it, the origin keeps the scheme.
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["hub.example".into()]).unwrap().self_signed(&key).unwrap();
        std::fs::write(&ca, cert.pem()).unwrap();
        let tls = crate::tls::HubTls::load(Some(&ca)).unwrap();
        let c = WhipClient::new("https://hub.example", &room(), Token::new("t"), Some(&tls)).unwrap();
        assert_eq!(
            resolve(&c.targets[0].origin, c.endpoint(), "/whip/demo/x").unwrap(),
            "https://hub.example/whip/demo/x"
        );
    }

    #[test]
    fn location_resolves_against_the_hub() {
        let (o, e) = ("http://h:1", "http://h:1/whip/demo");
        assert_eq!(resolve(o, e, "/whip/demo/abc").unwrap(), "http://h:1/whip/demo/abc");
        assert_eq!(resolve(o, e, "http://h:1/whip/demo/abc").unwrap(), "http://h:1/whip/demo/abc");
        assert_eq!(resolve(o, e, "demo/abc").unwrap(), "http://h:1/whip/demo/abc");
        for elsewhere in ["http://other:2/r/1", "http://h:10/r/1", "https://h:1/r/1", "http://h:1.evil.test/r"] {
            let err = resolve(o, e, elsewhere).unwrap_err().to_string();
            assert!(err.contains("only to its own hub"), "{elsewhere}: {err}");
        }
    }

    #[test]
    fn plain_http_is_flagged_off_this_machine_only() {
        assert!(plain_http_off_host("http://hub.school.example:8080"));
        assert!(plain_http_off_host("http://10.0.0.5"));
        assert!(!plain_http_off_host("http://127.0.0.1:8080"));
        assert!(!plain_http_off_host("http://localhost:8080"));
        assert!(!plain_http_off_host("http://[::1]:8080"));
        assert!(!plain_http_off_host("https://hub.school.example"));
    }

    #[test]
    fn credential_errors_are_distinct_and_not_retryable() {
        for status in [401, 403] {
            let err = status_error(StatusCode::from_u16(status).unwrap(), r#"{"error":"unauthorized"}"#);
            assert!(matches!(err, WhipError::CredentialsRejected { .. }), "{err}");
            assert!(!err.is_retryable());
        }
    }

    #[test]
    fn refusal_carries_the_hubs_json_message() {
        let err = status_error(StatusCode::BAD_REQUEST, r#"{"error":"bad sdp","detail":"no video m-line"}"#);
        assert_eq!(err.to_string(), "hub refused the offer (400): bad sdp: no video m-line");
        assert!(!err.is_retryable());
    }

    #[test]
    fn server_errors_are_retryable_and_plain_text_is_kept_short() {
        let err = status_error(StatusCode::BAD_GATEWAY, &format!("<html>{}\n</html>", "x".repeat(1000)));
        assert!(err.is_retryable());
        assert!(err.to_string().len() < MAX_MESSAGE_CHARS + 40);
    }

    #[test]
    fn malformed_token_is_refused_without_echoing_it() {
        let err = WhipClient::new("http://h", &room(), Token::new("sec ret"), None).err().unwrap();
        assert!(matches!(err, WhipError::InvalidToken));
        assert!(!err.to_string().contains("sec"));
    }

    #[test]
    fn token_never_shows_in_debug_output() {
        let c = Token::new("secret-jwt");
        assert!(!format!("{c:?}").contains("secret"));
    }
}
