//! The media plane's IO: one thread per shard with its UDP (and ICE-TCP) sockets, the clock, and
//! the delivery of what rooms report (`shard::Outlets`). [`Sfu`] is the handle the HTTP side holds:
//! it routes typed commands to the shard that owns a room and awaits the reply. The logic it drives
//! is [`crate::sfu`], which reads no clock and touches no socket.

pub mod shard;
pub mod tcp;
pub mod udp;

use std::hash::{Hash, Hasher};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use lectern_proto::{ParticipantId, RoomId};
use str0m::Candidate;
use str0m::net::TcpType;
use tokio::sync::{mpsc, oneshot};

pub use shard::Outlets;

use crate::config::MediaSettings;
use crate::sfu::{Command, SfuError};

/// Commands waiting for one shard. A shard answers a command in microseconds, so a full queue
/// means a flood (many connections at once) or a stuck shard: further commands are shed with
/// [`SfuError::Busy`] at once rather than queued without bound or waited for, so no caller stalls
/// and the hub's memory stays bounded.
pub const COMMAND_QUEUE: usize = 4096;

/// The way into one shard.
struct ShardHandle {
    /// Requests, bounded by [`COMMAND_QUEUE`].
    commands: mpsc::Sender<Command>,
    /// Ends of sessions (`SocketClosed`, `Leave`): never shed, or the participant would stay
    /// forever. Unbounded, but each socket or WHIP/WHEP session sends its end once, so this holds
    /// at most one command per connection the hub accepted (itself capped).
    ends: mpsc::UnboundedSender<Command>,
}

/// The receiving side of a [`ShardHandle`], owned by the shard's thread.
pub struct ShardInbox {
    pub commands: mpsc::Receiver<Command>,
    pub ends: mpsc::UnboundedReceiver<Command>,
}

fn shard_channel() -> (ShardHandle, ShardInbox) {
    let (commands, commands_rx) = mpsc::channel(COMMAND_QUEUE);
    let (ends, ends_rx) = mpsc::unbounded_channel();
    (ShardHandle { commands, ends }, ShardInbox { commands: commands_rx, ends: ends_rx })
}

pub struct Sfu {
    shards: Vec<ShardHandle>,
    next_participant: AtomicU64,
    /// Commands shed so far, for a warning that does not itself flood the log.
    shed: AtomicU64,
    /// Every shard's local UDP addresses, for logs and tests.
    pub media_addrs: Vec<SocketAddr>,
}

impl Sfu {
    /// Starts `settings.shards` media shards; what their rooms report goes to `outlets`.
    pub fn start(settings: &MediaSettings, outlets: Outlets) -> anyhow::Result<Self> {
        // str0m picks the process-wide crypto provider; install ours once, explicitly.
        let _ = std::panic::catch_unwind(|| str0m::crypto::from_feature_flags().install_process_default());
        let ips = local_ips(settings.bind_ip);
        let mut shards = Vec::new();
        let mut media_addrs = Vec::new();
        for index in 0..settings.shards {
            let port = if settings.udp_port == 0 { 0 } else { settings.udp_port + index as u16 };
            let mut sockets = Vec::new();
            let mut listeners = Vec::new();
            let mut candidates = Vec::new();
            for ip in &ips {
                let sock = UdpSocket::bind(SocketAddr::new(*ip, port))
                    .with_context(|| format!("binding media UDP {ip}:{port}"))?;
                let addr = sock.local_addr()?;
                candidates.push(Candidate::host(addr, "udp").with_context(|| format!("host candidate {addr}"))?);
                if !ip.is_loopback() {
                    for public in &settings.advertise_ips {
                        let srflx = SocketAddr::new(*public, addr.port());
                        candidates.push(
                            Candidate::server_reflexive(srflx, addr, "udp")
                                .with_context(|| format!("advertised candidate {srflx}"))?,
                        );
                    }
                }
                media_addrs.push(addr);
                sockets.push(sock);
                if settings.ice_tcp {
                    let l = std::net::TcpListener::bind(SocketAddr::new(*ip, port))
                        .with_context(|| format!("binding ICE-TCP {ip}:{port}"))?;
                    let taddr = l.local_addr()?;
                    let c = Candidate::builder().tcp().host(taddr).tcptype(TcpType::Passive).build();
                    candidates.push(c.with_context(|| format!("ICE-TCP candidate {taddr}"))?);
                    listeners.push(l);
                }
            }
            let (handle, inbox) = shard_channel();
            let shard = shard::Shard::new(crate::sfu::core::ShardCore::new(candidates), outlets.clone());
            shard::ShardIo { index, sockets, listeners, shard, inbox }.spawn()?;
            shards.push(handle);
        }
        tracing::info!(shards = settings.shards, addrs = ?media_addrs, "media shards started");
        Ok(Self { shards, next_participant: AtomicU64::new(1), shed: AtomicU64::new(0), media_addrs })
    }

