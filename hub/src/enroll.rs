//! Claim codes for classroom boxes that have no credential yet. A new box connects to
//! `/device/ws` without a token and asks for a code; it shows the code on its display, log and
//! status page; an admin types it into the web admin with the room the box belongs to, and the
//! hub hands the box its own device credential over the same socket.
//!
//! Plain state, time as an input: the socket side lives in `http::device`. The codes are also
//! written to the database whenever they change (`Store::save_pending`) and read back at start-up,
//! so a hub restart does not change the code on a waiting box's screen. Each is single use and
//! expires after 24 hours, or [`AWAY_GRACE_SECS`] after its box went away and did not come back.
//! A box reconnecting with the same `box_key` gets its code back, so a flaky network does not
//! change the code on its screen while someone is typing it. Addresses count by `ip_key` (an IPv6
//! client by its /64).

use std::collections::HashMap;
use std::net::IpAddr;

use lectern_common::net::ip_key;

/// How long a code may be claimed.
pub const CODE_TTL_SECS: u64 = 24 * 3600;
/// A code whose box disconnected lasts this much longer (a reboot, a network blip), not a day.
pub const AWAY_GRACE_SECS: u64 = 10 * 60;
/// Crockford's base 32: no I, L, O or U, so a code read off a screen is not misread.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const CODE_CHARS: usize = 8;
/// Bounds memory against a flood of fake boxes.
const MAX_PENDING: usize = 2000;
const MAX_PENDING_PER_IP: usize = 64;

/// A box waiting to be claimed, as the admin sees it when claiming.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// Normalized: 8 characters, no dash.
    pub code: String,
    /// SHA-256 of the box's secret key, hex: who to hand the credential to.
    pub box_key: String,
    pub hostname: String,
    pub version: String,
    pub ip: IpAddr,
    pub expires_at: u64,
    /// When the code was drawn: it never outlives `created_at + CODE_TTL_SECS`.
    pub created_at: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnrollError {
    #[error("too many boxes are waiting to be enrolled from {0}; enroll or power off some first")]
    TooManyFromAddress(IpAddr),
    #[error("too many boxes are waiting to be enrolled; try again later")]
    TooMany,
    #[error("too many enrolment requests from this address; try again in a few seconds")]
    TooFast,
}

#[derive(Debug, Default)]
pub struct Enrollments {
    /// By normalized code.
    pending: HashMap<String, Pending>,
}

impl Enrollments {
    /// The code for the box with `box_key` (hashed): its current one if it has one that has not
    /// expired, else a new one drawn with `random` (called until the code is unused).
    pub fn request(
        &mut self,
        box_key: &str,
        hostname: &str,
        version: &str,
        ip: IpAddr,
        now: u64,
        mut random: impl FnMut() -> u64,
    ) -> Result<Pending, EnrollError> {
        self.forget_expired(now);
        if let Some(p) = self.pending.values_mut().find(|p| p.box_key == box_key) {
            p.ip = ip;
            // Back before its grace ran out: the code lives its full day again.
            p.expires_at = p.created_at + CODE_TTL_SECS;
            return Ok(p.clone());
        }
        if self.pending.len() >= MAX_PENDING {
            return Err(EnrollError::TooMany);
        }
        if self.pending.values().filter(|p| ip_key(p.ip) == ip_key(ip)).count() >= MAX_PENDING_PER_IP {
            return Err(EnrollError::TooManyFromAddress(ip));
        }
        let code = loop {
            let code = code_from(random());
            if !self.pending.contains_key(&code) {
                break code;
            }
        };
        let pending = Pending {
            code: code.clone(),
            box_key: box_key.to_owned(),
            hostname: clip(hostname, 64),
            version: clip(version, 32),
            ip,
            expires_at: now + CODE_TTL_SECS,
            created_at: now,
        };
        self.pending.insert(code, pending.clone());
        Ok(pending)
    }

