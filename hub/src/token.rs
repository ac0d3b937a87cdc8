//! HS256 JSON Web Tokens: the credential every media and signaling endpoint checks.
//!
//! Deliberately small: one algorithm, one key, claims from `lectern-proto`. The header is
//! checked byte-for-byte in meaning (`alg` must be `HS256`), so `alg: none` and key-confusion
//! tricks are refused before the signature is even looked at.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use lectern_proto::Claims;
use serde::Deserialize;
use sha2::Sha256;

use std::collections::HashSet;
use std::sync::{Arc, RwLock};

type HmacSha256 = Hmac<Sha256>;

/// Longest token accepted; anything larger is not one of ours.
const MAX_TOKEN_LEN: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token is malformed: {0}")]
    Malformed(&'static str),
    #[error("token signature is invalid")]
    BadSignature,
    #[error("token has expired")]
    Expired,
    #[error("token is not valid yet")]
    NotYetValid,
    #[error("token has been revoked")]
    Revoked,
}

/// The hub's signing key, and the ids (`jti`) of tokens revoked before they expire (a revoked
/// classroom box). Clones share the revocation list. Never printed: `Debug` is redacted.
#[derive(Clone)]
pub struct TokenKey {
    secret: Vec<u8>,
    revoked: Arc<RwLock<HashSet<String>>>,
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey(<redacted>)")
    }
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    typ: Option<String>,
}

/// Clock skew tolerated between the hub that minted a token and the one checking it.
const LEEWAY_SECS: u64 = 30;

impl TokenKey {
    pub fn new(secret: impl Into<Vec<u8>>) -> Self {
        Self { secret: secret.into(), revoked: Arc::default() }
    }

    /// From now on, tokens with this `jti` are refused, wherever they are presented.
    pub fn revoke(&self, jti: &str) {
        self.revoked.write().unwrap_or_else(|e| e.into_inner()).insert(jti.to_owned());
    }

    fn is_revoked(&self, jti: &str) -> bool {
        self.revoked.read().unwrap_or_else(|e| e.into_inner()).contains(jti)
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC accepts keys of any length, so this cannot fail.
        HmacSha256::new_from_slice(&self.secret).expect("HMAC takes any key length")
    }

    /// A key for another purpose (signed download links), derived from the secret so the two
    /// never sign each other's messages: HMAC-SHA256(secret, purpose).
    pub fn derive(&self, purpose: &[u8]) -> [u8; 32] {
        let mut mac = self.mac();
        mac.update(purpose);
        mac.finalize().into_bytes().into()
    }

    pub fn issue(&self, claims: &Claims) -> String {
        let header = B64.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        // Claims are plain data; serializing them cannot fail.
        let payload = B64.encode(serde_json::to_vec(claims).expect("claims serialize"));
        let signing_input = format!("{header}.{payload}");
        let mut mac = self.mac();
        mac.update(signing_input.as_bytes());
        let sig = B64.encode(mac.finalize().into_bytes());
        format!("{signing_input}.{sig}")
    }

    /// Checks signature and validity window at `now` (Unix seconds) and returns the claims.
    pub fn verify(&self, token: &str, now: u64) -> Result<Claims, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed("token is too long"));
        }
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(TokenError::Malformed("expected three dot-separated parts"));
        };
        let header: Header = decode_json(h, "header is not base64url JSON")?;
        if header.alg != "HS256" || header.typ.as_deref().is_some_and(|t| t != "JWT") {
            return Err(TokenError::Malformed("only HS256 JWTs are accepted"));
        }
        let sig = B64.decode(s).map_err(|_| TokenError::Malformed("signature is not base64url"))?;
        let mut mac = self.mac();
        mac.update(h.as_bytes());
        mac.update(b".");
        mac.update(p.as_bytes());
        // Constant-time comparison.
        mac.verify_slice(&sig).map_err(|_| TokenError::BadSignature)?;
        let claims: Claims = decode_json(p, "claims are not valid")?;
        if now > claims.exp.saturating_add(LEEWAY_SECS) {
            return Err(TokenError::Expired);
        }
        if now.saturating_add(LEEWAY_SECS) < claims.nbf {
            return Err(TokenError::NotYetValid);
        }
        if self.is_revoked(&claims.jti) {
            return Err(TokenError::Revoked);
        }
        Ok(claims)
    }
}

