//! Properties of every parser that takes network input, on generated and mutated inputs with a
//! bounded number of cases: none panics, and what they accept is what they should. The fuzzers in
//! `fuzz/` (scripts/fuzz.sh) run the same entry points for minutes; this runs on every `cargo test`.

use std::net::{IpAddr, SocketAddr};

use lectern_common::box_config::{Fragment, resolve};
use lectern_hub::enroll::Enrollments;
use lectern_hub::http::inbound::Inbound;
use lectern_hub::recording::link::{Ranged, parse_range};
use lectern_hub::recording::upload;
use lectern_hub::sfu::Ident;
use lectern_hub::sfu::core::{Offering, ShardCore};
use lectern_hub::sfu::peer_table::stun_local_ufrag;
use lectern_hub::store::Transport;
use lectern_hub::time::Now;
use lectern_hub::token::TokenKey;
use lectern_proto::device::{DeviceMsg, MAX_TEXT_CHARS};
use lectern_proto::signal::ClientMsg;
use lectern_proto::{ParticipantId, Role, RoomId};
use proptest::prelude::*;
use str0m::change::SdpOffer;
use str0m::media::{Direction, MediaKind};
use str0m::net::Protocol;
use str0m::{Candidate, Rtc};

const CASES: u32 = 256;

fn config() -> ProptestConfig {
    ProptestConfig { cases: CASES, failure_persistence: None, ..ProptestConfig::default() }
}

/// Text from `alphabet` (plus any character now and then), up to `max` characters.
fn text(alphabet: &'static str, max: usize) -> impl Strategy<Value = String> {
    let chars: Vec<char> = alphabet.chars().collect();
    let pick = prop_oneof![9 => proptest::sample::select(chars), 1 => any::<char>()];
    proptest::collection::vec(pick, 0..max).prop_map(|v| v.into_iter().collect())
}

/// A real client's offer: audio and two video m-lines (camera and slides).
fn client_offer() -> String {
    let _ = std::panic::catch_unwind(|| str0m::crypto::from_feature_flags().install_process_default());
    let mut rtc = Rtc::builder().build(std::time::Instant::now());
    rtc.add_local_candidate(Candidate::host("10.0.1.1:6000".parse().expect("literal"), "udp").expect("candidate"));
    let mut api = rtc.sdp_api();
    api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
    api.add_media(MediaKind::Video, Direction::SendOnly, None, None, None);
    api.add_media(MediaKind::Video, Direction::SendOnly, None, None, None);
    api.apply().expect("m-lines added").0.to_sdp_string()
}

/// Lines an attacker would add to an offer.
const SDP_LINES: &[&str] = &[
    "m=video 9 UDP/TLS/RTP/SAVPF 96",
    "m=audio 0 RTP/AVP 0",
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
    "a=mid:",
    "a=content:slides",
    "a=sendonly",
    "a=recvonly",
    "a=inactive",
    "a=rtpmap:96 VP8/90000",
    "a=rtpmap:97 rtx/90000",
    "a=fmtp:97 apt=",
    "a=ssrc:1 cname:x",
    "a=ssrc-group:FID 1 2",
    "a=rid:h send",
    "a=simulcast:send h;m;l",
    "a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid",
    "a=ice-ufrag:",
    "a=ice-pwd:",
    "a=fingerprint:sha-256 00:11",
    "a=setup:actpass",
    "a=group:BUNDLE 0 1 2",
    "a=candidate:1 1 udp 1 10.0.0.1 9 typ host",
    "a=msid:- x",
];

#[derive(Debug, Clone)]
enum Edit {
    Delete(usize, usize),
    Insert(usize, String),
    Replace(usize, char),
    DropLine(usize),
    AddLine(usize, usize, String),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), 1..40usize).prop_map(|(at, n)| Edit::Delete(at, n)),
        (any::<usize>(), text("0123456789 :;=-abcdefghijklmnopqrstuvwxyz\r\n", 12))
            .prop_map(|(at, s)| Edit::Insert(at, s)),
        (any::<usize>(), any::<char>()).prop_map(|(at, c)| Edit::Replace(at, c)),
        any::<usize>().prop_map(Edit::DropLine),
        (any::<usize>(), 0..SDP_LINES.len(), text("0123456789 abcdefghxyz:", 10))
            .prop_map(|(at, line, tail)| Edit::AddLine(at, line, tail)),
    ]
}

/// Applies `edits` to `sdp` at character positions (taken modulo the length).
fn mutate(sdp: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = sdp.chars().collect();
    for e in edits {
        let len = chars.len().max(1);
        match e {
            Edit::Delete(at, n) => {
                let at = at % len;
                let end = (at + n).min(chars.len());
                chars.drain(at.min(end)..end);
            }
            Edit::Insert(at, s) => {
                let at = at % (chars.len() + 1);
                chars.splice(at..at, s.chars());
            }
            Edit::Replace(at, c) => {
                if !chars.is_empty() {
                    chars[at % len] = *c;
                }
            }
            Edit::DropLine(at) | Edit::AddLine(at, ..) => {
                let text: String = chars.iter().collect();
                let mut lines: Vec<String> = text.split("\r\n").map(str::to_owned).collect();
                let i = at % lines.len().max(1);
                match e {
                    Edit::DropLine(_) if !lines.is_empty() => {
                        lines.remove(i);
                    }
                    Edit::AddLine(_, line, tail) => lines.insert(i, format!("{}{tail}", SDP_LINES[*line])),
                    _ => {}
                }
                chars = lines.join("\r\n").chars().collect();
            }
        }
    }
    chars.into_iter().collect()
}