    pub fn new_participant_id(&self) -> ParticipantId {
        ParticipantId(self.next_participant.fetch_add(1, Ordering::Relaxed))
    }

    /// Sends a fire-and-forget command to the room's shard; [`SfuError::Busy`] if its queue is full.
    pub fn send(&self, room: &RoomId, cmd: Command) -> Result<(), SfuError> {
        let shard = self.shard(room);
        if matches!(cmd, Command::SocketClosed { .. } | Command::Leave { .. }) {
            return shard.ends.send(cmd).map_err(|_| SfuError::ShardGone);
        }
        shard.commands.try_send(cmd).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => {
                // Logged at the 1st, 2nd, 4th, 8th... so a flood cannot flood the log too.
                let shed = self.shed.fetch_add(1, Ordering::Relaxed) + 1;
                if shed.is_power_of_two() {
                    tracing::warn!(%room, shed, "a media shard's command queue is full: commands shed");
                }
                SfuError::Busy
            }
            mpsc::error::TrySendError::Closed(_) => SfuError::ShardGone,
        })
    }

    /// Sends a fire-and-forget command to every shard (one made by `make` each): a revocation, which
    /// must not be shed, so it goes the way ends of sessions go (rare, admin-made).
    pub fn send_all(&self, make: impl Fn() -> Command) {
        for shard in &self.shards {
            let _ = shard.ends.send(make());
        }
    }

    /// Sends a command built around a reply channel and awaits the reply.
    pub async fn call<T>(
        &self,
        room: &RoomId,
        make: impl FnOnce(crate::sfu::command::Reply<T>) -> Command,
    ) -> Result<T, SfuError> {
        let (tx, rx) = oneshot::channel();
        self.send(room, make(tx))?;
        rx.await.map_err(|_| SfuError::ShardGone)?
    }

    fn shard(&self, room: &RoomId) -> &ShardHandle {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        room.hash(&mut h);
        &self.shards[(h.finish() % self.shards.len() as u64) as usize]
    }
}

/// Addresses to bind media sockets on: the configured one, or every IPv4 interface address.
fn local_ips(bind: IpAddr) -> Vec<IpAddr> {
    if !bind.is_unspecified() {
        return vec![bind];
    }
    let mut ips: Vec<IpAddr> = if_addrs::get_if_addrs()
        .map(|ifs| ifs.into_iter().map(|i| i.ip()).filter(|ip| ip.is_ipv4()).collect())
        .unwrap_or_default();
    ips.sort();
    ips.dedup();
    if ips.is_empty() {
        ips.push(IpAddr::from([127, 0, 0, 1]));
    }
    ips
}

#[cfg(test)]
mod tests {
    use lectern_proto::signal::MediaKind;

    use super::*;
    use crate::sfu::Socket;

    /// One shard that takes no command off its queue (stuck, or far behind a flood).
    fn stuck() -> (Sfu, ShardInbox) {
        let (handle, inbox) = shard_channel();
        let sfu = Sfu {
            shards: vec![handle],
            next_participant: AtomicU64::new(1),
            shed: AtomicU64::new(0),
            media_addrs: Vec::new(),
        };
        (sfu, inbox)
    }

    fn room() -> RoomId {
        RoomId::parse("r").expect("valid room name")
    }

    #[test]
    fn a_full_command_queue_sheds_at_once_but_never_loses_the_end_of_a_session() {
        let (sfu, mut inbox) = stuck();
        let mute = |i: u64| Command::SetMuted {
            room: room(),
            participant: ParticipantId(i),
            kind: MediaKind::Audio,
            muted: i.is_multiple_of(2),
        };
        let started = std::time::Instant::now();
        let results: Vec<_> = (0..COMMAND_QUEUE as u64 + 500).map(|i| sfu.send(&room(), mute(i))).collect();
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "sending never waits for the shard");
        assert!(results[..COMMAND_QUEUE].iter().all(Result::is_ok));
        assert!(results[COMMAND_QUEUE..].iter().all(|r| *r == Err(SfuError::Busy)), "past the bound: shed");
        // A call is shed too, answered at once instead of waiting behind the flood.
        let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        let stats = rt.block_on(sfu.call(&room(), |reply| Command::Stats { room: room(), reply }));
        assert_eq!(stats.err(), Some(SfuError::Busy));
        // The end of a socket still gets through: the participant is not left behind.
        let socket = Socket { id: 7, resume_key: "k".into() };
        let closed = Command::SocketClosed { room: room(), participant: ParticipantId(7), socket };
        assert_eq!(sfu.send(&room(), closed), Ok(()));
        assert!(matches!(inbox.ends.try_recv(), Ok(Command::SocketClosed { participant: ParticipantId(7), .. })));
        // Once the shard catches up, commands are taken again.
        while inbox.commands.try_recv().is_ok() {}
        assert_eq!(sfu.send(&room(), mute(1)), Ok(()));
    }
}
