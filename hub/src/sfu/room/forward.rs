//! The media path: a publisher's RTP packet goes to every subscriber's open m-line (only with a payload type
//! negotiated there, and never while a teacher blocks it), and keyframe requests go the other way,
//! coalesced per published track. Of a simulcast track each subscriber gets one layer (see
//! `simulcast`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use lectern_proto::TrackId;
use str0m::Rtc;
use str0m::format::PayloadParams;
use str0m::media::{KeyframeRequest, KeyframeRequestKind, MediaKind, Mid, Pt, Rid};
use str0m::rtp::{ExtensionValues, RtpPacket, RtpWrite};

use super::Room;
use super::participant::UpTrack;
use crate::sfu::allocator::Target;
use crate::sfu::codec;
use crate::sfu::gop::Cached;
use crate::sfu::keyframe::KeyframeThrottle;
use crate::sfu::peer::{DownState, DownTrack, Peer, PeerKey};
use crate::sfu::peer_table::PeerTable;
use crate::sfu::rtx_budget::Resize;
use crate::sfu::simulcast::Verdict;

/// A subscriber that just connected is given media this much later: when the hub is the DTLS
/// server, str0m reports the connection up before the handshake's last flight has left (it goes
/// at the peer's next timeout), and media sent ahead of it would be dropped by the subscriber,
/// which has no keys yet: a replayed keyframe lost that way costs it a repair round trip.
pub const START_DELAY: Duration = Duration::from_millis(10);

/// str0m's default: queued resends are dropped once they exceed this share of what is sent.
const RTX_RATIO_CAP: f32 = 0.15;
/// Bytes a media packet costs on the wire beyond its payload (RTP header and extensions, SRTP tag,
/// UDP/IP): counted into measured rates so they compare with a subscriber's estimate.
const RTP_OVERHEAD: usize = 60;

impl Room {
    /// Forwards one RTP packet of publish m-line `mid` to every subscriber's open m-line carrying
    /// its track. The payload is shared (an `Arc`), never copied; per subscriber only the header
    /// changes: payload type, sequence number and timestamp (see [`TimeRebase`](crate::sfu::peer::TimeRebase)).
    pub(super) fn forward(
        &mut self,
        peers: &mut PeerTable,
        key: PeerKey,
        mid: Mid,
        rid: Option<Rid>,
        packet: RtpPacket,
        clock: crate::time::Now,
    ) {
        let now = clock.mono;
        let Some(peer) = peers.get(key) else { return };
        let Some(track) = peer.up_track(mid) else { return };
        let pt_in = packet.header.payload_type;
        // The publisher's parameters for this PT: what subscribers' PTs are matched against.
        let Some(params) = peer.rtc.codec_config().find(|p| p.pt() == pt_in).copied() else { return };
        let Some(up) = self.tracks.get_mut(&track) else { return };
        let keyframe = up.kind == MediaKind::Video && codec::starts_keyframe(params.spec().codec, &packet.payload);
        // Of a simulcast track, the best layer (what subscribers without an allocation receive).
        let wire = packet.payload.len() + RTP_OVERHEAD;
        let wanted = rid.map(|r| (r, up.layers.observe(r, wire, now)));
        if rid.is_none() && up.kind == MediaKind::Video {
            up.rate.observe(wire, now);
        }
        // Another layer's keyframe does not answer a request for the wanted one.
        if keyframe && wanted.is_none_or(|(r, w)| r == w) {
            up.keyframe.keyframe_seen();
        }
        let (owner, kind, screen) = (up.owner, up.kind, up.screen);
        // A teacher's mute, camera stop or end of a share is enforced here: the packets go no further.
        if !Room::lets_through(&self.participants, &self.classroom, owner, kind, screen) {
            return;
        }
        self.record_packet(track, rid, params, &packet, clock);
        let Some(up) = self.tracks.get_mut(&track) else { return };
        let publisher = self.participants.get(&owner);
        let ext = &packet.header.ext_vals;
        // The room's own microphone is never played back into the room.
        if let Some(level) = ext.audio_level
            && publisher.is_some_and(|p| p.role() != lectern_proto::Role::Device)
        {
            self.speakers.observe(track, owner, level, now);
        }
        let out = Outgoing {
            seq: *packet.seq_no,
            time: packet.header.timestamp,
            marker: packet.header.marker,
            ext: media_ext(ext),
            payload: &packet.payload,
            received: packet.timestamp,
            layer: wanted.map(|(rid, best)| Layer { rid, best, keyframe }),
            // Only video keeps a retransmission cache (the one reader of the rate).
            bps: match rid {
                _ if kind != MediaKind::Video => None,
                Some(r) => up.layers.bps(r, now),
                None => up.rate.bps(now),
            },
            now,
        };
        if kind == MediaKind::Video {
            cache_for_replay(up, rid, pt_in, keyframe, &out, now);
        }
        if self.fan_out(peers, track, Media::of(kind, params), &out) {
            self.ask_publisher(peers, track, now, KeyframeThrottle::request_join);
        }
    }

