//! ICE-TCP (RFC 6544, passive): for students whose networks block UDP. Each connection carries
//! RFC 4571 frames (16-bit length, then one STUN/DTLS/RTP packet); this module only frames and
//! unframes, the shard's core treats the packets like datagrams with `Protocol::Tcp`.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lectern_common::net::ip_key;

use str0m::net::Protocol;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// What the ICE-TCP connection tasks report to the shard loop.
pub enum NetEvent {
    Packet { proto: Protocol, data: Vec<u8>, from: SocketAddr, to: SocketAddr },
    TcpOpen { remote: SocketAddr, writer: mpsc::Sender<Vec<u8>> },
    TcpClosed { remote: SocketAddr },
}

/// Frames larger than this are not WebRTC packets: the connection is closed.
const MAX_FRAME: usize = 4096;
/// Frames waiting to be written to one connection; beyond that they are dropped, like UDP.
const WRITE_QUEUE: usize = 512;

/// What one ICE-TCP listener allows, so that neither a flood of connections nor connections that
/// stall mid-frame can take every slot.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections at once; more are refused so a flood cannot exhaust file descriptors.
    pub connections: usize,
    /// Connections at once from one client address (an IPv6 /64 counts as one).
    pub per_address: usize,
    /// A connection that sends nothing this long is closed (ICE consent checks come every few
    /// seconds).
    pub idle: Duration,
    /// A frame, once its length arrived, must arrive whole within this: a peer that sends a
    /// length and then stalls is closed instead of holding its slot forever.
    pub frame: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self { connections: 4096, per_address: 16, idle: Duration::from_secs(30), frame: Duration::from_secs(5) }
    }
}

/// Open connections, in all and per client address.
#[derive(Default)]
struct Slots {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
}

impl Slots {
    fn take(&mut self, ip: IpAddr, limits: &Limits) -> bool {
        let mine = self.by_address.entry(ip_key(ip)).or_default();
        if self.total >= limits.connections || *mine >= limits.per_address {
            return false;
        }
        *mine += 1;
        self.total += 1;
        true
    }

    fn give_back(&mut self, ip: IpAddr) {
        let key = ip_key(ip);
        if let Some(n) = self.by_address.get_mut(&key) {
            *n -= 1;
            if *n == 0 {
                self.by_address.remove(&key);
            }
        }
        self.total = self.total.saturating_sub(1);
    }
}

