//! A WHIP publisher's or a browser's SDP offer, with the m-line it names as its screen (the
//! browser's `screenMid`; for a box, what `slides_mid` finds): first line, then the SDP. The
//! real shard takes it as both.
#![no_main]

use lectern_hub::sfu::Ident;
use lectern_hub::sfu::core::{Offering, ShardCore};
use lectern_hub::store::Transport;
use lectern_hub::time::Now;
use lectern_proto::{ParticipantId, Role, RoomId};
use libfuzzer_sys::fuzz_target;
use str0m::change::{SdpAnswer, SdpOffer};

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
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (mid, sdp) = text.split_once('\n').unwrap_or(("", &text));
    let screen_mid = (!mid.is_empty()).then(|| mid.to_owned());
    let _ = lectern_hub::whip::slides_mid(sdp);
    let _ = SdpAnswer::from_sdp_string(sdp);
    // An offer is not Clone: each use parses it again.
    let parse = || SdpOffer::from_sdp_string(sdp);
    let Ok(offer) = parse() else { return };
    let now = Now::read();
    let mut core = ShardCore::new(Vec::new());
    let whip = Offering::Whip { screen_mid: screen_mid.clone() };
    let _ = core.offer(ident(1, Transport::Whip), offer, whip, now);
    let Ok(offer) = parse() else { return };
    let _ = core.offer(ident(2, Transport::Whep), offer, Offering::Whep, now);
    let Ok(offer) = parse() else { return };
    // A browser in the room publishes with the same offer.
    let room = RoomId::parse("r").expect("valid room name");
    if core.join(ident(3, Transport::Browser), now).is_ok() {
        let _ = core.publish_offer(&room, ParticipantId(3), offer, screen_mid, now);
    }
    let _ = core.drain_outputs().count();
});
