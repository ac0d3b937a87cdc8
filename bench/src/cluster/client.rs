//! The bench's clients of a cluster: WHIP/WHEP signalling that keeps the answer's `Lectern-Node`
//! (which node serves the room) and how long the answer took, a streaming publisher on its own
//! thread, and a viewer waiting for the room's first RTP packet.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use lectern_proto::Role;
use str0m::media::{Direction, MediaKind};

use crate::fanout::{self, Shared};
use crate::frame::is_rtp;
use crate::hub::mint_token;
use crate::peer::{Peer, agent};

const KINDS: [MediaKind; 2] = [MediaKind::Audio, MediaKind::Video];

/// A signalled client and what the answer said.
pub struct Signalled {
    pub peer: Peer,
    pub mids: Vec<str0m::media::Mid>,
    /// The answer's `Lectern-Node`: the public URL of the node serving the room.
    pub node: String,
    /// From sending the POST to having the whole answer.
    pub answered: Duration,
}

/// POSTs an offer to `{base}/{whip,whep}/{room}` with a token for `role`.
pub fn signal(base: &str, endpoint: &str, room: &str, role: Role, name: &str) -> anyhow::Result<Signalled> {
    let token = mint_token(room, role, name)?;
    let dir = if endpoint == "whip" { Direction::SendOnly } else { Direction::RecvOnly };
    let path = format!("/{endpoint}/{room}");
    let (mut node, mut answered, mut location) = (None, Duration::ZERO, None);
    let (mut peer, mids) = Peer::offer(std::net::Ipv4Addr::LOCALHOST.into(), &KINDS, dir, |offer| {
        let t0 = Instant::now();
        let mut resp = agent()
            .post(format!("{base}{path}"))
            .header("Content-Type", "application/sdp")
            .header("Authorization", &format!("Bearer {token}"))
            .send(offer)
            .with_context(|| format!("POST {base}{path}"))?;
        let status = resp.status().as_u16();
        let header = |name: &str| resp.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        node = header("lectern-node");
        location = header("location").map(|l| format!("{base}{l}"));
        let body = resp.body_mut().read_to_string().unwrap_or_default();
        answered = t0.elapsed();
        if status != 201 {
            bail!("POST {base}{path}: {status} {body}");
        }
        Ok((body, None))
    })?;
    if let Some(url) = location {
        peer.leave = Some(Box::new(move || {
            let _ = agent().delete(url).header("Authorization", &format!("Bearer {token}")).call();
        }));
    }
    let node =
        node.with_context(|| format!("POST {base}{path}: no Lectern-Node header (is the hub a cluster node?)"))?;
    Ok(Signalled { peer, mids, node, answered })
}

/// A publisher streaming (H.264 ~1.5 Mbit/s + Opus, as `fanout`'s) on its own thread until stopped.
pub struct Streaming {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<anyhow::Result<Vec<u64>>>>,
    /// The node serving the room, from the WHIP answer.
    pub node: String,
}

impl Streaming {
    /// Publishes `room` through `base` and waits until media flows.
    pub fn start(base: &str, room: &str, hub_bin: &std::path::Path) -> anyhow::Result<Self> {
        let Signalled { peer, mids, node, .. } = signal(base, "whip", room, Role::Device, "publisher")?;
        let shared = Shared::new();
        let cfg = fanout::Config::new(1, Duration::ZERO, hub_bin.to_path_buf());
        let thread = {
            let shared = shared.clone();
            std::thread::spawn(move || fanout::publish(peer, mids, &shared, &cfg))
        };
        let mut me = Self { shared, thread: Some(thread), node };
        let ready = fanout::wait_until(&me.shared, "the publisher to connect", || {
            me.shared.publisher_connected.load(Ordering::SeqCst)
        });
        if let Err(e) = ready {
            me.stop();
            return Err(e);
        }
        Ok(me)
    }

    /// Stops and waits for the thread (which hangs up: a WHIP `DELETE`).
    pub fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// Stops without waiting: after `kill -9` of the node it sent to, its hang-up may wait on a
    /// dead address, which must not delay what is measured next.
    pub fn abandon(mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.thread.take();
    }
}

impl Drop for Streaming {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Drives `peer` until its first RTP datagram or `deadline`; true if one came.
pub fn first_rtp(peer: &mut Peer, deadline: Instant) -> anyhow::Result<bool> {
    let mut got = false;
    while !got && Instant::now() < deadline {
        let until = (Instant::now() + Duration::from_millis(20)).min(deadline);
        peer.drive(until, |_| {}, |d| got |= is_rtp(d))?;
    }
    Ok(got)
}
