//! A datagram (or an ICE-TCP frame) on a media port, from a stranger and from a publisher's
//! address, to a shard with one WHIP publisher waiting to connect.
#![no_main]

use std::net::SocketAddr;

use lectern_hub::sfu::Ident;
use lectern_hub::sfu::core::{Offering, ShardCore};
use lectern_hub::sfu::peer_table::stun_local_ufrag;
use lectern_hub::store::Transport;
use lectern_hub::time::Now;
use lectern_proto::{ParticipantId, Role, RoomId};
use libfuzzer_sys::fuzz_target;
use str0m::media::{Direction, MediaKind};
use str0m::net::Protocol;
use str0m::{Candidate, Rtc};

fuzz_target!(|data: &[u8]| {
    let _ = stun_local_ufrag(data);
    let now = Now::read();
    let hub: SocketAddr = "10.0.0.1:5000".parse().expect("literal address");
    let client: SocketAddr = "10.0.1.1:6000".parse().expect("literal address");
    let mut core = ShardCore::new(vec![Candidate::host(hub, "udp").expect("host candidate")]);
    let mut rtc = Rtc::builder().build(now.mono);
    rtc.add_local_candidate(Candidate::host(client, "udp").expect("host candidate"));
    let mut api = rtc.sdp_api();
    api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
    let Some((offer, _)) = api.apply() else { return };
    let ident = Ident {
        room: RoomId::parse("r").expect("valid room name"),
        participant: ParticipantId(1),
        subject: "s".into(),
        name: "n".into(),
        role: Role::Device,
        transport: Transport::Whip,
        guest: false,
        passcode: None,
    };
    if core.offer(ident, offer, Offering::Whip { screen_mid: None }, now).is_err() {
        return;
    }
    let stranger: SocketAddr = "10.9.9.9:1".parse().expect("literal address");
    for from in [stranger, client] {
        core.receive(now, Protocol::Udp, from, hub, data);
        core.handle_packet(now, Protocol::Tcp, from, hub, data);
    }
    core.flush_received(now);
    let _ = core.drain_datagrams().count();
});