fn decode_json<T: serde::de::DeserializeOwned>(part: &str, what: &'static str) -> Result<T, TokenError> {
    let bytes = B64.decode(part).map_err(|_| TokenError::Malformed(what))?;
    serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed(what))
}

/// A fresh random token id (`jti`) or subject: 128 bits, hex.
pub fn random_id() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses a TTL like `90s`, `45m`, `2h`, `7d` or plain seconds.
pub fn parse_ttl(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: u64 = num.parse().map_err(|_| format!("invalid ttl '{s}': expected e.g. 90s, 45m, 2h, 7d"))?;
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("invalid ttl unit in '{s}': use s, m, h or d")),
    };
    match n.checked_mul(mult) {
        Some(v) if v > 0 => Ok(v),
        _ => Err(format!("ttl '{s}' must be positive and reasonable")),
    }
}

#[cfg(test)]
mod tests {
    use lectern_proto::{Role, RoomId};

    use super::*;

    fn claims(exp: u64) -> Claims {
        Claims {
            sub: "u1".into(),
            room: RoomId::parse("demo").unwrap(),
            role: Role::Student,
            name: Some("Ada".into()),
            exp,
            nbf: 1000,
            jti: "j1".into(),
            guest: false,
        }
    }

    #[test]
    fn issued_token_verifies_with_same_key_only() {
        let key = TokenKey::new(b"k1".to_vec());
        let t = key.issue(&claims(5000));
        assert_eq!(key.verify(&t, 2000).unwrap(), claims(5000));
        assert_eq!(TokenKey::new(b"k2".to_vec()).verify(&t, 2000), Err(TokenError::BadSignature));
    }

    #[test]
    fn a_revoked_token_is_refused_by_every_clone_of_the_key() {
        let key = TokenKey::new(b"k".to_vec());
        let t = key.issue(&claims(5000));
        key.clone().revoke("j1");
        assert_eq!(key.verify(&t, 2000), Err(TokenError::Revoked));
        let other = Claims { jti: "j2".into(), ..claims(5000) };
        assert!(key.verify(&key.issue(&other), 2000).is_ok());
    }

    #[test]
    fn expired_and_future_tokens_are_refused() {
        let key = TokenKey::new(b"k".to_vec());
        let t = key.issue(&claims(5000));
        assert_eq!(key.verify(&t, 5000 + LEEWAY_SECS + 1), Err(TokenError::Expired));
        assert_eq!(key.verify(&t, 1), Err(TokenError::NotYetValid));
    }

    #[test]
    fn alg_none_and_garbage_are_malformed() {
        let key = TokenKey::new(b"k".to_vec());
        let t = key.issue(&claims(5000));
        let payload = t.split('.').nth(1).unwrap();
        let none = format!("{}.{payload}.", B64.encode(br#"{"alg":"none"}"#));
        assert!(matches!(key.verify(&none, 2000), Err(TokenError::Malformed(_))));
        for junk in ["", "a.b", "a.b.c.d", "!!.??.**", &"x".repeat(5000)] {
            assert!(matches!(key.verify(junk, 2000), Err(TokenError::Malformed(_))), "{junk}");
        }
    }

    #[test]
    fn tampered_claims_fail_the_signature() {
        let key = TokenKey::new(b"k".to_vec());
        let t = key.issue(&claims(5000));
        let mut c = claims(5000);
        c.role = Role::Teacher;
        let forged = key.issue(&c);
        let spliced = format!(
            "{}.{}.{}",
            t.split('.').next().unwrap(),
            forged.split('.').nth(1).unwrap(),
            t.split('.').nth(2).unwrap()
        );
        assert_eq!(key.verify(&spliced, 2000), Err(TokenError::BadSignature));
    }

    #[test]
    fn ttl_parsing() {
        assert_eq!(parse_ttl("2h"), Ok(7200));
        assert_eq!(parse_ttl("90"), Ok(90));
        assert_eq!(parse_ttl("7d"), Ok(604_800));
        assert!(parse_ttl("0s").is_err());
        assert!(parse_ttl("2y").is_err());
        assert!(parse_ttl("h").is_err());
        assert!(parse_ttl("99999999999999999999d").is_err());
    }
}