fn ident(id: u64, transport: Transport) -> Ident {
    Ident {
        room: RoomId::parse("r").expect("valid room name"),
        participant: ParticipantId(id),
        subject: format!("s{id}"),
        name: "n".into(),
        role: if transport == Transport::Whip { Role::Device } else { Role::Teacher },
        transport,
        guest: false,
        passcode: None,
        access: Default::default(),
    }
}

proptest! {
    #![proptest_config(config())]

    /// A mutated offer, with any m-line named as the screen, is refused or answered by the real
    /// shard (as WHIP, WHEP and a browser's publish offer), never a panic.
    #[test]
    fn a_mutated_offer_is_answered_or_refused(
        edits in proptest::collection::vec(edit(), 0..6),
        screen in prop_oneof![Just(None), text("0123456789abc", 4).prop_map(Some)],
    ) {
        let sdp = mutate(&client_offer(), &edits);
        let slides = lectern_hub::whip::slides_mid(&sdp);
        // An offer is not Clone: each use parses it again.
        let parse = || SdpOffer::from_sdp_string(&sdp);
        let Ok(offer) = parse() else { return Ok(()) };
        let now = Now::read();
        let mut core = ShardCore::new(Vec::new());
        let screen_mid = screen.or(slides);
        let _ = core.offer(ident(1, Transport::Whip), offer, Offering::Whip { screen_mid: screen_mid.clone(), takeover: false }, now);
        let offer = parse().expect("parsed once already");
        let _ = core.offer(ident(2, Transport::Whep), offer, Offering::Whep, now);
        let offer = parse().expect("parsed once already");
        let room = RoomId::parse("r").expect("valid room name");
        if core.join(ident(3, Transport::Browser), now).is_ok() {
            let _ = core.publish_offer(&room, ParticipantId(3), offer, screen_mid, now);
        }
        let _ = core.drain_outputs().count();
    }

    /// A trickled sdpfrag: candidates or an error, and never more candidates than lines.
    #[test]
    fn an_sdpfrag_gives_at_most_one_candidate_per_line(
        lines in proptest::collection::vec(
            prop_oneof![
                text("0123456789 .:abcdefghijklmnopqrstuvwxyz", 60).prop_map(|t| format!("a=candidate:{t}")),
                Just("a=candidate:1 1 udp 2130706431 10.0.0.2 50000 typ host".to_owned()),
                Just("a=candidate:2 1 tcp 1 10.0.0.2 9 typ host tcptype active".to_owned()),
                text("=: abcdefghijklmnopqrstuvwxyz0123456789", 30),
            ],
            0..8,
        ),
    ) {
        let frag = lines.join("\r\n");
        if let Ok(candidates) = lectern_hub::whip::candidates(&frag) {
            prop_assert!(candidates.len() <= lines.len());
        }
    }

    /// `/rtc` messages: JSON shaped like ours with any values parses or is refused.
    #[test]
    fn an_rtc_message_parses_or_is_refused(
        kind in proptest::sample::select(vec![
            "join", "publishOffer", "subscribeAnswer", "trickle", "restartIce", "setMuted", "setAudioOnly",
            "leave", "sendChat", "raiseHand", "lowerHand", "answerPoll", "createPoll", "kick", "nope",
        ]),
        body in text("{}[]\":,0123456789 abcdefghijklmnopqrstuvwxyzA-Z.\\", 80),
    ) {
        let json = format!(r#"{{"type":"{kind}",{body}"#);
        let _ = serde_json::from_str::<Inbound>(&json);
        let _ = serde_json::from_str::<ClientMsg>(&json);
        let _ = serde_json::from_str::<Inbound>(&body);
    }

    /// A box's message, once clipped, carries no free text longer than the limit.
    #[test]
    fn a_box_message_is_clipped_to_the_limit(
        kind in proptest::sample::select(vec!["hello", "telemetry", "configResult", "snapshot", "enroll"]),
        long in text("aé€𝕏 \n", 2 * MAX_TEXT_CHARS),
        body in text("{}[]\":,0123456789 abcdefghijklmnopqrstuvwxyz", 40),
    ) {
        for json in [
            format!(r#"{{"type":"{kind}","version":1,"ok":false,"error":{long:?}}}"#),
            format!(r#"{{"type":"{kind}","error":{long:?},"jpegBase64":null}}"#),
            format!(r#"{{"type":"{kind}",{body}"#),
        ] {
            if let Ok(msg) = serde_json::from_str::<DeviceMsg>(&json) {
                let shown = serde_json::to_string(&msg.clipped()).expect("serializes");
                let longest = shown.split('"').map(|s| s.chars().count()).max().unwrap_or(0);
                prop_assert!(longest <= MAX_TEXT_CHARS.max(64) + 8, "{longest} characters in {shown:.200}");
            }
        }
    }

    /// A pushed configuration fragment parses and resolves, or names what is wrong.
    #[test]
    fn a_config_fragment_resolves_or_is_refused(
        section in proptest::sample::select(vec!["video", "audio", "camera", "content", "hub", "status", "panel", "leds", "buttons", "x"]),
        key in text("abcdefghijklmnopqrstuvwxyz_", 16),
        value in prop_oneof![
            any::<i64>().prop_map(|v| v.to_string()),
            text("abcdefghijklmnopqrstuvwxyz0123456789:/. ", 20).prop_map(|s| format!("{s:?}")),
            Just("true".to_owned()),
            Just("[1, 2]".to_owned()),
        ],
    ) {
        let text = format!("[{section}]\n{key} = {value}\n");
        if let Ok(fragment) = toml::from_str::<Fragment>(&text) {
            let _ = fragment.local_only_key();
            let _ = resolve(&fragment);
        }
    }

    /// A claim code is found however an admin types it (case, dashes, spaces); a guess of any
    /// shape is looked up without a panic.
    #[test]
    fn a_claim_code_is_found_however_typed_and_a_guess_is_just_refused(
        seps in proptest::collection::vec(prop_oneof![Just(""), Just("-"), Just(" ")], 8),
        upper in proptest::collection::vec(any::<bool>(), 8),
        guess in text("ABCDEFGHJKMNPQRSTUVWXYZ0123456789- ", 14),
    ) {
        let mut table = Enrollments::default();
        let mut seed = 7u64;
        let random = move || { seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407); seed };
        let ip = IpAddr::from([192, 0, 2, 1]);
        let code = table.request(&"k".repeat(32), "host", "1", ip, 1_000, random).expect("room for one").code;
        let _ = table.claim(&guess, 1_001);
        let typed: String = code
            .chars()
            .zip(&seps)
            .zip(&upper)
            .map(|((c, sep), up)| format!("{sep}{}", if *up { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() }))
            .collect();
        if table.waiting() == 1 {
            prop_assert!(table.claim(&typed, 1_002).is_some(), "{typed:?} did not find {code:?}");
        }
    }

    /// Anything that is not a token the hub signed is refused, never a panic.
    #[test]
    fn only_a_signed_token_verifies(
        parts in proptest::collection::vec(text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=", 60), 1..5),
    ) {
        let key = TokenKey::new(b"test-secret-0123456789abcdef0123456789".to_vec());
        prop_assert!(key.verify(&parts.join("."), 1_700_000_000).is_err());
    }

    /// A media datagram: STUN's USERNAME is read only from well-formed STUN, and any bytes from
    /// anyone reach the shard without a panic or an answer to a stranger.
    #[test]
    fn any_datagram_is_handled_and_strangers_get_no_answer(
        data in proptest::collection::vec(any::<u8>(), 0..300),
        stun_head in any::<bool>(),
    ) {
        let mut data = data;
        if stun_head && data.len() >= 20 {
            data[0] &= 0x3f;
            data[4..8].copy_from_slice(&[0x21, 0x12, 0xa4, 0x42]);
        }
        if let Some(ufrag) = stun_local_ufrag(&data) {
            prop_assert!(!ufrag.is_empty() && !ufrag.contains(':'));
        }
        let now = Now::read();
        let hub: SocketAddr = "10.0.0.1:5000".parse().expect("literal");
        let mut core = ShardCore::new(vec![Candidate::host(hub, "udp").expect("host candidate")]);
        let stranger: SocketAddr = "10.9.9.9:1".parse().expect("literal");
        core.receive(now, Protocol::Udp, stranger, hub, &data);
        core.handle_packet(now, Protocol::Tcp, stranger, hub, &data);
        core.flush_received(now);
        prop_assert_eq!(core.drain_datagrams().count(), 0);
    }

    /// A box's upload headers and a download's `Range`: parsed or refused, never a panic; a range
    /// that is served lies inside the file.
    #[test]
    fn upload_headers_and_ranges_parse_or_are_refused(
        offset in text("0123456789 -+", 25),
        checksum in text("sha256 ABCDEFabcdef0123456789+/=", 60),
        range in text("bytes=0123456789-, ", 30),
        size in 0u64..10_000,
    ) {
        let _ = upload::parse_offset(Some(&offset));
        if let Ok(digest) = upload::parse_checksum(Some(&checksum)) {
            prop_assert_eq!(digest.len(), 32);
        }
        if let Ranged::Part(r) = parse_range(Some(&range), size) {
            prop_assert!(r.start < r.end && r.end <= size, "{:?} of {}", r, size);
        }
    }
}