    /// Writes `out` to every connected subscriber of `track`. True if one of them needs a
    /// keyframe of the wanted simulcast layer to switch to it.
    fn fan_out(&self, peers: &mut PeerTable, track: TrackId, media: Media, out: &Outgoing) -> bool {
        let mut layer_keyframe = false;
        for sub in self.subscriber_peers() {
            let Some(peer) = peers.get_mut(sub) else { continue };
            // Until its connection is up a subscriber is given nothing: it starts from a keyframe
            // (see `start_viewer`), with its sequence numbers beginning there.
            if peer.connected() && write_down(peer, sub, track, media, out, Some(&mut layer_keyframe)) {
                peers.mark_dirty(sub);
            }
        }
        layer_keyframe
    }

    /// A subscriber (`sub`) starts viewing `track` (its m-line opened, its connection came up,
    /// a return-feed slot switched to it): it is given the publisher's last keyframe and what
    /// followed if that is recent (see `gop`), else the publisher is asked for a new one.
    pub(super) fn start_viewer(&mut self, peers: &mut PeerTable, track: TrackId, sub: PeerKey, now: Instant) {
        let Some(peer) = peers.get(sub) else { return };
        if let Some(at) = peer.connected_at.map(|t| t + START_DELAY)
            && now < at
        {
            self.viewer_starts.push((at, track, sub));
            return;
        }
        let connected = peer.connected();
        let paused = peer.downs.iter().filter(|d| d.source == Some(track)).all(|d| d.target == Target::Paused);
        if paused {
            return; // nothing to start until the allocator resumes it (and calls this again)
        }
        if self.replay_gop(peers, track, sub, now) {
            peers.mark_dirty(sub);
        } else {
            self.ask_publisher(peers, track, now, KeyframeThrottle::request_join);
        }
        if connected && let Some(peer) = peers.get_mut(sub) {
            for d in peer.downs.iter_mut().filter(|d| d.source == Some(track)) {
                d.started = true;
            }
        }
    }

    fn replay_gop(&mut self, peers: &mut PeerTable, track: TrackId, sub: PeerKey, now: Instant) -> bool {
        let Some(up) = self.tracks.get(&track) else { return false };
        // A viewer of a simulcast track starts on the layer allocated to it, else the best (see `simulcast`).
        let target = peers.get(sub).and_then(|p| p.downs.iter().find(|d| d.source == Some(track))).map(|d| d.target);
        let rid = match target {
            Some(Target::Layer(Some(r))) => Some(r),
            _ => up.layers.best(),
        };
        let Some(cached) = up.gops.replay(rid, now) else { return false };
        let Some(publisher) = peers.get(up.peer) else { return false };
        let config = publisher.rtc.codec_config();
        let Some(params) = config.find(|p| p.pt() == cached[0].pt).copied() else { return false };
        let media = Media::of(up.kind, params);
        let Some(peer) = peers.get_mut(sub) else { return false };
        // Only a viewer that has been given nothing of this track yet (or whose slot just
        // switched) can start from older packets.
        let fresh = peer.connected()
            && peer
                .downs
                .iter()
                .any(|d| d.source == Some(track) && matches!(d.state, DownState::Open(_)) && !d.rebase.started());
        if !fresh {
            return false;
        }
        for c in cached.iter().filter(|c| c.pt == cached[0].pt) {
            let out = Outgoing {
                seq: c.seq,
                time: c.time,
                marker: c.marker,
                ext: c.ext.clone(),
                payload: &c.payload,
                received: c.received,
                layer: None,
                bps: None,
                now,
            };
            if !write_down(peer, sub, track, media, &out, None) {
                return false;
            }
        }
        if let Some(rid) = rid {
            for d in peer.downs.iter_mut().filter(|d| d.source == Some(track)) {
                d.layer.start_on(track, rid);
            }
        }
        true
    }

    pub(super) fn on_keyframe_request(
        &mut self,
        peers: &mut PeerTable,
        key: PeerKey,
        req: KeyframeRequest,
        now: Instant,
    ) {
        let Some(peer) = peers.get(key) else { return };
        let Some(track) = peer.downs.iter().find(|d| d.state.mid() == Some(req.mid)).and_then(|d| d.source) else {
            return;
        };
        self.ask_publisher(peers, track, now, KeyframeThrottle::request);
    }

