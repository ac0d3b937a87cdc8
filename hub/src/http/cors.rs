//! CORS for what browser tools on other origins call: WHIP/WHEP (a web encoder, a school portal
//! embedding a viewer) and the lesson API. `[http] cors_origins` lists the origins; none by
//! default. Every path in scope has its own `OPTIONS` route (WHIP's is the one that also answers
//! with `Link` ICE servers), so a preflight and a WHIP `OPTIONS` are the same request to the same
//! handler; [`decorate`] adds the CORS headers to whatever it answered.
//!
//! Credentials travel as `Authorization: Bearer`, never as cookies, so
//! `Access-Control-Allow-Credentials` is never sent, and `*` is safe to allow. The admin (cookie
//! sessions) is out of scope.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;

/// Paths browser tools on other origins may call.
const SCOPE: [&str; 3] = ["/whip/", "/whep/", "/api/rooms/"];
/// Request headers a client may send cross-origin (WHIP needs all three: the token, the SDP's
/// type, and `If-Match` on a trickle `PATCH`).
const ALLOW_HEADERS: &str = "Authorization, Content-Type, If-Match";
/// Response headers a client may read: the resource's address, ICE servers, its entity tag, and
/// the trickle format `PATCH` takes.
const EXPOSE_HEADERS: &str = "Location, Link, ETag, Accept-Patch";
/// How long a browser may cache a preflight answer, in seconds.
const MAX_AGE: &str = "600";

/// The origins allowed to call the hub from a browser page of theirs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Origins {
    /// Same origin only (the default): no CORS headers at all.
    #[default]
    None,
    /// Any origin (`"*"`).
    Any,
    /// These serialized origins (`https://portal.example.edu`, lowercase, no path).
    List(Vec<String>),
}

impl Origins {
    /// Checks `[http] cors_origins` as written; the error says which entry is wrong and why.
    pub fn parse(list: &[String]) -> Result<Self, String> {
        if list.is_empty() {
            return Ok(Self::None);
        }
        if list.iter().any(|o| o == "*") {
            if list.len() > 1 {
                return Err("\"*\" allows every origin: list it alone".into());
            }
            return Ok(Self::Any);
        }
        list.iter().map(|o| origin(o)).collect::<Result<_, _>>().map(Self::List)
    }

    /// The `Access-Control-Allow-Origin` value for a request from `origin`, if it is allowed.
    fn allow(&self, origin: &HeaderValue) -> Option<HeaderValue> {
        match self {
            Self::None => None,
            Self::Any => Some(HeaderValue::from_static("*")),
            Self::List(list) => {
                let asked = origin.to_str().ok()?.to_ascii_lowercase();
                list.contains(&asked).then(|| origin.clone())
            }
        }
    }
}

/// One configured origin, in the form browsers send: `scheme://host[:port]`.
fn origin(text: &str) -> Result<String, String> {
    let bad = |why: &str| Err(format!("'{text}' is not an origin ({why}); write it like https://portal.example.edu"));
    let lower = text.trim().to_ascii_lowercase();
    let Some((scheme, rest)) = lower.split_once("://") else { return bad("no scheme") };
    if !matches!(scheme, "http" | "https") {
        return bad("the scheme must be http or https");
    }
    if rest.is_empty() {
        return bad("no host");
    }
    if rest.contains(['/', '?', '#', '@', ' ', '*']) {
        return bad("an origin has no path, query, user or wildcard");
    }
    Ok(lower)
}

/// Whether `path` is one cross-origin pages may call.
fn in_scope(path: &str) -> bool {
    SCOPE.iter().any(|p| path.starts_with(p))
}

/// Adds CORS headers to answers in scope, for allowed origins. A preflight (`OPTIONS` with
/// `Access-Control-Request-Method`) is answered by the path's own `OPTIONS` route; its `Allow`
/// becomes `Access-Control-Allow-Methods`.
pub async fn decorate(State(st): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let origin = req.headers().get(header::ORIGIN).cloned();
    let scoped = in_scope(req.uri().path()) && st.cors != Origins::None;
    let preflight =
        req.method() == Method::OPTIONS && req.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut resp = next.run(req).await;
    if !scoped {
        return resp;
    }
    let h = resp.headers_mut();
    // Caches must not hand one origin's answer to another.
    if matches!(st.cors, Origins::List(_)) {
        h.append(header::VARY, HeaderValue::from_static("Origin"));
    }
    let Some(allowed) = origin.and_then(|o| st.cors.allow(&o)) else { return resp };
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allowed);
    if preflight {
        if let Some(methods) = h.get(header::ALLOW).cloned() {
            h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, methods);
        }
        h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static(ALLOW_HEADERS));
        h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static(MAX_AGE));
    } else {
        h.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static(EXPOSE_HEADERS));
    }
    resp
}

/// `OPTIONS` of a path that takes `methods`: what a preflight needs, and nothing more.
fn allowing(methods: &'static str) -> Response {
    let mut h = HeaderMap::new();
    h.insert(header::ALLOW, HeaderValue::from_static(methods));
    (StatusCode::NO_CONTENT, h).into_response()
}

/// `OPTIONS` of a WHIP/WHEP resource (the `Location` of a session).
pub async fn options_resource() -> Response {
    allowing("OPTIONS, PATCH, DELETE")
}

/// `OPTIONS` of a lesson export or room action.
pub async fn options_lesson_api() -> Response {
    allowing("OPTIONS, GET, POST")
}

/// `OPTIONS` of a read-only lesson API path.
pub async fn options_read_only() -> Response {
    allowing("OPTIONS, GET")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn origins_are_checked_and_normalised() {
        assert_eq!(Origins::parse(&[]), Ok(Origins::None));
        assert_eq!(Origins::parse(&list(&["*"])), Ok(Origins::Any));
        assert_eq!(
            Origins::parse(&list(&["HTTPS://Portal.Example.edu", "http://localhost:5173"])),
            Ok(Origins::List(list(&["https://portal.example.edu", "http://localhost:5173"])))
        );
        for bad in ["portal.example.edu", "ftp://x", "https://", "https://x/", "https://x/path", "https://*.x"] {
            let e = Origins::parse(&list(&[bad])).unwrap_err();
            assert!(e.contains(bad), "{bad}: {e}");
        }
        assert!(Origins::parse(&list(&["*", "https://x"])).unwrap_err().contains("alone"));
    }

    #[test]
    fn only_listed_origins_are_allowed_whatever_their_case() {
        let o = Origins::parse(&list(&["https://portal.example.edu"])).unwrap();
        let allow = |v: &'static str| o.allow(&HeaderValue::from_static(v));
        assert_eq!(allow("https://portal.example.edu").unwrap(), "https://portal.example.edu");
        assert!(allow("https://Portal.example.edu").is_some());
        assert!(allow("https://portal.example.edu.evil.test").is_none());
        assert!(allow("http://portal.example.edu").is_none());
        assert!(allow("null").is_none());
        assert!(Origins::None.allow(&HeaderValue::from_static("https://portal.example.edu")).is_none());
        assert_eq!(Origins::Any.allow(&HeaderValue::from_static("https://a.test")).unwrap(), "*");
    }

    #[test]
    fn scope_is_media_and_lesson_api_not_the_admin_or_pages() {
        assert!(in_scope("/whip/lab-1") && in_scope("/whep/lab-1/abc") && in_scope("/api/rooms/lab-1/chat.csv"));
        assert!(!in_scope("/admin/api/devices") && !in_scope("/join/lab-1") && !in_scope("/rtc"));
    }
}
