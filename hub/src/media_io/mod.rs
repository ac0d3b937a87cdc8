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

pub struct Sfu {
    shards: Vec<mpsc::UnboundedSender<Command>>,
    next_participant: AtomicU64,
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
            let (tx, rx) = mpsc::unbounded_channel();
            let shard = shard::Shard::new(crate::sfu::core::ShardCore::new(candidates), outlets.clone());
            shard::ShardIo { index, sockets, listeners, shard, commands: rx }.spawn()?;
            shards.push(tx);
        }
        tracing::info!(shards = settings.shards, addrs = ?media_addrs, "media shards started");
        Ok(Self { shards, next_participant: AtomicU64::new(1), media_addrs })
    }

    pub fn new_participant_id(&self) -> ParticipantId {
        ParticipantId(self.next_participant.fetch_add(1, Ordering::Relaxed))
    }

    /// Sends a fire-and-forget command to the room's shard.
    pub fn send(&self, room: &RoomId, cmd: Command) -> Result<(), SfuError> {
        self.shard(room).send(cmd).map_err(|_| SfuError::ShardGone)
    }

    /// Sends a fire-and-forget command to every shard (one made by `make` each).
    pub fn send_all(&self, make: impl Fn() -> Command) {
        for shard in &self.shards {
            let _ = shard.send(make());
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

    fn shard(&self, room: &RoomId) -> &mpsc::UnboundedSender<Command> {
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
