//! One WebRTC connection (a str0m `Rtc`) and the tracks it carries.
//!
//! A participant has up to two: a *publish* peer (media in: UpTracks) and a *subscribe* peer
//! (media out: DownTracks). The peer only drives str0m and reports events; what the events mean
//! for the room is decided in [`super::room`].

use std::net::SocketAddr;
use std::time::Instant;

use lectern_proto::signal::MediaKind as WireKind;
use lectern_proto::{ParticipantId, RoomId, TrackId};
use str0m::bwe::BweKind;
use str0m::change::SdpPendingOffer;
use str0m::media::{KeyframeRequest, MediaKind, Mid, Pt, Rid};
use str0m::net::Protocol;
use str0m::rtp::{RtpPacket, Ssrc};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc};

use super::allocator::Target;
use super::rtx_budget::RtxSizing;
use super::simulcast::DownLayer;

/// Identifies a peer inside its shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerKey(pub u64);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Media flows from the participant to the hub.
    Publish,
    /// Media flows from the hub to the participant.
    Subscribe,
}

/// Where an outgoing m-line stands in the offer/answer dance (hub-offered connections only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DownState {
    /// Wanted; goes into the next offer.
    ToOpen,
    /// In an offer that is not answered yet.
    Negotiating(Mid),
    Open(Mid),
    /// Its source left; the m-line is stopped in the next offer.
    ToStop(Mid),
    Stopping(Mid),
}

impl DownState {
    pub fn mid(self) -> Option<Mid> {
        match self {
            DownState::ToOpen => None,
            DownState::Negotiating(m) | DownState::Open(m) | DownState::ToStop(m) | DownState::Stopping(m) => Some(m),
        }
    }
}

/// A track sent to this peer's participant.
#[derive(Debug, Clone)]
pub struct DownTrack {
    pub kind: WireKind,
    /// The published track forwarded here; `None` for a WHEP m-line waiting for a publisher.
    pub source: Option<TrackId>,
    /// Who owns `source`, for the browser's track map.
    pub owner: Option<ParticipantId>,
    pub state: DownState,
    /// Keeps RTP time and sequence numbers continuous when the source of a return-feed slot switches.
    pub rebase: TimeRebase,
    /// (source track, its payload type, ours): the last mapping, so it is not re-derived per packet.
    pub pt_map: Option<(TrackId, Pt, Pt)>,
    /// Carries a screen share (the browser shows it large).
    pub screen: bool,
    /// Video only: live packets are forwarded once the viewer was started (connected, and given
    /// a keyframe or a request for one); before that they would only be undecodable.
    pub started: bool,
    /// The layer received of a simulcast source.
    pub layer: DownLayer,
    /// What the subscriber's bandwidth allocator chose for it (video).
    pub target: Target,
    /// Video: how its retransmission cache is sized (see `rtx_budget`).
    pub rtx: RtxSizing,
}

impl DownTrack {
    pub fn new(
        kind: WireKind,
        source: Option<TrackId>,
        owner: Option<ParticipantId>,
        state: DownState,
        screen: bool,
    ) -> Self {
        Self {
            kind,
            source,
            owner,
            state,
            rebase: Default::default(),
            pt_map: None,
            screen,
            started: false,
            layer: Default::default(),
            target: Target::Best,
            rtx: RtxSizing::default(),
        }
    }
}

/// Keeps a subscriber's RTP stream continuous across source switches (return feed) and starts it
/// where a fresh receiver expects it: output = input + offset, for RTP time and for sequence
/// numbers, each offset re-chosen at a switch (a jitter buffer treats a big jump as a reset; a
/// sequence number past 65535 at the start would need an SRTP rollover counter the receiver does
/// not have). Within one source the gaps are kept, so the subscriber's NACKs name real losses.
#[derive(Debug, Clone, Copy, Default)]
pub struct TimeRebase {
    offset: u64,
    last_out: Option<u64>,
    switched: bool,
    /// (first input, its output) of the current source's sequence numbers.
    seq_base: Option<(u64, u64)>,
    seq_last: Option<u64>,
    seq_switched: bool,
}