pub fn spawn_listener(listener: TcpListener, local: SocketAddr, events: mpsc::Sender<NetEvent>, limits: Limits) {
    let slots = Arc::new(Mutex::new(Slots::default()));
    tokio::spawn(async move {
        loop {
            let (stream, remote) = match listener.accept().await {
                Ok(c) => c,
                Err(e) => {
                    tracing::debug!(error = %e, "ICE-TCP accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            if !slots.lock().unwrap_or_else(|e| e.into_inner()).take(remote.ip(), &limits) {
                tracing::debug!(%remote, "ICE-TCP connection refused: too many open");
                continue; // dropped: the client falls back to another candidate
            }
            let (slots, events) = (slots.clone(), events.clone());
            tokio::spawn(async move {
                connection(stream, remote, local, events, limits).await;
                slots.lock().unwrap_or_else(|e| e.into_inner()).give_back(remote.ip());
            });
        }
    });
}

async fn connection(
    stream: TcpStream,
    remote: SocketAddr,
    local: SocketAddr,
    events: mpsc::Sender<NetEvent>,
    limits: Limits,
) {
    let _ = stream.set_nodelay(true);
    let (mut rd, mut wr) = stream.into_split();
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(WRITE_QUEUE);
    if events.send(NetEvent::TcpOpen { remote, writer: tx }).await.is_err() {
        return;
    }
    let writer = tokio::spawn(async move {
        while let Some(packet) = rx.recv().await {
            let Ok(len) = u16::try_from(packet.len()) else { continue };
            let mut frame = Vec::with_capacity(packet.len() + 2);
            frame.extend_from_slice(&len.to_be_bytes());
            frame.extend_from_slice(&packet);
            if wr.write_all(&frame).await.is_err() {
                return;
            }
        }
    });
    let mut buf = vec![0u8; MAX_FRAME];
    loop {
        let mut len = [0u8; 2];
        match tokio::time::timeout(limits.idle, rd.read_exact(&mut len)).await {
            Ok(Ok(_)) => {}
            _ => break,
        }
        let n = usize::from(u16::from_be_bytes(len));
        if n == 0 || n > MAX_FRAME {
            tracing::debug!(%remote, n, "ICE-TCP frame out of range; closing");
            break;
        }
        match tokio::time::timeout(limits.frame, rd.read_exact(&mut buf[..n])).await {
            Ok(Ok(_)) => {}
            Ok(Err(_)) => break,
            Err(_) => {
                tracing::debug!(%remote, "ICE-TCP frame not completed in time; closing");
                break;
            }
        }
        let ev = NetEvent::Packet { proto: Protocol::Tcp, data: buf[..n].to_vec(), from: remote, to: local };
        if events.send(ev).await.is_err() {
            break;
        }
    }
    writer.abort();
    let _ = events.send(NetEvent::TcpClosed { remote }).await;
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt;

    use super::*;

    /// Waits until the hub closed `stream` (EOF or reset), or `deadline` passed.
    async fn closed_within(stream: &mut TcpStream, deadline: Duration) -> bool {
        let mut buf = [0u8; 64];
        let until = tokio::time::Instant::now() + deadline;
        loop {
            match tokio::time::timeout_at(until, stream.read(&mut buf)).await {
                Ok(Ok(0) | Err(_)) => return true,
                Ok(Ok(_)) => {}
                Err(_) => return false,
            }
        }
    }

    #[tokio::test]
    async fn stalled_frames_are_timed_out_and_one_address_gets_a_bounded_number_of_slots() {
        let limits = Limits {
            connections: 100,
            per_address: 4,
            idle: Duration::from_secs(30),
            frame: Duration::from_millis(300),
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let local = listener.local_addr().expect("bound");
        let (events, mut rx) = mpsc::channel(1024);
        spawn_listener(listener, local, events, limits);
        let mut opened = 0;
        // Four connections each announce a 100-byte frame, send ten bytes of it and stall.
        let mut stalled = Vec::new();
        for _ in 0..4 {
            let mut s = TcpStream::connect(local).await.expect("connect");
            s.write_all(&[0, 100]).await.expect("write");
            s.write_all(&[0x80; 10]).await.expect("write");
            stalled.push(s);
        }
        // A fifth from the same address finds every slot of that address taken.
        let mut fifth = TcpStream::connect(local).await.expect("connect");
        assert!(
            closed_within(&mut fifth, Duration::from_secs(5)).await,
            "a fifth connection from one address was kept"
        );
        // The stalled frames time out (3 x the limit, as a deadline) and free their slots.
        for s in &mut stalled {
            assert!(closed_within(s, 3 * limits.frame + Duration::from_secs(1)).await, "a stalled frame held its slot");
        }
        // Then the address may connect again, and a whole frame is delivered.
        let mut again = TcpStream::connect(local).await.expect("connect");
        again.write_all(&[0, 3, 1, 2, 3]).await.expect("write");
        let until = tokio::time::Instant::now() + Duration::from_secs(5);
        let packet = loop {
            match tokio::time::timeout_at(until, rx.recv()).await.expect("a packet within 5 s").expect("open") {
                NetEvent::Packet { data, .. } => break data,
                NetEvent::TcpOpen { .. } => opened += 1,
                NetEvent::TcpClosed { .. } => {}
            }
        };
        assert_eq!(packet, vec![1, 2, 3]);
        assert_eq!(opened, 5, "four stalled and one after them were opened, never the fifth");
    }
}
