//! Signed, expiring download links for recordings, and the `Range` header a `<video>` sends to
//! seek. Pure: the key and the time are passed in. A link is
//! `/recordings/{id}/{name}?exp={unix secs}&sig={base64url HMAC-SHA256 of "{id}/{name}/{exp}"}`,
//! under a key derived from the hub's secret — anyone holding it may download that one file until
//! it expires, which is what lets a `<video src>` play without a bearer header.

use std::ops::Range;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How long a link the lessons API hands out stays valid.
pub const LINK_TTL_SECS: u64 = 6 * 3600;

/// How long a lesson page link a teacher shares with students stays valid: a week, so a student
/// who was ill catches up in the days after; the teacher shares again for longer (each share is a
/// new link; the files' own links inside the page are minted fresh, 6 h, at each load).
pub const SHARE_TTL_SECS: u64 = 7 * 24 * 3600;

/// The key links are signed with (derived from the hub's secret for this purpose only).
#[derive(Clone)]
pub struct LinkKey([u8; 32]);

impl std::fmt::Debug for LinkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkKey(<redacted>)")
    }
}

/// Why a link is refused (403 either way).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("the download link has expired: ask the lessons list for a new one")]
    Expired,
    #[error("the download link's signature is not valid")]
    Forged,
}

impl LinkKey {
    pub fn new(key: [u8; 32]) -> Self {
        Self(key)
    }

    fn mac(&self, id: i64, name: &str, exp: u64) -> Hmac<Sha256> {
        // HMAC takes a key of any length.
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(format!("{id}/{name}/{exp}").as_bytes());
        mac
    }

    /// The link to recording `id` named `name`, valid until `exp` (unix seconds).
    pub fn url(&self, id: i64, name: &str, exp: u64) -> String {
        let sig = B64.encode(self.mac(id, name, exp).finalize().into_bytes());
        format!("/recordings/{id}/{name}?exp={exp}&sig={sig}")
    }

    /// The signature of lesson `lesson`'s page shared until `exp`. Signed as `lesson/{id}/{exp}`,
    /// which no recording link's `{number}/{name}/{exp}` can be, so neither passes for the other.
    fn share_mac(&self, lesson: &str, exp: u64) -> Hmac<Sha256> {
        // HMAC takes a key of any length.
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(format!("lesson/{lesson}/{exp}").as_bytes());
        mac
    }

    /// The page of `lesson` for students, valid until `exp` (unix seconds).
    pub fn share_url(&self, lesson: &str, exp: u64) -> String {
        let sig = B64.encode(self.share_mac(lesson, exp).finalize().into_bytes());
        format!("/lessons/{lesson}?exp={exp}&sig={sig}")
    }

    /// Checks a shared lesson page's `exp` and `sig` at `now` (unix seconds).
    pub fn verify_share(&self, lesson: &str, exp: u64, sig: &str, now: u64) -> Result<(), LinkError> {
        let sig = B64.decode(sig).map_err(|_| LinkError::Forged)?;
        self.share_mac(lesson, exp).verify_slice(&sig).map_err(|_| LinkError::Forged)?;
        if now > exp {
            return Err(LinkError::Expired);
        }
        Ok(())
    }

    /// Checks a link's `exp` and `sig` at `now` (unix seconds).
    pub fn verify(&self, id: i64, name: &str, exp: u64, sig: &str, now: u64) -> Result<(), LinkError> {
        let sig = B64.decode(sig).map_err(|_| LinkError::Forged)?;
        // Constant-time comparison; checked before the expiry so a forged link learns nothing.
        self.mac(id, name, exp).verify_slice(&sig).map_err(|_| LinkError::Forged)?;
        if now > exp {
            return Err(LinkError::Expired);
        }
        Ok(())
    }
}

/// What a `Range` header asks of a file of `size` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ranged {
    /// No range (or one we do not serve, such as several): the whole file, 200.
    Whole,
    /// One satisfiable range, 206.
    Part(Range<u64>),
    /// Outside the file, 416.
    Unsatisfiable,
}

/// `exp` and `sig` of a download link's query.
pub fn query(query: Option<&str>) -> Option<(u64, String)> {
    let (mut exp, mut sig) = (None, None);
    for pair in query?.split('&') {
        match pair.split_once('=') {
            Some(("exp", v)) => exp = v.parse().ok(),
            Some(("sig", v)) => sig = Some(v.to_owned()),
            _ => {}
        }
    }
    Some((exp?, sig?))
}

