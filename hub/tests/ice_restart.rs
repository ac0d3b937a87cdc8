//! ICE restart instead of rejoin (issue 17): a browser restarts ICE on its publish connection with a
//! new offer (new ice-ufrag/pwd), and asks the hub (`restartIce`) to re-offer its subscribe
//! connection with new credentials. Media flows again on the same connections, and nobody leaves.
//! Driven in memory on simulated time, like `renegotiation.rs`.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{Client, Net, ident};
use lectern_hub::sfu::{Command, SfuError};
use lectern_hub::store::Transport;
use lectern_proto::signal::ServerMsg;
use lectern_proto::{ParticipantId, Role, RoomId};
use str0m::change::SdpOffer;
use str0m::media::{Direction, MediaKind, Mid};
use str0m::net::Protocol;
use str0m::{Candidate, Event, Rtc};
use tokio::sync::{mpsc, oneshot};

fn room() -> RoomId {
    RoomId::parse("r").unwrap()
}

fn ufrag(sdp: &str) -> String {
    sdp.lines().find_map(|l| l.strip_prefix("a=ice-ufrag:")).expect("an ice-ufrag").trim().to_owned()
}

struct Browser {
    pid: ParticipantId,
    events: mpsc::Receiver<ServerMsg>,
    sub: Option<usize>,
    /// The ice-ufrag of every subscribe offer answered, in order.
    offer_ufrags: Vec<String>,
    seen: Vec<ServerMsg>,
}

fn join(net: &mut Net, id: u64) -> Browser {
    let (tx, events) = mpsc::channel(lectern_hub::sfu::command::SIGNAL_BACKLOG);
    let (reply, mut rx) = oneshot::channel();
    let ident = ident("r", id, Role::Student, Transport::Browser);
    let cmd = Command::Join { ident, events: tx, socket: test_socket(), reply };
    net.hub.handle_command(cmd, net.now);
    rx.try_recv().unwrap().unwrap();
    Browser { pid: ParticipantId(id), events, sub: None, offer_ufrags: Vec::new(), seen: Vec::new() }
}

/// Answers every subscribe offer the hub sent, as the browser app does.
fn answer_offers(net: &mut Net, b: &mut Browser) {
    while let Ok(msg) = b.events.try_recv() {
        if let ServerMsg::SubscribeOffer { sdp, .. } = &msg {
            let idx = *b.sub.get_or_insert_with(|| {
                let addr: SocketAddr = format!("10.0.2.{}:7000", b.pid.0).parse().unwrap();
                let mut rtc = Rtc::builder().build(net.now);
                rtc.add_local_candidate(Candidate::host(addr, "udp").unwrap());
                net.clients.push(Client {
                    rtc,
                    addr,
                    proto: Protocol::Udp,
                    mid: Mid::from("0"),
                    events: Vec::new(),
                    cut: false,
                });
                net.clients.len() - 1
            });
            let offer = SdpOffer::from_sdp_string(sdp).unwrap();
            let answer = net.clients[idx].rtc.sdp_api().accept_offer(offer).unwrap();
            let (reply, mut rx) = oneshot::channel();
            let cmd = Command::SubscribeAnswer { room: room(), participant: b.pid, answer, reply };
            net.hub.handle_command(cmd, net.now);
            rx.try_recv().unwrap().unwrap();
            b.offer_ufrags.push(ufrag(sdp));
        }
        b.seen.push(msg);
    }
}

fn restart_subscribe(net: &mut Net, pid: ParticipantId) -> Result<(), SfuError> {
    let (reply, mut rx) = oneshot::channel();
    net.hub.handle_command(Command::RestartIce { room: room(), participant: pid, reply }, net.now);
    rx.try_recv().unwrap()
}

/// Sends audio from `publisher` until `viewer` has received some of it anew.
fn audio_reaches(net: &mut Net, publisher: usize, viewer: usize, from_frame: u64) {
    net.clients[viewer].events.clear();
    for i in from_frame..from_frame + 150 {
        net.send_audio(publisher, i, vec![i as u8; 40]);
        if net.clients[viewer].events.iter().any(|e| matches!(e, Event::MediaData(_))) {
            return;
        }
    }
    panic!("no audio reached the viewer within 3 s of simulated time");
}

