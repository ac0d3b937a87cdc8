//! The admin UI: a few pages and plain ES modules from `web-admin/assets/`, embedded in the binary.
//! No inline scripts or styles, so the hub's `script-src 'self'` CSP holds. Pages that need a login
//! find out from `GET /admin/api/me` and go to the login page themselves.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::AdminState;
use crate::error::Error;

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// Every embedded file by name. Names are matched exactly, so no path can reach anything else.
const FILES: &[(&str, &str, &[u8])] = &[
    ("index.html", HTML, include_bytes!("../assets/index.html")),
    ("login.html", HTML, include_bytes!("../assets/login.html")),
    ("setup.html", HTML, include_bytes!("../assets/setup.html")),
    ("fleet.html", HTML, include_bytes!("../assets/fleet.html")),
    ("device.html", HTML, include_bytes!("../assets/device.html")),
    ("releases.html", HTML, include_bytes!("../assets/releases.html")),
    ("recordings.html", HTML, include_bytes!("../assets/recordings.html")),
    ("admin.css", CSS, include_bytes!("../assets/admin.css")),
    ("api.js", JS, include_bytes!("../assets/api.js")),
    ("form.js", JS, include_bytes!("../assets/form.js")),
    ("login.js", JS, include_bytes!("../assets/login.js")),
    ("setup.js", JS, include_bytes!("../assets/setup.js")),
    ("rooms.js", JS, include_bytes!("../assets/rooms.js")),
    ("schedules.js", JS, include_bytes!("../assets/schedules.js")),
    ("fleet.js", JS, include_bytes!("../assets/fleet.js")),
    ("fleet-format.js", JS, include_bytes!("../assets/fleet-format.js")),
    ("device.js", JS, include_bytes!("../assets/device.js")),
    ("releases.js", JS, include_bytes!("../assets/releases.js")),
    ("recordings.js", JS, include_bytes!("../assets/recordings.js")),
];

pub(crate) fn get_file(name: &str) -> Option<(&'static str, &'static [u8])> {
    FILES.iter().find(|(n, _, _)| *n == name).map(|(_, ct, body)| (*ct, *body))
}

fn serve(name: &str) -> Response {
    let Some((content_type, body)) = get_file(name) else {
        return Error::NotFound(format!("no admin asset '{}'", name.chars().take(64).collect::<String>()))
            .into_response();
    };
    let mut resp = (StatusCode::OK, body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

pub(crate) fn router() -> Router<AdminState> {
    Router::new()
        .route("/", get(|| async { serve("index.html") }))
        .route("/login", get(|| async { serve("login.html") }))
        .route("/setup", get(|| async { serve("setup.html") }))
        .route("/fleet", get(|| async { serve("fleet.html") }))
        .route("/device", get(|| async { serve("device.html") }))
        .route("/releases", get(|| async { serve("releases.html") }))
        .route("/recordings", get(|| async { serve("recordings.html") }))
        .route("/assets/{name}", get(|Path(name): Path<String>| async move { serve(&name) }))
        .fallback(|| async { Error::NotFound("no such admin page".into()) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_referenced_admin_asset_is_embedded_and_nothing_is_inline() {
        let mut checked = 0;
        for (name, _, body) in FILES {
            let text = std::str::from_utf8(body).expect("assets are UTF-8");
            for marker in ["/admin/assets/", "from './"] {
                for (i, _) in text.match_indices(marker) {
                    let rest = &text[i + marker.len()..];
                    let end = rest.find(['"', '\'']).unwrap_or(rest.len());
                    assert!(get_file(&rest[..end]).is_some(), "{name} references {}, not embedded", &rest[..end]);
                    checked += 1;
                }
            }
            if name.ends_with(".html") {
                assert!(!text.contains("<script>") && !text.contains("style="), "{name} has inline code or style");
                assert!(!text.contains("src=\"http") && !text.contains("href=\"http"), "{name} loads from elsewhere");
            }
        }
        assert!(checked >= 8, "reference scan found too little ({checked})");
        assert!(get_file("../Cargo.toml").is_none() && get_file("").is_none());
    }
}
