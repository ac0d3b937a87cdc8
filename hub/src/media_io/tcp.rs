//! ICE-TCP (RFC 6544, passive): for students whose networks block UDP. Each connection carries
//! RFC 4571 frames (16-bit length, then one STUN/DTLS/RTP packet); this module only frames and
//! unframes, the shard's core treats the packets like datagrams with `Protocol::Tcp`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

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
/// Connections per listener; more are refused so a flood cannot exhaust file descriptors.
const MAX_CONNECTIONS: usize = 4096;
/// A connection that sends nothing this long is closed (ICE consent checks come every few seconds).
const IDLE: Duration = Duration::from_secs(30);
/// Frames waiting to be written to one connection; beyond that they are dropped, like UDP.
const WRITE_QUEUE: usize = 512;

pub fn spawn_listener(listener: TcpListener, local: SocketAddr, events: mpsc::Sender<NetEvent>) {
    let open = Arc::new(AtomicUsize::new(0));
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
            if open.load(Ordering::Relaxed) >= MAX_CONNECTIONS {
                continue; // dropped: the client falls back to another candidate
            }
            open.fetch_add(1, Ordering::Relaxed);
            let (open, events) = (open.clone(), events.clone());
            tokio::spawn(async move {
                connection(stream, remote, local, events).await;
                open.fetch_sub(1, Ordering::Relaxed);
            });
        }
    });
}

async fn connection(stream: TcpStream, remote: SocketAddr, local: SocketAddr, events: mpsc::Sender<NetEvent>) {
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
        match tokio::time::timeout(IDLE, rd.read_exact(&mut len)).await {
            Ok(Ok(_)) => {}
            _ => break,
        }
        let n = usize::from(u16::from_be_bytes(len));
        if n == 0 || n > MAX_FRAME {
            tracing::debug!(%remote, n, "ICE-TCP frame out of range; closing");
            break;
        }
        if rd.read_exact(&mut buf[..n]).await.is_err() {
            break;
        }
        let ev = NetEvent::Packet { proto: Protocol::Tcp, data: buf[..n].to_vec(), from: remote, to: local };
        if events.send(ev).await.is_err() {
            break;
        }
    }
    writer.abort();
    let _ = events.send(NetEvent::TcpClosed { remote }).await;
}