impl TimeRebase {
    pub fn switch(&mut self) {
        self.switched = true;
        self.seq_switched = true;
    }

    /// Maps a source timestamp to the outgoing one; `gap` is one frame's duration in clock ticks.
    pub fn map(&mut self, input: u64, gap: u64) -> u64 {
        if self.switched {
            self.switched = false;
            if let Some(last) = self.last_out {
                self.offset = last.wrapping_add(gap).wrapping_sub(input);
            }
        }
        let out = input.wrapping_add(self.offset);
        self.last_out = Some(out);
        out
    }

    /// Whether anything of the current source has been mapped (a fresh or just switched slot has not).
    pub fn started(&self) -> bool {
        self.seq_base.is_some() && !self.seq_switched
    }

    /// Maps a source's extended sequence number to the outgoing one; `None` for a packet older
    /// than the first one forwarded from this source (nothing to place it after).
    pub fn map_seq(&mut self, input: u64) -> Option<u64> {
        if self.seq_switched || self.seq_base.is_none() {
            self.seq_switched = false;
            // The first stream starts below 2^15 so the receiver's rollover counter is 0.
            let out = self.seq_last.map_or(input & 0x7fff, |l| l + 1);
            self.seq_base = Some((input, out));
        }
        let (base_in, base_out) = self.seq_base?;
        let out = base_out + input.checked_sub(base_in)?;
        self.seq_last = Some(self.seq_last.map_or(out, |l| l.max(out)));
        Some(out)
    }
}

/// What happened inside a peer that the room must react to.
// Events live briefly in a reused Vec; boxing the media variant would allocate per packet.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum PeerEvent {
    Connected,
    MediaAdded {
        mid: Mid,
        kind: MediaKind,
    },
    /// An RTP packet arrived on the publish m-line `mid`, in simulcast layer `rid` if it has layers.
    Rtp {
        mid: Mid,
        rid: Option<Rid>,
        packet: RtpPacket,
    },
    KeyframeRequest(KeyframeRequest),
    /// Subscribe peers: what the link towards the subscriber carries, in bits per second, from
    /// the hub's own estimator (transport-wide CC) or the subscriber's REMB.
    Estimate {
        bps: u64,
        remb: bool,
    },
    /// ICE failed/disconnected or str0m reported an error: the peer is gone.
    Closed,
}

/// A datagram to send.
#[derive(Debug)]
pub struct Datagram {
    pub proto: Protocol,
    pub source: SocketAddr,
    pub destination: SocketAddr,
    pub contents: Vec<u8>,
}

pub struct Peer {
    pub key: PeerKey,
    pub room: RoomId,
    pub participant: ParticipantId,
    pub direction: Direction,
    pub rtc: Rtc,
    /// Publish peers: the m-lines received and the tracks they feed.
    pub ups: Vec<(Mid, TrackId)>,
    /// Publish peers: incoming SSRC → m-line and simulcast layer, learnt from str0m's receive streams.
    ssrcs: Vec<(Ssrc, Mid, Option<Rid>)>,
    /// Subscribe peers: what is (or will be) sent.
    pub downs: Vec<DownTrack>,
    /// True when the hub makes the offers (browser subscribe connection).
    pub hub_offers: bool,
    pub pending: Option<SdpPendingOffer>,
    /// The `subscribeOffer` sent for `pending`, for sending again to a browser that resumed on a
    /// new socket (the first may have gone to its dead one).
    pub pending_offer: Option<lectern_proto::signal::ServerMsg>,
    /// The publish m-line that carries a screen share.
    pub screen_mid: Option<Mid>,
    /// When the connection (ICE and DTLS) came up; `None` while connecting.
    pub connected_at: Option<Instant>,
    /// Subscribe peers: the fraction of packets lost towards the participant (0..1), from the
    /// last receiver reports of any of its m-lines.
    pub loss: Option<f32>,
    pub next_timeout: Instant,
    /// The time of the last input str0m was given.
    now: Instant,
    /// When ICE lost the client: the connection is kept [`ICE_RESTART_GRACE`] for the client to
    /// restart ICE on it (a network change), then closed.
    ice_lost_at: Option<Instant>,
    /// A browser's connection, which the page restarts ICE on. Others (WHIP/WHEP: the classroom
    /// box re-POSTs instead) close as soon as ICE loses them.
    pub ice_restartable: bool,
}

