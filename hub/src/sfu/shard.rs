//! A media worker: one thread, one current-thread runtime, the UDP sockets of its candidates,
//! and the [`ShardCore`] that owns its rooms. Only this thread touches the rooms' state.

use std::net::SocketAddr;
use std::time::Instant;

use anyhow::Context;
use std::collections::HashMap;

use str0m::net::Protocol;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use super::command::Command;
use super::core::ShardCore;

/// Largest datagram we read; WebRTC keeps packets well under the MTU.
const RECV_BUF: usize = 2048;

/// What the socket tasks report to the shard loop.
pub enum NetEvent {
    Packet { proto: Protocol, data: Vec<u8>, from: SocketAddr, to: SocketAddr },
    TcpOpen { remote: SocketAddr, writer: mpsc::Sender<Vec<u8>> },
    TcpClosed { remote: SocketAddr },
}

pub struct ShardIo {
    pub index: usize,
    /// Sockets bound to specific addresses; each address is a host candidate.
    pub sockets: Vec<std::net::UdpSocket>,
    /// ICE-TCP listeners, passive host candidates.
    pub listeners: Vec<std::net::TcpListener>,
    pub core: ShardCore,
    pub commands: mpsc::UnboundedReceiver<Command>,
}

impl ShardIo {
    /// Runs until every command sender is dropped (hub shutdown).
    pub fn spawn(self) -> anyhow::Result<std::thread::JoinHandle<()>> {
        let index = self.index;
        std::thread::Builder::new()
            .name(format!("media-shard-{index}"))
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(rt) => rt,
                    Err(e) => {
                        tracing::error!(shard = index, error = %e, "media shard could not start");
                        return;
                    }
                };
                if let Err(e) = rt.block_on(self.run()) {
                    tracing::error!(shard = index, error = %format!("{e:#}"), "media shard stopped");
                }
            })
            .context("spawning media shard thread")
    }

    async fn run(mut self) -> anyhow::Result<()> {
        let mut sockets = Vec::new();
        for s in self.sockets.drain(..) {
            s.set_nonblocking(true)?;
            let addr = s.local_addr()?;
            sockets.push((UdpSocket::from_std(s).context("registering media socket")?, addr));
        }
        // One reader task per socket feeds packets into this loop; the core stays single-owner.
        let (dgram_tx, mut dgram_rx) = mpsc::channel::<NetEvent>(1024);
        for l in self.listeners.drain(..) {
            l.set_nonblocking(true)?;
            let local = l.local_addr()?;
            let l = tokio::net::TcpListener::from_std(l).context("registering ICE-TCP listener")?;
            super::tcp::spawn_listener(l, local, dgram_tx.clone());
        }
        let mut tcp: HashMap<SocketAddr, mpsc::Sender<Vec<u8>>> = HashMap::new();
        let mut senders = Vec::new();
        for (sock, addr) in sockets {
            let sock = std::sync::Arc::new(sock);
            senders.push((addr, sock.clone()));
            let tx = dgram_tx.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; RECV_BUF];
                loop {
                    match sock.recv_from(&mut buf).await {
                        Ok((n, from)) => {
                            let ev = NetEvent::Packet { proto: Protocol::Udp, data: buf[..n].to_vec(), from, to: addr };
                            if tx.send(ev).await.is_err() {
                                return;
                            }
                        }
                        // ICMP errors surface here on Linux (a peer went away); keep reading.
                        Err(e) => tracing::debug!(error = %e, "media socket receive error"),
                    }
                }
            });
        }
        drop(dgram_tx);
        loop {
            let deadline = self.core.next_timeout(Instant::now());
            tokio::select! {
                cmd = self.commands.recv() => match cmd {
                    Some(cmd) => self.core.handle_command(cmd, Instant::now()),
                    None => return Ok(()),
                },
                Some(ev) = dgram_rx.recv() => match ev {
                    NetEvent::Packet { proto, data, from, to } => self.core.handle_packet(Instant::now(), proto, from, to, &data),
                    NetEvent::TcpOpen { remote, writer } => { tcp.insert(remote, writer); }
                    NetEvent::TcpClosed { remote } => { tcp.remove(&remote); }
                },
                _ = tokio::time::sleep_until(deadline.into()) => self.core.handle_timeout(Instant::now()),
            }
            for d in self.core.drain_datagrams() {
                if d.proto == Protocol::Tcp {
                    if let Some(w) = tcp.get(&d.destination) {
                        // A full queue drops the packet, as UDP would.
                        let _ = w.try_send(d.contents);
                    }
                    continue;
                }
                let Some((_, sock)) = senders.iter().find(|(a, _)| *a == d.source).or(senders.first()) else {
                    continue;
                };
                if let Err(e) = sock.try_send_to(&d.contents, d.destination) {
                    // A full send buffer drops the packet, as the network would; NACK/PLI recover it.
                    tracing::debug!(error = %e, "media send failed");
                }
            }
        }
    }
}