/// `bytes=a-b`, `bytes=a-` or `bytes=-n`; anything else is served whole (RFC 9110 lets a server
/// ignore a range it does not support).
pub fn parse_range(header: Option<&str>, size: u64) -> Ranged {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else { return Ranged::Whole };
    if spec.contains(',') {
        return Ranged::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else { return Ranged::Whole };
    let num = |s: &str| -> Option<u64> {
        let s = s.trim();
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok()).flatten()
    };
    match (first.trim().is_empty(), num(first), num(last)) {
        // The last n bytes.
        (true, _, Some(n)) if n > 0 && size > 0 => Ranged::Part(size.saturating_sub(n)..size),
        (true, _, Some(_)) => Ranged::Unsatisfiable,
        (false, Some(a), _) if a >= size => Ranged::Unsatisfiable,
        (false, Some(a), None) if last.trim().is_empty() => Ranged::Part(a..size),
        (false, Some(a), Some(b)) if b >= a => Ranged::Part(a..b.saturating_add(1).min(size)),
        _ => Ranged::Whole,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(url: &str) -> (u64, String) {
        let q = url.split_once('?').unwrap().1;
        let mut exp = 0;
        let mut sig = String::new();
        for pair in q.split('&') {
            match pair.split_once('=').unwrap() {
                ("exp", v) => exp = v.parse().unwrap(),
                ("sig", v) => sig = v.to_owned(),
                _ => panic!("unexpected {pair}"),
            }
        }
        (exp, sig)
    }

    #[test]
    fn a_signed_link_opens_its_file_until_it_expires_and_no_other() {
        let key = LinkKey::new([7; 32]);
        let url = key.url(12, "1-camera-000.mp4", 1000);
        assert!(url.starts_with("/recordings/12/1-camera-000.mp4?exp=1000&sig="), "{url}");
        let (exp, sig) = query(&url);
        assert_eq!(key.verify(12, "1-camera-000.mp4", exp, &sig, 999), Ok(()));
        assert_eq!(key.verify(12, "1-camera-000.mp4", exp, &sig, 1000), Ok(()));
        assert_eq!(key.verify(12, "1-camera-000.mp4", exp, &sig, 1001), Err(LinkError::Expired));
        assert_eq!(key.verify(13, "1-camera-000.mp4", exp, &sig, 0), Err(LinkError::Forged), "another file");
        assert_eq!(key.verify(12, "1-slides-000.mp4", exp, &sig, 0), Err(LinkError::Forged), "another name");
        assert_eq!(key.verify(12, "1-camera-000.mp4", exp + 3600, &sig, 0), Err(LinkError::Forged), "a later expiry");
        assert_eq!(key.verify(12, "1-camera-000.mp4", exp, "not base64!", 0), Err(LinkError::Forged));
        let other = LinkKey::new([8; 32]);
        assert_eq!(other.verify(12, "1-camera-000.mp4", exp, &sig, 0), Err(LinkError::Forged), "another hub");
    }

    #[test]
    fn a_shared_lesson_page_opens_that_lesson_until_it_expires_and_is_no_file_link() {
        let key = LinkKey::new([7; 32]);
        let url = key.share_url("lab-1.1700000000000", 5000);
        assert!(url.starts_with("/lessons/lab-1.1700000000000?exp=5000&sig="), "{url}");
        let (exp, sig) = query(&url);
        assert_eq!(key.verify_share("lab-1.1700000000000", exp, &sig, 5000), Ok(()));
        assert_eq!(key.verify_share("lab-1.1700000000000", exp, &sig, 5001), Err(LinkError::Expired));
        assert_eq!(key.verify_share("lab-1.1700000000001", exp, &sig, 0), Err(LinkError::Forged), "another lesson");
        assert_eq!(key.verify_share("lab-1.1700000000000", exp + 1, &sig, 0), Err(LinkError::Forged), "a later expiry");
        // A file link's signature never opens a page, nor the other way round.
        let file = key.url(1, "x.mp4", 5000);
        let (_, file_sig) = query(&file);
        assert_eq!(key.verify_share("1/x.mp4", 5000, &file_sig, 0), Err(LinkError::Forged));
        assert_eq!(key.verify(1, "x.mp4", 5000, &sig, 0), Err(LinkError::Forged));
    }

    #[test]
    fn ranges_as_a_video_element_sends_them() {
        assert_eq!(parse_range(None, 100), Ranged::Whole);
        assert_eq!(parse_range(Some("bytes=0-"), 100), Ranged::Part(0..100));
        assert_eq!(parse_range(Some("bytes=10-19"), 100), Ranged::Part(10..20));
        assert_eq!(parse_range(Some("bytes=90-500"), 100), Ranged::Part(90..100), "clamped to the end");
        assert_eq!(parse_range(Some("bytes=-10"), 100), Ranged::Part(90..100));
        assert_eq!(parse_range(Some("bytes=-500"), 100), Ranged::Part(0..100));
        assert_eq!(parse_range(Some("bytes=100-"), 100), Ranged::Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=-0"), 100), Ranged::Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=0-1,5-6"), 100), Ranged::Whole, "several ranges: served whole");
        for odd in ["items=0-1", "bytes=", "bytes=a-b", "bytes=5-2", "bytes=-", "bytes=99999999999999999999999-"] {
            assert_eq!(parse_range(Some(odd), 100), Ranged::Whole, "{odd}");
        }
    }
}
