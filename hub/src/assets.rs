//! The web app (student, teacher and room display), embedded in the binary so the hub serves it with nothing to install and no
//! CDN. `/` serves `index.html`, `/join/{room}` serves `join.html`, `/assets/{name}` serves
//! [`get`]`(name)`. Sources: `hub/assets/` (plain ES modules, no build step).

/// One embedded file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asset {
    pub content_type: &'static str,
    pub body: &'static [u8],
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const SVG: &str = "image/svg+xml";

/// Every embedded file by its name under `/assets/`.
const FILES: &[(&str, Asset)] = &[
    ("index.html", asset(HTML, include_bytes!("../assets/index.html"))),
    ("join.html", asset(HTML, include_bytes!("../assets/join.html"))),
    ("lesson.html", asset(HTML, include_bytes!("../assets/lesson.html"))),
    ("lessons.html", asset(HTML, include_bytes!("../assets/lessons.html"))),
    ("lessonpage.js", asset(JS, include_bytes!("../assets/lessonpage.js"))),
    ("lessonplayer.js", asset(JS, include_bytes!("../assets/lessonplayer.js"))),
    ("lessonlist.js", asset(JS, include_bytes!("../assets/lessonlist.js"))),
    ("style.css", asset(CSS, include_bytes!("../assets/style.css"))),
    ("favicon.svg", asset(SVG, include_bytes!("../assets/favicon.svg"))),
    ("app.js", asset(JS, include_bytes!("../assets/app.js"))),
    ("boot.js", asset(JS, include_bytes!("../assets/boot.js"))),
    ("address.js", asset(JS, include_bytes!("../assets/address.js"))),
    ("home.js", asset(JS, include_bytes!("../assets/home.js"))),
    ("form.js", asset(JS, include_bytes!("../assets/form.js"))),
    ("links.js", asset(JS, include_bytes!("../assets/links.js"))),
    ("signal.js", asset(JS, include_bytes!("../assets/signal.js"))),
    ("media.js", asset(JS, include_bytes!("../assets/media.js"))),
    ("ice.js", asset(JS, include_bytes!("../assets/ice.js"))),
    ("publish.js", asset(JS, include_bytes!("../assets/publish.js"))),
    ("subscribe.js", asset(JS, include_bytes!("../assets/subscribe.js"))),
    ("ui.js", asset(JS, include_bytes!("../assets/ui.js"))),
    ("claims.js", asset(JS, include_bytes!("../assets/claims.js"))),
    ("classroom.js", asset(JS, include_bytes!("../assets/classroom.js"))),
    ("files.js", asset(JS, include_bytes!("../assets/files.js"))),
    ("lesson.js", asset(JS, include_bytes!("../assets/lesson.js"))),
    ("breakout.js", asset(JS, include_bytes!("../assets/breakout.js"))),
    ("failover.js", asset(JS, include_bytes!("../assets/failover.js"))),
    ("gate.js", asset(JS, include_bytes!("../assets/gate.js"))),
    ("toast.js", asset(JS, include_bytes!("../assets/toast.js"))),
    ("confirm.js", asset(JS, include_bytes!("../assets/confirm.js"))),
    ("tabs.js", asset(JS, include_bytes!("../assets/tabs.js"))),
    ("hands.js", asset(JS, include_bytes!("../assets/hands.js"))),
    ("chime.js", asset(JS, include_bytes!("../assets/chime.js"))),
    ("lobby.js", asset(JS, include_bytes!("../assets/lobby.js"))),
    ("chat.js", asset(JS, include_bytes!("../assets/chat.js"))),
    ("polls.js", asset(JS, include_bytes!("../assets/polls.js"))),
    ("pollform.js", asset(JS, include_bytes!("../assets/pollform.js"))),
    ("people.js", asset(JS, include_bytes!("../assets/people.js"))),
    ("roomctl.js", asset(JS, include_bytes!("../assets/roomctl.js"))),
    ("recording.js", asset(JS, include_bytes!("../assets/recording.js"))),
    ("reactions.js", asset(JS, include_bytes!("../assets/reactions.js"))),
    ("screenshare.js", asset(JS, include_bytes!("../assets/screenshare.js"))),
    ("quality.js", asset(JS, include_bytes!("../assets/quality.js"))),
    ("linkstats.js", asset(JS, include_bytes!("../assets/linkstats.js"))),
    ("whiteboard.js", asset(JS, include_bytes!("../assets/whiteboard.js"))),
    ("notes.js", asset(JS, include_bytes!("../assets/notes.js"))),
    // The yjs bundle (scripts/bundle-yjs.sh; its licence is vendor/yjs.LICENSE).
    ("yjs.js", asset(JS, include_bytes!("../assets/vendor/yjs.js"))),
];

