//! What a session carries besides who it is ([`Access`]): its token's `jti` (revocation ends it),
//! when it must end (the token's expiry plus `token_grace_minutes`), the marks a guest is blocked
//! by once a teacher removes or turns them away (this browser, this address), and the web admin's
//! settings of the room.

use std::net::IpAddr;

use axum::http::{HeaderMap, HeaderValue, header};
use lectern_proto::Claims;

use super::AppState;
use crate::sfu::Access;

/// The cookie naming a browser (random, no meaning): a guest sharing a link is told apart by it.
pub const BROWSER_COOKIE: &str = "lectern_browser";
/// A browser id's length in characters; anything else in the cookie is ignored.
const BROWSER_ID_CHARS: usize = 22;

/// The access of a session opened with `claims`, with the guest's `marks`.
pub fn access_for(st: &AppState, claims: &Claims, marks: Vec<String>) -> Access {
    Access {
        jti: claims.jti.clone(),
        ends_at: Some(claims.exp.saturating_add(st.token_grace.as_secs())),
        marks: if claims.guest { marks } else { Vec::new() },
        room: st.room_settings.get(&claims.room),
        recording: st.room_settings.recording(&claims.room).unwrap_or(st.recording.default),
        students: st.recording.students,
    }
}

/// What a guest is recognised by again: its browser and its address (an IPv6 /64 is one).
pub fn guest_marks(browser: Option<&str>, client: Option<IpAddr>) -> Vec<String> {
    let browser = browser.map(|b| format!("browser:{b}"));
    let address =
        client.filter(|ip| !ip.is_unspecified()).map(|ip| format!("address:{}", lectern_common::net::ip_key(ip)));
    browser.into_iter().chain(address).collect()
}

/// The browser's id from its cookie, if it sent a well-formed one.
pub fn browser_id(headers: &HeaderMap) -> Option<String> {
    let cookies = headers.get_all(header::COOKIE).into_iter().filter_map(|v| v.to_str().ok());
    cookies.flat_map(|c| c.split(';')).find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        let ok = name == BROWSER_COOKIE
            && value.len() == BROWSER_ID_CHARS
            && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        ok.then(|| value.to_owned())
    })
}

/// A new browser id and the `Set-Cookie` that gives it to the browser (a year; only `/rtc` sees it).
pub fn new_browser_id(secure: bool) -> (String, Option<HeaderValue>) {
    let id: String = crate::token::random_id().chars().take(BROWSER_ID_CHARS).collect();
    let secure = if secure { "; Secure" } else { "" };
    let cookie = format!("{BROWSER_COOKIE}={id}; Path=/rtc; Max-Age=31536000; HttpOnly; SameSite=Strict{secure}");
    (id, HeaderValue::from_str(&cookie).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_well_formed_browser_cookie_is_read() {
        let (id, cookie) = new_browser_id(true);
        assert_eq!(id.len(), BROWSER_ID_CHARS);
        assert!(cookie.unwrap().to_str().unwrap().contains("HttpOnly; SameSite=Strict; Secure"));
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_str(&format!("a=b; {BROWSER_COOKIE}={id}")).unwrap());
        assert_eq!(browser_id(&h), Some(id));
        h.insert(header::COOKIE, HeaderValue::from_static("lectern_browser=short"));
        assert_eq!(browser_id(&h), None);
    }

    #[test]
    fn a_guest_is_marked_by_browser_and_address_by_its_64() {
        let ip: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let marks = guest_marks(Some("b"), Some(ip));
        assert_eq!(marks, ["browser:b".to_owned(), format!("address:{}", lectern_common::net::ip_key(ip))]);
        assert!(guest_marks(None, Some("0.0.0.0".parse().unwrap())).is_empty());
    }
}