    /// Takes the box waiting with `code` as typed (any case, dashes and spaces ignored, O read as
    /// 0 and I/L as 1). `None` for a code that never existed, was used or has expired: the caller
    /// must not be able to tell which.
    pub fn claim(&mut self, typed: &str, now: u64) -> Option<Pending> {
        self.forget_expired(now);
        self.pending.remove(&normalize(typed)?)
    }

    /// The box with `box_key` disconnected: its code goes unless it is back within the grace.
    pub fn went_away(&mut self, box_key: &str, now: u64) {
        if let Some(p) = self.pending.values_mut().find(|p| p.box_key == box_key) {
            p.expires_at = p.expires_at.min(now + AWAY_GRACE_SECS);
        }
    }

    pub fn waiting(&self) -> usize {
        self.pending.len()
    }

    /// Every waiting box, for saving.
    pub fn all(&self) -> Vec<Pending> {
        self.pending.values().cloned().collect()
    }

    /// Takes back what was saved before a restart: the codes not expired by `now`, within the
    /// bounds (a box restored is as if it had just gone away: it has the grace to come back).
    pub fn restore(&mut self, saved: impl IntoIterator<Item = Pending>, now: u64) {
        for mut p in saved {
            if self.pending.len() >= MAX_PENDING || normalize(&p.code).as_deref() != Some(p.code.as_str()) {
                continue;
            }
            p.expires_at = p.expires_at.min(now + AWAY_GRACE_SECS).min(p.created_at + CODE_TTL_SECS);
            let taken = self.pending.contains_key(&p.code) || self.pending.values().any(|q| q.box_key == p.box_key);
            if p.expires_at > now && !taken {
                self.pending.insert(p.code.clone(), p);
            }
        }
    }

    fn forget_expired(&mut self, now: u64) {
        self.pending.retain(|_, p| p.expires_at > now);
    }
}

/// `ABCD-EFGH` for showing.
pub fn display(code: &str) -> String {
    if code.len() == CODE_CHARS { format!("{}-{}", &code[..4], &code[4..]) } else { code.to_owned() }
}

fn code_from(mut bits: u64) -> String {
    let mut code = String::with_capacity(CODE_CHARS);
    for _ in 0..CODE_CHARS {
        code.push(ALPHABET[(bits % 32) as usize] as char);
        bits /= 32;
    }
    code
}

fn normalize(typed: &str) -> Option<String> {
    let mut code = String::with_capacity(CODE_CHARS);
    for c in typed.chars().filter(|c| !matches!(c, '-' | ' ')) {
        let c = match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            c => c,
        };
        if !c.is_ascii() || !ALPHABET.contains(&(c as u8)) || code.len() == CODE_CHARS {
            return None;
        }
        code.push(c);
    }
    (code.len() == CODE_CHARS).then_some(code)
}

