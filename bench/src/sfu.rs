//! The server under test, either ours or the reference: [`Sfu::Lectern`] (WHIP/WHEP on the real hub) or
//! [`Sfu::Janus`] (VideoRoom over Janus's REST API). Scenarios talk to both the same way.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use lectern_proto::Role;
use serde_json::json;
use str0m::media::{Direction, MediaKind, Mid};

use crate::hub::Hub;
use crate::janus::{Janus, VideoRoom};
use crate::peer::Peer;

/// The room every scenario uses on the hub.
pub const ROOM: &str = "bench";
/// The VideoRoom number on Janus.
const JANUS_ROOM: u64 = 4242;

/// The hub's name for room `index` of a many-rooms scenario (`rooms`): room 0 is [`ROOM`].
pub fn room_name(index: usize) -> String {
    if index == 0 { ROOM.to_owned() } else { format!("{ROOM}-{index}") }
}

/// Janus's number for room `index`.
fn janus_room(index: usize) -> u64 {
    JANUS_ROOM + index as u64
}

pub enum Sfu {
    Lectern(Hub),
    Janus(Janus),
}

/// A connected-or-connecting publisher: audio m-line first, then video.
pub struct Publisher {
    pub peer: Peer,
    pub mids: Vec<Mid>,
    /// Janus's publisher id (subscribers name it); 0 on the hub, where subscribers get the room's feed.
    pub feed: u64,
}

impl Sfu {
    pub fn lectern(bin: &Path, pin_cpu: Option<usize>) -> anyhow::Result<Self> {
        Ok(Self::Lectern(Hub::start(bin, pin_cpu)?))
    }

    /// Starts Janus and creates the H.264 + Opus room every client joins.
    pub fn janus(pin_cpu: Option<usize>, max_publishers: usize) -> anyhow::Result<Self> {
        Self::janus_rooms(pin_cpu, max_publishers, 1)
    }

    /// Starts Janus and creates `rooms` H.264 + Opus rooms of up to `max_publishers` each.
    pub fn janus_rooms(pin_cpu: Option<usize>, max_publishers: usize, rooms: usize) -> anyhow::Result<Self> {
        let janus = Janus::start(pin_cpu)?;
        let admin = VideoRoom::attach(&janus.api)?;
        for index in 0..rooms.max(1) {
            admin
                .request(json!({
                    "request": "create", "room": janus_room(index), "publishers": max_publishers.max(1),
                    "videocodec": "h264", "audiocodec": "opus", "bitrate": 0, "fir_freq": 0,
                }))
                .with_context(|| format!("creating Janus room {index}"))?;
        }
        admin.hang_up();
        Ok(Self::Janus(janus))
    }

    pub fn name(&self) -> &'static str {
        match self {
            Self::Lectern(_) => "Lectern",
            Self::Janus(_) => "Janus",
        }
    }

    /// Adds what the server last logged to an error about it (Janus's log explains most failures).
    pub fn explain(&self, e: anyhow::Error) -> anyhow::Error {
        match self {
            Self::Lectern(_) => e,
            Self::Janus(j) => e.context(format!("Janus log: {}", j.log_tail())),
        }
    }

    pub fn pid(&self) -> u32 {
        match self {
            Self::Lectern(h) => h.pid,
            Self::Janus(j) => j.pid,
        }
    }

    pub fn pinned_cpu(&self) -> Option<usize> {
        match self {
            Self::Lectern(h) => h.pinned_cpu,
            Self::Janus(j) => j.pinned_cpu,
        }
    }

    pub fn cpu(&self) -> anyhow::Result<Duration> {
        crate::hub::cpu_time(self.pid())
    }

    pub fn rss_kib(&self) -> anyhow::Result<u64> {
        crate::hub::rss_kib(self.pid())
    }

    /// See [`crate::hub::wakeups`].
    pub fn wakeups(&self) -> anyhow::Result<u64> {
        crate::hub::wakeups(self.pid())
    }

    /// A publisher of one audio and one video track named `name`.
    pub fn publisher(&self, name: &str) -> anyhow::Result<Publisher> {
        self.publisher_in(0, name)
    }

    /// A WHIP (hub) or VideoRoom (Janus) publisher in room `room` (see [`room_name`]).
    pub fn publisher_in(&self, room: usize, name: &str) -> anyhow::Result<Publisher> {
        let kinds = [MediaKind::Audio, MediaKind::Video];
        match self {
            Self::Lectern(hub) => {
                let room = room_name(room);
                let token = hub.token(&room, Role::Device, name)?;
                let (peer, mids) =
                    Peer::signal(&hub.base, &format!("/whip/{room}"), &token, &kinds, Direction::SendOnly)?;
                Ok(Publisher { peer, mids, feed: 0 })
            }
            Self::Janus(janus) => {
                let vr = VideoRoom::attach(&janus.api)?;
                let joined = vr.message(
                    json!({ "request": "join", "ptype": "publisher", "room": janus_room(room), "display": name }),
                    None,
                )?;
                let feed = joined.data["id"].as_u64().context("Janus gave the publisher no id")?;
                let (mut peer, mids) = Peer::offer(janus.media_ip, &kinds, Direction::SendOnly, |offer| {
                    let r = vr.message(json!({ "request": "publish" }), Some(("offer", &offer)))?;
                    Ok((r.sdp.context("Janus sent no answer to the publisher")?, None))
                })?;
                peer.leave = Some(Box::new(move || vr.hang_up()));
                Ok(Publisher { peer, mids, feed })
            }
        }
    }

    /// A subscriber to audio and video: the room's feed on the hub, publisher `feed` on Janus.
    pub fn subscriber(&self, name: &str, feed: u64) -> anyhow::Result<Peer> {
        self.subscriber_to(name, &[feed])
    }

    /// A subscriber to the audio and video of every publisher in `feeds` on Janus (one connection);
    /// on the hub, the room's feed over WHEP.
    pub fn subscriber_to(&self, name: &str, feeds: &[u64]) -> anyhow::Result<Peer> {
        self.subscriber_in(0, name, feeds)
    }

    /// [`subscriber_to`](Self::subscriber_to) in room `room` (see [`room_name`]).
    pub fn subscriber_in(&self, room: usize, name: &str, feeds: &[u64]) -> anyhow::Result<Peer> {
        match self {
            Self::Lectern(hub) => {
                let room = room_name(room);
                let token = hub.token(&room, Role::Viewer, name)?;
                let kinds = [MediaKind::Audio, MediaKind::Video];
                let (peer, _) = Peer::signal(&hub.base, &format!("/whep/{room}"), &token, &kinds, Direction::RecvOnly)?;
                Ok(peer)
            }
            Self::Janus(janus) => {
                let vr = VideoRoom::attach(&janus.api)?;
                let streams: Vec<_> = feeds.iter().map(|f| json!({ "feed": f })).collect();
                let joined = vr.message(
                    json!({ "request": "join", "ptype": "subscriber", "room": janus_room(room), "streams": streams }),
                    None,
                )?;
                let offer = joined.sdp.context("Janus sent the subscriber no offer")?;
                let (mut peer, answer) = Peer::answer(janus.media_ip, &offer)?;
                vr.message(json!({ "request": "start" }), Some(("answer", &answer)))?;
                peer.leave = Some(Box::new(move || vr.hang_up()));
                Ok(peer)
            }
        }
    }
}
