//! TURN REST credentials (coturn's `use-auth-secret` / `static-auth-secret`): the hub and the relay
//! share a secret, and the hub mints each participant a username `"<expiry>:<participant>"` with
//! `credential = base64(HMAC-SHA1(secret, username))`. Sans-IO: the clock comes in as `now_unix`.
//!
//! How coturn treats an expired username (observed with Debian's coturn 4.6.1, see
//! `hub/tests/turn_coturn.rs`): coturn checks the timestamp only when a new allocation
//! authenticates. An Allocate with an expired username gets `401 Unauthorized` (its log says
//! "Cannot find credentials of user <…>"), but an allocation made before the expiry keeps
//! answering Refresh and CreatePermission with the same username afterwards. So a credential must
//! be valid whenever the participant may need a *new* allocation (first connection, ICE restart,
//! a second relay URL), which [`LIFETIME_SECS`] covers for a whole lesson without sending fresh
//! ones over `/rtc`; a rejoin gets a freshly minted one in its `joined` message.

use base64::Engine;
use hmac::{Hmac, Mac};
use lectern_proto::ParticipantId;
use lectern_proto::signal::IceServer;
use sha1::Sha1;

/// How long a minted credential is valid: 12 hours, the cap. A classroom box publishes from the
/// first lesson of the day to the last on one WHIP session and a browser may need a new
/// allocation (ICE restart) at any point of its lesson, and coturn refuses new allocations with an
/// expired username (module doc). A leaked credential can open relays for at most half a day.
pub const LIFETIME_SECS: u64 = 12 * 60 * 60;

/// A coturn secret. Its `Debug` never shows it, so settings can be logged.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: String) -> Self {
        Self(s)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// One `[[media.turn]]` entry, validated: `turn:`/`turns:` URLs and the shared secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnServer {
    pub urls: Vec<String>,
    pub secret: Secret,
}

impl TurnServer {
    /// The server as a browser's `RTCIceServer`, with a credential for `participant` valid for
    /// [`LIFETIME_SECS`] from `now_unix`.
    pub fn mint(&self, participant: ParticipantId, now_unix: u64) -> IceServer {
        let username = format!("{}:{participant}", now_unix.saturating_add(LIFETIME_SECS));
        let credential = credential(&self.secret, &username);
        IceServer { urls: self.urls.clone(), username: Some(username), credential: Some(credential) }
    }
}

/// `base64(HMAC-SHA1(secret, username))`, what coturn computes to check a REST username.
pub fn credential(secret: &Secret, username: &str) -> String {
    // HMAC takes a key of any length; `new_from_slice` fails only for fixed-length MACs.
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.0.as_bytes()).expect("HMAC accepts any key length");
    mac.update(username.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Every ICE server the hub hands out: the fixed `[[media.ice_servers]]` and the `[[media.turn]]`
/// relays it mints credentials for.
#[derive(Debug, Clone, Default)]
pub struct IceServers {
    pub fixed: Vec<IceServer>,
    pub turn: Vec<TurnServer>,
}

impl IceServers {
    /// What an authenticated participant gets: the fixed servers, then a fresh credential for
    /// each TURN relay.
    pub fn for_participant(&self, participant: ParticipantId, now_unix: u64) -> Vec<IceServer> {
        let minted = self.turn.iter().map(|t| t.mint(participant, now_unix));
        self.fixed.iter().cloned().chain(minted).collect()
    }

    /// What anyone may see (the unauthenticated WHIP/WHEP `OPTIONS`): the fixed servers that
    /// carry no credential, i.e. STUN.
    pub fn public(&self) -> Vec<IceServer> {
        self.fixed.iter().filter(|s| s.username.is_none() && s.credential.is_none()).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relay() -> TurnServer {
        TurnServer {
            urls: vec!["turn:relay.example:3478?transport=udp".into(), "turns:relay.example:443".into()],
            secret: Secret::new("north-wing-relay-secret".into()),
        }
    }

    #[test]
    fn credential_matches_an_independent_hmac_sha1() {
        // python3 -c 'import hmac,hashlib,base64; print(base64.b64encode(hmac.new(
        //   b"north-wing-relay-secret", b"1700000000:p42", hashlib.sha1).digest()).decode())'
        let secret = Secret::new("north-wing-relay-secret".into());
        assert_eq!(credential(&secret, "1700000000:p42"), "lNwQ8hD3LOgLGStwLrBUdrcuetc=");
    }

    #[test]
    fn minted_username_is_expiry_then_participant() {
        let s = relay().mint(ParticipantId(42), 1_700_000_000 - LIFETIME_SECS);
        assert_eq!(s.username.as_deref(), Some("1700000000:p42"));
        assert_eq!(s.credential.as_deref(), Some("lNwQ8hD3LOgLGStwLrBUdrcuetc="));
        assert_eq!(s.urls, relay().urls);
        assert_eq!(LIFETIME_SECS, 12 * 3600, "the issue caps the lifetime at 12 h");
    }

    #[test]
    fn each_participant_gets_its_own_credential() {
        let a = relay().mint(ParticipantId(1), 1_700_000_000);
        let b = relay().mint(ParticipantId(2), 1_700_000_000);
        assert_ne!(a.credential, b.credential);
    }

    #[test]
    fn public_servers_carry_no_credential_and_minted_ones_follow_the_fixed() {
        let stun = IceServer { urls: vec!["stun:s.example:3478".into()], username: None, credential: None };
        let static_turn = IceServer {
            urls: vec!["turn:old.example:3478".into()],
            username: Some("lectern".into()),
            credential: Some("pw".into()),
        };
        let ice = IceServers { fixed: vec![stun.clone(), static_turn.clone()], turn: vec![relay()] };
        assert_eq!(ice.public(), vec![stun.clone()]);
        let all = ice.for_participant(ParticipantId(7), 1_000);
        assert_eq!(all[..2], [stun, static_turn]);
        assert_eq!(all[2], relay().mint(ParticipantId(7), 1_000));
    }

    #[test]
    fn the_secret_is_not_in_debug_output() {
        assert!(!format!("{:?}", relay()).contains("north-wing"));
    }
}