#[test]
fn both_connections_restart_ice_and_carry_media_again_without_anyone_leaving() {
    let mut net = Net::new();
    let mut a = join(&mut net, 10);
    let mut b = join(&mut net, 11);
    // Student a publishes audio from the browser.
    let addr: SocketAddr = "10.0.3.1:7000".parse().unwrap();
    let mut rtc = Rtc::builder().build(net.now);
    rtc.add_local_candidate(Candidate::host(addr, "udp").unwrap());
    let mut api = rtc.sdp_api();
    let mid = api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
    let (offer, pending) = api.apply().unwrap();
    let (reply, mut rx) = oneshot::channel();
    net.hub.handle_command(
        Command::PublishOffer { room: room(), participant: a.pid, offer, screen_mid: None, reply },
        net.now,
    );
    let first_answer = rx.try_recv().unwrap().unwrap();
    let hub_ufrag = ufrag(&first_answer.to_sdp_string());
    rtc.sdp_api().accept_answer(pending, first_answer).unwrap();
    net.clients.push(Client { rtc, addr, proto: Protocol::Udp, mid, events: Vec::new(), cut: false });
    let publisher = net.clients.len() - 1;
    net.run_until(Duration::from_secs(5), |n| n.connected(publisher));
    answer_offers(&mut net, &mut b);
    let sub = b.sub.expect("b is offered a's audio");
    net.run_until(Duration::from_secs(5), |n| n.connected(sub));
    audio_reaches(&mut net, publisher, sub, 0);

    // The subscribe connection: the hub re-offers it with new credentials, the same m-lines.
    restart_subscribe(&mut net, b.pid).unwrap();
    answer_offers(&mut net, &mut b);
    assert_eq!(b.offer_ufrags.len(), 2, "one new offer: {:?}", b.seen);
    assert_ne!(b.offer_ufrags[0], b.offer_ufrags[1], "the new offer carries new ICE credentials");
    assert_eq!(b.sub, Some(sub), "the same connection");
    audio_reaches(&mut net, publisher, sub, 200);

    // The publish connection: the browser's new offer with new credentials is an ICE restart.
    let mut api = net.clients[publisher].rtc.sdp_api();
    api.ice_restart(true);
    let (offer, pending) = api.apply().expect("an ICE restart is a change to offer");
    let (reply, mut rx) = oneshot::channel();
    net.hub.handle_command(
        Command::PublishOffer { room: room(), participant: a.pid, offer, screen_mid: None, reply },
        net.now,
    );
    let answer = rx.try_recv().unwrap().unwrap();
    assert_ne!(ufrag(&answer.to_sdp_string()), hub_ufrag, "the hub answers the restart with new credentials");
    net.clients[publisher].rtc.sdp_api().accept_answer(pending, answer).unwrap();
    audio_reaches(&mut net, publisher, sub, 400);

    answer_offers(&mut net, &mut a);
    answer_offers(&mut net, &mut b);
    for (who, seen) in [("a", &a.seen), ("b", &b.seen)] {
        assert!(
            !seen.iter().any(|m| matches!(m, ServerMsg::ParticipantLeft { .. } | ServerMsg::Error { .. })),
            "{who} saw someone leave or an error: {seen:?}"
        );
    }
    assert_eq!(net.hub.peer_count(), 2, "still the same two connections");
}

#[test]
fn a_restart_waits_for_the_outstanding_offer_and_needs_a_participant() {
    let mut net = Net::new();
    let mut b = join(&mut net, 11);
    // No subscribe connection yet: nothing to restart, and that is no error.
    restart_subscribe(&mut net, b.pid).unwrap();
    let dev = net.connect_many(&[MediaKind::Audio], ident("r", 1, Role::Device, Transport::Whip));
    net.run_until(Duration::from_secs(5), |n| n.connected(dev));
    answer_offers(&mut net, &mut b);
    restart_subscribe(&mut net, b.pid).unwrap();
    // The restart's offer is not answered yet: a second restart is refused, not stacked.
    assert!(matches!(restart_subscribe(&mut net, b.pid), Err(SfuError::Conflict(_))));
    answer_offers(&mut net, &mut b);
    restart_subscribe(&mut net, b.pid).unwrap();
    assert_eq!(restart_subscribe(&mut net, ParticipantId(99)), Err(SfuError::UnknownParticipant));
}

/// A browser's socket as the `/rtc` task would name it.
fn test_socket() -> lectern_hub::sfu::Socket {
    lectern_hub::sfu::Socket { id: rand_id(), resume_key: "test-key".to_owned() }
}

fn rand_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