/// How long a connection whose client went quiet is kept for an ICE restart. str0m's ICE-lite
/// agent gives up on a client after some 15 s without checks; a page notices, and resumes on a new
/// socket if its own died too, within about 10 s.
pub const ICE_RESTART_GRACE: std::time::Duration = std::time::Duration::from_secs(20);

impl Peer {
    pub fn new(
        key: PeerKey,
        room: RoomId,
        participant: ParticipantId,
        direction: Direction,
        rtc: Rtc,
        now: Instant,
    ) -> Self {
        Self {
            key,
            room,
            participant,
            direction,
            rtc,
            ups: Vec::new(),
            ssrcs: Vec::new(),
            downs: Vec::new(),
            hub_offers: false,
            pending: None,
            pending_offer: None,
            screen_mid: None,
            connected_at: None,
            loss: None,
            next_timeout: now,
            now,
            ice_lost_at: None,
            ice_restartable: false,
        }
    }

    pub fn connected(&self) -> bool {
        self.connected_at.is_some()
    }

    /// Feeds one input; an str0m error closes the peer rather than the shard.
    pub fn handle_input(&mut self, input: Input) {
        if !self.rtc.is_alive() {
            return;
        }
        let (Input::Timeout(t) | Input::Receive(t, _)) = &input;
        self.now = self.now.max(*t);
        if self.ice_lost_at.is_some_and(|lost| self.now.saturating_duration_since(lost) >= ICE_RESTART_GRACE) {
            tracing::info!(peer = self.key.0, "no ICE restart brought the client back; closing");
            self.rtc.disconnect();
            return;
        }
        if let Err(e) = self.rtc.handle_input(input) {
            tracing::info!(peer = self.key.0, error = %e, "peer input failed; closing it");
            self.rtc.disconnect();
        }
    }

    /// Drains str0m's output: datagrams to `out`, events to `events`, remembers the next timeout.
    pub fn poll(&mut self, out: &mut Vec<Datagram>, events: &mut Vec<PeerEvent>) {
        loop {
            if !self.rtc.is_alive() {
                events.push(PeerEvent::Closed);
                return;
            }
            match self.rtc.poll_output() {
                Ok(Output::Timeout(t)) => {
                    let give_up = self.ice_lost_at.map(|lost| lost + ICE_RESTART_GRACE);
                    self.next_timeout = give_up.map_or(t, |g| t.min(g));
                    return;
                }
                Ok(Output::Transmit(t)) => out.push(Datagram {
                    proto: t.proto,
                    source: t.source,
                    destination: t.destination,
                    contents: t.contents.into(),
                }),
                Ok(Output::Event(e)) => self.on_event(e, events),
                Err(e) => {
                    tracing::info!(peer = self.key.0, error = %e, "peer failed; closing it");
                    self.rtc.disconnect();
                }
            }
        }
    }