fn clip(s: &str, max: usize) -> String {
    s.chars().filter(|c| !c.is_control()).take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    fn request(e: &mut Enrollments, key: &str, now: u64, seed: u64) -> Pending {
        e.request(key, "box", "0.1.0", IP, now, || seed).unwrap()
    }

    #[test]
    fn a_code_is_single_use_and_typed_loosely() {
        let mut e = Enrollments::default();
        let p = request(&mut e, "k1", 100, 0x1234_5678_9abc);
        assert_eq!(p.code.len(), 8);
        let typed = display(&p.code).to_lowercase().replace('0', "o");
        assert_eq!(e.claim(&typed, 200).map(|c| c.box_key), Some("k1".to_owned()));
        assert_eq!(e.claim(&p.code, 201), None, "replayed");
        assert_eq!(e.waiting(), 0);
    }

    #[test]
    fn a_reconnecting_box_keeps_its_code_until_it_expires() {
        let mut e = Enrollments::default();
        let first = request(&mut e, "k1", 100, 1);
        assert_eq!(request(&mut e, "k1", 5000, 2).code, first.code);
        let later = request(&mut e, "k1", 100 + CODE_TTL_SECS, 3);
        assert_ne!(later.code, first.code, "an expired code is replaced");
        assert_eq!(e.claim(&first.code, 100 + CODE_TTL_SECS), None);
    }

    #[test]
    fn restored_codes_come_back_to_their_boxes_and_expired_or_odd_ones_do_not() {
        let mut e = Enrollments::default();
        let kept = request(&mut e, "k1", 100, 11);
        let old = request(&mut e, "k2", 100, 12);
        let mut saved = e.all();
        saved.push(Pending { code: "not-a-code".into(), box_key: "k3".into(), ..kept.clone() });
        saved.push(Pending { code: kept.code.clone(), box_key: "k1-dup".into(), ..kept.clone() });
        let mut restarted = Enrollments::default();
        // k2's box went away long ago: its grace ran out before the restart.
        saved.iter_mut().filter(|p| p.box_key == "k2").for_each(|p| p.expires_at = 150);
        restarted.restore(saved, 200);
        assert_eq!(restarted.waiting(), 1, "{:?}", restarted.all());
        assert_eq!(request(&mut restarted, "k1", 300, 99).code, kept.code, "the same code on the box's screen");
        assert_ne!(request(&mut restarted, "k2", 300, 98).code, old.code);
        // A restored box has only the grace to come back, not a new day.
        let mut again = Enrollments::default();
        again.restore(vec![kept.clone()], 1000);
        assert_eq!(again.claim(&kept.code, 1000 + AWAY_GRACE_SECS + 1), None);
    }

    #[test]
    fn expired_unknown_and_malformed_codes_all_fail_alike() {
        let mut e = Enrollments::default();
        let p = request(&mut e, "k1", 100, 7);
        assert_eq!(e.claim("ZZZZ-ZZZZ", 101), None);
        for bad in ["", "ABC", "ABCDEFGHJ", "ABCD-EFGU", "ÅBCDEFGH"] {
            assert_eq!(e.claim(bad, 101), None, "{bad}");
        }
        assert_eq!(e.claim(&p.code, 100 + CODE_TTL_SECS), None, "expired");
    }

    #[test]
    fn colliding_draws_are_redrawn_and_floods_are_bounded() {
        let mut e = Enrollments::default();
        let a = request(&mut e, "k1", 100, 9);
        let mut draws = [9, 9, 10].into_iter();
        let b = e.request("k2", "box", "v", IP, 100, || draws.next().unwrap()).unwrap();
        assert_ne!(a.code, b.code);
        for i in 2..MAX_PENDING_PER_IP {
            request(&mut e, &format!("other-{i}"), 100, 1000 + i as u64);
        }
        assert_eq!(e.request("one more", "", "", IP, 100, || 1).unwrap_err(), EnrollError::TooManyFromAddress(IP));
        let other: IpAddr = "192.0.2.1".parse().unwrap();
        assert!(e.request("elsewhere", "", "", other, 100, || 5).is_ok());
    }

    #[test]
    fn one_ipv6_slash_64_is_one_address() {
        let mut e = Enrollments::default();
        for i in 0..MAX_PENDING_PER_IP {
            let ip: IpAddr = format!("2001:db8:1:2::{:x}", i + 1).parse().unwrap();
            e.request(&format!("k{i}"), "", "", ip, 100, || 2000 + i as u64).unwrap();
        }
        let ip: IpAddr = "2001:db8:1:2:ffff::1".parse().unwrap();
        assert!(matches!(e.request("one more", "", "", ip, 100, || 1), Err(EnrollError::TooManyFromAddress(_))));
    }

    #[test]
    fn a_box_that_went_away_loses_its_code_unless_it_comes_back_in_time() {
        let mut e = Enrollments::default();
        let gone = request(&mut e, "gone", 100, 1);
        let back = request(&mut e, "back", 100, 2);
        e.went_away("gone", 200);
        e.went_away("back", 200);
        assert_eq!(request(&mut e, "back", 200 + AWAY_GRACE_SECS - 1, 3).code, back.code, "back within the grace");
        assert_eq!(e.claim(&gone.code, 200 + AWAY_GRACE_SECS), None, "gone for good");
        assert_eq!(e.waiting(), 1);
        assert!(e.claim(&back.code, 100 + CODE_TTL_SECS - 1).is_some(), "the returning box has its full day");
    }
}