const fn asset(content_type: &'static str, body: &'static [u8]) -> Asset {
    Asset { content_type, body }
}

/// The embedded file called `name` (e.g. `"app.js"`), or `None`. Names are matched exactly, so a
/// path like `../x` or `a/b` can never reach anything but this table.
pub fn get(path: &str) -> Option<Asset> {
    FILES.iter().find(|(name, _)| *name == path).map(|(_, a)| *a)
}

/// Names of all embedded files.
pub fn names() -> impl Iterator<Item = &'static str> {
    FILES.iter().map(|(name, _)| *name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `/assets/NAME` in an HTML file and every `./NAME` in a JS import (static or dynamic).
    fn references(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        for marker in ["/assets/", "from './", "import './", "import('./"] {
            let mut rest = text;
            while let Some(i) = rest.find(marker) {
                rest = &rest[i + marker.len()..];
                let end =
                    rest.find(|c: char| c == '"' || c == '\'' || c == '`' || c.is_whitespace()).unwrap_or(rest.len());
                let name = &rest[..end];
                if !name.is_empty() {
                    out.push(name.to_owned());
                }
            }
        }
        out
    }

    #[test]
    fn every_referenced_asset_is_embedded() {
        let mut checked = 0;
        for name in names() {
            let asset = get(name).expect("listed names resolve");
            if !(name.ends_with(".html") || name.ends_with(".js")) {
                continue;
            }
            let text = std::str::from_utf8(asset.body).expect("text assets are UTF-8");
            for r in references(text) {
                assert!(get(&r).is_some(), "{name} references {r}, which is not embedded");
                checked += 1;
            }
        }
        assert!(checked >= 10, "the reference scan found too little ({checked}); is it broken?");
    }

    #[test]
    fn join_page_runs_boot_first_and_boot_imports_nothing() {
        // boot.js sends the join while the app's modules load (docs/performance.md): an import
        // would make it wait for another round trip, a later tag for the app's.
        let page = std::str::from_utf8(get("join.html").unwrap().body).unwrap();
        let boot = page.find(r#"<script type="module" async src="/assets/boot.js"></script>"#);
        let app = page.find(r#"<script type="module" src="/assets/app.js"></script>"#);
        assert!(boot.is_some() && app.is_some(), "join.html loads boot.js (async) and app.js");
        assert!(boot < app, "boot.js comes before app.js");
        let text = std::str::from_utf8(get("boot.js").unwrap().body).unwrap();
        assert!(references(text).is_empty() && !text.contains("import("), "boot.js imports nothing");
        // The app takes over what boot.js opened: it is part of the app's graph, not a second copy.
        let signal = std::str::from_utf8(get("signal.js").unwrap().body).unwrap();
        assert!(references(signal).contains(&"boot.js".to_owned()), "signal.js takes boot.js's socket over");
    }

    #[test]
    fn pages_and_entry_points_exist_with_their_types() {
        assert_eq!(get("index.html").map(|a| a.content_type), Some(HTML));
        assert_eq!(get("join.html").map(|a| a.content_type), Some(HTML));
        assert_eq!(get("app.js").map(|a| a.content_type), Some(JS));
        assert_eq!(get("style.css").map(|a| a.content_type), Some(CSS));
    }

    #[test]
    fn unknown_and_path_like_names_are_not_found() {
        for bad in ["", "nope.js", "../Cargo.toml", "/app.js", "assets/app.js", "app.js/", "APP.JS"] {
            assert!(get(bad).is_none(), "{bad:?} must not resolve");
        }
    }

    #[test]
    fn pages_load_nothing_from_other_hosts() {
        for name in ["index.html", "join.html"] {
            let text = std::str::from_utf8(get(name).unwrap().body).unwrap();
            for attr in ["src=\"http", "href=\"http", "src=\"//", "href=\"//"] {
                assert!(!text.contains(attr), "{name} loads something from another host ({attr})");
            }
        }
    }
}
