//! A media worker: one thread, one current-thread runtime, the UDP sockets of its candidates,
//! and the [`ShardCore`] that owns its rooms. Only this thread touches the rooms' state.

use std::collections::HashMap;
use std::future::poll_fn;
use std::net::SocketAddr;
use std::task::{Context, Poll};
use std::time::Instant;

use anyhow::Context as _;
use str0m::net::Protocol;
use tokio::sync::mpsc;

use super::command::Command;
use super::core::ShardCore;
use super::peer::Datagram;
use super::udp::{MediaSocket, RECV_BATCH, gso_runs};

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
            sockets.push(MediaSocket::new(s).context("registering media socket")?);
        }
        // ICE-TCP connections run as their own tasks and feed packets into this loop; UDP is read
        // here, in batches, so the core stays single-owner and a datagram is never copied.
        let (tcp_tx, mut tcp_rx) = mpsc::channel::<NetEvent>(1024);
        for l in self.listeners.drain(..) {
            l.set_nonblocking(true)?;
            let local = l.local_addr()?;
            let l = tokio::net::TcpListener::from_std(l).context("registering ICE-TCP listener")?;
            super::tcp::spawn_listener(l, local, tcp_tx.clone());
        }
        drop(tcp_tx);
        let mut tcp: HashMap<SocketAddr, mpsc::Sender<Vec<u8>>> = HashMap::new();
        let mut out = Vec::new();
        loop {
            let deadline = self.core.next_timeout(Instant::now());
            tokio::select! {
                cmd = self.commands.recv() => match cmd {
                    Some(cmd) => self.core.handle_command(cmd, Instant::now()),
                    None => return Ok(()),
                },
                Some(ev) = tcp_rx.recv() => match ev {
                    NetEvent::Packet { proto, data, from, to } => self.core.handle_packet(Instant::now(), proto, from, to, &data),
                    NetEvent::TcpOpen { remote, writer } => { tcp.insert(remote, writer); }
                    NetEvent::TcpClosed { remote } => { tcp.remove(&remote); }
                },
                i = poll_fn(|cx| readable(&sockets, cx)) => self.receive(&mut sockets[i]),
                _ = tokio::time::sleep_until(deadline.into()) => self.core.handle_timeout(Instant::now()),
            }
            self.core.swap_datagrams(&mut out);
            send_all(&mut out, &mut sockets, &tcp);
        }
    }

    /// Feeds the core what is queued on `sock`, a few batches at most so commands and timers are
    /// not starved under load (the socket stays readable and is picked again).
    fn receive(&mut self, sock: &mut MediaSocket) {
        let to = sock.addr;
        let now = Instant::now();
        for _ in 0..RECV_ROUNDS {
            match sock.recv_batch(|from, data| self.core.receive(now, Protocol::Udp, from, to, data)) {
                Ok(n) if n == RECV_BATCH => continue,
                Ok(_) => break,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                // ICMP errors surface here on Linux (a peer went away); keep reading.
                Err(e) => {
                    tracing::debug!(error = %e, "media socket receive error");
                    break;
                }
            }
        }
        self.core.flush_received(now);
    }
}

/// `recvmmsg` rounds per wake-up.
const RECV_ROUNDS: usize = 4;

/// The first socket with something to read.
fn readable(sockets: &[MediaSocket], cx: &mut Context<'_>) -> Poll<usize> {
    for (i, s) in sockets.iter().enumerate() {
        // An error is reported by the read that follows.
        if s.sock.poll_recv_ready(cx).is_ready() {
            return Poll::Ready(i);
        }
    }
    Poll::Pending
}

/// Sends what the core queued: UDP in GSO runs from the socket of the datagram's source address,
/// TCP to its connection's writer.
fn send_all(out: &mut Vec<Datagram>, sockets: &mut [MediaSocket], tcp: &HashMap<SocketAddr, mpsc::Sender<Vec<u8>>>) {
    let max = sockets.first().map_or(1, MediaSocket::max_segments);
    for run in gso_runs(out, max) {
        let first = &out[run.start];
        if first.proto == Protocol::Tcp {
            if let Some(w) = tcp.get(&first.destination) {
                // A full queue drops the packet, as UDP would.
                let _ = w.try_send(first.contents.clone());
            }
            continue;
        }
        let i = sockets.iter().position(|s| s.addr == first.source).unwrap_or(0);
        if let Some(sock) = sockets.get_mut(i) {
            sock.send_run(out, run);
        }
    }
    out.clear();
}
