//! `[tls] redirect_listen`: a plain-HTTP port that sends every request to the same host and path
//! over HTTPS (308, so a POST stays a POST). It serves nothing else.

use axum::Router;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

/// The `https://` URL for a request that arrived with `Host: host` for `path_and_query`; the port
/// is the hub's HTTPS port (left out when it is 443). `Err` says what is wrong with the host.
pub fn location(host: &str, https_port: u16, path_and_query: &str) -> Result<String, &'static str> {
    let name = if let Some(rest) = host.strip_prefix('[') {
        // [v6]:port
        let end = rest.find(']').ok_or("unclosed [ in Host")?;
        let after = &rest[end + 1..];
        if !(after.is_empty() || after.starts_with(':')) {
            return Err("junk after ] in Host");
        }
        &host[..end + 2]
    } else {
        match host.split_once(':') {
            Some((name, port)) if !port.contains(':') => name,
            Some(_) => return Err("IPv6 address in Host without brackets"),
            None => host,
        }
    };
    let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '[' | ']');
    if name.is_empty() || name.len() > 253 || !name.chars().all(valid) {
        return Err("Host is not a host name or address");
    }
    let port = if https_port == 443 { String::new() } else { format!(":{https_port}") };
    let path = if path_and_query.starts_with('/') { path_and_query } else { "/" };
    Ok(format!("https://{name}{port}{path}"))
}

/// Every method and path: 308 to HTTPS, or 400 when the request names no usable host.
pub fn app(https_port: u16) -> Router {
    Router::new().fallback(move |headers: HeaderMap, uri: Uri| async move { redirect(&headers, &uri, https_port) })
}

fn redirect(headers: &HeaderMap, uri: &Uri, https_port: u16) -> Response {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).or(uri.host());
    let Some(host) = host else {
        return (StatusCode::BAD_REQUEST, "a Host header is needed to redirect to HTTPS\n").into_response();
    };
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    match location(host, https_port, path) {
        Ok(to) => (StatusCode::PERMANENT_REDIRECT, [(header::LOCATION, to)]).into_response(),
        Err(why) => (StatusCode::BAD_REQUEST, format!("{why}\n")).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_keeps_host_and_path_and_swaps_the_port() {
        assert_eq!(location("school.example", 443, "/join?t=abc").unwrap(), "https://school.example/join?t=abc");
        assert_eq!(location("school.example:80", 8443, "/").unwrap(), "https://school.example:8443/");
        assert_eq!(location("10.0.0.5:8080", 443, "/admin").unwrap(), "https://10.0.0.5/admin");
        assert_eq!(location("[fd00::1]:80", 8443, "/x").unwrap(), "https://[fd00::1]:8443/x");
        assert_eq!(location("[fd00::1]", 443, "").unwrap(), "https://[fd00::1]/");
    }

    #[test]
    fn hosts_that_could_change_the_url_are_refused() {
        for bad in ["", ":80", "evil.example/x", "a@b", "fd00::1", "[fd00::1", "[::1]x", "a b", "x\u{e9}"] {
            assert!(location(bad, 443, "/").is_err(), "{bad:?}");
        }
    }

    #[tokio::test]
    async fn any_request_gets_308_with_the_https_location() {
        use tower::ServiceExt;
        let req = axum::http::Request::post("/whip/room-a?x=1")
            .header("host", "hub.example:80")
            .body(axum::body::Body::empty())
            .unwrap();
        let res = app(8443).oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::PERMANENT_REDIRECT);
        assert_eq!(res.headers()[header::LOCATION], "https://hub.example:8443/whip/room-a?x=1");
        let req = axum::http::Request::get("/").body(axum::body::Body::empty()).unwrap();
        assert_eq!(app(443).oneshot(req).await.unwrap().status(), StatusCode::BAD_REQUEST);
    }
}