    fn ask_publisher(
        &mut self,
        peers: &mut PeerTable,
        track: TrackId,
        now: Instant,
        throttle: fn(&mut KeyframeThrottle, Instant) -> bool,
    ) {
        let Some(up) = self.tracks.get_mut(&track) else { return };
        if up.kind != MediaKind::Video || !throttle(&mut up.keyframe, now) {
            return;
        }
        self.keyframe_upstream(peers, track);
    }

    /// Sends `track`'s publisher a keyframe request: to the layers in use if it has layers.
    pub(super) fn keyframe_upstream(&mut self, peers: &mut PeerTable, track: TrackId) {
        let Some(up) = self.tracks.get(&track) else { return };
        let (peer, mid) = (up.peer, up.mid);
        let rids = self.layers_in_use(peers, track);
        let Some(p) = peers.get_mut(peer) else { return };
        request_keyframe(p, mid, &rids);
        peers.mark_dirty(peer);
    }

    /// The layers of `track` a keyframe request should reach: the one each subscriber receives
    /// and the one it is moving to (the best, or the one allocated to it). Empty for a track
    /// without layers.
    fn layers_in_use(&self, peers: &PeerTable, track: TrackId) -> Vec<Rid> {
        let Some(best) = self.tracks.get(&track).and_then(|up| up.layers.best()) else { return Vec::new() };
        let mut rids = vec![best];
        let downs = self.subscriber_peers().filter_map(|k| peers.get(k)).flat_map(|p| p.downs.iter());
        let targets = |d: &DownTrack| match d.target {
            Target::Layer(Some(r)) if d.source == Some(track) => Some(r),
            _ => None,
        };
        for rid in downs.flat_map(|d| [d.layer.receiving(track), targets(d)]).flatten() {
            if !rids.contains(&rid) {
                rids.push(rid);
            }
        }
        rids
    }
}

/// Asks publisher `p` for a keyframe on m-line `mid` (each of `rids` if it has layers).
fn request_keyframe(p: &mut Peer, mid: Mid, rids: &[Rid]) {
    // PLI where negotiated (every browser and GStreamer), FIR otherwise.
    let kind = if p.rtc.codec_config().params().iter().any(|c| c.fb_pli()) {
        KeyframeRequestKind::Pli
    } else {
        KeyframeRequestKind::Fir
    };
    let key = p.key;
    let mut api = p.rtc.direct_api();
    let layers: Vec<Option<Rid>> = if rids.is_empty() { vec![None] } else { rids.iter().copied().map(Some).collect() };
    for rid in layers {
        match api.stream_rx_by_mid(mid, rid) {
            Some(rx) => rx.request_keyframe(kind),
            None => tracing::debug!(peer = key.0, %mid, ?rid, "keyframe request not possible yet: nothing received"),
        }
    }
}

/// Keeps a video packet for viewers who start soon (see `gop`); per stream, since simulcast
/// layers have their own sequence numbers and keyframes.
fn cache_for_replay(up: &mut UpTrack, rid: Option<Rid>, pt: Pt, keyframe: bool, out: &Outgoing, now: Instant) {
    let Some(gop) = up.gops.stream(rid) else { return };
    gop.observe(out.time, keyframe, now, || Cached {
        seq: out.seq,
        pt,
        time: out.time,
        marker: out.marker,
        ext: out.ext.clone(),
        payload: out.payload.clone(),
        received: out.received,
    });
}

/// The payload type on the subscriber's m-line for media described by the publisher's `params`:
/// str0m matches against every codec it knows, but only a PT negotiated on this m-line will be
/// understood by the receiver, so fall back to one of the same codec there.
fn subscriber_pt(rtc: &Rtc, mid: Mid, params: PayloadParams) -> Option<Pt> {
    let negotiated = rtc.media(mid)?.remote_pts();
    let config = rtc.codec_config();
    config.match_params(params).map(|p| p.pt()).filter(|pt| negotiated.contains(pt)).or_else(|| {
        config.find(|p| negotiated.contains(&p.pt()) && p.spec().codec == params.spec().codec).map(|p| p.pt())
    })
}

/// One packet on its way to subscribers: the publisher's, or a cached one being replayed.
struct Outgoing<'a> {
    seq: u64,
    time: u32,
    marker: bool,
    ext: ExtensionValues,
    payload: &'a Arc<[u8]>,
    received: Instant,
    /// Of a simulcast track: this packet's layer and the track's best.
    layer: Option<Layer>,
    /// Video: the bit rate of the stream (layer) the packet is of, if measured; sizes the
    /// subscribers' retransmission caches.
    bps: Option<u64>,
    /// When it is written.
    now: Instant,
}