    fn on_event(&mut self, e: Event, events: &mut Vec<PeerEvent>) {
        match e {
            // The shard stamps `connected_at`: it has the time.
            Event::Connected => events.push(PeerEvent::Connected),
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                // ICE-lite cannot restart on its own: a browser may (a new offer or `restartIce`).
                if self.ice_restartable {
                    tracing::info!(peer = self.key.0, "ICE lost the client; waiting for an ICE restart");
                    self.ice_lost_at.get_or_insert(self.now);
                } else {
                    self.rtc.disconnect();
                }
            }
            Event::IceConnectionStateChange(IceConnectionState::Connected | IceConnectionState::Completed) => {
                self.ice_lost_at = None;
            }
            Event::MediaAdded(m) => events.push(PeerEvent::MediaAdded { mid: m.mid, kind: m.kind }),
            Event::RtpPacket(packet) if self.direction == Direction::Publish => {
                if let Some((mid, rid)) = self.mid_of(packet.header.ssrc) {
                    events.push(PeerEvent::Rtp { mid, rid, packet });
                }
            }
            Event::KeyframeRequest(r) if self.direction == Direction::Subscribe => {
                events.push(PeerEvent::KeyframeRequest(r))
            }
            Event::MediaEgressStats(s) if self.direction == Direction::Subscribe => {
                if let Some(loss) = s.loss.filter(|l| l.is_finite()) {
                    self.loss = Some(loss.clamp(0.0, 1.0));
                }
            }
            Event::EgressBitrateEstimate(kind) if self.direction == Direction::Subscribe => {
                // `as_u64` saturates: a forged REMB of NaN or a negative float reads as 0.
                let (bps, remb) = match kind {
                    BweKind::Twcc { estimate, .. } => (estimate.as_u64(), false),
                    BweKind::Remb { estimate, .. } => (estimate.as_u64(), true),
                    _ => return,
                };
                events.push(PeerEvent::Estimate { bps, remb });
            }
            _ => {}
        }
    }

    /// The m-line (and layer) an incoming SSRC belongs to, remembered so the lookup is not
    /// repeated per packet. A simulcast layer's RID comes from its stream, not the packet: senders
    /// may stop repeating the RID extension once the stream is known.
    fn mid_of(&mut self, ssrc: Ssrc) -> Option<(Mid, Option<Rid>)> {
        if let Some((_, mid, rid)) = self.ssrcs.iter().find(|(s, _, _)| *s == ssrc) {
            return Some((*mid, *rid));
        }
        let mut api = self.rtc.direct_api();
        let stream = api.stream_rx(&ssrc)?;
        let (mid, rid) = (stream.mid(), stream.rid());
        self.ssrcs.push((ssrc, mid, rid));
        Some((mid, rid))
    }

    pub fn accepts(&self, input: &Input) -> bool {
        self.rtc.is_alive() && self.rtc.accepts(input)
    }

    pub fn add_local_candidates(&mut self, candidates: &[Candidate]) {
        for c in candidates {
            self.rtc.add_local_candidate(c.clone());
        }
    }

    pub fn up_track(&self, mid: Mid) -> Option<TrackId> {
        self.ups.iter().find(|(m, _)| *m == mid).map(|(_, t)| *t)
    }
}

pub fn wire_kind(kind: MediaKind) -> WireKind {
    match kind {
        MediaKind::Audio => WireKind::Audio,
        MediaKind::Video => WireKind::Video,
    }
}

pub fn str0m_kind(kind: WireKind) -> MediaKind {
    match kind {
        WireKind::Audio => MediaKind::Audio,
        WireKind::Video => MediaKind::Video,
    }
}

#[cfg(test)]
mod tests {
    use super::TimeRebase;

    #[test]
    fn a_new_subscriber_starts_below_the_first_rollover_and_keeps_the_sources_gaps() {
        let mut r = TimeRebase::default();
        // A source that has been running for a while: extended sequence numbers past 2^16.
        let first = r.map_seq(200_000).unwrap();
        assert!(first < 1 << 15, "{first}");
        assert_eq!(r.map_seq(200_001), Some(first + 1));
        assert_eq!(r.map_seq(200_005), Some(first + 5), "a loss stays a gap the receiver can NACK");
        assert_eq!(r.map_seq(200_003), Some(first + 3), "a late (repaired) packet lands in its place");
        assert_eq!(r.map_seq(199_999), None, "older than anything forwarded: nothing to put it after");
    }

    #[test]
    fn a_source_switch_continues_sequence_numbers_and_time_without_a_jump() {
        let mut r = TimeRebase::default();
        let s = r.map_seq(10).unwrap();
        let t = r.map(90_000, 3000);
        assert_eq!(r.map_seq(11), Some(s + 1));
        r.switch();
        assert_eq!(r.map_seq(50_000), Some(s + 2), "next number after the old source's last");
        assert_eq!(r.map_seq(50_001), Some(s + 3));
        assert_eq!(r.map(7_000_000, 3000), t + 3000, "one frame after the old source's last timestamp");
        assert_eq!(r.map(7_003_000, 3000), t + 6000);
    }
}