#[derive(Clone, Copy)]
struct Layer {
    rid: Rid,
    /// What a subscriber without an allocation receives.
    best: Rid,
    /// The packet starts a keyframe (of its layer).
    keyframe: bool,
}

/// What is forwarded, as far as the per-subscriber rewrite cares.
#[derive(Clone, Copy)]
struct Media {
    /// The publisher's parameters for the packet's PT: what subscribers' PTs are matched against.
    params: PayloadParams,
    /// One frame in clock ticks (20 ms of audio, 1/30 s of video): spaces a source switch.
    gap: u64,
    /// Video is kept for retransmission; audio is not worth resending late.
    nackable: bool,
}

impl Media {
    fn of(kind: MediaKind, params: PayloadParams) -> Self {
        let freq = params.spec().clock_rate.get();
        let gap = if freq == 90_000 { 3000 } else { u64::from(freq) / 50 };
        Media { params, gap, nackable: kind == MediaKind::Video }
    }
}

/// Only what describes the media travels on; MID, RID and transport-wide numbers are the
/// subscriber connection's own, written by str0m.
fn media_ext(ext: &ExtensionValues) -> ExtensionValues {
    ExtensionValues {
        audio_level: ext.audio_level,
        voice_activity: ext.voice_activity,
        video_orientation: ext.video_orientation,
        ..Default::default()
    }
}

/// Writes one packet of `track` to `peer`'s open m-line carrying it, with that m-line's payload
/// type, sequence numbers and RTP time (see [`TimeRebase`](crate::sfu::peer::TimeRebase)). False if
/// there is no such m-line, it did not negotiate the codec, the packet is of another simulcast
/// layer than the subscriber receives, or (`live`, i.e. not a replay: video) its viewer has not
/// been started yet. A live packet sets `*live` if the subscriber needs a keyframe of the wanted
/// layer to switch to it.
fn write_down(
    peer: &mut Peer,
    key: PeerKey,
    track: TrackId,
    media: Media,
    out: &Outgoing,
    live: Option<&mut bool>,
) -> bool {
    let Peer { rtc, downs, .. } = peer;
    let Some(down) = downs.iter_mut().find(|d| d.source == Some(track) && matches!(d.state, DownState::Open(_))) else {
        return false;
    };
    let Some(layer_keyframe) = live else {
        return write_to(rtc, down, key, track, media, out);
    };
    if media.nackable && (!down.started || down.target == Target::Paused) {
        return false;
    }
    if let Some(Layer { rid, best, keyframe }) = out.layer {
        let wanted = match down.target {
            Target::Layer(Some(r)) => r,
            _ => best,
        };
        let verdict = down.layer.on_packet(track, rid, wanted, keyframe);
        // After the verdict: a packet that just switched layers needs no request.
        *layer_keyframe |= down.layer.needs_keyframe(track, wanted);
        match verdict {
            Verdict::Skip => return false,
            Verdict::Switch => down.rebase.switch(),
            Verdict::Forward => {}
        }
    }
    write_to(rtc, down, key, track, media, out)
}

/// Rewrites one packet for `down`'s m-line (payload type, sequence number, RTP time) and queues it.
fn write_to(rtc: &mut Rtc, down: &mut DownTrack, key: PeerKey, track: TrackId, media: Media, out: &Outgoing) -> bool {
    let DownState::Open(out_mid) = down.state else { return false };
    let pt_in = media.params.pt();
    let pt = match down.pt_map {
        Some((t, i, o)) if t == track && i == pt_in => o,
        _ => {
            let Some(o) = subscriber_pt(rtc, out_mid, media.params) else {
                tracing::debug!(peer = key.0, %out_mid, "subscriber did not negotiate this codec");
                return false;
            };
            down.pt_map = Some((track, pt_in, o));
            o
        }
    };
    let Some(seq) = down.rebase.map_seq(out.seq) else { return false };
    let time = down.rebase.map(u64::from(out.time), media.gap) as u32;
    let mut api = rtc.direct_api();
    let Some(tx) = api.stream_tx_by_mid(out_mid, None) else { return false };
    if media.nackable {
        match down.rtx.due(out.now, || (out.bps, tx.rtt())) {
            Some(Resize::First(b)) => tx.set_rtx_cache(b.packets, b.age, Some(RTX_RATIO_CAP)),
            Some(Resize::Change(b)) => tx.resize_rtx_cache(b.packets, b.age),
            None => {}
        }
    }
    let write = RtpWrite::new(pt, seq.into(), time, out.received, out.payload.clone())
        .marker(out.marker)
        .ext_vals(out.ext.clone())
        .nackable(media.nackable);
    tx.write_rtp(write);
    true
}
